/**
 * A small, fast simulated track for the compiled service's track tests (the page's track view,
 * what the car learns): stops at 5, 15 and 22.5 cm of a 0.5 m track, two calibration speeds,
 * short dwell and settle, and the fake camera those tests give it.
 */
import * as path from 'node:path';
import { REPO_ROOT } from './process';

export const SMALL_TRACK_STOPS = { basil: 0.1, thyme: 0.3, sage: 0.45 };

/** carbot's arguments for it: simulated motors, no tele period. */
export const SMALL_TRACK_ARGS: readonly string[] = [
  '--gpio', 'sim',
  '--tele-period', '0',
  '--track-sim', JSON.stringify({ topSpeed: 0.8, lagMs: 5, deadBand: 0.1, seed: 11, start: 0.7 }),
  '--track-length-m', '0.5',
  '--track-stops', JSON.stringify(SMALL_TRACK_STOPS),
  '--track-calibration-speeds', '[50,100]',
  '--track-dwell-s', '0.2',
  '--track-settle-ms', '100',
];

/** A camera command that writes a generated JPEG to {file} (test/fixtures/fake-camera.js). */
export const FAKE_CAMERA = path.join(REPO_ROOT, 'test', 'fixtures', 'fake-camera.js');
