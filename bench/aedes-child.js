'use strict';
/**
 * carbot's embedded aedes broker in a process of its own, for the flood scenarios when
 * mosquitto is missing (bench/run.ts): a flood through a broker inside the benchmark's own
 * process measures the benchmark as much as carbot, and under a flood aedes' delivery queue
 * can recurse deep enough there to overflow the stack. Prints `aedes-child ready <port>`; ends
 * on SIGTERM.
 */
const { PassThrough } = require('node:stream');
const { createLogger } = require('../dist/process/log.js');
const { startEmbeddedBroker } = require('../dist/mqtt/embedded-broker.js');

const log = createLogger({ level: 'error', format: 'text', stream: new PassThrough().resume(), env: {} });
startEmbeddedBroker({ host: '127.0.0.1', port: 0, wsPort: 0, log }).then(
  (broker) => {
    process.stdout.write(`aedes-child ready ${broker.port}\n`);
    process.once('SIGTERM', () => void broker.close().then(() => process.exit(0)));
  },
  (err) => {
    process.stderr.write(`${err.stack || err}\n`);
    process.exit(1);
  },
);
