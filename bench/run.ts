/**
 * `npm run bench`: carbot (compiled dist/, sim motors, info logging) side by side with three
 * references, through one broker, in one run (issue 14):
 *
 * - the Python original carbot replaces (bench/carbot_py.py, paho-mqtt, run
 *   with Debian's python3; skipped with one loud line when python3-paho-mqtt or the file is
 *   missing);
 * - a raw mqtt.js echo (bench/baseline.js), the least a Node service can do with a command;
 * - bare Node: `node -e 0` from spawn to exit, and the RSS of a `node -e` that only waits.
 *
 * BENCH_ROUNDS rounds (3), each with fresh processes, alternating between the subjects so
 * that machine noise hits them all; every figure is the median of the rounds and every ratio
 * the median of the rounds' ratios. Prints a table and writes bench/results.json.
 *
 * Then the flood scenarios (bench/flood.ts): carbot alone, as installed, against a hostile
 * page socket, MQTT publisher and non-reading socket, BENCH_FLOOD_S seconds each.
 *
 * Counts come from the environment so that a smoke test can run it in seconds:
 * BENCH_ROUNDS, BENCH_ROUNDTRIPS, BENCH_WARMUP, BENCH_BURST, BENCH_BURST_ROUNDS, BENCH_STOPS,
 * BENCH_STOP_AHEAD, BENCH_STOP_BEHIND, BENCH_STARTS, BENCH_IDLE_S, BENCH_SETTLE_MS,
 * BENCH_FLOOD_S, and BENCH_OUT for where results.json goes.
 *
 * This file is the entry; the parts beside it: the counts (run-counts.ts), one round's
 * measurements (run-round.ts), the figures and their ratios (run-figures.ts), the targets
 * (run-targets.ts), the flood scenarios' run and rows (run-floods.ts) and the report (run-report.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startBenchBroker } from './broker';
import { PYTHON, PYTHON_PEER_PATH, pythonMissing, type SubjectName } from './child';
import { Driver } from './driver';
import { CYCLE_MS, type FloodResult } from './flood';
import { countsFrom, UsageError } from './run-counts';
import { aggregate, type Column, figureSpecs } from './run-figures';
import { Round } from './run-round';
import { targets } from './run-targets';
import { floodRows, floods, floodTable, floodTargets } from './run-floods';
import { machine, revision, table } from './run-report';
export { type Counts, countsFrom } from './run-counts';
export { aggregate, type Column, type Figure, type Reference } from './run-figures';
export type { Target } from './run-targets';
export type { FloodRow } from './run-floods';

/** The subjects with an MQTT side, in the order the table shows them. */
const ALL_SUBJECTS: readonly SubjectName[] = ['carbot', 'python', 'baseline'];

async function main(): Promise<void> {
  const counts = countsFrom(process.env);
  const out = path.resolve(process.env.BENCH_OUT || path.join(__dirname, 'results.json'));
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'carbot-bench-'));
  // Everything else running on the machine competes with what is measured: say how busy it was.
  const loadBefore = os.loadavg();
  const pythonSkipped = pythonMissing();
  if (pythonSkipped) {
    process.stderr.write(`!!! the Python original is NOT measured: ${pythonSkipped}; its column stays empty and its targets read n/a\n`);
  }
  const subjects = ALL_SUBJECTS.filter((s) => s !== 'python' || !pythonSkipped);
  const broker = await startBenchBroker();
  process.stderr.write(`bench: broker ${broker.label}\n`);
  let driver: Driver | undefined;
  let round: Round | undefined;
  const values: Map<string, Partial<Record<Column, number | null>>>[] = [];
  const raw: Record<string, unknown>[] = [];
  let floodResults: FloodResult[] = [];
  let cappedSkipped: string | undefined;
  try {
    driver = await Driver.connect(broker.url);
    for (let r = 0; r < counts.rounds; r++) {
      round = new Round(counts, broker, driver, scratch, subjects, r);
      await round.startup();
      await round.latency();
      await round.resources();
      values.push(round.values());
      raw.push(round.raw());
      round = undefined;
    }
    ({ results: floodResults, cappedSkipped } = await floods(broker, counts.floodSeconds));
  } finally {
    await round?.stopAll();
    await driver?.close();
    await broker.close();
    rmSync(scratch, { recursive: true, force: true });
  }

  const figures = aggregate(figureSpecs(counts), values);
  const floodTable_ = floodRows(floodResults);
  const load = (averages: number[]) => averages.map((l) => Number(l.toFixed(2)));
  const results = {
    generated: new Date().toISOString(),
    revision: revision(),
    machine: { ...machine(), loadAverage: { before: load(loadBefore), after: load(os.loadavg()) } },
    broker: { label: broker.label, kind: broker.kind, version: broker.version ?? null, settings: broker.settings },
    carbot:
      'node dist/cli.js --mqtt-url <broker> --gpio sim --device carbotjs --http-host 127.0.0.1 --http-port <free> --commands-per-second 0: ' +
      'default settings but the command budget, info logging, stdout piped to a separate reader',
    python: pythonSkipped
      ? `not measured: ${pythonSkipped}`
      : `${PYTHON_PEER_PATH} run with ${PYTHON}: paho-mqtt, subscribes at QoS 0, logs every action at DEBUG to stdout (piped like carbot's), a JSON ack per message`,
    floodBroker:
      broker.kind === 'mosquitto'
        ? 'a second mosquitto with its default queue (max_queued_messages 1000), set_tcp_nodelay true, persistence false'
        : broker.label,
    floodCarbot:
      'node dist/cli.js --mqtt-url <broker> --gpio sim --http-host 127.0.0.1 --http-port <free> --http-token <token>: ' +
      'default settings (command budget 50/s), WATCHDOG_USEC=10 s through a stand-in systemd-notify, stdout to a file',
    baseline: 'node bench/baseline.js: mqtt.js, subscribes to the move topic at QoS 1, publishes an ack per message',
    node: 'bare Node: `node -e 0` spawn -> exit for start-up; a `node -e` that only waits (memory probe preloaded) for memory and idle CPU',
    counts,
    figures,
    floods: floodTable_,
    cappedFloodSkipped: cappedSkipped ?? null,
    targets: [...targets(figures, counts, pythonSkipped), ...floodTargets(floodTable_)],
    raw: { rounds: raw, floodStopMs: Object.fromEntries(floodResults.map((f) => [f.scenario, f.stopMs])) },
  };
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
  const m = results.machine;
  const header =
    `carbot benchmark — ${m.cpu} (${m.cores} cores, ${m.memoryMB} MB), node ${m.node}, ` +
    `load average ${m.loadAverage.before[0]} -> ${m.loadAverage.after[0]}\n` +
    `carbot ${results.revision ?? '(revision unknown)'}; broker: ${broker.label}\n` +
    `${counts.rounds} rounds of fresh processes; each figure is the median of the rounds (max and sum where the label says), each ratio the median of the rounds' ratios` +
    (pythonSkipped ? `\n!!! the Python original is NOT measured: ${pythonSkipped}` : '');
  const verdicts = results.targets.map((t) => `  [${t.met ? 'met' : 'MISSED'}] ${t.target}: ${t.measured}`);
  const floodNote =
    `flood scenarios, ${counts.floodSeconds} s each; the other client drives and stops the car every ${CYCLE_MS} ms, ` +
    'stops alternately from a page and over MQTT (on carbot/move/stop); stop = send -> motor write. On a shared machine these vary from run to run.' +
    floodTable_.filter((r) => r.cpuCap).map((r) => `\ncapped: ${r.cpuCap}`).join('') +
    (cappedSkipped ? `\n!!! the CPU-capped flood is NOT measured: ${cappedSkipped}` : '');
  process.stdout.write(
    `${header}\n\n${table(figures)}\n\n${floodNote}\n${floodTable(floodTable_)}\n\ntargets:\n${verdicts.join('\n')}\n\nwritten to ${out}\n`,
  );
}

if (require.main === module) {
  main().catch((err: Error) => {
    process.stderr.write(`bench: ${err instanceof UsageError ? err.message : (err.stack ?? err.message)}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  });
}
