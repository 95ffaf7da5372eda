/**
 * The soak: carbot as production runs it (compiled, its own process, sim motors) against a
 * real mosquitto, through 100 000 commands at full speed, 50 broker restarts and 10 000
 * garbage payloads; afterwards it must still be connected and answering, with its heap, RSS,
 * sockets and timers back where they were. Minutes long, so not part of `npm test`:
 *   npm run build && npx mocha test/soak/soak.test.ts
 */
import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { parseCommand } from '../../src/core/commands';
import { describeMosquitto, startMosquitto, type Mosquitto } from '../support/mosquitto';
import { closeClient, connectClient } from '../support/mqtt';
import { CLI_PATH, spawnProcess, type TrackedProcess } from '../support/process';

const COMMANDS = 100_000;
const WARMUP = 5_000;
const RESTARTS = 50;
const GARBAGE = 10_000;
/**
 * Commands in flight at once. mosquitto holds at most 20 in flight plus 1000 queued for a
 * QoS 1 subscriber and drops the rest (see test/reliability/flood.test.ts); staying under
 * that keeps every command delivered, so every one can be counted.
 */
const WINDOW = 800;
/** Bounds on growth from the baseline taken after the warm-up (heap after a full GC). */
const HEAP_GROWTH_LIMIT = 4 * 1024 * 1024;
const RSS_GROWTH_LIMIT = 32 * 1024 * 1024;

const PROBE = path.join(__dirname, 'probe.js');

interface Probe {
  heapUsed: number;
  rss: number;
  resources: Record<string, number>;
}

interface Result {
  move?: string;
  motion?: string;
  speed?: number;
  error?: string;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;

/** Valid commands of every kind, reversals included, so wake timers are armed and cleared all the time. */
function command(i: number): string {
  const words = ['f', 'b', 's', '+', '-', 'forward', 'backward', 'stop', 'faster', 'slower', 'back', 'REVERSE'];
  if (i % 7 === 0) return JSON.stringify({ move: i % 14 === 0 ? 'forward' : 'backward', speed: i % 101 });
  if (i % 11 === 0) return JSON.stringify({ speed: (i * 7) % 101 });
  return words[(i * 31) % words.length];
}

/** Payloads carbot must reject, of every kind it knows; filtered through the real parser. */
function garbage(count: number): Buffer[] {
  const kinds: (() => Buffer)[] = [
    () => randomBytes(1 + Math.floor(Math.random() * 64)),
    () => Buffer.from([0xc3, 0x28, 0xa0, 0xa1, 0xff]),
    () => Buffer.alloc(257 + Math.floor(Math.random() * 2000), 0x66),
    () => Buffer.from(`{"move":"forward","speed":${100 + Math.random() * 1e6}}`),
    () => Buffer.from(`{"move":${JSON.stringify(randomBytes(8).toString('base64'))}}`),
    () => Buffer.from('{"move":"forward",'),
    () => Buffer.from(`${randomBytes(6).toString('hex')} sideways`),
    () => Buffer.from('\u0000\u0001stop'),
    () => Buffer.from('{"move":"forward","extra":1}'),
    () => Buffer.from('constructor'),
    // Not the empty payload: that is how a retained command is cleared (mosquitto_pub -r -n),
    // answered with a log line and no RESULT, so it cannot be counted here.
  ];
  const out: Buffer[] = [];
  for (let i = 0; out.length < count; i++) {
    if (i > count * 100) throw new Error('the garbage generator keeps making valid commands');
    const payload = kinds[i % kinds.length]();
    if (!parseCommand(payload).ok) out.push(payload);
  }
  return out;
}

function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(status);
  if (!kb) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kb[1]) * 1024;
}

/** Everything carbot publishes, counted as it arrives; waits resolve on a message, not a clock. */
class Watcher {
  results: Result[] = [];
  states: Record<string, unknown>[] = [];
  lwt: string[] = [];
  private waiters = new Set<() => void>();

  constructor(client: MqttClient) {
    client.on('message', (topic, payload) => {
      const text = payload.toString('utf8');
      if (topic === 'stat/carbot/RESULT') this.results.push(JSON.parse(text) as Result);
      else if (topic === 'tele/carbot/STATE') this.states.push(JSON.parse(text) as Record<string, unknown>);
      else if (topic === 'tele/carbot/LWT') this.lwt.push(text);
      for (const wake of this.waiters) wake();
    });
  }

  until(condition: () => boolean, what: () => string, ms = 20_000): Promise<void> {
    if (condition()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(wake);
        reject(new Error(`timed out after ${ms} ms waiting for ${what()}`));
      }, ms);
      const wake = () => {
        if (!condition()) return;
        this.waiters.delete(wake);
        clearTimeout(timer);
        resolve();
      };
      this.waiters.add(wake);
    });
  }
}

describeMosquitto('soak: carbot as a process against mosquitto', function () {
  this.timeout(10 * 60_000);
  let broker: Mosquitto;
  let carbot: TrackedProcess;
  let client: MqttClient;
  let watch: Watcher;

  after(async () => {
    if (client) await closeClient(client);
    await carbot?.kill('SIGKILL');
    await broker?.stop();
  });

  /** Publishes payloads at QoS 1 with at most WINDOW unanswered; resolves once all are answered. */
  async function pump(payloads: (string | Buffer)[]): Promise<void> {
    const start = watch.results.length;
    let sent = 0;
    const inFlight = () => sent - (watch.results.length - start);
    while (sent < payloads.length) {
      if (inFlight() > (WINDOW * 3) / 4) {
        await watch.until(() => inFlight() <= WINDOW / 2, () => `RESULTs for ${sent - WINDOW / 2} of ${sent} sent (${sent - inFlight()} so far)`);
      }
      const batch = Math.min(WINDOW - inFlight(), payloads.length - sent);
      for (let i = 0; i < batch; i++) client.publish('carbot/move', payloads[sent + i], { qos: 1 });
      sent += batch;
    }
    await watch.until(
      () => watch.results.length - start >= payloads.length,
      () => `all ${payloads.length} RESULTs (${watch.results.length - start} so far)`,
    );
  }

  async function send(payload: string): Promise<Result> {
    const from = watch.results.length;
    client.publish('carbot/move', payload, { qos: 1 });
    await watch.until(() => watch.results.length > from, () => `the RESULT of ${payload}`);
    return watch.results[from];
  }

  async function probe(): Promise<Probe> {
    const from = carbot.lines.length;
    carbot.child.kill('SIGUSR2');
    const line = await carbot.waitForLine(/^soak-probe /, 5000, from);
    const measured = JSON.parse(line.slice('soak-probe '.length)) as Probe;
    return { ...measured, rss: rssOf(carbot.child.pid as number) };
  }

  it(`${COMMANDS} commands, ${RESTARTS} broker restarts, ${GARBAGE} garbage payloads: still connected, nothing leaked`, async () => {
    const started = Date.now();
    const timings: string[] = [];
    const lap = (what: string) => timings.push(`${what}: ${((Date.now() - started) / 1000).toFixed(1)} s`);

    broker = await startMosquitto();
    carbot = spawnProcess(
      process.execPath,
      // No command budget: the soak pumps commands as fast as carbot answers them, on purpose.
      ['--expose-gc', '--trace-warnings', '-r', PROBE, CLI_PATH, '--gpio', 'sim', '--mqtt-url', broker.url, '--log-level', 'warn', '--commands-per-second', '0'],
      { CARBOT_HTTP_PORT: '0' },
    );
    client = await connectClient(broker.url);
    watch = new Watcher(client);
    await client.subscribeAsync('+/carbot/#', { qos: 1 });
    await watch.until(() => watch.lwt.includes('Online') && watch.states.length > 0, () => 'carbot to come Online');

    await pump(Array.from({ length: WARMUP }, (_, i) => command(i)));
    // Measured at rest: STATE follows a change within 50 ms, and its timer counts as a handle.
    const settledFrom = watch.states.length;
    await send('forward');
    await send('stop');
    await watch.until(() => watch.states.slice(settledFrom).some((st) => st.motion === 'stopped'), () => 'STATE stopped');
    const baseline = await probe();
    lap('warm-up');

    // 1. Full speed.
    const from = watch.results.length;
    await pump(Array.from({ length: COMMANDS }, (_, i) => command(i + WARMUP)));
    const answers = watch.results.slice(from);
    assert.equal(answers.length, COMMANDS);
    assert.deepEqual(answers.filter((a) => a.error !== undefined), [], 'a valid command was rejected');
    lap(`${COMMANDS} commands`);

    // 2. Broker restarts, each while the car is moving.
    for (let round = 1; round <= RESTARTS; round++) {
      await send('stop');
      const moving = await send('forward');
      // After the burst (which ends going backward) the first forward waits out the reversal pause.
      assert.ok(['forward', 'reversing'].includes(String(moving.motion)), `round ${round}: ${JSON.stringify(moving)}`);
      // STATE follows RESULT: let it arrive, so that the next STATE is one from after the restart.
      await watch.until(() => watch.states.at(-1)?.motion === 'forward', () => `round ${round}: STATE forward`);
      const states = watch.states.length;
      const lwt = watch.lwt.length;
      const lines = carbot.lines.length;
      await broker.kill();
      await broker.restart();
      await carbot.waitForLine(/lost connection to /, 5000, lines);
      // Back: a fresh broker has nothing retained, so this Online and this STATE are carbot's own, after resubscribing.
      await watch.until(() => watch.lwt.slice(lwt).includes('Online'), () => `round ${round}: carbot Online again`);
      await watch.until(() => watch.states.length > states, () => `round ${round}: a STATE after the restart`);
      const after = watch.states[states];
      assert.deepEqual(
        [after.motion, after.reason, after.motors],
        ['stopped', 'disconnect', { left: 0, right: 0 }],
        `round ${round}: the restart did not stop the motors: ${JSON.stringify(after)}`,
      );
      const again = await send('backward');
      assert.equal(again.motion, 'backward', `round ${round}: ${JSON.stringify(again)}`);
    }
    // The command connection's losses (the stop topic's connection says its own, prefixed).
    assert.equal(carbot.lines.filter((l) => /lost connection to /.test(l) && !/stop topic: /.test(l)).length, RESTARTS);
    await send('stop');
    await watch.until(() => watch.states.at(-1)?.motion === 'stopped', () => 'STATE stopped');
    lap(`${RESTARTS} restarts`);

    // 3. Garbage: every payload answered with an error, nothing moves.
    const before = watch.states.at(-1) as Record<string, unknown>;
    const junk = garbage(GARBAGE);
    const statesBefore = watch.states.length;
    const junkFrom = watch.results.length;
    await pump(junk);
    const rejected = watch.results.slice(junkFrom);
    assert.equal(rejected.length, GARBAGE);
    assert.deepEqual(rejected.filter((r) => typeof r.error !== 'string'), []);
    for (const state of watch.states.slice(statesBefore)) {
      assert.deepEqual([state.motion, state.speed, state.motors], [before.motion, before.speed, before.motors]);
    }
    lap(`${GARBAGE} garbage payloads`);

    // Afterwards: connected, answering, and back where it started.
    const speed = before.speed as number;
    const endFrom = watch.states.length;
    assert.deepEqual(await send('forward'), { move: 'forward', motion: 'forward', speed });
    assert.deepEqual(await send('stop'), { move: 'stop', motion: 'stopped', speed });
    await watch.until(() => watch.states.slice(endFrom).some((st) => st.motion === 'stopped'), () => 'STATE stopped');
    const end = await probe();
    lap('end');

    const report = [
      ...timings,
      `heap after GC: ${mb(baseline.heapUsed)} -> ${mb(end.heapUsed)} (limit +${mb(HEAP_GROWTH_LIMIT)})`,
      `RSS: ${mb(baseline.rss)} -> ${mb(end.rss)} (limit +${mb(RSS_GROWTH_LIMIT)})`,
      `resources: ${JSON.stringify(baseline.resources)} -> ${JSON.stringify(end.resources)}`,
    ].join('\n');
    console.log(report.replace(/^/gm, '      '));

    assert.ok(end.heapUsed - baseline.heapUsed <= HEAP_GROWTH_LIMIT, report);
    assert.ok(end.rss - baseline.rss <= RSS_GROWTH_LIMIT, report);
    // The same sockets and timers as before: one connection to the broker, no timer left behind.
    assert.deepEqual(end.resources, baseline.resources, report);
    assert.deepEqual(carbot.stderr.filter((l) => /Warning|MaxListeners/.test(l)), []);
    assert.deepEqual(carbot.lines.filter((l) => /^\S+ \S+ error /.test(l) && !/refused the connection/.test(l)), []);
    assert.equal(carbot.child.exitCode, null);
  });
});
