/**
 * One round of `npm run bench`: fresh processes of every subject, measured alternately: start-up,
 * round trips, actuation and stop under load (from their traces), memory, idle CPU and wake-ups
 * at rest, bursts (bench/run.ts).
 */
import { spawn } from '../test/support/isolation';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { BenchBroker } from './broker';
import { Child, CLI_PATH, REPO_ROOT, type MemorySample, type SpawnOptions, type SubjectName } from './child';
import type { Driver } from './driver';
import { killOnExit } from '../test/support/cleanup';
import { freePort } from '../test/support/ports';
import { max, median, micros, percentile, sum } from './stats';
import type { Counts } from './run-counts';
import type { Column } from './run-figures';

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
export class Round {
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
