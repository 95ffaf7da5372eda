import { strict as assert } from 'node:assert';
import type { MqttClient } from 'mqtt';
import { WebSocket } from 'ws';
import { describeMosquitto, startMosquitto, type Mosquitto } from '../support/mosquitto';
import { closeClient, collect, connectClient, type ReceivedMessage, type Recorder } from '../support/mqtt';
import { freePort } from '../support/ports';
import { spawnCarbot, type CarbotProcess } from '../support/process';

const TOKEN = 'stall-test-token-0123';
const STALL_S = 3;
const parse = (m: ReceivedMessage) => JSON.parse(m.payload) as Record<string, unknown>;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const driving = (lines: readonly string[]) => lines.filter((l) => /sim motors:/.test(l) && !/left 0\.00, right 0\.00$/.test(l));

/**
 * Issue 23, finding 3: commands that waited through a stall are stale. carbot is stopped with
 * SIGSTOP (as a Pi that swaps or is starved of CPU would stand still) while the car stands;
 * a `forward` sent meanwhile over MQTT and from a page must not drive it when carbot runs on.
 * The compiled service against mosquitto.
 */
describeMosquitto('commands that waited through a stall (SIGSTOP, then SIGCONT)', function () {
  this.timeout(30_000);
  let broker: Mosquitto;
  let car: CarbotProcess;
  let client: MqttClient;
  let results: Recorder;
  let page: WebSocket;
  const pageResults: Record<string, unknown>[] = [];

  beforeEach(async () => {
    broker = await startMosquitto();
    const port = await freePort();
    car = spawnCarbot([
      '--gpio', 'sim', '--mqtt-url', broker.url, '--log-level', 'debug', '--tele-period', '0',
      '--http-host', '127.0.0.1', '--http-port', String(port), '--http-token', TOKEN,
    ]);
    await car.waitForLine(/subscribed to carbot\/move$/);
    await car.waitForLine(/remote: page at/);
    client = await connectClient(broker.url);
    results = await collect(client, 'stat/carbot/RESULT');
    page = new WebSocket(`ws://127.0.0.1:${port}/ws?token=${TOKEN}`);
    page.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type: string; result?: Record<string, unknown> };
      if (message.type === 'result') pageResults.push(message.result ?? {});
    });
    await new Promise<void>((resolve, reject) => {
      page.once('open', () => resolve());
      page.once('error', reject);
    });
  });
  afterEach(async () => {
    page.terminate();
    pageResults.length = 0;
    car.child.kill('SIGCONT');
    await closeClient(client);
    await car.kill('SIGKILL');
    await broker.stop();
  });

  it(`a forward sent over MQTT and from a page during a ${STALL_S} s stall is refused once carbot runs on; the motors stay 0; a stop is still obeyed`, async () => {
    const from = car.lines.length;
    const resultsFrom = results.messages.length;
    car.child.kill('SIGSTOP');
    try {
      await sleep(500);
      await client.publishAsync('carbot/move', 'forward', { qos: 1 });
      page.send('forward');
      await sleep(STALL_S * 1000);
    } finally {
      car.child.kill('SIGCONT');
    }
    const refused = parse(await results.waitFor(() => true, 5000, resultsFrom));
    assert.equal(refused.motion, 'stopped');
    assert.match(String(refused.error), /^stale: carbot was held up for \d+\.\d s and this command waited through it; send it again$/);
    for (let waited = 0; pageResults.length === 0 && waited < 5000; waited += 50) await sleep(50);
    assert.match(String(pageResults[0]?.error), /^stale: /, JSON.stringify(pageResults));
    await car.waitForLine(/warn  dropped "forward" from mqtt: it waited while carbot was held up for \d+\.\d s/, 5000, from);
    await sleep(500);
    assert.deepEqual(driving(car.lines.slice(from)), [], car.output());

    // Once what waited is read, commands drive again; a stop is obeyed, stall or not.
    const after = results.messages.length;
    await client.publishAsync('carbot/move', 'forward', { qos: 1 });
    assert.equal(parse(await results.waitFor(() => true, 5000, after)).motion, 'forward');
    const stopFrom = results.messages.length;
    car.child.kill('SIGSTOP');
    try {
      await sleep(500);
      await client.publishAsync('carbot/move', 'stop', { qos: 1 });
      await sleep(1500);
    } finally {
      car.child.kill('SIGCONT');
    }
    assert.equal(parse(await results.waitFor((m) => parse(m).move === 'stop', 5000, stopFrom)).motion, 'stopped');
  });
});
