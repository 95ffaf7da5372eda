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
 * Counts from the environment: BENCH_TRACK_CARS (runs per scenario, default 6),
 * BENCH_TRACK_GOTOS (gotos per run, default 10), BENCH_TRACK_SEED (default 1),
 * BENCH_TRACK_LATENESS_MS (how late each timer fires at most, default 2),
 * BENCH_TRACK_PATROL_DAYS (the patrol with pictures, bench/track-patrol.ts: default 30, 0 = none).
 */
import { Writable } from 'node:stream';
import { loadConfig } from '../src/config';
import { createLogger } from '../src/log';
import { SimMotorBank } from '../src/motors/sim';
import { seededRandom } from '../src/motors/sim-track';
import { CarService } from '../src/service';
import { openSimTrack } from '../src/track-hardware';
import { max, percentile } from './stats';
import { patrolRow } from './track-patrol';
import { VirtualClock } from '../test/support/virtual-clock';

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
  const motors = new SimMotorBank(config.motors.map((m) => m.name), log);
  const hardware = await openSimTrack(config, motors, log, clock);
  const service = new CarService({ config, log, motors, ...hardware, clock });
  const failures: string[] = [];
  const samples: Sample[] = [];
  const idle = () => service.state().task === undefined && service.state().motion === 'stopped';
  const run = (command: string, limitMs: number) => {
    const result = service.command(command, 'bench');
    if (result.error) throw new Error(`${command}: ${String(result.error)}`);
    if (!clock.runUntil(idle, limitMs)) throw new Error(`${command} did not finish in ${limitMs / 1000} s`);
  };
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
