/**
 * `npm run bench`: carbot (compiled dist/, sim motors, info logging) against a minimal
 * mqtt.js baseline, through one broker, in one run, alternating between the two so that
 * machine noise hits both. Prints a table and writes bench/results.json.
 *
 * Then the flood scenarios (bench/flood.ts): carbot alone, as installed, against a hostile
 * page socket, MQTT publisher and non-reading socket, BENCH_FLOOD_S seconds each.
 *
 * Counts come from the environment so that a smoke test can run it in seconds:
 * BENCH_ROUNDTRIPS, BENCH_WARMUP, BENCH_BURST, BENCH_BURST_ROUNDS, BENCH_STOPS,
 * BENCH_STOP_AHEAD, BENCH_STOP_BEHIND, BENCH_STARTS, BENCH_IDLE_S, BENCH_SETTLE_MS,
 * BENCH_FLOOD_S, and BENCH_OUT for where results.json goes.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startBenchBroker, type BenchBroker } from './broker';
import { Child, REPO_ROOT, type MemorySample, type SpawnOptions, type SubjectName } from './child';
import { Driver } from './driver';
import { CYCLE_MS, FLOOD_BOUNDS, FLOOD_LABELS, FLOOD_SCENARIOS, runFlood, stopFigures, type FloodResult } from './flood';
import { startMosquitto } from '../test/support/mosquitto';
import { freePort } from '../test/support/ports';
import { max, median, micros, percentile, sum } from './stats';

const SUBJECTS: readonly SubjectName[] = ['carbot', 'baseline'];

export interface Counts {
  roundTrips: number;
  warmup: number;
  burst: number;
  burstRounds: number;
  stops: number;
  stopAhead: number;
  stopBehind: number;
  starts: number;
  idleSeconds: number;
  /** Pause before each memory reading, for the subject to finish what it was doing. */
  settleMs: number;
  /** Length of each flood scenario. */
  floodSeconds: number;
}

const DEFAULTS: Counts = {
  roundTrips: 5000,
  warmup: 500,
  burst: 20000,
  burstRounds: 2,
  stops: 100,
  // One window of mosquitto's max_inflight_messages (20): the stop arrives while the subject
  // still has a full window of commands to answer, and 200 more keep coming behind it.
  stopAhead: 20,
  stopBehind: 200,
  starts: 5,
  idleSeconds: 10,
  settleMs: 1000,
  floodSeconds: 20,
};

const ENV_NAMES: Record<keyof Counts, string> = {
  roundTrips: 'BENCH_ROUNDTRIPS',
  warmup: 'BENCH_WARMUP',
  burst: 'BENCH_BURST',
  burstRounds: 'BENCH_BURST_ROUNDS',
  stops: 'BENCH_STOPS',
  stopAhead: 'BENCH_STOP_AHEAD',
  stopBehind: 'BENCH_STOP_BEHIND',
  starts: 'BENCH_STARTS',
  idleSeconds: 'BENCH_IDLE_S',
  settleMs: 'BENCH_SETTLE_MS',
  floodSeconds: 'BENCH_FLOOD_S',
};

/** Bad counts in the environment: said in one message, without a stack trace. */
class UsageError extends Error {}

export function countsFrom(env: NodeJS.ProcessEnv): Counts {
  const counts = { ...DEFAULTS };
  const problems: string[] = [];
  for (const key of Object.keys(DEFAULTS) as (keyof Counts)[]) {
    const raw = env[ENV_NAMES[key]];
    if (raw === undefined || raw === '') continue;
    const value = Number(raw);
    const minimum = ['warmup', 'stopAhead', 'stopBehind', 'settleMs'].includes(key) ? 0 : key === 'idleSeconds' || key === 'floodSeconds' ? 0.1 : 1;
    const whole = key !== 'idleSeconds' && key !== 'floodSeconds';
    // A burst is published in one go, before any PUBACK is read: each needs its own message id.
    const maximum = key === 'burst' ? 60000 : Infinity;
    if (!Number.isFinite(value) || value < minimum || value > maximum || (whole && !Number.isInteger(value))) {
      const range = maximum === Infinity ? `>= ${minimum}` : `from ${minimum} to ${maximum}`;
      problems.push(`${ENV_NAMES[key]}=${raw}: expected ${whole ? 'an integer' : 'a number'} ${range}`);
    } else counts[key] = value;
  }
  if (problems.length > 0) throw new UsageError(problems.join('\n'));
  return counts;
}

/** Even rounds run carbot first, odd rounds the baseline first: A B B A A B … */
function order(round: number): readonly SubjectName[] {
  return round % 2 === 0 ? SUBJECTS : [...SUBJECTS].reverse();
}

const ROUND_TRIP_PAUSE_MS = 1;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

type PerSubject<T> = Record<SubjectName, T>;
const perSubject = <T>(make: () => T): PerSubject<T> => ({ carbot: make(), baseline: make() });

interface Window {
  from: bigint;
  to: bigint;
}

interface StopTrial extends Window {
  /** The benchmark's hrtime just before it published `stop`. */
  stopSentAt: bigint;
}

/** [arrival of the causing message, motor write (carbot) or ack (baseline)], ns, and the payload where known. */
interface TraceEntry {
  received: bigint;
  done: bigint;
  payload?: string;
}

function readTrace(file: string): TraceEntry[] {
  const rows = JSON.parse(readFileSync(file, 'utf8')) as string[][];
  return rows
    .filter((row) => row[0] !== '')
    .map(([received, done, payload]) => ({ received: BigInt(received), done: BigInt(done), payload }));
}

class Bench {
  private readonly starts = perSubject<number[]>(() => []);
  private readonly roundTrips = perSubject<number[]>(() => []);
  private readonly actuation = perSubject<number[]>(() => []);
  /** Round trips split by the trace: client publish -> subject's message event, and its write/ack -> RESULT at the client. */
  private readonly inbound = perSubject<number[]>(() => []);
  private readonly outbound = perSubject<number[]>(() => []);
  private readonly stopFromArrival = perSubject<number[]>(() => []);
  private readonly stopFromPublish = perSubject<number[]>(() => []);
  private readonly bursts = perSubject<{ perSecond: number; lost: number }[]>(() => []);
  private readonly memoryAfterStart = perSubject<MemorySample | undefined>(() => undefined);
  private readonly memoryAtRest = perSubject<MemorySample | undefined>(() => undefined);
  private readonly memoryAfterBurst = perSubject<MemorySample | undefined>(() => undefined);
  private readonly peakHeap = perSubject<number>(() => 0);
  private readonly idleCpu = perSubject<number | undefined>(() => undefined);
  /** CPU seconds the subject used during the measured round trips and during the bursts. */
  private readonly cpu = perSubject(() => ({ roundTrip: 0, burst: 0 }));
  private readonly children = new Set<Child>();
  readonly floods: FloodResult[] = [];

  constructor(
    private readonly counts: Counts,
    private readonly broker: BenchBroker,
    private readonly driver: Driver,
    private readonly scratch: string,
  ) {}

  private log(message: string): void {
    process.stderr.write(`bench: ${message}\n`);
  }

  /** Spawns a subject and waits for its Online; returns it with the spawn → Online time in ms. */
  private async launch(name: SubjectName, opts: SpawnOptions = {}): Promise<{ child: Child; startupMs: number }> {
    // carbot serves its browser remote by default, on 0.0.0.0:8080: keep that part of what is
    // measured, but on loopback and a port of its own. These sections measure capacity, which
    // the command budget (commandsPerSecond, 50 by default) would cap: it is off here, and on
    // in the flood scenarios, which measure it.
    const args = name === 'carbot' ? ['--http-host', '127.0.0.1', '--http-port', String(await freePort()), '--commands-per-second', '0'] : [];
    const online = this.driver.endpoints[name].nextOnline(10_000);
    const child = new Child(name, this.broker.url, { ...opts, args });
    this.children.add(child);
    void child.exited.then(() => this.children.delete(child));
    const died = child.exited.then(({ code, signal }) => {
      throw new Error(`${name} exited (code ${code}, signal ${signal}) before Online; its last output:\n${child.output()}`);
    });
    try {
      const at = await Promise.race([online.at, died]);
      return { child, startupMs: Number(at - child.spawnedAt) / 1e6 };
    } catch (err) {
      online.cancel();
      const hung = child.running;
      await child.stop().catch(() => undefined);
      throw hung ? new Error(`${(err as Error).message}; its last output:\n${child.output()}`) : err;
    }
  }

  async stopAll(): Promise<void> {
    await Promise.allSettled([...this.children].map((c) => c.stop()));
  }

  /** Spawn → Online, fresh processes, alternating; no trace, no probe: exactly as deployed. */
  async startup(): Promise<void> {
    this.log(`start-up: ${this.counts.starts} launches each`);
    for (let round = 0; round < this.counts.starts; round++) {
      for (const name of order(round)) {
        const { child, startupMs } = await this.launch(name);
        this.starts[name].push(startupMs);
        await child.stop();
      }
    }
  }

  /** Round trips, actuation and stop under load, from processes that trace their writes. */
  async latency(): Promise<void> {
    const { roundTrips, warmup, stops, stopAhead, stopBehind } = this.counts;
    const traces = perSubject(() => '');
    const children = {} as PerSubject<Child>;
    for (const name of SUBJECTS) {
      traces[name] = path.join(this.scratch, `${name}-trace.json`);
      children[name] = (await this.launch(name, { trace: traces[name] })).child;
      // Moving, so that every faster/slower changes the output and reaches the motors.
      await this.driver.roundTrip(name, 'forward');
      for (let i = 0; i < warmup; i++) await this.driver.roundTrip(name, i % 2 === 0 ? 'faster' : 'slower');
    }

    this.log(`round trips: ${roundTrips} each, sequential, alternating one by one, after ${warmup} warm-up`);
    // One by one rather than in blocks, so that a noisy neighbour on the machine delays both
    // alike; with a pause after each, so that what a subject does after its RESULT (STATE, log
    // lines) is not charged to the next round trip, as for commands sent at a human pace.
    const measured = perSubject<Window[]>(() => []);
    const cpuBefore = perSubject(() => 0);
    for (const name of SUBJECTS) cpuBefore[name] = children[name].cpuSeconds();
    for (let i = 0; i < roundTrips; i++) {
      for (const name of order(i)) {
        const { sent, answered } = await this.driver.roundTrip(name, i % 2 === 0 ? 'faster' : 'slower');
        measured[name].push({ from: sent, to: answered });
        this.roundTrips[name].push(micros(sent, answered));
        await sleep(ROUND_TRIP_PAUSE_MS);
      }
    }
    for (const name of SUBJECTS) this.cpu[name].roundTrip = children[name].cpuSeconds() - cpuBefore[name];

    this.log(`stop under load: ${stops} trials each, ${stopAhead} faster/slower before the stop and ${stopBehind} after`);
    const trials = perSubject<StopTrial[]>(() => []);
    for (let trial = 0; trial < stops; trial++) {
      for (const name of order(trial)) trials[name].push(await this.stopTrial(name));
    }

    for (const name of SUBJECTS) await children[name].stop();
    for (const name of SUBJECTS) {
      const trace = readTrace(traces[name]);
      // Round trips are sequential and each one changes the speed while moving, so each has
      // exactly one trace entry, caused by a message that arrived between its publish and RESULT.
      let next = 0;
      for (const rt of measured[name]) {
        while (next < trace.length && trace[next].received < rt.from) next++;
        const entry = trace[next];
        if (entry === undefined || entry.received > rt.to) throw new Error(`${name}: a round trip left no entry in the trace`);
        this.actuation[name].push(micros(entry.received, entry.done));
        this.inbound[name].push(micros(rt.from, entry.received));
        this.outbound[name].push(micros(entry.done, rt.to));
      }
      for (const t of trials[name]) {
        const stopEntry = this.stopEntry(name, trace, t);
        this.stopFromArrival[name].push(micros(stopEntry.received, stopEntry.done));
        this.stopFromPublish[name].push(micros(t.stopSentAt, stopEntry.done));
      }
    }
  }

  private async stopTrial(name: SubjectName): Promise<StopTrial> {
    const { stopAhead, stopBehind } = this.counts;
    const ep = this.driver.endpoints[name];
    await this.driver.roundTrip(name, 'forward');
    const done = ep.waitForResults(ep.results + stopAhead + 1 + stopBehind, 5000);
    const from = process.hrtime.bigint();
    for (let i = 0; i < stopAhead; i++) this.driver.publish(name, i % 2 === 0 ? 'faster' : 'slower');
    const stopSentAt = process.hrtime.bigint();
    this.driver.publish(name, 'stop');
    // mqtt.js writes what was published in one tick together, at the end of it: the stop
    // goes out now, and the load behind it follows while the subject works through the rest.
    await new Promise((resolve) => setImmediate(resolve));
    for (let i = 0; i < stopBehind; i++) this.driver.publish(name, i % 2 === 0 ? 'faster' : 'slower');
    if (!(await done)) throw new Error(`${name} did not answer every command of a stop trial`);
    return { from, to: ep.lastResultAt, stopSentAt };
  }

  /**
   * carbot's trace has no payloads, but in a trial the car moves until the stop and after it
   * faster/slower change only the speed setting: the stop's write is the trial's last.
   */
  private stopEntry(name: SubjectName, trace: readonly TraceEntry[], trial: StopTrial): TraceEntry {
    const inTrial = trace.filter((e) => e.done >= trial.from && e.done <= trial.to);
    const entry = name === 'carbot' ? inTrial.at(-1) : inTrial.find((e) => e.payload === 'stop');
    if (!entry || entry.received < trial.stopSentAt) {
      throw new Error(`${name}: no write caused by the stop found in its trace (${inTrial.length} entries in the trial)`);
    }
    return entry;
  }

  /** Each flood scenario, carbot alone with its default settings (no baseline: it has no page). */
  async flood(): Promise<void> {
    // Against mosquitto as deployed: the bench broker's unbounded queue (max_queued_messages 0)
    // would hold a whole flood in front of a stop; mosquitto's default holds 1000 and drops the rest.
    const deployed = this.broker.kind === 'mosquitto' ? await startMosquitto() : undefined;
    try {
      for (const scenario of FLOOD_SCENARIOS) {
        this.floods.push(await runFlood(scenario, deployed?.url ?? this.broker.url, this.counts.floodSeconds, (m) => this.log(m)));
      }
    } finally {
      await deployed?.stop();
    }
  }

  /** Memory, idle CPU and burst throughput, from processes without a trace (it grows with every write). */
  async resources(): Promise<void> {
    const { burst, burstRounds, idleSeconds } = this.counts;
    const children = {} as PerSubject<Child>;
    for (const name of SUBJECTS) children[name] = (await this.launch(name, { probe: true })).child;
    await sleep(this.counts.settleMs);
    for (const name of SUBJECTS) this.memoryAfterStart[name] = await this.sample(children[name]);

    this.log(`idle CPU: ${idleSeconds} s with no commands`);
    const before = perSubject(() => 0);
    for (const name of SUBJECTS) before[name] = children[name].cpuSeconds();
    await sleep(idleSeconds * 1000);
    for (const name of SUBJECTS) this.idleCpu[name] = children[name].cpuSeconds() - before[name];
    // V8 gives back start-up garbage only once allocation has been quiet for a few seconds.
    for (const name of SUBJECTS) this.memoryAtRest[name] = await this.sample(children[name]);

    this.log(`burst: ${burstRounds} x ${burst} commands each, back to back, QoS 1`);
    for (const name of SUBJECTS) await this.driver.roundTrip(name, 'forward');
    for (let round = 0; round < burstRounds; round++) {
      for (const name of order(round)) {
        const cpuBefore = children[name].cpuSeconds();
        this.bursts[name].push(await this.burst(name, children[name]));
        this.cpu[name].burst += children[name].cpuSeconds() - cpuBefore;
      }
    }
    await sleep(this.counts.settleMs);
    for (const name of SUBJECTS) this.memoryAfterBurst[name] = await this.sample(children[name]);
    for (const name of SUBJECTS) await children[name].stop();
  }

  private async sample(child: Child): Promise<MemorySample> {
    const sample = await child.memory();
    this.peakHeap[child.name] = Math.max(this.peakHeap[child.name], sample.heapUsed);
    return sample;
  }

  private async burst(name: SubjectName, child: Child): Promise<{ perSecond: number; lost: number }> {
    const { burst } = this.counts;
    const ep = this.driver.endpoints[name];
    const first = ep.results;
    // The heap has no high-water mark of its own: sample it while the burst is in flight.
    let sampling = false;
    const sampler = setInterval(() => {
      if (sampling) return;
      sampling = true;
      this.sample(child)
        .catch(() => undefined)
        .finally(() => (sampling = false));
    }, 100);
    try {
      const done = ep.waitForResults(first + burst, 3000);
      const from = process.hrtime.bigint();
      for (let i = 0; i < burst; i++) this.driver.publish(name, i % 2 === 0 ? 'faster' : 'slower');
      await done;
      const answered = ep.results - first;
      return { perSecond: answered / (Number(ep.lastResultAt - from) / 1e9), lost: burst - answered };
    } finally {
      clearInterval(sampler);
      while (sampling) await sleep(10);
    }
  }

  figures(): Figure[] {
    const rows: Figure[] = [];
    type Value = (name: SubjectName) => number | null | undefined;
    const add = (key: string, label: string, unit: string, value: Value, better: 'lower' | 'higher' = 'lower') => {
      const carbot = value('carbot') ?? null;
      const baseline = value('baseline') ?? null;
      const ratio = carbot !== null && baseline !== null && baseline !== 0 ? carbot / baseline : null;
      rows.push({ key, label, unit, carbot, baseline, ratio, better });
    };
    const p = (samples: PerSubject<number[]>, at: number): Value => (n) => percentile(samples[n], at);
    const mb = (bytes: number | undefined) => (bytes === undefined ? null : bytes / (1024 * 1024));
    const perCommand = (cpuSeconds: number, commands: number) => (commands > 0 ? (cpuSeconds * 1e6) / commands : null);
    const answered = (n: SubjectName) => this.bursts[n].length * this.counts.burst - sum(this.bursts[n].map((b) => b.lost));

    add('startup.median', 'start-up: spawn -> Online, median', 'ms', (n) => median(this.starts[n]));
    add('startup.max', 'start-up: spawn -> Online, max', 'ms', (n) => max(this.starts[n]));
    for (const at of [50, 90, 99]) add(`roundTrip.p${at}`, `round trip p${at}`, 'us', p(this.roundTrips, at));
    add('roundTrip.max', 'round trip max', 'us', (n) => max(this.roundTrips[n]));
    add('roundTrip.inbound.p50', '  of which publish -> message event, p50', 'us', p(this.inbound, 50));
    add('actuation.p50', '  of which message -> motor write (actuation), p50', 'us', p(this.actuation, 50));
    add('roundTrip.outbound.p50', '  of which motor write -> RESULT at client, p50', 'us', p(this.outbound, 50));
    add('actuation.p99', 'actuation (message -> motor write) p99', 'us', p(this.actuation, 99));
    add('cpu.roundTrip', 'CPU per command, sequential', 'us', (n) => perCommand(this.cpu[n].roundTrip, this.roundTrips[n].length));
    add('cpu.burst', 'CPU per command, burst', 'us', (n) => perCommand(this.cpu[n].burst, answered(n)));
    add('burst.perSecond', 'burst throughput (median of rounds)', 'cmd/s', (n) => median(this.bursts[n].map((b) => b.perSecond)), 'higher');
    add('burst.lost', 'burst: commands lost (all rounds)', 'count', (n) => (this.bursts[n].length ? sum(this.bursts[n].map((b) => b.lost)) : null));
    add('stop.fromArrival.p50', 'stop under load, arrival -> motors p50', 'us', p(this.stopFromArrival, 50));
    add('stop.fromArrival.p99', 'stop under load, arrival -> motors p99', 'us', p(this.stopFromArrival, 99));
    add('stop.fromPublish.p50', 'stop under load, publish -> motors p50', 'us', p(this.stopFromPublish, 50));
    add('stop.fromPublish.p99', 'stop under load, publish -> motors p99', 'us', p(this.stopFromPublish, 99));
    add('stop.fromPublish.max', 'stop under load, publish -> motors max', 'us', (n) => max(this.stopFromPublish[n]));
    add('memory.startup.rss', 'RSS after start-up (1 s after Online)', 'MB', (n) => mb(this.memoryAfterStart[n]?.rss));
    add('memory.startup.private', '  of which private (RssAnon)', 'MB', (n) => mb(this.memoryAfterStart[n]?.privateRss));
    add('memory.startup.heap', 'heap used after start-up', 'MB', (n) => mb(this.memoryAfterStart[n]?.heapUsed));
    add('memory.rest.rss', `RSS at rest (after the ${this.counts.idleSeconds} s idle)`, 'MB', (n) => mb(this.memoryAtRest[n]?.rss));
    add('memory.burst.rss', 'RSS after the bursts', 'MB', (n) => mb(this.memoryAfterBurst[n]?.rss));
    add('memory.burst.heap', 'heap used after the bursts', 'MB', (n) => mb(this.memoryAfterBurst[n]?.heapUsed));
    add('memory.peak.rss', 'peak RSS (VmHWM)', 'MB', (n) => mb(this.memoryAfterBurst[n]?.peakRss));
    add('memory.peak.heap', 'peak heap used (sampled every 100 ms in the bursts)', 'MB', (n) => mb(this.peakHeap[n] || undefined));
    add('idle.cpu', `idle CPU in ${this.counts.idleSeconds} s`, 's', (n) => this.idleCpu[n]);
    return rows;
  }

  raw(): Record<string, unknown> {
    return { startupMs: this.starts, bursts: this.bursts, floodStopMs: Object.fromEntries(this.floods.map((f) => [f.scenario, f.stopMs])) };
  }
}

export interface Figure {
  key: string;
  label: string;
  unit: string;
  carbot: number | null;
  baseline: number | null;
  /** carbot / baseline. */
  ratio: number | null;
  better: 'lower' | 'higher';
}

export interface Target {
  target: string;
  measured: string;
  met: boolean;
}

function targets(figures: readonly Figure[], counts: Counts): Target[] {
  const f = (key: string): Figure => {
    const found = figures.find((x) => x.key === key);
    if (!found) throw new Error(`no figure ${key}`);
    return found;
  };
  const v = (n: number | null, digits = 0) => (n === null ? 'n/a' : n.toFixed(digits));
  const ok = (n: number | null, test: (x: number) => boolean) => n !== null && test(n);
  const rt = f('roundTrip.p50');
  const burst = f('burst.perSecond');
  const lost = f('burst.lost');
  const stopArrival = f('stop.fromArrival.p99');
  const stopPublish = f('stop.fromPublish.p99');
  const rss = f('memory.startup.rss');
  const start = f('startup.median');
  return [
    {
      target: 'round trip p50 <= 1.3x baseline',
      measured: `${v(rt.ratio, 2)}x (${v(rt.carbot)} vs ${v(rt.baseline)} us)`,
      met: ok(rt.ratio, (r) => r <= 1.3),
    },
    {
      target: 'burst throughput >= 0.7x baseline, 0 lost',
      measured: `${v(burst.ratio, 2)}x (${v(burst.carbot)} vs ${v(burst.baseline)} cmd/s), ${v(lost.carbot)} lost`,
      met: ok(burst.ratio, (r) => r >= 0.7) && lost.carbot === 0,
    },
    {
      target: 'stop reaches the motors < 5 ms p99 under load, from its arrival',
      measured: `${v(stopArrival.carbot)} us`,
      met: ok(stopArrival.carbot, (x) => x < 5000),
    },
    {
      target: 'stop reaches the motors < 5 ms p99 under load, from its publish',
      measured: `${v(stopPublish.carbot)} us (baseline ${v(stopPublish.baseline)} us; ${counts.stopAhead} commands queued ahead of it)`,
      met: ok(stopPublish.carbot, (x) => x < 5000),
    },
    { target: 'RSS after start-up < 60 MB', measured: `${v(rss.carbot, 2)} MB`, met: ok(rss.carbot, (x) => x < 60) },
    { target: 'start-up to Online < 600 ms (median)', measured: `${v(start.carbot)} ms`, met: ok(start.carbot, (x) => x < 600) },
  ];
}

/** The flood scenarios' row per scenario, as the table and results.json show them. */
export interface FloodRow {
  scenario: string;
  label: string;
  seconds: number;
  sentPerSecond: number;
  stopP50Ms: number | null;
  stopP99Ms: number | null;
  stopMaxMs: number | null;
  stops: number;
  lostStops: number;
  noopStops: number;
  rssStartMB: number;
  rssMaxMB: number;
  watchdogGapMs: number;
  linesPerSecond: number;
  warnLines: number;
  longestStallMs: number;
  cpuPercent: number;
}

function floodRows(floods: readonly FloodResult[]): FloodRow[] {
  return floods.map((f) => {
    const stop = stopFigures(f);
    return {
      scenario: f.scenario,
      label: FLOOD_LABELS[f.scenario],
      seconds: f.seconds,
      sentPerSecond: f.sent / f.seconds,
      stopP50Ms: stop.p50,
      stopP99Ms: stop.p99,
      stopMaxMs: stop.max,
      stops: f.stopMs.page.length + f.stopMs.mqtt.length,
      lostStops: f.lostStops,
      noopStops: f.noopStops,
      rssStartMB: f.rssStartMB,
      rssMaxMB: f.rssMaxMB,
      watchdogGapMs: f.watchdogGapMs,
      linesPerSecond: f.lines / f.seconds,
      warnLines: f.warnLines,
      longestStallMs: f.longestStallMs,
      cpuPercent: (100 * f.cpuSeconds) / f.seconds,
    };
  });
}

function floodTargets(rows: readonly FloodRow[]): Target[] {
  const b = FLOOD_BOUNDS;
  return rows.flatMap((r) => [
    {
      target: `flood (${r.scenario}): a stop from another client reaches the motors < ${b.stopP99Ms} ms p99, none lost`,
      measured: `${r.stopP99Ms === null ? 'n/a' : r.stopP99Ms.toFixed(1)} ms p99 over ${r.stops} stops, ${r.lostStops} lost`,
      met: r.stopP99Ms !== null && r.stopP99Ms < b.stopP99Ms && r.lostStops === 0,
    },
    {
      target: `flood (${r.scenario}): watchdog ping gap < ${b.watchdogGapMs} ms (half of WatchdogSec)`,
      measured: `${r.watchdogGapMs.toFixed(0)} ms`,
      met: r.watchdogGapMs < b.watchdogGapMs,
    },
    { target: `flood (${r.scenario}): RSS < ${b.rssMB} MB`, measured: `${r.rssMaxMB.toFixed(1)} MB`, met: r.rssMaxMB < b.rssMB },
    {
      target: `flood (${r.scenario}): log lines < ${b.linesPerSecond}/s (journald's default limit is 10000 per 30 s)`,
      measured: `${r.linesPerSecond.toFixed(1)}/s (${r.warnLines} warnings)`,
      met: r.linesPerSecond < b.linesPerSecond,
    },
  ]);
}

function floodTable(rows: readonly FloodRow[]): string {
  const n = (x: number | null, digits = 1) => (x === null ? '—' : x.toFixed(digits));
  const table = [
    ['flood scenario', 's', 'sent/s', 'stop p50 ms', 'stop p99 ms', 'stop max ms', 'stops', 'lost', 'RSS MB', 'watchdog gap ms', 'lines/s', 'longest stall ms', 'CPU %'],
    ...rows.map((r) => [
      r.label,
      n(r.seconds, 0),
      n(r.sentPerSecond, 0),
      n(r.stopP50Ms),
      n(r.stopP99Ms),
      n(r.stopMaxMs),
      String(r.stops),
      String(r.lostStops),
      `${n(r.rssStartMB)} -> ${n(r.rssMaxMB)}`,
      n(r.watchdogGapMs, 0),
      n(r.linesPerSecond),
      n(r.longestStallMs, 0),
      n(r.cpuPercent, 0),
    ]),
  ];
  const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(table[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...table.slice(1).map(line)].join('\n');
}

function machine(): { cpu: string; cores: number; memoryMB: number; os: string; node: string } {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model.trim() ?? 'unknown',
    cores: cpus.length,
    memoryMB: Math.round(os.totalmem() / (1024 * 1024)),
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.version,
  };
}

/** Which carbot was measured: the commit, and whether the tree had changes on top of it. */
function revision(): string | null {
  try {
    const run = (args: string[]) => execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return `${run(['rev-parse', '--short', 'HEAD'])}${run(['status', '--porcelain', '--', 'src']) ? ' + uncommitted changes in src/' : ''}`;
  } catch {
    return null;
  }
}

function format(n: number | null, unit: string): string {
  if (n === null) return '—';
  if (unit === 'MB' || unit === 's') return n.toFixed(unit === 's' ? 3 : 1);
  if (unit === 'count') return String(n);
  return n >= 100 ? n.toFixed(0) : n.toFixed(1);
}

function table(figures: readonly Figure[]): string {
  const rows = [
    ['figure', 'unit', 'carbot', 'baseline', 'carbot/baseline'],
    ...figures.map((f) => [f.label, f.unit, format(f.carbot, f.unit), format(f.baseline, f.unit), f.ratio === null ? '—' : `${f.ratio.toFixed(2)}x`]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

async function main(): Promise<void> {
  const counts = countsFrom(process.env);
  const out = path.resolve(process.env.BENCH_OUT || path.join(__dirname, 'results.json'));
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'carbot-bench-'));
  // Everything else running on the machine competes with what is measured: say how busy it was.
  const loadBefore = os.loadavg();
  const broker = await startBenchBroker();
  process.stderr.write(`bench: broker ${broker.label}\n`);
  let driver: Driver | undefined;
  let bench: Bench | undefined;
  try {
    driver = await Driver.connect(broker.url);
    bench = new Bench(counts, broker, driver, scratch);
    await bench.startup();
    await bench.latency();
    await bench.resources();
    await bench.flood();
  } finally {
    await bench?.stopAll();
    await driver?.close();
    await broker.close();
    rmSync(scratch, { recursive: true, force: true });
  }

  const figures = bench.figures();
  const floods = floodRows(bench.floods);
  const load = (averages: number[]) => averages.map((l) => Number(l.toFixed(2)));
  const results = {
    generated: new Date().toISOString(),
    revision: revision(),
    machine: { ...machine(), loadAverage: { before: load(loadBefore), after: load(os.loadavg()) } },
    broker: { label: broker.label, kind: broker.kind, version: broker.version ?? null, settings: broker.settings },
    carbot:
      'node dist/cli.js --mqtt-url <broker> --gpio sim --http-host 127.0.0.1 --http-port <free> --commands-per-second 0: ' +
      'default settings but the command budget, info logging, stdout piped to a separate reader',
    floodBroker:
      broker.kind === 'mosquitto'
        ? 'a second mosquitto with its default queue (max_queued_messages 1000), set_tcp_nodelay true, persistence false'
        : broker.label,
    floodCarbot:
      'node dist/cli.js --mqtt-url <broker> --gpio sim --http-host 127.0.0.1 --http-port <free> --http-token <token>: ' +
      'default settings (command budget 50/s), WATCHDOG_USEC=10 s through a stand-in systemd-notify, stdout to a file',
    baseline: 'node bench/baseline.js: mqtt.js, subscribes to the move topic at QoS 1, publishes an ack per message',
    counts,
    figures,
    floods,
    targets: [...targets(figures, counts), ...floodTargets(floods)],
    raw: bench.raw(),
  };
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  const m = results.machine;
  const header =
    `carbot benchmark — ${m.cpu} (${m.cores} cores, ${m.memoryMB} MB), node ${m.node}, ` +
    `load average ${m.loadAverage.before[0]} -> ${m.loadAverage.after[0]}\n` +
    `carbot ${results.revision ?? '(revision unknown)'}; broker: ${broker.label}`;
  const verdicts = results.targets.map((t) => `  [${t.met ? 'met' : 'MISSED'}] ${t.target}: ${t.measured}`);
  const floodNote =
    `flood scenarios, ${counts.floodSeconds} s each; the other client drives and stops the car every ${CYCLE_MS} ms, ` +
    'stops alternately from a page and over MQTT; stop = send -> motor write. On a shared machine these vary from run to run.';
  process.stdout.write(
    `${header}\n\n${table(figures)}\n\n${floodNote}\n${floodTable(floods)}\n\ntargets:\n${verdicts.join('\n')}\n\nwritten to ${out}\n`,
  );
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`bench: ${err instanceof UsageError ? err.message : (err.stack ?? err.message)}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  });
}
