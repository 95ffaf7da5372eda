/**
 * Matching answers to questions (docs/mqtt.md#matching-answers-to-questions, issue 20): an
 * MQTT 5 command's response topic and correlation data, a JSON command's `id` in RESULT, and
 * `carbot send` and the remote page each showing their own answer while others drive too.
 * Over mosquitto 2 (MQTT 5) and the in-process aedes 1.x, which speaks only MQTT 3.1.1: there
 * carbot and `carbot send` fall back to 3.1.1, and the `id` is what matches an answer.
 */
import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import type { MqttClient } from 'mqtt';
import { WebSocket } from 'ws';
import { loadConfig } from '../../src/config/config';
import { startRemoteServer } from '../../src/http/remote-server';
import { BrokerLink } from '../../src/mqtt/link';
import { memoryLogger, startAedes, startCarbot, startMosquittoBroker, type RunningCarbot, type TestBroker } from '../support/carbot';
import { track } from '../support/cleanup';
import { againstEachBroker } from '../support/matrix';
import { describeMosquitto } from '../support/mosquitto';
import { closeClient, collect, connectClient } from '../support/mqtt';
import { CLI_PATH, spawnProcess } from '../support/process';
import { waitUntil } from '../support/wait';

interface Answer {
  topic: string;
  payload: Record<string, unknown>;
  correlation?: string;
}

/** Everything `client` receives on `filter`, with its MQTT 5 correlation data. */
async function answers(client: MqttClient, filter: string): Promise<Answer[]> {
  const got: Answer[] = [];
  client.on('message', (topic, payload, packet) => {
    if (topic !== filter) return;
    got.push({ topic, payload: JSON.parse(payload.toString('utf8')) as Record<string, unknown>, correlation: packet.properties?.correlationData?.toString('utf8') });
  });
  await client.subscribeAsync(filter, { qos: 1 });
  return got;
}

/** `carbot send <command>` against the broker: its exit code and what it printed. */
async function send(url: string, command: string): Promise<{ code: number | null; stdout: string[]; stderr: string[] }> {
  const proc = spawnProcess(process.execPath, [CLI_PATH, 'send', command, '--mqtt-url', url]);
  const { code } = await proc.exited;
  return { code, stdout: proc.stdout, stderr: proc.stderr };
}

againstEachBroker('matching answers to questions', (broker) => {
  let car: RunningCarbot;
  let watcher: MqttClient;
  const v5 = () => broker().kind === 'mosquitto';

  beforeEach(async () => {
    car = startCarbot(broker().url);
    await car.waitForLog(/subscribed to carbot\/move/);
    watcher = await connectClient(broker().url);
  });
  afterEach(async () => {
    await closeClient(watcher);
    await car.shutdown();
  });

  it('carbot speaks MQTT 5 where the broker does, else 3.1.1 (aedes 1.x refuses an MQTT 5 CONNECT with return code 1)', async () => {
    if (v5()) {
      await car.waitForLog(/<6>connected to mqtt:\/\/127\.0\.0\.1:\d+ with MQTT 5$/);
      await car.waitForLog(/stop topic: connected to .* with MQTT 5$/);
    } else {
      await car.waitForLog(/broker at mqtt:\/\/127\.0\.0\.1:\d+ refused MQTT 5 \(unacceptable protocol version\): using MQTT 3\.1\.1/);
      await car.waitForLog(/<6>connected to mqtt:\/\/127\.0\.0\.1:\d+ with MQTT 3\.1\.1$/);
      await car.waitForLog(/stop topic: connected to .* with MQTT 3\.1\.1$/);
      // What an MQTT 5 client meets there: the same refusal.
      await assert.rejects(connectClient(broker().url, { protocolVersion: 5, reconnectPeriod: 0 }), /Unacceptable protocol version/);
    }
    // The LWT and the stop topic work either way.
    const lwt = await collect(watcher, 'tele/carbot/LWT');
    assert.equal((await lwt.waitFor(() => true)).payload, 'Online');
    const results = await collect(watcher, 'stat/carbot/RESULT');
    await watcher.publishAsync('carbot/move', 'forward', { qos: 1 });
    await results.waitFor((m) => JSON.parse(m.payload).motion === 'forward');
    await watcher.publishAsync('carbot/move/stop', '1', { qos: 1 });
    await results.waitFor((m) => JSON.parse(m.payload).motion === 'stopped');
    assert.deepEqual({ ...car.motors.outputs }, { left: 0, right: 0 });
  });

  it('a JSON command\'s id comes back in its RESULT, refused or not; a stop with a bad id still stops', async () => {
    const results = await answers(watcher, 'stat/carbot/RESULT');
    await watcher.publishAsync('carbot/move', '{"move":"forward","id":"a1"}', { qos: 1 });
    await watcher.publishAsync('carbot/move', '{"move":"sideways","id":42}', { qos: 1 });
    await watcher.publishAsync('carbot/move', '{"move":"forward","speed":150,"id":"a3"}', { qos: 1 });
    await watcher.publishAsync('carbot/move', '{"move":"stop","id":{"not":"an id"}}', { qos: 1 });
    await waitUntil(() => results.length === 4, () => JSON.stringify(results));
    assert.deepEqual(
      results.map((r) => r.payload),
      [
        { move: 'forward', motion: 'forward', speed: 50, id: 'a1' },
        { error: 'unknown command', payload: 'sideways', id: 42 },
        { error: 'speed out of range', speed: 150, range: '0-100', id: 'a3' },
        { move: 'stop', motion: 'stopped', speed: 50, note: 'ignored: id must be a string of 1-64 characters or a number' },
      ],
    );
    assert.deepEqual({ ...car.motors.outputs }, { left: 0, right: 0 });
  });

  it('two clients sending at once each get their own answer, never the other\'s', async () => {
    const results = await answers(watcher, 'stat/carbot/RESULT');
    if (v5()) {
      const [a, b] = await Promise.all([connectClient(broker().url, { protocolVersion: 5 }), connectClient(broker().url, { protocolVersion: 5 })]);
      const [toA, toB] = await Promise.all([answers(a, 'app/a'), answers(b, 'app/b')]);
      await Promise.all(
        [1, 2, 3].flatMap((n) => [
          a.publishAsync('carbot/move', 'faster', { qos: 1, properties: { responseTopic: 'app/a', correlationData: Buffer.from(`a${n}`) } }),
          b.publishAsync('carbot/move', 'slower', { qos: 1, properties: { responseTopic: 'app/b', correlationData: Buffer.from(`b${n}`) } }),
        ]),
      );
      await waitUntil(() => toA.length === 3 && toB.length === 3 && results.length === 6, () => JSON.stringify({ toA, toB, results }));
      assert.deepEqual(toA.map((x) => [x.payload.move, x.correlation]), [['faster', 'a1'], ['faster', 'a2'], ['faster', 'a3']]);
      assert.deepEqual(toB.map((x) => [x.payload.move, x.correlation]), [['slower', 'b1'], ['slower', 'b2'], ['slower', 'b3']]);
      await Promise.all([closeClient(a), closeClient(b)]);
    }
    // carbot send (MQTT 5 on mosquitto, its own id on aedes): two at once, while a third client
    // drives too (20 stops a second: within commandsPerSecond, so every command is answered).
    let noise = true;
    const noisy = (async () => {
      while (noise) {
        await watcher.publishAsync('carbot/move', 'stop', { qos: 1 });
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    try {
      const [faster, speed] = await Promise.all([send(broker().url, 'faster'), send(broker().url, '{"speed":30}')]);
      assert.equal(faster.code, 0, faster.stderr.join('\n'));
      assert.equal(speed.code, 0, speed.stderr.join('\n'));
      assert.equal(faster.stdout.length, 1);
      assert.equal(speed.stdout.length, 1);
      assert.equal(JSON.parse(faster.stdout[0]).move, 'faster');
      assert.deepEqual(JSON.parse(speed.stdout[0]), { motion: 'stopped', speed: 30 });
    } finally {
      noise = false;
      await noisy;
    }
    // The id send adds (with MQTT 5 too, for a carbot whose own connection is 3.1.1) is its
    // own: RESULT carried it, send did not print it.
    const sendIds = results.map((r) => r.payload.id).filter((id) => id !== undefined);
    assert.equal(sendIds.length, 2, JSON.stringify(sendIds));
    assert.ok(sendIds.every((id) => typeof id === 'string' && id.startsWith('send-')), JSON.stringify(sendIds));
    // A command's own id is matched (and printed) as it is.
    const own = await send(broker().url, '{"move":"stop","id":"mine"}');
    assert.equal(own.code, 0, own.stderr.join('\n'));
    // (speed 30 or 40: which of the two sends came first is the broker's business)
    const { move, motion, id } = JSON.parse(own.stdout[0]) as Record<string, unknown>;
    assert.deepEqual({ move, motion, id }, { move: 'stop', motion: 'stopped', id: 'mine' });
  });

  it('two remote pages sending at once each get their own answer, with their id', async () => {
    const server = await startRemoteServer({ host: '127.0.0.1', port: 0, car: car.service, log: memoryLogger().log });
    const untrack = track({ name: 'remote server', isOpen: () => true, close: () => server.close() });
    const pages = await Promise.all([1, 2].map(async () => {
      const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws`);
      const got: Record<string, unknown>[] = [];
      ws.on('message', (data) => {
        const m = JSON.parse(data.toString()) as { type: string; result?: Record<string, unknown> };
        if (m.type === 'result' && m.result) got.push(m.result);
      });
      await once(ws, 'open');
      return { ws, got };
    }));
    try {
      for (let n = 0; n < 3; n++) {
        pages[0].ws.send(`{"move":"forward","id":"p1-${n}"}`);
        pages[1].ws.send(`{"speed":40,"id":"p2-${n}"}`);
      }
      await waitUntil(() => pages.every((p) => p.got.length === 3), () => JSON.stringify(pages.map((p) => p.got)));
      assert.deepEqual(pages[0].got.map((r) => [r.move, r.id]), [['forward', 'p1-0'], ['forward', 'p1-1'], ['forward', 'p1-2']]);
      assert.deepEqual(pages[1].got.map((r) => [r.move, r.speed, r.id]), [[undefined, 40, 'p2-0'], [undefined, 40, 'p2-1'], [undefined, 40, 'p2-2']]);
    } finally {
      for (const p of pages) p.ws.close();
      untrack();
      await server.close();
    }
  });
});

// aedes 1.x has no MQTT 5 (above): response topics need mosquitto.
describeMosquitto('MQTT 5 response topics (mosquitto)', () => {
  let broker: TestBroker;
  let car: RunningCarbot;
  let watcher: MqttClient;

  beforeEach(async () => {
    broker = await startMosquittoBroker();
    car = startCarbot(broker.url);
    await car.waitForLog(/subscribed to carbot\/move/);
    watcher = await connectClient(broker.url);
  });
  afterEach(async () => {
    await closeClient(watcher);
    await car.shutdown();
    await broker.close();
  });

  it('an MQTT 5 command is answered on its response topic with its correlation data, besides RESULT', async () => {
    const client = await connectClient(broker.url, { protocolVersion: 5 });
    const mine = await answers(client, 'app/replies/1');
    const results = await answers(watcher, 'stat/carbot/RESULT');
    await client.publishAsync('carbot/move', 'forward', { qos: 1, properties: { responseTopic: 'app/replies/1', correlationData: Buffer.from('q-1') } });
    await waitUntil(() => mine.length === 1 && results.length === 1, () => JSON.stringify({ mine, results }));
    assert.deepEqual(mine[0], { topic: 'app/replies/1', payload: { move: 'forward', motion: 'forward', speed: 50 }, correlation: 'q-1' });
    assert.deepEqual(results[0].payload, { move: 'forward', motion: 'forward', speed: 50 });
    // The stop topic answers the same way; a refused command too.
    await client.publishAsync('carbot/move/stop', 'stop', { qos: 1, properties: { responseTopic: 'app/replies/1', correlationData: Buffer.from('q-2') } });
    await client.publishAsync('carbot/move', 'sideways', { qos: 1, properties: { responseTopic: 'app/replies/1', correlationData: Buffer.from('q-3') } });
    await waitUntil(() => mine.length === 3, () => JSON.stringify(mine));
    assert.deepEqual(mine.slice(1), [
      { topic: 'app/replies/1', payload: { move: 'stop', motion: 'stopped', speed: 50 }, correlation: 'q-2' },
      { topic: 'app/replies/1', payload: { error: 'unknown command', payload: 'sideways' }, correlation: 'q-3' },
    ]);
    await closeClient(client);
  });

  it('a response topic on carbot\'s own topics is not answered, and RESULT says why', async () => {
    const client = await connectClient(broker.url, { protocolVersion: 5 });
    const state = await answers(client, 'tele/carbot/STATE');
    const results = await answers(watcher, 'stat/carbot/RESULT');
    await client.publishAsync('carbot/move', 'forward', { qos: 1, properties: { responseTopic: 'tele/carbot/STATE', correlationData: Buffer.from('x') } });
    await waitUntil(() => results.length === 1, () => JSON.stringify(results));
    assert.deepEqual(results[0].payload, {
      move: 'forward',
      motion: 'forward',
      speed: 50,
      reply: "not answered on the response topic: response topic tele/carbot/STATE is one of carbot's own",
    });
    await car.waitForLog(/<4>did not answer mqtt on its response topic: response topic tele\/carbot\/STATE is one of carbot's own/);
    await waitUntil(() => state.some((s) => s.payload.motion === 'forward'), () => JSON.stringify(state));
    assert.ok(state.every((s) => s.payload.move === undefined && s.correlation === undefined), JSON.stringify(state));
    await closeClient(client);
  });

});

describe('the MQTT 3.1.1 fallback of a connection of carbot\'s own (aedes 1.x)', () => {
  it('the stop topic\'s connection, told MQTT 5, is refused, says so once and listens in 3.1.1 at once', async () => {
    const broker = await startAedes();
    const { log, lines } = memoryLogger();
    const config = loadConfig({ argv: ['--mqtt-url', broker.url, '--gpio', 'sim'], env: {} });
    const protocol = { version: 5 as 4 | 5 };
    const stops: string[] = [];
    const link = new BrokerLink({
      settings: config.mqtt,
      topics: config.topics,
      log,
      onOnline: () => undefined,
      onOffline: () => undefined,
      onCommand: (payload) => stops.push(payload.toString()),
      listener: { topic: config.topics.stop, label: 'stop topic' },
      protocol,
    });
    const untrack = track({ name: 'stop link', isOpen: () => true, close: () => link.close() });
    const client = await connectClient(broker.url);
    try {
      link.start();
      await waitUntil(() => link.connected, () => lines.join('\n'));
      await client.publishAsync('carbot/move/stop', 'stop', { qos: 1 });
      await waitUntil(() => stops.length === 1, () => lines.join('\n'));
      assert.deepEqual(protocol, { version: 4 });
      const said = lines.filter((l) => /refused MQTT 5/.test(l));
      assert.equal(said.length, 1, lines.join('\n'));
      assert.match(said[0], /^<6>stop topic: broker at mqtt:\/\/127\.0\.0\.1:\d+ refused MQTT 5 \(unacceptable protocol version\): using MQTT 3\.1\.1/);
      assert.ok(lines.some((l) => /^<6>stop topic: connected to .* with MQTT 3\.1\.1$/.test(l)), lines.join('\n'));
      // Straight away, not after the reconnect backoff, and with no error line.
      assert.ok(!lines.some((l) => /reconnecting in|^<3>/.test(l)), lines.join('\n'));
    } finally {
      await closeClient(client);
      untrack();
      await link.close();
      await broker.close();
    }
  });
});
