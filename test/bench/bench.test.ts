import { pythonMissing } from '../../bench/child';
import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeMosquitto } from '../support/mosquitto';
import { spawnProcess } from '../support/process';

/**
 * `npm run bench` with tiny counts: every figure is produced for carbot and for each reference
 * it is held against (the Python original, the mqtt.js echo, bare Node), as the median of the
 * rounds, and the table and results.json say what was measured where. No timings are
 * asserted: on a shared 2-core machine they mean nothing in a test.
 */
const TINY = {
  BENCH_ROUNDS: '2',
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
  BENCH_REST_WAIT_MS: '0',
  // Long enough that carbot held to 30 % of a core has obeyed a forward before the stop
  // that follows it: in 1 s every stop of the capped row could find the car not yet moving.
  BENCH_FLOOD_S: '3',
};

type Column = 'carbot' | 'python' | 'baseline' | 'node';
type Reference = Exclude<Column, 'carbot'>;

interface Figure {
  key: string;
  label: string;
  unit: string;
  values: Record<Column, number | null>;
  ratios: Record<Reference, number | null>;
  rounds: Record<Column, (number | null)[]>;
}

interface Results {
  revision: string | null;
  python: string;
  machine: { cpu: string; cores: number; memoryMB: number; node: string; loadAverage: { before: number[]; after: number[] } };
  broker: { kind: string; label: string; settings: string[] };
  counts: Record<string, number>;
  figures: Figure[];
  floods: Record<string, number | string | boolean | null>[];
  targets: { target: string; measured: string; met: boolean }[];
}

/** Every figure the issue asks for, by its key in results.json. */
const FIGURES = [
  'startup.median',
  'startup.max',
  'startup.version',
  'roundTrip.p50',
  'roundTrip.p90',
  'roundTrip.p99',
  'roundTrip.max',
  'roundTrip.inbound.p50',
  'actuation.p50',
  'roundTrip.outbound.p50',
  'roundTrip.inbound.p99',
  'roundTrip.outbound.p99',
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
  'idle.wakeups',
];

/** The figures the Python original has (it keeps no trace and has no heap to probe), and those bare Node has. */
const PYTHON_FIGURES = FIGURES.filter((k) => !/^(startup\.version|roundTrip\.(inbound|outbound)|actuation|stop\.|memory\.(startup|burst|peak)\.heap)/.test(k));
const NODE_FIGURES = ['startup.median', 'startup.max', 'startup.version', 'memory.startup.rss', 'memory.startup.private', 'memory.startup.heap', 'memory.rest.rss', 'idle.cpu', 'idle.wakeups'];
/** Folded by max or sum rather than median: their ratio is that of the folded values. */
const NOT_MEDIAN = ['startup.max', 'roundTrip.max', 'burst.lost', 'stop.fromPublish.max', 'memory.peak.rss', 'memory.peak.heap'];

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

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

function assertEveryFigure({ results, stdout }: { results: Results; stdout: string }, withPython: boolean): void {
  assert.deepEqual(
    results.figures.map((f) => f.key),
    FIGURES,
  );
  const measured = (value: number | null) => typeof value === 'number' && Number.isFinite(value) && value >= 0;
  for (const f of results.figures) {
    assert.ok(measured(f.values.carbot), `${f.key} for carbot: ${f.values.carbot}`);
    const baseline = f.key !== 'startup.version';
    assert.ok(baseline ? measured(f.values.baseline) : f.values.baseline === null, `${f.key} for the mqtt.js echo: ${f.values.baseline}`);
    const python = withPython && PYTHON_FIGURES.includes(f.key);
    assert.ok(python ? measured(f.values.python) : f.values.python === null, `${f.key} for the Python original: ${f.values.python}`);
    const node = NODE_FIGURES.includes(f.key);
    assert.ok(node ? measured(f.values.node) : f.values.node === null, `${f.key} for bare Node: ${f.values.node}`);
    assert.equal(f.rounds.carbot.length, 2, f.key);
    // Every ratio is carbot's over the reference's: per round, and the median of the rounds.
    for (const ref of ['python', 'baseline', 'node'] as const) {
      const expected = NOT_MEDIAN.includes(f.key)
        ? f.values.carbot !== null && f.values[ref] ? f.values.carbot / (f.values[ref] as number) : null
        : (() => {
            const each = f.rounds.carbot.map((c, i) => (c !== null && f.rounds[ref][i] ? c / (f.rounds[ref][i] as number) : null)).filter((r): r is number => r !== null);
            return each.length ? median(each) : null;
          })();
      assert.equal(f.ratios[ref], expected, `${f.key} / ${ref}`);
    }
    assert.ok(stdout.includes(f.label), `table row ${f.label}`);
  }
  const lost = results.figures.find((f) => f.key === 'burst.lost');
  assert.deepEqual([lost?.values.carbot, lost?.values.baseline, lost?.values.python], [0, 0, withPython ? 0 : null]);

  // The flood scenarios, each with what a user would notice, measured; the CPU-capped one
  // where carbot's CPU can be capped here, else left out and said so.
  const capped = results.floods.some((f) => f.scenario === 'mqtt-capped');
  assert.deepEqual(
    results.floods.map((f) => f.scenario),
    ['page', 'mqtt', 'deaf-page', ...(capped ? ['mqtt-capped'] : [])],
  );
  if (capped) assert.match(stdout, /^capped: (cgroup v[12] |systemd-run )/m);
  else assert.match(stdout, /^!!! the CPU-capped flood is NOT measured: carbot's CPU cannot be capped here: /m);
  for (const f of results.floods) {
    assert.equal(typeof f.movingAfter, 'boolean', `${f.scenario}.movingAfter`);
    for (const key of ['seconds', 'sentPerSecond', 'stopP99Ms', 'stops', 'lostStops', 'rssMaxMB', 'watchdogGapMs', 'linesPerSecond', 'cpuPercent']) {
      assert.ok(typeof f[key] === 'number' && Number.isFinite(f[key]) && (f[key] as number) >= 0, `${f.scenario}.${key}: ${f[key]}`);
    }
    assert.ok((f.sentPerSecond as number) > 100, `${f.scenario}: the flooder flooded (${f.sentPerSecond}/s)`);
    assert.ok((f.stops as number) > 0, `${f.scenario}: some stops were measured`);
    assert.ok(stdout.includes(String(f.label)), `flood table row ${f.label}`);
  }
  assert.equal(results.targets.length, 19 + results.floods.length * 5);
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
  it('measures carbot, the Python original, the mqtt.js echo and bare Node through its own mosquitto and reports every figure', async function () {
    this.timeout(60000);
    // The Python original (bench/carbot_py.py) needs Debian's python3-paho-mqtt
    // (CI has both); elsewhere the bench leaves it out with a loud line, and so does this test.
    const missing = pythonMissing();
    if (missing && process.env.CARBOT_TEST_PYTHON === 'required') throw new Error(`${missing}, and CARBOT_TEST_PYTHON=required`);
    if (missing) console.warn(`\n    !!! the Python original is NOT measured in this test: ${missing}\n`);
    const run = await runBench({});
    assertEveryFigure(run, !missing);
    if (!missing) assert.match(run.results.python, /carbot_py\.py run with \/usr\/bin\/python3/);
    assert.equal(run.results.broker.kind, 'mosquitto');
    assert.ok(run.results.broker.settings.includes('set_tcp_nodelay true'));
    assert.match(run.stdout, /^carbot .*; broker: mosquitto \S+ \(own process, 127\.0\.0\.1:\d+\)$/m);
  });
});

describe('npm run bench without mosquitto', () => {
  it('falls back to the in-process aedes broker and says so; without python3, leaves the Python original out and says so', async function () {
    this.timeout(60000);
    // And without the Python original's interpreter: its column stays empty, said loudly.
    const run = await runBench({ CARBOT_TEST_MOSQUITTO_BIN: '/nonexistent/mosquitto', BENCH_PYTHON: '/nonexistent/python3' });
    assertEveryFigure(run, false);
    // Whichever is missing first: the peer's file (a checkout without ../shared) or the interpreter.
    assert.match(run.stdout, /^!!! the Python original is NOT measured: (\/nonexistent\/python3|\S+carbot_py\.py) is missing/m);
    assert.match(run.results.python, /^not measured: /);
    assert.equal(run.results.broker.kind, 'aedes');
    assert.match(run.results.broker.label, /^FALLBACK: in-process aedes broker/);
    assert.match(run.stdout, /broker: FALLBACK: in-process aedes broker \(mosquitto not installed\)/);
  });
});
