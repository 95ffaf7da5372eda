import { strict as assert } from 'node:assert';
import type { MqttClient } from 'mqtt';
import { describeMosquitto, startMosquitto, type Mosquitto, type MosquittoOptions } from '../support/mosquitto';
import { closeClient, collect, connectClient, type Recorder } from '../support/mqtt';
import { spawnCarbot, type CarbotProcess } from '../support/process';

const BURST = 20_000;
const AFTER = 100;
/** Publishes are issued in slices so the test's own client stays under its socket's listener limit. */
const SLICE = 500;

const parse = (m: { payload: string }) => JSON.parse(m.payload) as Record<string, unknown>;

/**
 * carbot reads a command, applies it (motors written, RESULT queued) and only then reads the
 * next: there is no queue inside carbot for a stop to wait in. A burst larger than carbot
 * can keep up with waits in the broker and the socket, in publish order, as MQTT keeps it,
 * and the broker bounds that wait: mosquitto drops what does not fit.
 */
describeMosquitto('a command burst larger than carbot can process', () => {
  let broker: Mosquitto;
  let carbot: CarbotProcess;
  let publisher: MqttClient;
  let observer: MqttClient;
  let results: Recorder;
  let states: Recorder;

  async function start(opts: MosquittoOptions = {}): Promise<void> {
    broker = await startMosquitto(opts);
    // No command budget: what is tested is carbot's own order, not the budget that would drop most of it.
    carbot = spawnCarbot(['--gpio', 'sim', '--mqtt-url', broker.url, '--log-level', 'warn', '--commands-per-second', '0']);
    observer = await connectClient(broker.url);
    results = await collect(observer, 'stat/carbot/RESULT');
    states = await collect(observer, 'tele/carbot/STATE');
    await states.waitFor(() => true);
    publisher = await connectClient(broker.url);
    await publisher.publishAsync('carbot/move', 'forward', { qos: 1 });
    await results.waitFor((m) => parse(m).motion === 'forward');
  }
  afterEach(async () => {
    await Promise.all([closeClient(publisher), closeClient(observer)]);
    await carbot.kill('SIGKILL');
    await broker.stop();
  });

  async function publishAll(payloads: string[], qos: 0 | 1): Promise<void> {
    for (let i = 0; i < payloads.length; i += SLICE) {
      await Promise.all(payloads.slice(i, i + SLICE).map((p) => publisher.publishAsync('carbot/move', p, { qos })));
    }
  }
  const burst = () => Array.from({ length: BURST }, (_, i) => (i % 2 === 0 ? 'faster' : 'slower'));

  // A broker that holds the whole burst for carbot, so what is tested is carbot's own order.
  for (const qos of [0, 1] as const) {
    it(`${BURST} faster/slower at QoS ${qos}, then stop, then more: the stop is applied in its place and the car ends stopped`, async () => {
      await start({ extraConfig: 'max_queued_messages 0' });
      const from = results.messages.length;
      const statesFrom = states.messages.length;
      await publishAll([...burst(), 'stop', ...Array<string>(AFTER).fill('faster')], qos);

      await results.waitFor(() => results.messages.length - from >= BURST + 1 + AFTER, 20_000, from);
      const answers = results.messages.slice(from).map(parse);
      const at = answers.findIndex((a) => a.move === 'stop');
      // Everything published before the stop was applied before it, and nothing after it was.
      assert.equal(at, BURST);
      assert.ok(answers.slice(0, at).every((a) => a.motion === 'forward' && (a.move === 'faster' || a.move === 'slower')));
      assert.deepEqual({ ...answers[at], speed: undefined }, { move: 'stop', motion: 'stopped', speed: undefined });
      assert.ok(answers.slice(at + 1).every((a) => a.move === 'faster' && a.motion === 'stopped'));
      assert.equal(answers.length, BURST + 1 + AFTER);

      const last = await states.waitFor((m) => parse(m).motion === 'stopped', 5000, statesFrom);
      assert.deepEqual(parse(last).motors, { left: 0, right: 0 });
    });
  }

  it('with mosquitto\'s default queue (1000 behind 20 in flight), a QoS 1 flood is partly dropped by the broker; a repeated stop gets through', async () => {
    await start();
    const from = results.messages.length;
    const statesFrom = states.messages.length;
    await publishAll(burst(), 1);
    // What a client should do when it must stop a flooded car: repeat stop until the car says stopped.
    const stopped = results.waitFor((m) => parse(m).move === 'stop', 20_000, from);
    const repeat = setInterval(() => void publisher.publishAsync('carbot/move', 'stop', { qos: 1 }).catch(() => {}), 100);
    try {
      await stopped;
    } finally {
      clearInterval(repeat);
    }
    assert.deepEqual(parse(await states.waitFor((m) => parse(m).motion === 'stopped', 5000, statesFrom)).motors, { left: 0, right: 0 });
    assert.match(broker.log(), /Outgoing messages are being dropped for client carbot-carbot-/);
    const answered = results.messages.slice(from).map(parse);
    assert.ok(answered.filter((a) => a.move !== 'stop').length < BURST, `all ${BURST} were answered: nothing was dropped`);
    assert.ok(answered.every((a) => a.error === undefined));
    assert.equal(carbot.child.exitCode, null);
  });
});
