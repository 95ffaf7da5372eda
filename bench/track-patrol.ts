/**
 * The 30-day patrol (issue 21's target), a row of `npm run bench:track`: the service itself on
 * a virtual clock with the simulated track, a patrol every 4 hours for 30 days, a picture at
 * every stop of every round. A stand-in camera (the real Camera class, its runner faked: no
 * process per picture) takes 0.8 s, and fails in 5 % of captures, half of them by exiting
 * with an error and half by hanging until camera.timeoutS. Halfway, carbot restarts with the
 * same state directory and goes on without calibrating again.
 *
 * A silent failure is any of: a stop the car arrived at without a PHOTO; a PHOTO naming a
 * file or sidecar that is not there; a failed PHOTO without its warning in the log; a round
 * that does not end at home. The target is none, every stop photographed (or its failure
 * reported) every round.
 *
 * Counts from the environment: BENCH_TRACK_PATROL_DAYS (default 30), BENCH_TRACK_SEED.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Writable } from 'node:stream';
import { Camera, stopFolder, type CaptureRunner } from '../src/sensors/camera';
import { loadConfig } from '../src/config/config';
import { createLogger } from '../src/process/log';
import { seededRandom } from '../src/boards/sim-track';
import { CarService } from '../src/service';
import { openSimCar } from './track-sim';
import { VirtualClock } from '../test/support/virtual-clock';
import { virtualRunner } from './virtual-run';

const STOPS = { basil: 0.3, thyme: 0.9, sage: 1.5, chives: 2.1 };
const HOUR_MS = 3_600_000;
const CAPTURE_MS = 800;
const TIMEOUT_S = 10;
const KEEP = 100;
/** 2026-01-01T00:00Z: the virtual clock's zero on the wall. */
const EPOCH = Date.UTC(2026, 0, 1);

export interface PatrolFigures {
  days: number;
  rounds: number;
  roundsCompleted: number;
  arrivals: number;
  pictures: number;
  failuresInjected: number;
  failuresReported: number;
  silent: string[];
  /** Longest round, seconds (patrol from home to home, pictures included). */
  longestRoundS: number;
  /** Median round, seconds. */
  medianRoundS: number;
  /** Pictures left per stop after pruning (camera.keep). */
  kept: number[];
  calibrations: number;
}

export async function patrolBench(days: number, seed: number, failRate = 0.05): Promise<PatrolFigures> {
  const rand = seededRandom(seed * 104729 + 3);
  const clock = new VirtualClock(2, rand);
  const wallClock = () => EPOCH + clock.now();
  const dir = mkdtempSync(path.join(tmpdir(), 'carbot-bench-patrol-'));
  const pictures = path.join(dir, 'pictures');
  const figures: PatrolFigures = {
    days, rounds: 0, roundsCompleted: 0, arrivals: 0, pictures: 0, failuresInjected: 0, failuresReported: 0, silent: [], longestRoundS: 0, medianRoundS: 0, kept: [], calibrations: 0,
  };
  /** The warning each reported failure must have in the log (written in batches: checked at the end). */
  const expectedWarnings: string[] = [];
  /** Failures the runner made, by file: each must come back as a PHOTO error. */
  const injected = new Set<string>();
  const runner: CaptureRunner = (command, timeoutMs, done) => {
    const file = command[command.length - 1];
    const roll = rand();
    if (roll < failRate / 2) {
      injected.add(file);
      clock.setTimeout(() => done('fake-camera exited with code 1: no camera found'), CAPTURE_MS);
    } else if (roll < failRate) {
      injected.add(file);
      clock.setTimeout(() => done(`fake-camera did not finish within ${timeoutMs / 1000} s (killed)`), timeoutMs);
    } else {
      clock.setTimeout(() => {
        writeFileSync(file, Buffer.from([0xff, 0xd8, 0xff, 0xd9]));
        done();
      }, CAPTURE_MS);
    }
  };
  const argv = [
    '--gpio', 'sim', '--mqtt-url', 'mqtt://127.0.0.1:1', '--tele-period', '0',
    '--track-sim', JSON.stringify({ seed }), '--track-length-m', '2.4', '--track-stops', JSON.stringify(STOPS), '--track-dwell-s', '3',
    '--state-dir', dir, '--camera-command', '["fake-camera","{file}"]', '--camera-dir', pictures,
    '--camera-timeout-s', String(TIMEOUT_S), '--camera-keep', String(KEEP),
  ];
  const config = loadConfig({ argv, env: {}, exists: () => false });
  const warnings: string[] = [];
  const stream = new Writable({
    write: (chunk, _encoding, done) => {
      for (const line of String(chunk).split('\n')) if (/photo at .* failed/.test(line)) warnings.push(line);
      done();
    },
  });
  const log = createLogger({ level: 'warn', format: 'text', stream, env: {} });

  const start = async () => {
    const hardware = await openSimCar(config, log, clock);
    return new CarService({ config, log, ...hardware, clock, wallClock, camera: new Camera(config.camera!, runner, wallClock) });
  };
  let service = await start();
  const { run } = virtualRunner(() => service, clock);
  try {
    run('home', 120_000);
    run('calibrate', 900_000);
    figures.calibrations++;
    const rounds = Math.round((days * 24) / 4);
    const roundsS: number[] = [];
    for (let round = 0; round < rounds; round++) {
      if (round === Math.floor(rounds / 2)) {
        // A restart: what the car learnt comes back from the state directory.
        await service.shutdown('bench restart');
        service = await start();
        run('home', 120_000);
        if (!(service.state().track as { calibrated: boolean }).calibrated) figures.silent.push('after the restart the car was not calibrated');
      }
      const roundStart = clock.now();
      const arrived: string[] = [];
      const photos: Record<string, unknown>[] = [];
      const onArrived = (a: { stop: string | null }) => arrived.push(String(a.stop));
      const onPhoto = (p: Record<string, unknown>) => photos.push(p);
      service.on('arrived', onArrived);
      service.on('photo', onPhoto);
      figures.rounds++;
      try {
        run('patrol', 600_000);
      } catch (err) {
        figures.silent.push(`round ${round}: ${(err as Error).message}`);
      }
      service.off('arrived', onArrived);
      service.off('photo', onPhoto);
      figures.longestRoundS = Math.max(figures.longestRoundS, (clock.now() - roundStart) / 1000);
      roundsS.push((clock.now() - roundStart) / 1000);
      const state = service.state();
      if (state.position === 0 && state.reason !== 'timeout') figures.roundsCompleted++;
      else figures.silent.push(`round ${round}: ended at ${String(state.position)} (${String(state.reason)})`);
      figures.arrivals += arrived.length;
      if (arrived.join() !== Object.keys(STOPS).join()) figures.silent.push(`round ${round}: arrived at ${arrived.join(', ')}`);
      for (const stop of arrived) {
        const photo = photos.find((p) => p.stop === stop);
        if (!photo) {
          figures.silent.push(`round ${round}: no PHOTO at ${stop}`);
          continue;
        }
        if (photo.error !== undefined) {
          figures.failuresReported++;
          expectedWarnings.push(`photo at ${stop} failed: ${String(photo.error)}`);
        } else {
          figures.pictures++;
          const file = photo.file as string;
          if (injected.has(file)) figures.silent.push(`round ${round}: a failed capture at ${stop} reported as ${file}`);
          if (!existsSync(file) || !existsSync(file.replace(/\.jpg$/, '.json'))) figures.silent.push(`round ${round}: ${file} or its sidecar missing`);
        }
      }
      clock.runUntil(() => false, Math.max(0, roundStart + 4 * HOUR_MS - clock.now()));
    }
    figures.failuresInjected = injected.size;
    figures.medianRoundS = roundsS.sort((a, b) => a - b)[Math.floor(roundsS.length / 2)] ?? 0;
    figures.kept = Object.keys(STOPS).map((stop) => readdirSync(path.join(pictures, stopFolder(stop))).filter((n) => n.endsWith('.jpg')).length);
  } finally {
    await service.shutdown('bench over');
    rmSync(dir, { recursive: true, force: true });
  }
  // The log is written in 10 ms batches (real time).
  await new Promise((resolve) => setTimeout(resolve, 100));
  for (const expected of expectedWarnings) {
    const at = warnings.findIndex((w) => w.includes(expected));
    if (at < 0) figures.silent.push(`a failure not logged at warning: ${expected}`);
    else warnings.splice(at, 1);
  }
  return figures;
}

/** The row bench/track.ts prints, and whether the target is met. */
export async function patrolRow(days: number, seed: number): Promise<{ text: string; met: boolean }> {
  const f = await patrolBench(days, seed);
  const stops = Object.keys(STOPS).length;
  const met = f.silent.length === 0 && f.roundsCompleted === f.rounds && f.arrivals === f.rounds * stops && f.pictures + f.failuresReported === f.arrivals && f.failuresReported === f.failuresInjected;
  const lines = [
    `patrol every 4 h for ${days} days (virtual clock, ${stops} stops, 5 % of captures failing, a restart halfway):`,
    `  rounds ${f.roundsCompleted}/${f.rounds} completed; arrivals ${f.arrivals}; pictures ${f.pictures}; failures injected ${f.failuresInjected}, reported ${f.failuresReported}; ` +
      `silent failures ${f.silent.length}; calibrations ${f.calibrations}; round p50 ${f.medianRoundS.toFixed(0)} s, longest ${f.longestRoundS.toFixed(0)} s; kept per stop ${f.kept.join('/')} (camera.keep ${KEEP})`,
    ...f.silent.slice(0, 10).map((s) => `    silent: ${s}`),
    `target: every stop photographed each round, 0 silent failures: ${met ? 'met' : 'NOT met'}`,
  ];
  return { text: `${lines.join('\n')}\n`, met };
}
