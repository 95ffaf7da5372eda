import type { DriveSettings } from '../../src/core/drive';
import type { SpeedCurve, TrackSettings } from '../../src/core/track';

/** The contract's drive defaults (docs/configuration.md), for tests of the pure state machines. */
export const DEFAULT_DRIVE: DriveSettings = Object.freeze({
  initialSpeed: 50,
  speedStep: 10,
  minSpeed: 10,
  maxSpeed: 100,
  reverseDelayMs: 250,
  accelPercentPerSec: 0,
  commandTimeoutS: 0,
});

/**
 * A track with both switches, home at the backward end, and two stops (basil at 25 %, thyme
 * at 60 %), driven through `curve`: the pure track and car tests' usual track.
 */
export function twoStopTrack(curve: SpeedCurve): TrackSettings {
  return {
    homeEnd: 'backward',
    switches: ['backward', 'forward'],
    stops: [
      { name: 'basil', at: 0.25 },
      { name: 'thyme', at: 0.6 },
    ],
    dwellMs: 1000,
    homingSpeed: 40,
    calibrationSpeeds: [30, 60, 100],
    speedTable: curve,
    settleMs: 300,
    timeoutMarginS: 5,
    homeTimeoutS: 120,
    drift: 0.03,
  };
}
