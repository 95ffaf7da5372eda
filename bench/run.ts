/**
 * `npm run bench`: carbot (compiled dist/, sim motors, info logging) side by side with three
 * references, through one broker, in one run (issue 14):
 *
 * - the Python original carbot replaces (bench/carbot_py.py, paho-mqtt, run
 *   with Debian's python3; skipped with one loud line when python3-paho-mqtt or the file is
 *   missing);
 * - a raw mqtt.js echo (bench/baseline.js), the least a Node service can do with a command;
 * - bare Node: `node -e 0` from spawn to exit, and the RSS of a `node -e` that only waits.
 *
 * BENCH_ROUNDS rounds (3), each with fresh processes, alternating between the subjects so
 * that machine noise hits them all; every figure is the median of the rounds and every ratio
 * the median of the rounds' ratios. Prints a table and writes bench/results.json.
 *
 * Then the flood scenarios (bench/flood.ts): carbot alone, as installed, against a hostile
 * page socket, MQTT publisher and non-reading socket, BENCH_FLOOD_S seconds each.
 *
 * Counts come from the environment so that a smoke test can run it in seconds:
 * BENCH_ROUNDS, BENCH_ROUNDTRIPS, BENCH_WARMUP, BENCH_BURST, BENCH_BURST_ROUNDS, BENCH_STOPS,
 * BENCH_STOP_AHEAD, BENCH_STOP_BEHIND, BENCH_STARTS, BENCH_IDLE_S, BENCH_SETTLE_MS,
 * BENCH_FLOOD_S, and BENCH_OUT for where results.json goes.
 */
import { execFileSync, spawn } from '../test/support/isolation';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startBenchBroker, type BenchBroker } from './broker';
import { AWAKE_MS } from '../src/process/loop-monitor';
import { Child, CLI_PATH, PYTHON, PYTHON_PEER_PATH, pythonMissing, REPO_ROOT, type MemorySample, type SpawnOptions, type SubjectName } from './child';
import { Driver } from './driver';
import { CapUnavailable, CYCLE_MS, FLOOD_BOUNDS, FLOOD_LABELS, FLOOD_SCENARIOS, runFlood, stopFigures, type FloodResult } from './flood';
import { killOnExit } from '../test/support/cleanup';
import { startMosquitto } from '../test/support/mosquitto';
import { freePort } from '../test/support/ports';
import { max, median, micros, percentile, sum } from './stats';

/** The subjects with an MQTT side, in the order the table shows them. */
const ALL_SUBJECTS: readonly SubjectName[] = ['carbot', 'python', 'baseline'];
/** Table columns: the subjects, then bare Node. */
export type Column = SubjectName | 'node';
const COLUMNS: readonly Column[] = ['carbot', 'python', 'baseline', 'node'];
const COLUMN_TITLES: Record<Column, string> = { carbot: 'carbot', python: 'Python', baseline: 'mqtt.js', node: 'node -e' };
/** What carbot is divided by, column by column. */
export type Reference = Exclude<Column, 'carbot'>;
const REFERENCES: readonly Reference[] = ['python', 'baseline', 'node'];

export interface Counts {
  /** Rounds of everything but the floods, each with fresh processes; figures are their medians. */
  rounds: number;
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
  /**
   * Wait before the idle phase, so that it measures rest: carbot's event-loop monitor ticks for
   * AWAKE_MS after start-up (src/process/loop-monitor.ts). 0 in the bench's own smoke test.
   */
  restWaitMs: number;
}

const DEFAULTS: Counts = {
  rounds: 3,
  roundTrips: 2000,
  warmup: 200,
  burst: 20000,
  burstRounds: 1,
  stops: 50,
  // One window of mosquitto's max_inflight_messages (20): the stop arrives while the subject
  // still has a full window of commands to answer, and 200 more keep coming behind it.
  stopAhead: 20,
  stopBehind: 200,
  starts: 5,
  idleSeconds: 10,
  settleMs: 1000,
  floodSeconds: 20,
  restWaitMs: AWAKE_MS + 500,
};

const ENV_NAMES: Record<keyof Counts, string> = {
  rounds: 'BENCH_ROUNDS',
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
  restWaitMs: 'BENCH_REST_WAIT_MS',
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
    const minimum = ['warmup', 'stopAhead', 'stopBehind', 'settleMs', 'restWaitMs'].includes(key) ? 0 : key === 'idleSeconds' || key === 'floodSeconds' ? 0.1 : 1;
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

/** Alternates the order from one trial to the next: A B C, C B A, B C A, A C B, … */
function order(subjects: readonly SubjectName[], trial: number): readonly SubjectName[] {
  const shift = Math.floor(trial / 2) % subjects.length;
  const rotated = [...subjects.slice(shift), ...subjects.slice(0, shift)];
  return trial % 2 === 0 ? rotated : rotated.reverse();
}

const ROUND_TRIP_PAUSE_MS = 1;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

type PerSubject<T> = Record<SubjectName, T>;
const perSubject = <T>(make: () => T): PerSubject<T> => ({ carbot: make(), baseline: make(), python: make() });

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

/** Wall time of a process from spawn to exit, ms. */
async function wallTime(args: string[]): Promise<number> {
  const from = process.hrtime.bigint();
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: 'ignore' });
  killOnExit(child);
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c) => resolve(c));
  });
  const ms = Number(process.hrtime.bigint() - from) / 1e6;
  if (code !== 0) throw new Error(`node ${args.join(' ')} exited with ${code}`);
  return ms;
}

/** One round: fresh processes of every subject, measured alternately. */
class Round {
  readonly starts = perSubject<number[]>(() => []);
  /** `node -e 0` and `node dist/cli.js --version`, spawn to exit. */
  readonly bareStarts: number[] = [];
  readonly versionRuns: number[] = [];
  readonly roundTrips = perSubject<number[]>(() => []);
  readonly actuation = perSubject<number[]>(() => []);
  /** Round trips split by the trace: client publish -> subject's message event, and its write/ack -> RESULT at the client. */
  readonly inbound = perSubject<number[]>(() => []);
  readonly outbound = perSubject<number[]>(() => []);
  readonly stopFromArrival = perSubject<number[]>(() => []);
  readonly stopFromPublish = perSubject<number[]>(() => []);
  readonly bursts = perSubject<{ perSecond: number; lost: number }[]>(() => []);
  readonly memoryAfterStart: Partial<Record<Column, MemorySample>> = {};
  readonly memoryAtRest: Partial<Record<Column, MemorySample>> = {};
  readonly memoryAfterBurst: Partial<Record<SubjectName, MemorySample>> = {};
  readonly peakHeap = perSubject<number | null>(() => null);
  readonly idleCpu: Partial<Record<Column, number>> = {};
  /** Context switches per second during the idle phase, all threads. */
  readonly idleWakeups: Partial<Record<Column, number>> = {};
  /** CPU seconds the subject used during the measured round trips and during the bursts. */
  readonly cpu = perSubject(() => ({ roundTrip: 0, burst: 0 }));
  private readonly children = new Set<Child>();
  /** The subjects that keep a trace of their writes (the Python original keeps none). */
  private readonly traced: readonly SubjectName[];

  constructor(
    private readonly counts: Counts,
    private readonly broker: BenchBroker,
    private readonly driver: Driver,
    private readonly scratch: string,
    private readonly subjects: readonly SubjectName[],
    private readonly index: number,
  ) {
    this.traced = subjects.filter((s) => s !== 'python');
  }

  private log(message: string): void {
    process.stderr.write(`bench: round ${this.index + 1}: ${message}\n`);
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
    this.track(child);
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

  private track(child: Child): void {
    this.children.add(child);
    void child.exited.then(() => this.children.delete(child));
  }

  async stopAll(): Promise<void> {
    await Promise.allSettled([...this.children].map((c) => c.stop()));
  }

  /** Spawn → Online, fresh processes, alternating, with `node -e 0` and `--version` among them; no trace, no probe. */
  async startup(): Promise<void> {
    this.log(`start-up: ${this.counts.starts} launches each, with node -e 0 and carbot --version`);
    for (let trial = 0; trial < this.counts.starts; trial++) {
      this.bareStarts.push(await wallTime(['-e', '0']));
      for (const name of order(this.subjects, trial)) {
        const { child, startupMs } = await this.launch(name);
        this.starts[name].push(startupMs);
        await child.stop();
      }
      this.versionRuns.push(await wallTime([CLI_PATH, '--version']));
    }
  }

  /** Round trips, actuation and stop under load, from processes that trace their writes. */
  async latency(): Promise<void> {
    const { roundTrips, warmup, stops, stopAhead, stopBehind } = this.counts;
    const traces = perSubject(() => '');
    const children = {} as PerSubject<Child>;
    for (const name of this.subjects) {
      const traced = this.traced.includes(name);
      if (traced) traces[name] = path.join(this.scratch, `${name}-${this.index}-trace.json`);
      children[name] = (await this.launch(name, traced ? { trace: traces[name] } : {})).child;
      // Moving, so that every faster/slower changes the output and reaches the motors.
      await this.driver.roundTrip(name, 'forward');
      for (let i = 0; i < warmup; i++) await this.driver.roundTrip(name, i % 2 === 0 ? 'faster' : 'slower');
    }

    this.log(`round trips: ${roundTrips} each, sequential, alternating one by one, after ${warmup} warm-up`);
    // One by one rather than in blocks, so that a noisy neighbour on the machine delays all
    // alike; with a pause after each, so that what a subject does after its RESULT (STATE, log
    // lines) is not charged to the next round trip, as for commands sent at a human pace.
    const measured = perSubject<Window[]>(() => []);
    const cpuBefore = perSubject(() => 0);
    for (const name of this.subjects) cpuBefore[name] = children[name].cpuSeconds();
    for (let i = 0; i < roundTrips; i++) {
      for (const name of order(this.subjects, i)) {
        const { sent, answered } = await this.driver.roundTrip(name, i % 2 === 0 ? 'faster' : 'slower');
        measured[name].push({ from: sent, to: answered });
        this.roundTrips[name].push(micros(sent, answered));
        await sleep(ROUND_TRIP_PAUSE_MS);
      }
    }
    for (const name of this.subjects) this.cpu[name].roundTrip = children[name].cpuSeconds() - cpuBefore[name];

    this.log(`stop under load: ${stops} trials each, ${stopAhead} faster/slower before the stop and ${stopBehind} after`);
    const trials = perSubject<StopTrial[]>(() => []);
    for (let trial = 0; trial < stops; trial++) {
      for (const name of order(this.traced, trial)) trials[name].push(await this.stopTrial(name));
    }

    for (const name of this.subjects) await children[name].stop();
    for (const name of this.traced) {
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

  /** Memory, idle CPU and burst throughput, from processes without a trace (it grows with every write). */
  async resources(): Promise<void> {
    const { burst, burstRounds, idleSeconds } = this.counts;
    const children = {} as PerSubject<Child>;
    for (const name of this.subjects) children[name] = (await this.launch(name, { probe: true })).child;
    // The floor: a Node process that has started and only waits, alive as long as the others.
    const bare = new Child('node', this.broker.url, { probe: true });
    this.track(bare);
    await sleep(this.counts.settleMs);
    for (const name of this.subjects) this.memoryAfterStart[name] = await this.sample(children[name]);
    this.memoryAfterStart.node = await bare.memory();

    // At rest means after carbot's event-loop monitor has gone to sleep: it ticks for AWAKE_MS
    // after start-up and after every message (src/process/loop-monitor.ts), which is not rest.
    if (this.subjects.includes('carbot')) await sleep(Math.max(0, this.counts.restWaitMs - this.counts.settleMs));
    this.log(`idle CPU: ${idleSeconds} s with no commands`);
    const before = perSubject(() => 0);
    for (const name of this.subjects) before[name] = children[name].cpuSeconds();
    const bareBefore = bare.cpuSeconds();
    const switchesBefore = perSubject(() => 0);
    for (const name of this.subjects) switchesBefore[name] = children[name].contextSwitches();
    const bareSwitchesBefore = bare.contextSwitches();
    await sleep(idleSeconds * 1000);
    for (const name of this.subjects) this.idleCpu[name] = children[name].cpuSeconds() - before[name];
    this.idleCpu.node = bare.cpuSeconds() - bareBefore;
    for (const name of this.subjects) this.idleWakeups[name] = (children[name].contextSwitches() - switchesBefore[name]) / idleSeconds;
    this.idleWakeups.node = (bare.contextSwitches() - bareSwitchesBefore) / idleSeconds;
    // V8 gives back start-up garbage only once allocation has been quiet for a few seconds.
    for (const name of this.subjects) this.memoryAtRest[name] = await this.sample(children[name]);
    this.memoryAtRest.node = await bare.memory();
    await bare.stop();

    this.log(`burst: ${burstRounds} x ${burst} commands each, back to back, QoS 1`);
    for (const name of this.subjects) await this.driver.roundTrip(name, 'forward');
    for (let round = 0; round < burstRounds; round++) {
      for (const name of order(this.subjects, round + this.index)) {
        const cpuBefore = children[name].cpuSeconds();
        this.bursts[name].push(await this.burst(name, children[name]));
        this.cpu[name].burst += children[name].cpuSeconds() - cpuBefore;
      }
    }
    await sleep(this.counts.settleMs);
    for (const name of this.subjects) this.memoryAfterBurst[name] = await this.sample(children[name]);
    for (const name of this.subjects) await children[name].stop();
  }

  private async sample(child: Child): Promise<MemorySample> {
    const sample = await child.memory();
    const name = child.name as SubjectName;
    if (sample.heapUsed !== null) this.peakHeap[name] = Math.max(this.peakHeap[name] ?? 0, sample.heapUsed);
    return sample;
  }

  private async burst(name: SubjectName, child: Child): Promise<{ perSecond: number; lost: number }> {
    const { burst } = this.counts;
    const ep = this.driver.endpoints[name];
    const first = ep.results;
    // The heap has no high-water mark of its own: sample it while the burst is in flight.
    let sampling = false;
    const sampler = setInterval(() => {
      if (sampling || name === 'python') return;
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

  /** This round's value of every figure, per column. */
  values(): Map<string, Partial<Record<Column, number | null>>> {
    const rows = new Map<string, Partial<Record<Column, number | null>>>();
    const mb = (bytes: number | null | undefined) => (bytes === undefined || bytes === null ? null : bytes / (1024 * 1024));
    const perCommand = (cpuSeconds: number, commands: number) => (commands > 0 ? (cpuSeconds * 1e6) / commands : null);
    const answered = (n: SubjectName) => this.bursts[n].length * this.counts.burst - sum(this.bursts[n].map((b) => b.lost));
    const each = (key: string, value: (n: SubjectName) => number | null | undefined, node?: number | null) => {
      const row: Partial<Record<Column, number | null>> = {};
      for (const n of this.subjects) row[n] = value(n) ?? null;
      if (node !== undefined) row.node = node;
      rows.set(key, row);
    };
    const p = (samples: PerSubject<number[]>, at: number) => (n: SubjectName) => percentile(samples[n], at);
    const traced = (f: (n: SubjectName) => number | null) => (n: SubjectName) => (this.traced.includes(n) ? f(n) : null);

    each('startup.median', (n) => median(this.starts[n]), median(this.bareStarts));
    each('startup.max', (n) => max(this.starts[n]), max(this.bareStarts));
    each('startup.version', (n) => (n === 'carbot' ? median(this.versionRuns) : null), median(this.bareStarts));
    for (const at of [50, 90, 99]) each(`roundTrip.p${at}`, p(this.roundTrips, at));
    each('roundTrip.max', (n) => max(this.roundTrips[n]));
    each('roundTrip.inbound.p50', traced(p(this.inbound, 50)));
    each('actuation.p50', traced(p(this.actuation, 50)));
    each('roundTrip.outbound.p50', traced(p(this.outbound, 50)));
    each('roundTrip.inbound.p99', traced(p(this.inbound, 99)));
    each('roundTrip.outbound.p99', traced(p(this.outbound, 99)));
    each('actuation.p99', traced(p(this.actuation, 99)));
    each('cpu.roundTrip', (n) => perCommand(this.cpu[n].roundTrip, this.roundTrips[n].length));
    each('cpu.burst', (n) => perCommand(this.cpu[n].burst, answered(n)));
    each('burst.perSecond', (n) => median(this.bursts[n].map((b) => b.perSecond)));
    each('burst.lost', (n) => (this.bursts[n].length ? sum(this.bursts[n].map((b) => b.lost)) : null));
    each('stop.fromArrival.p50', traced(p(this.stopFromArrival, 50)));
    each('stop.fromArrival.p99', traced(p(this.stopFromArrival, 99)));
    each('stop.fromPublish.p50', traced(p(this.stopFromPublish, 50)));
    each('stop.fromPublish.p99', traced(p(this.stopFromPublish, 99)));
    each('stop.fromPublish.max', traced((n) => max(this.stopFromPublish[n])));
    each('memory.startup.rss', (n) => mb(this.memoryAfterStart[n]?.rss), mb(this.memoryAfterStart.node?.rss));
    each('memory.startup.private', (n) => mb(this.memoryAfterStart[n]?.privateRss), mb(this.memoryAfterStart.node?.privateRss));
    each('memory.startup.heap', (n) => mb(this.memoryAfterStart[n]?.heapUsed), mb(this.memoryAfterStart.node?.heapUsed));
    each('memory.rest.rss', (n) => mb(this.memoryAtRest[n]?.rss), mb(this.memoryAtRest.node?.rss));
    each('memory.burst.rss', (n) => mb(this.memoryAfterBurst[n]?.rss));
    each('memory.burst.heap', (n) => mb(this.memoryAfterBurst[n]?.heapUsed));
    each('memory.peak.rss', (n) => mb(this.memoryAfterBurst[n]?.peakRss));
    each('memory.peak.heap', (n) => mb(this.peakHeap[n]));
    each('idle.cpu', (n) => this.idleCpu[n], this.idleCpu.node);
    each('idle.wakeups', (n) => this.idleWakeups[n], this.idleWakeups.node);
    return rows;
  }

  raw(): Record<string, unknown> {
    return { startupMs: this.starts, nodeStartMs: this.bareStarts, versionMs: this.versionRuns, bursts: this.bursts };
  }
}

/** How a figure's rounds are folded into one value. */
type Fold = 'median' | 'max' | 'sum';

interface FigureSpec {
  key: string;
  label: string;
  unit: string;
  better?: 'lower' | 'higher';
  fold?: Fold;
}

function figureSpecs(counts: Counts): FigureSpec[] {
  return [
    { key: 'startup.median', label: 'start-up: spawn -> Online (node -e 0: spawn -> exit), median', unit: 'ms' },
    { key: 'startup.max', label: 'start-up: spawn -> Online, max', unit: 'ms', fold: 'max' },
    { key: 'startup.version', label: 'carbot --version: spawn -> exit, median', unit: 'ms' },
    { key: 'roundTrip.p50', label: 'round trip p50', unit: 'us' },
    { key: 'roundTrip.p90', label: 'round trip p90', unit: 'us' },
    { key: 'roundTrip.p99', label: 'round trip p99', unit: 'us' },
    { key: 'roundTrip.max', label: 'round trip max', unit: 'us', fold: 'max' },
    { key: 'roundTrip.inbound.p50', label: '  of which publish -> message event, p50', unit: 'us' },
    { key: 'actuation.p50', label: '  of which message -> motor write (actuation), p50', unit: 'us' },
    { key: 'roundTrip.outbound.p50', label: '  of which motor write -> RESULT at client, p50', unit: 'us' },
    { key: 'roundTrip.inbound.p99', label: '  of which publish -> message event, p99', unit: 'us' },
    { key: 'roundTrip.outbound.p99', label: '  of which motor write -> RESULT at client, p99', unit: 'us' },
    { key: 'actuation.p99', label: 'actuation (message -> motor write) p99', unit: 'us' },
    { key: 'cpu.roundTrip', label: 'CPU per command, sequential', unit: 'us' },
    { key: 'cpu.burst', label: 'CPU per command, burst', unit: 'us' },
    { key: 'burst.perSecond', label: 'burst throughput', unit: 'cmd/s', better: 'higher' },
    { key: 'burst.lost', label: 'burst: commands lost (all rounds)', unit: 'count', fold: 'sum' },
    { key: 'stop.fromArrival.p50', label: 'stop under load, arrival -> motors p50', unit: 'us' },
    { key: 'stop.fromArrival.p99', label: 'stop under load, arrival -> motors p99', unit: 'us' },
    { key: 'stop.fromPublish.p50', label: 'stop under load, publish -> motors p50', unit: 'us' },
    { key: 'stop.fromPublish.p99', label: 'stop under load, publish -> motors p99', unit: 'us' },
    { key: 'stop.fromPublish.max', label: 'stop under load, publish -> motors max', unit: 'us', fold: 'max' },
    { key: 'memory.startup.rss', label: 'RSS after start-up (1 s after Online)', unit: 'MB' },
    { key: 'memory.startup.private', label: '  of which private (RssAnon)', unit: 'MB' },
    { key: 'memory.startup.heap', label: 'heap used after start-up', unit: 'MB' },
    { key: 'memory.rest.rss', label: `RSS at rest (after the ${counts.idleSeconds} s idle)`, unit: 'MB' },
    { key: 'memory.burst.rss', label: 'RSS after the bursts', unit: 'MB' },
    { key: 'memory.burst.heap', label: 'heap used after the bursts', unit: 'MB' },
    { key: 'memory.peak.rss', label: 'peak RSS (VmHWM)', unit: 'MB', fold: 'max' },
    { key: 'memory.peak.heap', label: 'peak heap used (sampled every 100 ms in the bursts)', unit: 'MB', fold: 'max' },
    { key: 'idle.cpu', label: `idle CPU in ${counts.idleSeconds} s`, unit: 's' },
    { key: 'idle.wakeups', label: 'wake-ups at rest (context switches, all threads)', unit: '/s' },
  ];
}

export interface Figure {
  key: string;
  label: string;
  unit: string;
  better: 'lower' | 'higher';
  /** The rounds folded into one value (median, or max or sum where the label says so), per column; null where not measured. */
  values: Record<Column, number | null>;
  /** carbot divided by each reference: the median of the rounds' ratios (for max and sum, the ratio of the folded values). */
  ratios: Record<Reference, number | null>;
  /** Each round's value, per column. */
  rounds: Record<Column, (number | null)[]>;
}

function fold(values: (number | null | undefined)[], how: Fold): number | null {
  const present = values.filter((v): v is number => typeof v === 'number' && Number.isFinite(v));
  if (present.length === 0) return null;
  return how === 'sum' ? sum(present) : how === 'max' ? max(present) : median(present);
}

export function aggregate(specs: readonly FigureSpec[], rounds: readonly Map<string, Partial<Record<Column, number | null>>>[]): Figure[] {
  return specs.map((spec) => {
    const how = spec.fold ?? 'median';
    const perRound = rounds.map((r) => r.get(spec.key) ?? {});
    const values = {} as Record<Column, number | null>;
    const byRound = {} as Record<Column, (number | null)[]>;
    for (const c of COLUMNS) {
      byRound[c] = perRound.map((r) => r[c] ?? null);
      values[c] = fold(byRound[c], how);
    }
    const ratios = {} as Record<Reference, number | null>;
    for (const ref of REFERENCES) {
      if (how === 'median') {
        const each = perRound.map((r) => (typeof r.carbot === 'number' && typeof r[ref] === 'number' && r[ref] !== 0 ? r.carbot / (r[ref] as number) : null));
        ratios[ref] = fold(each, 'median');
      } else {
        const c = values.carbot;
        const v = values[ref];
        ratios[ref] = c !== null && v !== null && v !== 0 ? c / v : null;
      }
    }
    return { key: spec.key, label: spec.label, unit: spec.unit, better: spec.better ?? 'lower', values, ratios, rounds: byRound };
  });
}

export interface Target {
  target: string;
  measured: string;
  met: boolean;
}

function targets(figures: readonly Figure[], counts: Counts, pythonSkipped: string | null): Target[] {
  const f = (key: string): Figure => {
    const found = figures.find((x) => x.key === key);
    if (!found) throw new Error(`no figure ${key}`);
    return found;
  };
  const v = (n: number | null, digits = 0) => (n === null ? 'n/a' : n.toFixed(digits));
  const x = (n: number | null) => (n === null ? 'n/a' : `${n.toFixed(2)}x`);
  const ok = (n: number | null, test: (x: number) => boolean) => n !== null && test(n);
  const range = (fig: Figure, ref: Reference) => {
    const each = fig.rounds.carbot.map((c, i) => (c !== null && fig.rounds[ref][i] ? c / (fig.rounds[ref][i] as number) : null)).filter((r): r is number => r !== null);
    return each.length > 1 ? `; rounds ${each.map((r) => r.toFixed(2)).join(', ')}` : '';
  };
  const noPython = pythonSkipped ? ` (Python original not measured: ${pythonSkipped})` : '';
  const rt = f('roundTrip.p50');
  const rt90 = f('roundTrip.p90');
  const rt99 = f('roundTrip.p99');
  const burst = f('burst.perSecond');
  const lost = f('burst.lost');
  const stopArrival = f('stop.fromArrival.p99');
  const stopPublish = f('stop.fromPublish.p99');
  const rss = f('memory.startup.rss');
  const start = f('startup.median');
  const version = f('startup.version');
  const cpu = f('cpu.roundTrip');
  const cpuBurst = f('cpu.burst');
  const wakeups = f('idle.wakeups');
  /** carbot against a reference, with each round's ratio. */
  const against = (target: string, fig: Figure, ref: Reference, unit: string, test: (r: number) => boolean, digits = 0): Target => ({
    target,
    measured:
      `${x(fig.ratios[ref])} (${v(fig.values.carbot, digits)} vs ${v(fig.values[ref], digits)} ${unit}${range(fig, ref)})` +
      (ref === 'python' ? noPython : ''),
    met: ok(fig.ratios[ref], test),
  });
  return [
    against('start-up to Online <= 1.6x bare node -e 0', start, 'node', 'ms', (r) => r <= 1.6),
    against('carbot --version <= 1.2x bare node -e 0', version, 'node', 'ms', (r) => r <= 1.2),
    against("RSS after Online <= 1.15x bare Node's RSS", rss, 'node', 'MB', (r) => r <= 1.15, 1),
    against("round trip p99 <= 1.5x the Python original's", rt99, 'python', 'us', (r) => r <= 1.5),
    against("round trip p50 below the Python original's", rt, 'python', 'us', (r) => r < 1),
    against("round trip p90 below the Python original's", rt90, 'python', 'us', (r) => r < 1),
    against("CPU per command (sequential) <= the raw mqtt.js echo's", cpu, 'baseline', 'us', (r) => r <= 1),
    against("CPU per command (burst) <= the raw mqtt.js echo's", cpuBurst, 'baseline', 'us', (r) => r <= 1, 1),
    {
      target: 'round trip p50 <= 1.3x the raw mqtt.js echo',
      measured: `${x(rt.ratios.baseline)} (${v(rt.values.carbot)} vs ${v(rt.values.baseline)} us)`,
      met: ok(rt.ratios.baseline, (r) => r <= 1.3),
    },
    {
      target: 'burst throughput >= 0.7x the raw mqtt.js echo, 0 lost',
      measured: `${x(burst.ratios.baseline)} (${v(burst.values.carbot)} vs ${v(burst.values.baseline)} cmd/s), ${v(lost.values.carbot)} lost`,
      met: ok(burst.ratios.baseline, (r) => r >= 0.7) && lost.values.carbot === 0,
    },
    {
      target: 'stop reaches the motors < 5 ms p99 under load, from its arrival',
      measured: `${v(stopArrival.values.carbot)} us`,
      met: ok(stopArrival.values.carbot, (n) => n < 5000),
    },
    {
      target: 'stop reaches the motors < 5 ms p99 under load, from its publish',
      measured: `${v(stopPublish.values.carbot)} us (mqtt.js echo ${v(stopPublish.values.baseline)} us; ${counts.stopAhead} commands queued ahead of it)`,
      met: ok(stopPublish.values.carbot, (n) => n < 5000),
    },
    { target: 'RSS after start-up < 60 MB', measured: `${v(rss.values.carbot, 2)} MB`, met: ok(rss.values.carbot, (n) => n < 60) },
    { target: 'start-up to Online < 600 ms (median)', measured: `${v(start.values.carbot)} ms`, met: ok(start.values.carbot, (n) => n < 600) },
    // Issue 19: winston back as the logger, asleep at rest.
    against("RSS after Online <= 1.25x bare Node's RSS (issue 19, with winston)", rss, 'node', 'MB', (r) => r <= 1.25, 1),
    against("round trip p50 <= 1.05x the Python original's (issue 19)", rt, 'python', 'us', (r) => r <= 1.05),
    against("CPU per command (sequential) <= 1.5x the raw mqtt.js echo's (issue 19)", cpu, 'baseline', 'us', (r) => r <= 1.5),
    against("CPU per command (burst) <= 1.5x the raw mqtt.js echo's (issue 19)", cpuBurst, 'baseline', 'us', (r) => r <= 1.5, 1),
    against("wake-ups at rest <= the Python original's (issue 19)", wakeups, 'python', '/s', (r) => r <= 1, 1),
  ];
}

export interface FloodRow {
  scenario: string;
  label: string;
  /** How carbot's CPU was capped, in the capped scenario. */
  cpuCap?: string;
  /** The car still moving 1 s after the flood ended. */
  movingAfter: boolean;
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
      cpuCap: f.cpuCap,
      movingAfter: f.movingAfter,
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
  const bound = (r: FloodRow) => (r.scenario === 'mqtt-capped' ? b.cappedStopP99Ms : b.stopP99Ms);
  return rows.flatMap((r) => [
    {
      target: `flood (${r.scenario}): a stop from another client reaches the motors < ${bound(r)} ms p99, none lost`,
      measured: `${r.stopP99Ms === null ? 'n/a' : r.stopP99Ms.toFixed(1)} ms p99 over ${r.stops} stops, ${r.lostStops} lost`,
      met: r.stopP99Ms !== null && r.stopP99Ms < bound(r) && r.lostStops === 0,
    },
    {
      target: `flood (${r.scenario}): the car is not left moving after the flood`,
      measured: r.movingAfter ? 'moving 1 s after the flood ended' : 'stopped',
      met: !r.movingAfter,
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
    ['flood scenario', 's', 'sent/s', 'stop p50 ms', 'stop p99 ms', 'stop max ms', 'stops', 'lost', 'after', 'RSS MB', 'watchdog gap ms', 'lines/s', 'longest stall ms', 'CPU %'],
    ...rows.map((r) => [
      r.label,
      n(r.seconds, 0),
      n(r.sentPerSecond, 0),
      n(r.stopP50Ms),
      n(r.stopP99Ms),
      n(r.stopMaxMs),
      String(r.stops),
      String(r.lostStops),
      r.movingAfter ? 'MOVING' : 'stopped',
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
  const ratio = (r: number | null) => (r === null ? '—' : `${r.toFixed(2)}x`);
  const rows = [
    ['figure', 'unit', ...COLUMNS.map((c) => COLUMN_TITLES[c]), ...REFERENCES.map((r) => `/${COLUMN_TITLES[r]}`)],
    ...figures.map((f) => [f.label, f.unit, ...COLUMNS.map((c) => format(f.values[c], f.unit)), ...REFERENCES.map((r) => ratio(f.ratios[r]))]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}

/** The fallback broker for the floods, in a process of its own (bench/aedes-child.js). */
async function aedesChild(): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [path.join(__dirname, 'aedes-child.js')], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  killOnExit(child);
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const m = /aedes-child ready (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`the flood scenarios' aedes broker exited (code ${code})`)));
  });
  return {
    url: `mqtt://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/** One flood run's figures, kept as bench.flood() had them; the capped one is left out, loudly, where no cap can be made. */
async function floods(broker: BenchBroker, seconds: number): Promise<{ results: FloodResult[]; cappedSkipped?: string }> {
  // Against mosquitto as deployed: the bench broker's unbounded queue (max_queued_messages 0)
  // would hold a whole flood in front of a stop; mosquitto's default holds 1000 and drops the rest.
  const deployed = broker.kind === 'mosquitto' ? await startMosquitto() : await aedesChild();
  const results: FloodResult[] = [];
  let cappedSkipped: string | undefined;
  try {
    for (const scenario of FLOOD_SCENARIOS) {
      try {
        results.push(await runFlood(scenario, deployed?.url ?? broker.url, seconds, (m) => process.stderr.write(`bench: ${m}\n`)));
      } catch (err) {
        if (!(err instanceof CapUnavailable)) throw err;
        cappedSkipped = err.message;
        process.stderr.write(`!!! the CPU-capped flood is NOT measured: ${err.message}\n`);
      }
    }
  } finally {
    await deployed?.stop();
  }
  return { results, cappedSkipped };
}

async function main(): Promise<void> {
  const counts = countsFrom(process.env);
  const out = path.resolve(process.env.BENCH_OUT || path.join(__dirname, 'results.json'));
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'carbot-bench-'));
  // Everything else running on the machine competes with what is measured: say how busy it was.
  const loadBefore = os.loadavg();
  const pythonSkipped = pythonMissing();
  if (pythonSkipped) {
    process.stderr.write(`!!! the Python original is NOT measured: ${pythonSkipped}; its column stays empty and its targets read n/a\n`);
  }
  const subjects = ALL_SUBJECTS.filter((s) => s !== 'python' || !pythonSkipped);
  const broker = await startBenchBroker();
  process.stderr.write(`bench: broker ${broker.label}\n`);
  let driver: Driver | undefined;
  let round: Round | undefined;
  const values: Map<string, Partial<Record<Column, number | null>>>[] = [];
  const raw: Record<string, unknown>[] = [];
  let floodResults: FloodResult[] = [];
  let cappedSkipped: string | undefined;
  try {
    driver = await Driver.connect(broker.url);
    for (let r = 0; r < counts.rounds; r++) {
      round = new Round(counts, broker, driver, scratch, subjects, r);
      await round.startup();
      await round.latency();
      await round.resources();
      values.push(round.values());
      raw.push(round.raw());
      round = undefined;
    }
    ({ results: floodResults, cappedSkipped } = await floods(broker, counts.floodSeconds));
  } finally {
    await round?.stopAll();
    await driver?.close();
    await broker.close();
    rmSync(scratch, { recursive: true, force: true });
  }

  const figures = aggregate(figureSpecs(counts), values);
  const floodTable_ = floodRows(floodResults);
  const load = (averages: number[]) => averages.map((l) => Number(l.toFixed(2)));
  const results = {
    generated: new Date().toISOString(),
    revision: revision(),
    machine: { ...machine(), loadAverage: { before: load(loadBefore), after: load(os.loadavg()) } },
    broker: { label: broker.label, kind: broker.kind, version: broker.version ?? null, settings: broker.settings },
    carbot:
      'node dist/cli.js --mqtt-url <broker> --gpio sim --device carbotjs --http-host 127.0.0.1 --http-port <free> --commands-per-second 0: ' +
      'default settings but the command budget, info logging, stdout piped to a separate reader',
    python: pythonSkipped
      ? `not measured: ${pythonSkipped}`
      : `${PYTHON_PEER_PATH} run with ${PYTHON}: paho-mqtt, subscribes at QoS 0, logs every action at DEBUG to stdout (piped like carbot's), a JSON ack per message`,
    floodBroker:
      broker.kind === 'mosquitto'
        ? 'a second mosquitto with its default queue (max_queued_messages 1000), set_tcp_nodelay true, persistence false'
        : broker.label,
    floodCarbot:
      'node dist/cli.js --mqtt-url <broker> --gpio sim --http-host 127.0.0.1 --http-port <free> --http-token <token>: ' +
      'default settings (command budget 50/s), WATCHDOG_USEC=10 s through a stand-in systemd-notify, stdout to a file',
    baseline: 'node bench/baseline.js: mqtt.js, subscribes to the move topic at QoS 1, publishes an ack per message',
    node: 'bare Node: `node -e 0` spawn -> exit for start-up; a `node -e` that only waits (memory probe preloaded) for memory and idle CPU',
    counts,
    figures,
    floods: floodTable_,
    cappedFloodSkipped: cappedSkipped ?? null,
    targets: [...targets(figures, counts, pythonSkipped), ...floodTargets(floodTable_)],
    raw: { rounds: raw, floodStopMs: Object.fromEntries(floodResults.map((f) => [f.scenario, f.stopMs])) },
  };
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  const m = results.machine;
  const header =
    `carbot benchmark — ${m.cpu} (${m.cores} cores, ${m.memoryMB} MB), node ${m.node}, ` +
    `load average ${m.loadAverage.before[0]} -> ${m.loadAverage.after[0]}\n` +
    `carbot ${results.revision ?? '(revision unknown)'}; broker: ${broker.label}\n` +
    `${counts.rounds} rounds of fresh processes; each figure is the median of the rounds (max and sum where the label says), each ratio the median of the rounds' ratios` +
    (pythonSkipped ? `\n!!! the Python original is NOT measured: ${pythonSkipped}` : '');
  const verdicts = results.targets.map((t) => `  [${t.met ? 'met' : 'MISSED'}] ${t.target}: ${t.measured}`);
  const floodNote =
    `flood scenarios, ${counts.floodSeconds} s each; the other client drives and stops the car every ${CYCLE_MS} ms, ` +
    'stops alternately from a page and over MQTT (on carbot/move/stop); stop = send -> motor write. On a shared machine these vary from run to run.' +
    floodTable_.filter((r) => r.cpuCap).map((r) => `\ncapped: ${r.cpuCap}`).join('') +
    (cappedSkipped ? `\n!!! the CPU-capped flood is NOT measured: ${cappedSkipped}` : '');
  process.stdout.write(
    `${header}\n\n${table(figures)}\n\n${floodNote}\n${floodTable(floodTable_)}\n\ntargets:\n${verdicts.join('\n')}\n\nwritten to ${out}\n`,
  );
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`bench: ${err instanceof UsageError ? err.message : (err.stack ?? err.message)}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  });
}
