/**
 * `npm run bench:track`: how well carbot knows where the car is (docs/track.md, docs/track.md).
 *
 * The service itself (CarService, the track model, the drive, limits.ts and encoder.ts) runs
 * on a virtual clock with simulated motors on the simulated track: a car of its own per run
 * (its own ±5 % speed factor, seeded), homed and calibrated, then sent to random places. At
 * each ARRIVED the estimate (`position`) is compared with the simulated car's true place
 * (`simPosition`), and the true place with the target. Errors are fractions of the track;
 * "within uncertainty" is how often the error was inside the `uncertainty` STATE gave.
 *
 * Then stalls and homing (docs/track.md#stalls): jams placed in the car's way (with the
 * encoder on gotos; without it on homing, the leg that ends at a switch), how many are caught
 * and how soon the car stops after meeting the jam; gotos and homes with no jam, for false
 * stalls; and homes from random places with 5 ms of switch bounce, for the repeatability of
 * the home. Printed as a targets table.
 *
 * Counts from the environment: BENCH_TRACK_CARS (runs per scenario, default 6),
 * BENCH_TRACK_GOTOS (gotos per run, default 10), BENCH_TRACK_SEED (default 1),
 * BENCH_TRACK_LATENESS_MS (how late each timer fires at most, default 2), BENCH_TRACK_JAMS
 * (jam trials per mode, default 200), BENCH_TRACK_FREE_GOTOS (gotos with no jam per mode,
 * default 1000), BENCH_TRACK_HOMES (homes with bounce, default 200),
 * BENCH_TRACK_PATROL_DAYS (the patrol with pictures, bench/track-patrol.ts: default 30, 0 = none).
 */
import { Writable } from 'node:stream';
import { loadConfig } from '../src/config/config';
import { createLogger } from '../src/process/log';
import { seededRandom, type SimTrack } from '../src/boards/sim-track';
import { CarService } from '../src/service';
import { openSimCar } from './track-sim';
import { max, median, percentile } from './stats';
import { patrolRow } from './track-patrol';
import { VirtualClock } from '../test/support/virtual-clock';
import { virtualRunner } from './virtual-run';

interface Scenario {
  name: string;
  encoder: boolean;
  /** Per-movement speed variation of the simulated car (its default when absent). */
  jitter?: number;
}

interface Sample {
  /** |position − simPosition| at arrival. */
  estimate: number;
  /** |simPosition − target| at arrival. */
  arrival: number;
  /** The uncertainty STATE published with the estimate. */
  uncertainty: number;
}

interface RunOutcome {
  samples: Sample[];
  failures: string[];
}

function count(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new Error(`${name} must be a whole number, got ${raw}`);
  return value;
}

/** Where a car's log lines go: nowhere (each car its own stream, as each logger listens on it). */
const quiet = () => new Writable({ write: (_chunk, _encoding, done) => done() });

async function runCar(scenario: Scenario, seed: number, gotos: number, latenessMs: number): Promise<RunOutcome> {
  const rand = seededRandom(seed * 7919 + 17);
  const clock = new VirtualClock(latenessMs, rand);
  const sim: Record<string, number> = { seed, start: 0.2 + 0.6 * rand() };
  if (scenario.jitter !== undefined) sim.jitter = scenario.jitter;
  const argv = ['--gpio', 'sim', '--mqtt-url', 'mqtt://127.0.0.1:1', '--tele-period', '0', '--track-sim', JSON.stringify(sim)];
  if (scenario.encoder) argv.push('--track-encoder', '{"pin":17}');
  const config = loadConfig({ argv, env: {}, exists: () => false });
  const log = createLogger({ level: 'warn', format: 'text', stream: quiet(), env: {} });
  const hardware = await openSimCar(config, log, clock);
  const service = new CarService({ config, log, ...hardware, clock });
  const failures: string[] = [];
  const samples: Sample[] = [];
  const { idle, run } = virtualRunner(() => service, clock);
  try {
    run('home', 120_000);
    run('calibrate', 900_000);
    if (service.state().track && !(service.state().track as { calibrated: boolean }).calibrated) throw new Error('calibration learnt nothing');
    for (let i = 0; i < gotos; i++) {
      const target = Math.round((0.02 + 0.96 * rand()) * 1000) / 1000;
      let arrived: Record<string, unknown> | undefined;
      const onArrived = (a: Record<string, unknown>) => {
        const state = service.state();
        arrived = { ...a, simPosition: state.simPosition, uncertainty: state.uncertainty };
      };
      service.once('arrived', onArrived);
      const result = service.command(JSON.stringify({ goto: target }), 'bench');
      if (result.error) throw new Error(`goto ${target}: ${String(result.error)}`);
      clock.runUntil(() => arrived !== undefined || (idle() && clock.now() > 0), 120_000);
      service.off('arrived', onArrived);
      if (!arrived) {
        failures.push(`seed ${seed}: goto ${target} did not arrive (reason ${String(service.state().reason)})`);
        continue;
      }
      const { position, simPosition, uncertainty } = arrived as { position: number; simPosition: number; uncertainty: number };
      samples.push({ estimate: Math.abs(position - simPosition), arrival: Math.abs(simPosition - target), uncertainty });
      clock.runUntil(idle, 10_000);
    }
  } catch (err) {
    failures.push(`seed ${seed}: ${(err as Error).message}`);
  } finally {
    await service.shutdown('bench over');
  }
  return { samples, failures };
}

interface BenchCar {
  service: CarService;
  clock: VirtualClock;
  sim: SimTrack;
  rand: () => number;
  idle: () => boolean;
  /** A task to its end; its failure, if it failed, and when. */
  run: (command: string, limitMs?: number) => { failed?: Record<string, unknown>; failedAt?: number };
}

/** A car on the default simulated track (2 m), with the shipped speed table (no calibrate): the ±5 % of the run is not known to it. */
async function benchCar(seed: number, latenessMs: number, sim: Record<string, number>, encoder: boolean): Promise<BenchCar> {
  const rand = seededRandom(seed * 7919 + 29);
  const clock = new VirtualClock(latenessMs, rand);
  const argv = ['--gpio', 'sim', '--mqtt-url', 'mqtt://127.0.0.1:1', '--tele-period', '0', '--track-length-m', '2', '--track-sim', JSON.stringify({ seed, ...sim })];
  if (encoder) argv.push('--track-encoder', '{"pin":17,"edgesPerMetre":200}');
  const config = loadConfig({ argv, env: {}, exists: () => false });
  const log = createLogger({ level: 'warn', format: 'text', stream: quiet(), env: {} });
  const hardware = await openSimCar(config, log, clock);
  const service = new CarService({ config, log, ...hardware, clock });
  const idle = () => service.state().task === undefined && service.state().motion === 'stopped';
  const run = (command: string, limitMs = 300_000) => {
    let failed: Record<string, unknown> | undefined;
    let failedAt: number | undefined;
    const onFailed = (f: Record<string, unknown>) => {
      failed = f;
      failedAt = clock.now();
    };
    service.on('failed', onFailed);
    try {
      const result = service.command(command, 'bench');
      if (result.error) throw new Error(`${command}: ${String(result.error)}`);
      if (!clock.runUntil(idle, limitMs)) throw new Error(`${command} did not finish in ${limitMs / 1000} s`);
    } finally {
      service.off('failed', onFailed);
    }
    return { failed, failedAt };
  };
  return { service, clock, sim: hardware.sim, rand, idle, run };
}

const TRIALS_PER_CAR = 20;

interface StallFigures {
  encoder: { trials: number; detected: number; toStopS: number[]; failures: string[] };
  dead: { trials: number; detected: number; ratio: number[]; failures: string[] };
  free: { gotos: number; homes: number; stalls: string[] };
  homes: { offsets: number[]; failures: string[] };
}

async function stallBench(seed: number, latenessMs: number, jams: number, freeGotos: number, homes: number): Promise<StallFigures> {
  const f: StallFigures = {
    encoder: { trials: 0, detected: 0, toStopS: [], failures: [] },
    dead: { trials: 0, detected: 0, ratio: [], failures: [] },
    free: { gotos: 0, homes: 0, stalls: [] },
    homes: { offsets: [], failures: [] },
  };
  const place = (c: BenchCar) => (c.service.state().simPosition as number) / 2;
  // With the encoder: a goto with a jam between the car and its target.
  for (let done = 0, car = 0; done < jams; car++) {
    const c = await benchCar(seed * 1000 + 100 + car, latenessMs, {}, true);
    try {
      c.run('home');
      for (let i = 0; i < TRIALS_PER_CAR && done < jams; i++, done++) {
        const from = place(c);
        let to = 0.02 + 0.96 * c.rand();
        if (Math.abs(to - from) < 0.1) to = from < 0.5 ? from + 0.3 : from - 0.3;
        const jam = from + (to - from) * (0.05 + 0.9 * c.rand());
        c.sim.jam(jam);
        f.encoder.trials++;
        const { failed, failedAt } = c.run(JSON.stringify({ goto: Math.round(to * 2000) / 1000 }));
        const hit = c.sim.jammedSince();
        if (failed?.reason === 'stalled' && hit !== undefined && failedAt !== undefined) {
          f.encoder.detected++;
          f.encoder.toStopS.push((failedAt - hit) / 1000);
        } else f.encoder.failures.push(`seed ${seed * 1000 + 100 + car}: goto ${to.toFixed(3)} from ${from.toFixed(3)} past a jam at ${jam.toFixed(3)}: ${String(c.service.state().reason)}`);
        c.sim.jam(undefined);
      }
    } finally {
      await c.service.shutdown('bench over');
    }
  }
  // Without an encoder: homing from a random place with a jam between the car and the switch.
  for (let done = 0, car = 0; done < jams; car++) {
    const c = await benchCar(seed * 1000 + 200 + car, latenessMs, {}, false);
    try {
      c.run('home');
      for (let i = 0; i < TRIALS_PER_CAR && done < jams; i++, done++) {
        c.run(JSON.stringify({ goto: Math.round((0.2 + 0.75 * c.rand()) * 2000) / 1000 }));
        const from = place(c);
        const jam = from * (0.05 + 0.9 * c.rand());
        c.sim.jam(jam);
        f.dead.trials++;
        // The leg's expected time by the table carbot drives with: the fast touch at the homing speed.
        const speed = c.sim.nominalSpeedTable().backward.find((p) => p.duty === 0.4)!.speed;
        const expectedS = from / speed;
        const { failed, failedAt } = c.run('home');
        const hit = c.sim.jammedSince();
        if (failed?.reason === 'stalled' && hit !== undefined && failedAt !== undefined) {
          f.dead.detected++;
          f.dead.ratio.push((failedAt - hit) / 1000 / expectedS);
        } else f.dead.failures.push(`seed ${seed * 1000 + 200 + car}: home from ${from.toFixed(3)} past a jam at ${jam.toFixed(3)}: ${String(c.service.state().reason)}`);
        c.sim.jam(undefined);
        c.run('home');
      }
    } finally {
      await c.service.shutdown('bench over');
    }
  }
  // No jam: random gotos, a home after every tenth; any stall is a false one.
  for (const encoder of [true, false]) {
    for (let done = 0, car = 0; done < freeGotos; car++) {
      const c = await benchCar(seed * 1000 + (encoder ? 300 : 400) + car, latenessMs, {}, encoder);
      try {
        const note = (what: string, failed?: Record<string, unknown>) => {
          if (failed) f.free.stalls.push(`${encoder ? 'encoder' : 'dead reckoning'}: ${what}: ${String(failed.error)}`);
        };
        note('home', c.run('home').failed);
        f.free.homes++;
        for (let i = 0; i < TRIALS_PER_CAR * 2 && done < freeGotos; i++, done++) {
          const to = Math.round((0.01 + 0.98 * c.rand()) * 2000) / 1000;
          f.free.gotos++;
          note(`goto ${to}`, c.run(JSON.stringify({ goto: to })).failed);
          if (i % 10 === 9) {
            f.free.homes++;
            note('home', c.run('home').failed);
          }
        }
      } finally {
        await c.service.shutdown('bench over');
      }
    }
  }
  // Homing with 5 ms of switch bounce, from random places: where the car is when carbot says 0.
  for (let done = 0, car = 0; done < homes; car++) {
    const c = await benchCar(seed * 1000 + 500 + car, latenessMs, { bounceMs: 5 }, false);
    try {
      c.run('home');
      for (let i = 0; i < TRIALS_PER_CAR && done < homes; i++, done++) {
        c.run(JSON.stringify({ goto: Math.round((0.1 + 0.85 * c.rand()) * 2000) / 1000 }));
        const { failed } = c.run('home');
        const state = c.service.state();
        if (failed || state.position !== 0) f.homes.failures.push(`seed ${seed * 1000 + 500 + car}: home ${i}: ${String(failed?.error ?? state.reason)}`);
        // The simulation's own place, not STATE's (rounded to the millimetre).
        else f.homes.offsets.push(c.sim.position() / 2 - (state.position as number));
      }
    } finally {
      await c.service.shutdown('bench over');
    }
  }
  return f;
}

const pct = (x: number | null) => (x === null ? '   -  ' : `${(x * 100).toFixed(2).padStart(5)} %`);

async function main(): Promise<void> {
  const cars = count('BENCH_TRACK_CARS', 6);
  const gotos = count('BENCH_TRACK_GOTOS', 10);
  const seed = count('BENCH_TRACK_SEED', 1);
  const latenessMs = count('BENCH_TRACK_LATENESS_MS', 2);
  const scenarios: Scenario[] = [
    { name: 'dead reckoning', encoder: false },
    { name: 'with encoder', encoder: true },
    { name: 'dead reckoning, no jitter', encoder: false, jitter: 0 },
    { name: 'dead reckoning, ±5 % jitter', encoder: false, jitter: 0.05 },
  ];
  process.stdout.write(
    `track accuracy: ${cars} simulated cars × ${gotos} random gotos per scenario, after home + calibrate; ` +
      `errors as a fraction of the track (seed ${seed}, timers up to ${latenessMs} ms late)\n\n` +
      `${'scenario'.padEnd(30)} ${'n'.padStart(4)}   estimate p50 / p95 / max         arrival p50 / p95 / max      within uncertainty\n`,
  );
  let failed = false;
  const p95: Record<string, number | null> = {};
  for (const scenario of scenarios) {
    const samples: Sample[] = [];
    const failures: string[] = [];
    for (let car = 0; car < cars; car++) {
      const outcome = await runCar(scenario, seed * 1000 + car, gotos, latenessMs);
      samples.push(...outcome.samples);
      failures.push(...outcome.failures);
    }
    const row = (key: keyof Sample) => {
      const values = samples.map((s) => s[key]);
      return `${pct(percentile(values, 50))} / ${pct(percentile(values, 95))} / ${pct(max(values))}`;
    };
    const within = samples.length === 0 ? 0 : samples.filter((s) => s.estimate <= s.uncertainty).length / samples.length;
    process.stdout.write(
      `${scenario.name.padEnd(30)} ${String(samples.length).padStart(4)}   ${row('estimate')}   ${row('arrival')}   ${`${Math.round(within * 100)} %`.padStart(6)}\n`,
    );
    p95[scenario.name] = percentile(samples.map((s) => s.estimate), 95);
    for (const f of failures) process.stdout.write(`    failed: ${f}\n`);
    failed ||= failures.length > 0;
  }
  const target = (name: string, limit: number) => {
    const value = p95[name];
    const met = value !== null && value !== undefined && value <= limit;
    return `estimate p95 ≤ ${(limit * 100).toFixed(1)} % ${name}: ${met ? 'met' : 'NOT met'} (${pct(value ?? null).trim()})`;
  };
  process.stdout.write(`\ntargets: ${target('dead reckoning', 0.02)}; ${target('with encoder', 0.005)}\n`);

  const jams = count('BENCH_TRACK_JAMS', 200);
  const freeGotos = count('BENCH_TRACK_FREE_GOTOS', 1000);
  const homes = count('BENCH_TRACK_HOMES', 200);
  const f = await stallBench(seed, latenessMs, jams, freeGotos, homes);
  const med = median(f.homes.offsets) ?? 0;
  const spread = f.homes.offsets.map((o) => Math.abs(o - med));
  const s = (x: number | null) => (x === null ? '-' : `${x.toFixed(2)} s`);
  const met = (ok: boolean) => (ok ? 'met' : 'NOT met');
  const encoderRate = f.encoder.trials ? f.encoder.detected / f.encoder.trials : 0;
  const deadRate = f.dead.trials ? f.dead.detected / f.dead.trials : 0;
  const falseRate = f.free.gotos + f.free.homes > 0 ? f.free.stalls.length / (f.free.gotos + f.free.homes) : 0;
  const rows: [string, string, string, string][] = [
    ['jams detected, encoder (goto)', `${f.encoder.detected} / ${f.encoder.trials}`, '100 %', met(f.encoder.trials > 0 && encoderRate === 1)],
    ['jams detected, no encoder (home)', `${f.dead.detected} / ${f.dead.trials}`, '100 %', met(f.dead.trials > 0 && deadRate === 1)],
    ['jam to stop, encoder p50 / p95 / max', `${s(percentile(f.encoder.toStopS, 50))} / ${s(percentile(f.encoder.toStopS, 95))} / ${s(max(f.encoder.toStopS))}`, '≤ 0.5 s', met((max(f.encoder.toStopS) ?? Infinity) <= 0.5)],
    ['jam to stop, no encoder, × leg p50 / max', `${(percentile(f.dead.ratio, 50) ?? NaN).toFixed(2)} / ${(max(f.dead.ratio) ?? NaN).toFixed(2)}`, '≤ 1.5', met((max(f.dead.ratio) ?? Infinity) <= 1.5)],
    ['false stalls, no jam', `${f.free.stalls.length} in ${f.free.gotos} gotos + ${f.free.homes} homes`, '≤ 1 in 1000', met(falseRate <= 0.001)],
    ['homing repeatability p95 (5 ms bounce)', `${((percentile(spread, 95) ?? NaN) * 100).toFixed(3)} % (n ${spread.length}; offset ${(med * 100).toFixed(3)} %)`, '≤ 0.20 %', met(spread.length > 0 && (percentile(spread, 95) ?? 1) <= 0.002)],
  ];
  process.stdout.write(
    `\nstalls and homing: ${jams} jams per mode, ${freeGotos} gotos with no jam per mode (encoder, dead reckoning), ${homes} homes; ` +
      'shipped speed table (the run\'s ±5 % not calibrated), fractions of the 2 m track\n\n' +
      `${'figure'.padEnd(42)} ${'measured'.padEnd(42)} ${'target'.padEnd(12)} result\n`,
  );
  for (const [figure, measured, goal, result] of rows) process.stdout.write(`${figure.padEnd(42)} ${measured.padEnd(42)} ${goal.padEnd(12)} ${result}\n`);
  for (const line of [...f.encoder.failures, ...f.dead.failures, ...f.free.stalls, ...f.homes.failures]) process.stdout.write(`    missed: ${line}\n`);

  const days = count('BENCH_TRACK_PATROL_DAYS', 30);
  if (days > 0) {
    const patrol = await patrolRow(days, seed);
    process.stdout.write(`\n${patrol.text}`);
    failed ||= !patrol.met;
  }
  if (failed) process.exitCode = 1;
}

main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
