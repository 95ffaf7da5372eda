'use strict';
/**
 * Bundled in place of readable-stream 3's `lib/_stream_writable.js`, which winston-transport
 * requires directly (scripts/bundle.js): Node's own Writable, of which it is a copy, as the
 * rest of readable-stream is replaced by Node's own streams (readable-stream.js).
 */
module.exports = require('node:stream').Writable;
