/**
 * `npm run bench`'s report: the machine, the revision measured, and the table of figures
 * (bench/run.ts).
 */
import { execFileSync } from '../test/support/isolation';
import os from 'node:os';
import { REPO_ROOT } from './child';
import { COLUMN_TITLES, COLUMNS, type Figure, REFERENCES } from './run-figures';

export function machine(): { cpu: string; cores: number; memoryMB: number; os: string; node: string } {
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
export function revision(): string | null {
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

export function table(figures: readonly Figure[]): string {
  const ratio = (r: number | null) => (r === null ? '—' : `${r.toFixed(2)}x`);
  const rows = [
    ['figure', 'unit', ...COLUMNS.map((c) => COLUMN_TITLES[c]), ...REFERENCES.map((r) => `/${COLUMN_TITLES[r]}`)],
    ...figures.map((f) => [f.label, f.unit, ...COLUMNS.map((c) => format(f.values[c], f.unit)), ...REFERENCES.map((r) => ratio(f.ratios[r]))]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n');
}
