import type { DriveSettings } from '../../src/core/drive';

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
