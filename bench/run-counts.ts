/**
 * `npm run bench`'s counts: the defaults, and the BENCH_* environment variables that change them
 * (bench/run.ts).
 */
import { AWAKE_MS } from '../src/process/loop-monitor';

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
export class UsageError extends Error {}

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
