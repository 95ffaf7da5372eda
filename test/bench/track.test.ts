import { strict as assert } from 'node:assert';
import { spawnProcess } from '../support/process';

/**
 * `npm run bench:track` with tiny counts: it homes, calibrates and sends the simulated cars
 * places in every scenario and prints the figures, then patrols a virtual day with pictures
 * (every stop photographed or its failure reported, none silent); which figures come out is the benchmark's
 * business, not this test's (no accuracy is asserted here).
 */
describe('npm run bench:track', () => {
  it('prints p50 / p95 / max for every scenario, with no failed run, and the stalls and homing targets', async function () {
    this.timeout(60_000);
    const proc = spawnProcess('npx', ['ts-node', '--transpile-only', '--project', 'tsconfig.test.json', 'bench/track.ts'], {
      BENCH_TRACK_CARS: '1',
      BENCH_TRACK_GOTOS: '3',
      // A day of the 30-day patrol: six rounds with pictures, a restart halfway.
      BENCH_TRACK_PATROL_DAYS: '1',
      BENCH_TRACK_JAMS: '4',
      BENCH_TRACK_FREE_GOTOS: '6',
      BENCH_TRACK_HOMES: '4',
    });
    const { code } = await proc.exited;
    assert.equal(code, 0, proc.output());
    const out = proc.stdout.join('\n');
    for (const scenario of ['dead reckoning', 'with encoder', 'dead reckoning, no jitter', 'dead reckoning, ±5 % jitter']) {
      const row = proc.stdout.find((l) => l.startsWith(`${scenario.padEnd(30)} `));
      assert.ok(row, `no row for ${scenario}:\n${out}`);
      assert.match(row, /^.{30} +3 +(\s*[\d.]+ % \/){2}\s*[\d.]+ %\s+(\s*[\d.]+ % \/){2}\s*[\d.]+ % +\d+ %$/, row);
    }
    assert.match(out, /^targets: estimate p95 ≤ 2\.0 % dead reckoning: (met|NOT met) \([\d.]+ %\); estimate p95 ≤ 0\.5 % with encoder: (met|NOT met)/m);
    assert.doesNotMatch(out, /failed:/);
    assert.match(out, /^ {2}rounds 6\/6 completed; arrivals 24; pictures \d+; failures injected (\d+), reported \1; silent failures 0;/m);
    assert.match(out, /^target: every stop photographed each round, 0 silent failures: met$/m);
    // Stalls and homing: a row per figure, each with its target and whether it is met.
    for (const figure of [
      'jams detected, encoder (goto)',
      'jams detected, no encoder (home)',
      'jam to stop, encoder p50 / p95 / max',
      'jam to stop, no encoder, × leg p50 / max',
      'false stalls, no jam',
      'homing repeatability p95 (5 ms bounce)',
    ]) {
      const row = proc.stdout.find((l) => l.startsWith(`${figure.padEnd(42)} `));
      assert.ok(row, `no row for ${figure}:\n${out}`);
      assert.match(row, / (met|NOT met)$/, row);
    }
    assert.match(out, /^jams detected, encoder \(goto\) +4 \/ 4 /m);
    assert.match(out, /^false stalls, no jam +\d+ in 12 gotos \+ \d+ homes /m);
  });
});
