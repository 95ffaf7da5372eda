import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeMosquitto } from './support/mosquitto';
import { spawnProcess } from './support/process';

/**
 * `npm run bench` with tiny counts: every figure is produced for carbot and for the
 * baseline, and the table and results.json say what was measured where. No timings are
 * asserted: on a shared 2-core machine they mean nothing in a test.
 */
const TINY = {
  BENCH_ROUNDTRIPS: '10',
  BENCH_WARMUP: '2',
  BENCH_BURST: '100',
  BENCH_BURST_ROUNDS: '2',
  BENCH_STOPS: '2',
  BENCH_STOP_AHEAD: '3',
  BENCH_STOP_BEHIND: '3',
  BENCH_STARTS: '1',
  BENCH_IDLE_S: '0.2',
  BENCH_SETTLE_MS: '100',
  BENCH_FLOOD_S: '1',
};

interface Results {
  revision: string | null;
  machine: { cpu: string; cores: number; memoryMB: number; node: string; loadAverage: { before: number[]; after: number[] } };
  broker: { kind: string; label: string; settings: string[] };
  counts: Record<string, number>;
  figures: { key: string; label: string; unit: string; carbot: number | null; baseline: number | null; ratio: number | null }[];
  floods: Record<string, number | string | null>[];
  targets: { target: string; measured: string; met: boolean }[];
}

/** Every figure the issue asks for, by its key in results.json. */
const FIGURES = [
  'startup.median',
  'startup.max',
  'roundTrip.p50',
  'roundTrip.p90',
  'roundTrip.p99',
  'roundTrip.max',
  'roundTrip.inbound.p50',
  'actuation.p50',
  'roundTrip.outbound.p50',
  'actuation.p99',
  'cpu.roundTrip',
  'cpu.burst',
  'burst.perSecond',
  'burst.lost',
  'stop.fromArrival.p50',
  'stop.fromArrival.p99',
  'stop.fromPublish.p50',
  'stop.fromPublish.p99',
  'stop.fromPublish.max',
  'memory.startup.rss',
  'memory.startup.private',
  'memory.startup.heap',
  'memory.rest.rss',
  'memory.burst.rss',
  'memory.burst.heap',
  'memory.peak.rss',
  'memory.peak.heap',
  'idle.cpu',
];

async function runBench(env: Record<string, string>): Promise<{ results: Results; stdout: string }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'carbot-bench-test-'));
  try {
    const out = path.join(dir, 'results.json');
    const tsNode = require.resolve('ts-node/dist/bin.js');
    const run = spawnProcess(process.execPath, [tsNode, '--transpile-only', '--project', 'tsconfig.test.json', 'bench/run.ts'], {
      ...TINY,
      ...env,
      BENCH_OUT: out,
    });
    const { code } = await run.exited;
    assert.equal(code, 0, run.output());
    return { results: JSON.parse(readFileSync(out, 'utf8')) as Results, stdout: run.stdout.join('\n') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function assertEveryFigure({ results, stdout }: { results: Results; stdout: string }): void {
  assert.deepEqual(
    results.figures.map((f) => f.key),
    FIGURES,
  );
  for (const f of results.figures) {
    for (const side of ['carbot', 'baseline'] as const) {
      const value = f[side];
      assert.ok(typeof value === 'number' && Number.isFinite(value) && value >= 0, `${f.key} for ${side}: ${value}`);
    }
    if (f.baseline !== 0) assert.equal(f.ratio, (f.carbot ?? NaN) / (f.baseline ?? NaN), f.key);
    assert.ok(stdout.includes(f.label), `table row ${f.label}`);
  }
  const lost = results.figures.find((f) => f.key === 'burst.lost');
  assert.deepEqual([lost?.carbot, lost?.baseline], [0, 0]);

  // The three flood scenarios, each with what a user would notice, measured.
  assert.deepEqual(
    results.floods.map((f) => f.scenario),
    ['page', 'mqtt', 'deaf-page'],
  );
  for (const f of results.floods) {
    for (const key of ['seconds', 'sentPerSecond', 'stopP99Ms', 'stops', 'lostStops', 'rssMaxMB', 'watchdogGapMs', 'linesPerSecond', 'cpuPercent']) {
      assert.ok(typeof f[key] === 'number' && Number.isFinite(f[key]) && (f[key] as number) >= 0, `${f.scenario}.${key}: ${f[key]}`);
    }
    assert.ok((f.sentPerSecond as number) > 100, `${f.scenario}: the flooder flooded (${f.sentPerSecond}/s)`);
    assert.ok((f.stops as number) > 0, `${f.scenario}: some stops were measured`);
    assert.ok(stdout.includes(String(f.label)), `flood table row ${f.label}`);
  }
  assert.equal(results.targets.length, 6 + 3 * 4);
  for (const t of results.targets) {
    assert.equal(typeof t.met, 'boolean');
    assert.match(stdout, new RegExp(`\\[(met|MISSED)\\] ${t.target.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  }
  assert.equal(results.machine.node, process.version);
  assert.ok(results.machine.cores > 0 && results.machine.memoryMB > 0 && results.machine.cpu.length > 0);
  assert.equal(results.machine.loadAverage.before.length, 3);
  assert.equal(results.counts.roundTrips, 10);
  assert.match(stdout, /^carbot benchmark — .* node v\d+/m);
}

describeMosquitto('npm run bench', () => {
  it('measures carbot and the baseline through its own mosquitto and reports every figure', async function () {
    this.timeout(60000);
    const run = await runBench({});
    assertEveryFigure(run);
    assert.equal(run.results.broker.kind, 'mosquitto');
    assert.ok(run.results.broker.settings.includes('set_tcp_nodelay true'));
    assert.match(run.stdout, /^carbot .*; broker: mosquitto \S+ \(own process, 127\.0\.0\.1:\d+\)$/m);
  });
});

describe('npm run bench without mosquitto', () => {
  it('falls back to the in-process aedes broker and says so', async function () {
    this.timeout(60000);
    const run = await runBench({ CARBOT_TEST_MOSQUITTO_BIN: '/nonexistent/mosquitto' });
    assertEveryFigure(run);
    assert.equal(run.results.broker.kind, 'aedes');
    assert.match(run.results.broker.label, /^FALLBACK: in-process aedes broker/);
    assert.match(run.stdout, /broker: FALLBACK: in-process aedes broker \(mosquitto not installed\)/);
  });
});
