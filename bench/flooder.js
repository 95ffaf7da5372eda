'use strict';
/**
 * One hostile client for the flood scenarios of `npm run bench` (bench/flood.ts), in a
 * process of its own so that the process taking the measurements is not the one flooding.
 *
 *   node bench/flooder.js page <ws url>       a page sending faster/slower/garbage as fast as
 *                                             its socket takes them, reading what comes back
 *   node bench/flooder.js deaf-page <ws url>  the same, but never reading; reconnects when cut off
 *   node bench/flooder.js mqtt <broker url>   an MQTT publisher doing the same on carbot/move, QoS 0
 *
 * On SIGTERM it prints `flooder {"sent":…,"connections":…}` and exits.
 */
const mqtt = require('mqtt');
const { WebSocket } = require('ws');

const [kind, target] = process.argv.slice(2);
const WORDS = ['faster', 'slower', 'sideways'];
/** Sent in one go before giving other work a turn. */
const BATCH = 500;
/** What may wait in this process's socket before it waits for the kernel to take more. */
const HIGH_WATER = 1 << 20;

let sent = 0;
let connections = 0;
let stopping = false;

/** Said once, at the first connection: the flood's clock starts then, not at spawn. */
let announced = false;
function started() {
  if (!announced) process.stdout.write('flooder connected\n');
  announced = true;
}

function pageFlood(deaf) {
  if (stopping) return;
  connections++;
  const ws = new WebSocket(target);
  let timer;
  const pump = () => {
    if (ws.readyState !== WebSocket.OPEN) return;
    for (let i = 0; i < BATCH && ws.bufferedAmount < HIGH_WATER; i++) ws.send(WORDS[sent++ % WORDS.length]);
    timer = setImmediate(pump);
  };
  ws.on('open', () => {
    started();
    // A page that never reads: the kernel's receive buffer fills and carbot's sends back up.
    if (deaf) ws._socket.pause();
    pump();
  });
  ws.on('error', () => undefined);
  ws.on('close', () => {
    clearImmediate(timer);
    setTimeout(() => pageFlood(deaf), 50);
  });
}

function mqttFlood() {
  const client = mqtt.connect(target, { clean: true, reconnectPeriod: 200, clientId: `flooder-${process.pid}` });
  client.on('error', () => undefined);
  client.on('connect', () => {
    connections++;
    started();
    pump();
  });
  const pump = () => {
    if (stopping || !client.connected) return;
    const stream = client.stream;
    for (let i = 0; i < BATCH && stream.writableLength < HIGH_WATER; i++) {
      client.publish('carbot/move', WORDS[sent++ % WORDS.length], { qos: 0 });
    }
    if (stream.writableLength >= HIGH_WATER) stream.once('drain', pump);
    else setImmediate(pump);
  };
}

process.on('SIGTERM', () => {
  stopping = true;
  process.stdout.write(`flooder ${JSON.stringify({ sent, connections })}\n`, () => process.exit(0));
});

if (kind === 'page') pageFlood(false);
else if (kind === 'deaf-page') pageFlood(true);
else if (kind === 'mqtt') mqttFlood();
else {
  process.stderr.write(`flooder: unknown kind ${kind}\n`);
  process.exit(2);
}
