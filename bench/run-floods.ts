/**
 * `npm run bench`'s flood scenarios: run against the broker as deployed, folded into rows, held
 * against their bounds, and tabled (bench/run.ts, bench/flood.ts).
 */
import { spawn } from '../test/support/isolation';
import path from 'node:path';
import type { BenchBroker } from './broker';
import { REPO_ROOT } from './child';
import { CapUnavailable, FLOOD_BOUNDS, FLOOD_LABELS, FLOOD_SCENARIOS, runFlood, stopFigures, type FloodResult } from './flood';
import { killOnExit } from '../test/support/cleanup';
import { startMosquitto } from '../test/support/mosquitto';
import type { Target } from './run-targets';

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

export function floodRows(floods: readonly FloodResult[]): FloodRow[] {
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

export function floodTargets(rows: readonly FloodRow[]): Target[] {
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

export function floodTable(rows: readonly FloodRow[]): string {
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
export async function floods(broker: BenchBroker, seconds: number): Promise<{ results: FloodResult[]; cappedSkipped?: string }> {
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
