import { strict as assert } from 'node:assert';
import type { MqttClient } from 'mqtt';
import { WebSocket } from 'ws';
import { describeMosquitto, startMosquitto, type Mosquitto } from '../support/mosquitto';
import { closeClient, collect, connectClient, type ReceivedMessage, type Recorder } from '../support/mqtt';
import { freePort } from '../support/ports';
import { spawnCarbot, type CarbotProcess } from '../support/process';

/**
 * Issue 23, finding 2: a task dies with its driver. A patrol waits at its first stop (motors
 * at 0, a long dwell) when its driver goes — the broker, or the page that started it: the
 * patrol is cancelled then, not 4 s later when it would have driven on with nobody able to
 * stop it. The compiled service, simulated motors on a simulated track, real mosquitto.
 */

const DWELL_S = 3;
const TOKEN = 'driver-lost-token';
const trackArgs = (url: string, httpPort: number) => [
  '--mqtt-url', url,
  '--gpio', 'sim',
  '--log-level', 'debug',
  '--tele-period', '0',
  '--track-sim', JSON.stringify({ topSpeed: 0.6, lagMs: 20, deadBand: 0.1, seed: 7, start: 0.3 }),
  '--track-length-m', '0.5',
  '--track-speed-table', JSON.stringify({ 50: 0.3, 100: 0.6 }),
  '--track-stops', JSON.stringify({ basil: 0.2, thyme: 0.4 }),
  '--track-dwell-s', String(DWELL_S),
  '--track-settle-ms', '100',
  '--http-host', '127.0.0.1',
  '--http-port', String(httpPort),
  '--http-token', TOKEN,
];

const parse = (m: ReceivedMessage) => JSON.parse(m.payload) as Record<string, unknown>;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
/** Sim motor writes (debug lines) that drive: anything but 0.00 on every motor. */
const driving = (lines: readonly string[]) => lines.filter((l) => /sim motors:/.test(l) && !/left 0\.00, right 0\.00$/.test(l));

describeMosquitto('a task dies with its driver (compiled service, simulated track)', function () {
  this.timeout(60_000);
  let broker: Mosquitto;
  let client: MqttClient;
  let states: Recorder;
  let arrivals: Recorder;
  let car: CarbotProcess;
  let httpPort: number;

  beforeEach(async () => {
    broker = await startMosquitto();
    httpPort = await freePort();
    car = spawnCarbot(trackArgs(broker.url, httpPort));
    await car.waitForLine(/subscribed to carbot\/move/);
    client = await connectClient(broker.url);
    states = await collect(client, 'tele/carbot/STATE');
    arrivals = await collect(client, 'stat/carbot/ARRIVED');
  });
  afterEach(async () => {
    await closeClient(client);
    await car.kill('SIGKILL');
    await broker.stop();
  });

  const idle = (s: Record<string, unknown>) => s.task === undefined && s.motion === 'stopped';

  /** Home, then a patrol, resolved at its first ARRIVED: the car now dwells at basil. */
  async function patrolUntilFirstStop(send: (command: string) => void): Promise<void> {
    send('home');
    await states.waitFor((m) => parse(m).homed === true && idle(parse(m)), 30_000);
    send('patrol');
    assert.equal(parse(await arrivals.waitFor(() => true, 30_000)).stop, 'basil');
  }

  /** Past the dwell and more: nothing drove, and the log says the patrol was cancelled. */
  async function assertCancelled(from: number): Promise<void> {
    await car.waitForLine(/patrol cancelled: disconnect while the car waited/, 5000, from);
    await sleep(DWELL_S * 1000 + 1500);
    assert.deepEqual(driving(car.lines.slice(from)), [], car.output());
  }

  it('the broker lost while a patrol dwells at a stop: the patrol is cancelled, the motors stay 0, STATE says disconnect', async () => {
    await patrolUntilFirstStop((command) => void client.publishAsync('carbot/move', command, { qos: 1 }));
    const from = car.lines.length;
    await broker.kill();
    await car.waitForLine(/lost connection to/, 5000, from);
    await assertCancelled(from);

    const seen = states.messages.length;
    await broker.restart();
    const state = parse(await states.waitFor(() => true, 15_000, seen));
    assert.deepEqual([state.motion, state.reason, state.task, state.motors], ['stopped', 'disconnect', undefined, { left: 0, right: 0 }]);
  });

  it('the page that started a patrol closed while it dwells at a stop: the patrol is cancelled, the motors stay 0, STATE says disconnect', async () => {
    const page = new WebSocket(`ws://127.0.0.1:${httpPort}/ws?token=${TOKEN}`);
    await new Promise<void>((resolve, reject) => {
      page.once('open', () => resolve());
      page.once('error', reject);
    });
    try {
      await patrolUntilFirstStop((command) => page.send(command));
      const from = car.lines.length;
      const seen = states.messages.length;
      page.close();
      await car.waitForLine(/remote: the page driving the car \(127\.0\.0\.1\) went away: stopping/, 5000, from);
      await assertCancelled(from);
      const state = parse(await states.waitFor((m) => parse(m).reason === 'disconnect', 5000, seen));
      assert.deepEqual([state.motion, state.task, state.motors], ['stopped', undefined, { left: 0, right: 0 }]);
    } finally {
      page.terminate();
    }
  });
});
