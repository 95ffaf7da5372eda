/**
 * Where the car is along its track, and taking it places: a pure function of
 * (state, event) -> (state, effects), like drive.ts beside it. No I/O and no timers: the shell
 * feeds in what happened (commands, the outputs the drive actually applied, limit switches,
 * encoder edges, time) and performs what comes out (drive commands, ARRIVED, log lines, one
 * timer for `wakeAt`).
 *
 * Positions are fractions of the track between its two ends: 0 at the home end
 * (`track.homeEnd`), 1 at the far end. The shell converts to metres when `track.lengthM` is set.
 *
 * Dead reckoning: the position moves by the velocity of the applied output through the speed
 * curve, integrated over time, so ramps and reversal pauses count as they happened. The curve
 * (duty -> track lengths per second, per direction) is learnt by `calibrate` or stated in
 * `track.speedTable`: motors are not linear, with a dead band at low duty and saturation near
 * full. With a first-order motor lag the integral of the commanded velocity equals the distance
 * the car covers once it has come to rest, which is why a goto stops when the estimate reaches
 * the target and reports arrival after `settleMs`. With a wheel encoder, counted edges replace
 * the integral between switches.
 *
 * Stalls: every leg that drives the car somewhere (a goto, a touch of a switch, homing's
 * back-off) has a deadline, its expected time by the curve × STALL_FACTOR plus
 * `timeoutMarginS`, counted from when the drive applies the leg's output; with an encoder, no
 * edge for `stallS` (or STALL_EDGES edges' time at the output's speed, if longer) while the
 * output moves the car is a stall as well. A stall stops the car with reason `stalled`, ends
 * the task (a patrol too) and says so in `failed` (docs/track.md).
 *
 * Homing touches twice: fast to the switch, back off HOME_BACKOFF, slow to the switch again.
 *
 * The pieces live in track/, by what they do: the speed curve (curve.ts), the types (types.ts),
 * the estimate of the position (position.ts), planning a task's legs and their deadlines
 * (plan.ts), calibration (calibration.ts), running the legs (task.ts) and the step (step.ts).
 * This module is what the rest of carbot imports.
 */
export { curveSpeed, farEnd, velocity, type CurvePoint, type SpeedCurve } from './track/curve';
export type { Arrival, DriveRequest, Stop, Task, TaskName, TrackEvent, TrackSettings, TrackState, TrackStep } from './track/types';
export { initialTrackState, uncertainty } from './track/position';
export { describePlace } from './track/context';
export { HOME_BACKOFF, slowHomingSpeed, STALL_EDGES, STALL_FACTOR, STALL_S, STALL_UNSCALED_S } from './track/plan';
export { currentTarget, TOLERANCE } from './track/task';
export { BOUNCE_MS, PROGRESS_MS, trackStep } from './track/step';
