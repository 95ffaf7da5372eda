'use strict';
/**
 * The baseline the benchmark holds carbot against: the least a service can do with a
 * command — take it off the move topic (QoS 1) and publish an ack on the result topic —
 * using the same mqtt.js, the same clean session and LWT convention as carbot, nothing more.
 * Plain JavaScript so that it starts the way compiled carbot does: `node` and one require.
 *
 * Usage: node bench/baseline.js <broker url> <device>
 * With BENCH_TRACE=<file> it records, per message, [receivedNs, ackNs, payload] and writes
 * them as JSON at SIGTERM, like carbot's CARBOT_SIM_TRACE.
 */
const { writeFileSync } = require('node:fs');
const mqtt = require('mqtt');

const [url, device = 'baseline'] = process.argv.slice(2);
const move = `${device}/move`;
const result = `stat/${device}/RESULT`;
const lwt = `tele/${device}/LWT`;
const tracePath = process.env.BENCH_TRACE;
const trace = [];

const client = mqtt.connect(url, {
  clean: true,
  reconnectPeriod: 0,
  will: { topic: lwt, payload: Buffer.from('Offline'), qos: 1, retain: true },
});
client.on('connect', () => {
  client.subscribe(move, { qos: 1 }, (err) => {
    if (err) throw err;
    client.publish(lwt, 'Online', { qos: 1, retain: true });
  });
});
client.on('message', (_topic, payload) => {
  const received = tracePath ? process.hrtime.bigint() : 0n;
  const text = payload.toString('utf8');
  if (tracePath) trace.push([String(received), String(process.hrtime.bigint()), text]);
  client.publish(result, JSON.stringify({ ack: text }), { qos: 0 });
});
client.on('error', (err) => {
  process.stderr.write(`baseline: ${err.message}\n`);
  process.exit(1);
});

process.on('SIGTERM', () => {
  if (tracePath) writeFileSync(tracePath, JSON.stringify(trace));
  client.publish(lwt, 'Offline', { qos: 1, retain: true }, () => client.end(false, {}, () => process.exit(0)));
});
