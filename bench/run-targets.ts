/**
 * `npm run bench`'s targets: each figure held against what carbot promises (bench/run.ts).
 */
import type { Counts } from './run-counts';
import type { Figure, Reference } from './run-figures';

export interface Target {
  target: string;
  measured: string;
  met: boolean;
}

export function targets(figures: readonly Figure[], counts: Counts, pythonSkipped: string | null): Target[] {
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
