'use strict';
/**
 * Bundled in place of readable-stream 4 (mqtt.js, mqtt-packet, bl) and 3 (winston;
 * scripts/bundle.js): the branch readable-stream itself takes with READABLE_STREAM=disable,
 * Node's own streams, of which readable-stream is a copy for browsers and old Nodes. In Node it spares loading and keeping a
 * second stream implementation (116 KB of source).
 */
const Stream = require('node:stream');

const promises = Stream.promises;
module.exports._uint8ArrayToBuffer = Stream._uint8ArrayToBuffer;
module.exports._isUint8Array = Stream._isUint8Array;
module.exports.isDisturbed = Stream.isDisturbed;
module.exports.isErrored = Stream.isErrored;
module.exports.isReadable = Stream.isReadable;
module.exports.Readable = Stream.Readable;
module.exports.Writable = Stream.Writable;
module.exports.Duplex = Stream.Duplex;
module.exports.Transform = Stream.Transform;
module.exports.PassThrough = Stream.PassThrough;
module.exports.addAbortSignal = Stream.addAbortSignal;
module.exports.finished = Stream.finished;
module.exports.destroy = Stream.destroy;
module.exports.pipeline = Stream.pipeline;
module.exports.compose = Stream.compose;
Object.defineProperty(module.exports, 'promises', { configurable: true, enumerable: true, get: () => promises });
module.exports.Stream = Stream.Stream;
