/**
 * One flood scenario on its own (`npx ts-node --transpile-only --project tsconfig.test.json
 * bench/flood-one.ts mqtt 20`): for trying a remedy without the whole bench. Same mosquitto
 * as the bench's flood section (the default queue), same measurement (bench/flood.ts).
 */
import { runFlood, stopFigures, type FloodScenario } from './flood';
import { startMosquitto } from '../test/support/mosquitto';

async function main(): Promise<void> {
  const scenario = (process.argv[2] ?? 'mqtt') as FloodScenario;
  const seconds = Number(process.argv[3] ?? 20);
  const broker = await startMosquitto();
  try {
    const r = await runFlood(scenario, broker.url, seconds, (m) => process.stderr.write(`${m}\n`));
    const s = stopFigures(r);
    const sorted = (xs: number[]) => [...xs].sort((a, b) => b - a).slice(0, 5).map((x) => x.toFixed(1));
    process.stdout.write(
      `${scenario} ${seconds}s sent/s ${(r.sent / r.seconds).toFixed(0)} stop p50 ${s.p50?.toFixed(1)} p99 ${s.p99?.toFixed(1)} max ${s.max?.toFixed(1)} ` +
        `lost ${r.lostStops} after ${r.movingAfter ? 'MOVING' : 'stopped'} longest stall ${r.longestStallMs} ms cpu ${r.cpuSeconds}s\n` +
        `worst page ${sorted(r.stopMs.page)} worst mqtt ${sorted(r.stopMs.mqtt)}\n`,
    );
  } finally {
    await broker.stop();
  }
}

main().catch((err) => {
  process.stderr.write(`${err instanceof Error ? err.stack : String(err)}\n`);
  process.exitCode = 1;
});
