/**
 * The track's settings, state, events and step result, and a task's legs. Part of ../track.ts.
 */
import type { Command } from '../commands';
import type { Direction, LogEntry, Motion, Reason, TrackEnd } from '../drive';
import type { SpeedCurve } from './curve';

export interface Stop {
  name: string;
  /** Fraction of the track from the home end. */
  at: number;
}

export interface TrackSettings {
  homeEnd: TrackEnd;
  /** The ends that have a limit switch. */
  switches: readonly TrackEnd[];
  lengthM?: number;
  /** Sorted by position, home first: the order a patrol visits them. */
  stops: readonly Stop[];
  dwellMs: number;
  /** Percent. */
  homingSpeed: number;
  /** Percent, ascending. */
  calibrationSpeeds: readonly number[];
  /** A stated curve (from `track.speedTable`), used until a calibration replaces it. */
  speedTable?: SpeedCurve;
  /** Pause after a stop before the car counts as arrived (the car comes to rest). */
  settleMs: number;
  /** A leg may take its expected time × STALL_FACTOR plus this before it stops as `stalled`. */
  timeoutMarginS: number;
  /** With an encoder: no edge for this long while the output moves the car is a stall (default STALL_S). */
  stallS?: number;
  /** Longest homing or calibration leg while no curve tells how long one should take. */
  homeTimeoutS: number;
  /** Uncertainty grows by this fraction of the distance travelled since the last switch. */
  drift: number;
  /** Configured when the car has a wheel encoder; `edgesPerTrack` when stated (else calibrate learns it). */
  encoder?: { edgesPerTrack?: number };
  /** The drive's `commandTimeoutS` (0 = off): no timed move may last longer. */
  commandTimeoutS?: number;
  /** The file the shell keeps a calibration in (src/process/track-state.ts), if any. */
  keptIn?: string;
  /**
   * With a camera, an arrival at a named stop starts a capture (the shell runs it): a patrol's
   * dwell, and a goto to a stop, end only once the shell says it has ended (`captured`), or
   * after this many milliseconds whatever happens.
   */
  captureMaxMs?: number;
}

export type Leg =
  | { kind: 'switch'; end: TrackEnd; speed: number; measure?: boolean }
  | { kind: 'goto'; target: number; stop?: string }
  /** Homing between its touches: away from the home switch until it is open and HOME_BACKOFF from it. */
  | { kind: 'backoff'; speed: number }
  | { kind: 'settle' }
  | { kind: 'arrive'; target: number; stop?: string }
  /** `ms` instead of `track.dwellS`: a goto's wait for its picture is 0 plus the capture. */
  | { kind: 'dwell'; ms?: number }
  | { kind: 'timed'; move: Direction; forS: number }
  | { kind: 'learn' };

export type TaskName = 'home' | 'calibrate' | 'goto' | 'patrol' | 'move';

/** One calibration leg, measured while it runs. */
export interface Measure {
  dir: Direction;
  duty: number;
  /**
   * The switch the leg starts on: timing and counting begin when it opens, where the car is
   * exactly at the end, rather than wherever it came to rest past the switch.
   */
  from?: TrackEnd;
  /** Seconds at the leg's duty that the applied outputs amount to (a ramp counts in part), from the switch opening. */
  effective: number;
  /** The same from the start of the leg, where the car stood still. */
  total: number;
  /** Encoder edges from the switch opening to the other closing: the track's length. */
  edges: number;
  /** Edges since the start of the leg. */
  edgesAll: number;
  /** `total` at the latest edges, for the encoder's steady rate at the end of the leg. */
  recent: readonly number[];
}

interface Sample {
  dir: Direction;
  duty: number;
  effective: number;
  edges: number;
  /** Seconds the car lags behind its output (from the encoder), when measurable. */
  lag?: number;
}

export interface Task {
  name: TaskName;
  legs: readonly Leg[];
  /** Whether legs[0] has begun. */
  begun: boolean;
  /** Deadline of the current leg: its timeout, or the end of a settle, dwell or timed move. */
  until?: number;
  /** For a leg's timeout: how long it was given, and whether by track.homeTimeoutS (no curve yet). */
  allowed?: { s: number; bySetting: boolean };
  /** The speed setting before a leg changed it, given back when the task ends. */
  restoreSpeed?: number;
  measure?: Measure;
  samples: readonly Sample[];
  /** Re-plans after a switch closed short of a goto's target. */
  replans: number;
  /** The way a goto leg goes along the axis (+1 away from home). */
  axis?: number;
  /** A dwell whose time is up waits for the capture to end. */
  waitingForCapture?: boolean;
  /** With an encoder: the last edge, or when the output began to move the car, during a leg that drives. */
  edgeAt?: number;
}

export interface TrackState {
  /** Whether the position is known: a switch closed since the start and nothing lost it. */
  homed: boolean;
  position: number;
  /** Distance moved since the last switch closed, for the uncertainty. */
  travelled: number;
  output: number;
  outputAt: number;
  /** The drive's motion: `reversing` is not stopped, though its output is zero. */
  motion: Motion;
  /** The drive's speed setting, percent. */
  speed: number;
  /** +1 away from home, −1 toward it: the way the last nonzero output drove (encoder edges count that way). */
  heading: 1 | -1;
  limits: Record<TrackEnd, boolean>;
  /** When each switch last opened: closing again within BOUNCE_MS as the car leaves it is its contacts bouncing. */
  openedAt?: Partial<Record<TrackEnd, number>>;
  /** Where the last switch put the car, and the encoder edges since (signed by heading). */
  anchor: number;
  edgesSince: number;
  curve?: SpeedCurve;
  edgesPerTrack?: number;
  /** Seconds the car runs on after its output stops (encoder only): a goto stops that much early. */
  lagS: number;
  task?: Task;
  /** A capture started at an arrival has not ended yet: until when it may last. */
  captureUntil?: number;
}

export type TrackEvent =
  | { type: 'command'; command: Command; now: number }
  /** A drive command a user sent (forward, stop, faster…): it may cancel the task. */
  | { type: 'manual'; command: Command; now: number }
  /** What the drive applied after any step that changed it. */
  | { type: 'drive'; output: number; motion: Motion; reason: Reason; speed: number; now: number }
  | { type: 'limit'; end: TrackEnd; closed: boolean; now: number }
  | { type: 'edge'; now: number }
  | { type: 'tick'; now: number }
  /** The car's driver is gone (broker or driving page lost, a flood): any task ends, moving or not. */
  | { type: 'lost'; reason: Reason; now: number }
  /** The capture started at the last arrival ended (a picture, or an error): a waiting dwell may end. */
  | { type: 'captured'; now: number };

export interface Arrival {
  stop: string | null;
  position: number;
  target: number;
}

export interface DriveRequest {
  command: Command;
  reason?: Reason;
}

export interface TrackStep {
  state: TrackState;
  /** A task that ended without getting there (stalled, a switch out of place): published like a RESULT. */
  failed?: Record<string, unknown>;
  /** Commands for the drive, in order. */
  drive: DriveRequest[];
  result?: Record<string, unknown>;
  /** Published on stat/<device>/ARRIVED. */
  arrived?: Arrival;
  logs: LogEntry[];
  wakeAt?: number;
  /** A task is under way: the shell tells the drive, so `commandTimeoutS` does not stop it. */
  busy: boolean;
}
