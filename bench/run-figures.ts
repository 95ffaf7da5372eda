/**
 * `npm run bench`'s figures: the table's columns, what each figure measures, and the rounds
 * folded into one value and one ratio per reference (bench/run.ts).
 */
import type { SubjectName } from './child';
import { max, median, sum } from './stats';
import type { Counts } from './run-counts';

/** Table columns: the subjects, then bare Node. */
export type Column = SubjectName | 'node';
export const COLUMNS: readonly Column[] = ['carbot', 'python', 'baseline', 'node'];
export const COLUMN_TITLES: Record<Column, string> = { carbot: 'carbot', python: 'Python', baseline: 'mqtt.js', node: 'node -e' };
/** What carbot is divided by, column by column. */
export type Reference = Exclude<Column, 'carbot'>;
export const REFERENCES: readonly Reference[] = ['python', 'baseline', 'node'];

/** How a figure's rounds are folded into one value. */
type Fold = 'median' | 'max' | 'sum';

interface FigureSpec {
  key: string;
  label: string;
  unit: string;
  better?: 'lower' | 'higher';
  fold?: Fold;
}

export function figureSpecs(counts: Counts): FigureSpec[] {
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
