'use strict';
/**
 * Bundled in place of the `debug` package (scripts/bundle.js), which mqtt.js and mqtt-packet
 * call dozens of times per packet: even switched off, each call gathered its arguments into a
 * new array and asked a getter whether it was on, a third of what a command allocated
 * (docs/performance.md). Without DEBUG in the environment at start-up, every logger is this
 * one function that does nothing; with DEBUG set (DEBUG=mqttjs* to trace the MQTT client),
 * the real package is loaded and works as it always did.
 */
function off() {}
off.enabled = false;
off.namespace = '';
off.log = off;
off.destroy = off;
off.extend = () => off;

function createDebug() {
  return off;
}
createDebug.enabled = () => false;
createDebug.enable = () => undefined;
createDebug.disable = () => '';
createDebug.names = [];
createDebug.skips = [];
createDebug.formatters = {};

module.exports = process.env.DEBUG ? require('debug') : createDebug;
