/**
 * The drive state machine: a pure function of (state, event) -> (state, effects).
 * No I/O and no timers: the caller passes the time in and arms one timer for `wakeAt`.
 */
import type { Command } from './commands';

export type Motion = 'stopped' | 'forward' | 'backward' | 'reversing';
export type Direction = 'forward' | 'backward';
/** An end of the track: where a limit switch sits, named by the way the car drives into it. */
export type TrackEnd = 'forward' | 'backward';
/**
 * `done`: a timed move ran its time; `arrived`: a goto reached its place (docs/track.md);
 * `flood`: the move topic was flooded, so a stop on it could be lost (docs/security.md);
 * `stalled`: a task's leg did not get there in time, or its encoder stopped counting (docs/track.md).
 */
export type Reason = 'command' | 'startup' | 'disconnect' | 'timeout' | 'limit' | 'shutdown' | 'done' | 'arrived' | 'flood' | 'stalled';
/** The reasons the car stops for when its driver is gone: a task under way ends on them (track/step.ts, car.ts). */
export const DRIVER_GONE: readonly Reason[] = ['disconnect', 'timeout', 'shutdown', 'flood'];

export interface DriveSettings {
  initialSpeed: number;
  speedStep: number;
  minSpeed: number;
  maxSpeed: number;
  reverseDelayMs: number;
  /** 0 = outputs jump to the target; otherwise the most the output may rise per second, in percent. */
  accelPercentPerSec: number;
  /** 0 = off; otherwise stop when moving this long without a command. */
  commandTimeoutS: number;
}

export interface DriveState {
  motion: Motion;
  /** The speed setting in percent; kept while stopped. */
  speed: number;
  reason: Reason;
  /** What the motors are given now, −1..1. */
  output: number;
  /** While reversing: where the car goes once `resumeAt` has come. */
  heading?: Direction;
  resumeAt?: number;
  /** When `output` was last advanced, for the ramp. */
  outputAt: number;
  /** The direction the output last had and when it came to zero: a reversal waits from then. */
  lastDirection?: Direction;
  zeroAt?: number;
  lastCommandAt: number;
  limits: Record<TrackEnd, boolean>;
}

export type DriveEvent =
  /** `reason`: what STATE says for a change the track model asks for (default `command`). */
  | { type: 'command'; command: Command; now: number; reason?: Reason }
  /** A task (goto, patrol) is under way: the drive leaves it to the service, which holds the task to `commandTimeoutS` (CarService.watchTask). */
  | { type: 'keepalive'; now: number }
  | { type: 'tick'; now: number }
  /**
   * The car's driver is gone: the broker connection or the page driving it was lost
   * (`disconnect`), or the move topic is flooded (`flood`). `task`: a task was under way, so
   * STATE says why it ended even if the car stood still (waiting at a stop).
   */
  | { type: 'disconnect'; now: number; reason?: 'disconnect' | 'flood' | 'timeout'; task?: boolean }
  | { type: 'limit'; end: TrackEnd; closed: boolean; now: number }
  | { type: 'shutdown'; now: number };

export interface LogEntry {
  level: 'info' | 'warn' | 'debug';
  message: string;
}

export interface Step {
  state: DriveState;
  /** The answer to a command event: what RESULT reports. */
  result?: Record<string, unknown>;
  logs: LogEntry[];
  /** When the caller must send a `tick`, if anything is pending. */
  wakeAt?: number;
}

/** How often the output is advanced while ramping. */
export const RAMP_TICK_MS = 20;

export function initialState(settings: DriveSettings, now: number): DriveState {
  return {
    motion: 'stopped',
    speed: settings.initialSpeed,
    reason: 'startup',
    output: 0,
    outputAt: now,
    lastCommandAt: now,
    limits: { forward: false, backward: false },
  };
}

const sign = (d: Direction) => (d === 'forward' ? 1 : -1);
const isDriving = (m: Motion): m is Direction => m === 'forward' || m === 'backward';
// `+ 0` turns -0 into 0, so a stopped motor reads 0 everywhere.
const round3 = (x: number) => Math.round(x * 1000) / 1000 + 0;
// A ramp step is rounded finer than a target: a slow ramp rises less than 0.001 per tick
// (1 %/s is 0.0002 per 20 ms), and rounding that to 0.001 on every tick either stalls the
// ramp at zero or runs it faster than asked.
const round6 = (x: number) => Math.round(x * 1e6) / 1e6 + 0;

export function targetOutput(state: DriveState): number {
  return isDriving(state.motion) ? round3((sign(state.motion) * state.speed) / 100) : 0;
}

/** Moves `output` toward the target, limited by the ramp when it rises; never ramps down. */
function advanceOutput(state: DriveState, settings: DriveSettings, now: number): DriveState {
  const target = targetOutput(state);
  let output = target;
  const rising = Math.abs(target) > Math.abs(state.output) && Math.sign(target) !== -Math.sign(state.output);
  if (settings.accelPercentPerSec > 0 && rising) {
    const maxRise = (settings.accelPercentPerSec / 100) * ((now - state.outputAt) / 1000);
    const magnitude = Math.min(Math.abs(target), Math.abs(state.output) + maxRise);
    output = round6(Math.sign(target) * magnitude);
  }
  return { ...state, output, outputAt: now };
}

function wakeAt(state: DriveState, settings: DriveSettings): number | undefined {
  const times: number[] = [];
  if (state.motion === 'reversing' && state.resumeAt !== undefined) times.push(state.resumeAt);
  if (state.output !== targetOutput(state)) times.push(state.outputAt + RAMP_TICK_MS);
  if (settings.commandTimeoutS > 0 && state.motion !== 'stopped') {
    times.push(state.lastCommandAt + settings.commandTimeoutS * 1000);
  }
  return times.length > 0 ? Math.min(...times) : undefined;
}

function describe(state: DriveState, settings: DriveSettings): string {
  switch (state.motion) {
    case 'stopped':
      return `stopped (${state.reason})`;
    case 'reversing':
      return `reversing: stopped, ${state.heading} at ${state.speed}% in ${settings.reverseDelayMs} ms (${state.reason})`;
    default:
      return `${state.motion} at ${state.speed}% (${state.reason})`;
  }
}

function transition(
  from: DriveState,
  to: DriveState,
  settings: DriveSettings,
  now: number,
  logs: LogEntry[],
): DriveState {
  // A ramp starts counting when the target changes, not when the output last moved.
  const steady = from.output === targetOutput(from);
  let next = advanceOutput(steady ? { ...to, outputAt: now } : to, settings, now);
  if (from.output !== 0 && next.output === 0) {
    next = { ...next, lastDirection: from.output > 0 ? 'forward' : 'backward', zeroAt: now };
  }
  if (next.motion !== from.motion || (isDriving(next.motion) && next.speed !== from.speed)) {
    logs.push({ level: 'info', message: describe(next, settings) });
  }
  return next;
}

function stopped(state: DriveState, reason: Reason): DriveState {
  return { ...state, motion: 'stopped', reason, output: 0, heading: undefined, resumeAt: undefined };
}

function clampSpeed(speed: number, settings: DriveSettings): number {
  return Math.min(settings.maxSpeed, Math.max(settings.minSpeed, speed));
}

export function step(state: DriveState, event: DriveEvent, settings: DriveSettings): Step {
  const logs: LogEntry[] = [];
  const { now } = event;
  let next: DriveState;
  let result: Record<string, unknown> | undefined;

  switch (event.type) {
    case 'command': {
      ({ next, result } = command(state, event.command, settings, now, logs, event.reason ?? 'command'));
      break;
    }
    case 'keepalive': {
      next = { ...state, lastCommandAt: now };
      break;
    }
    case 'tick': {
      next = state;
      if (state.motion === 'reversing' && state.resumeAt !== undefined && now >= state.resumeAt) {
        const resumed: DriveState = { ...state, motion: state.heading ?? 'forward', heading: undefined, resumeAt: undefined };
        next = transition(state, resumed, settings, now, logs);
      } else if (
        settings.commandTimeoutS > 0 &&
        state.motion !== 'stopped' &&
        now >= state.lastCommandAt + settings.commandTimeoutS * 1000
      ) {
        logs.push({ level: 'warn', message: `no command for ${settings.commandTimeoutS} s while moving: stopping` });
        next = transition(state, stopped(state, 'timeout'), settings, now, logs);
      } else if (state.output !== targetOutput(state)) {
        next = advanceOutput(state, settings, now);
      }
      break;
    }
    case 'disconnect':
    case 'shutdown': {
      const reason = event.type === 'disconnect' ? (event.reason ?? 'disconnect') : 'shutdown';
      next = state.motion === 'stopped' && state.output === 0 && event.type === 'disconnect' && !event.task
        ? state
        : transition(state, stopped(state, reason), settings, now, logs);
      break;
    }
    case 'limit': {
      next = { ...state, limits: { ...state.limits, [event.end]: event.closed } };
      logs.push({ level: 'info', message: `${event.end} limit switch ${event.closed ? 'closed' : 'open'}` });
      const heading = isDriving(state.motion) ? state.motion : state.heading;
      if (event.closed && heading === event.end) {
        next = transition(state, stopped(next, 'limit'), settings, now, logs);
      }
      break;
    }
  }
  return { state: next, result, logs, wakeAt: wakeAt(next, settings) };
}

function command(
  state: DriveState,
  cmd: Command,
  settings: DriveSettings,
  now: number,
  logs: LogEntry[],
  reason: Reason,
): { next: DriveState; result: Record<string, unknown> } {
  const notes: string[] = [];
  let wanted: DriveState = { ...state, lastCommandAt: now };
  let error: string | undefined;

  if (cmd.speed !== undefined) {
    const speed = clampSpeed(cmd.speed, settings);
    if (speed !== cmd.speed) notes.push(`speed clamped to ${speed}%`);
    wanted.speed = speed;
  }

  switch (cmd.move) {
    case 'stop':
      wanted = state.motion === 'stopped' ? wanted : stopped(wanted, reason);
      break;
    case 'faster':
    case 'slower': {
      const delta = cmd.move === 'faster' ? settings.speedStep : -settings.speedStep;
      const speed = clampSpeed(wanted.speed + delta, settings);
      if (speed === wanted.speed) notes.push(cmd.move === 'faster' ? 'already at max' : 'already at min');
      wanted.speed = speed;
      break;
    }
    case 'forward':
    case 'backward': {
      const dir = cmd.move;
      if (state.limits[dir]) {
        error = `${dir} limit switch is closed`;
        wanted = state;
        break;
      }
      // A stop in between does not make a reversal safe: the motor may still be spinning.
      const spinningBack =
        state.lastDirection !== undefined && state.lastDirection !== dir && state.zeroAt !== undefined
          ? state.zeroAt + settings.reverseDelayMs
          : undefined;
      if (state.motion === 'stopped' && spinningBack !== undefined && now < spinningBack) {
        wanted = { ...wanted, motion: 'reversing', heading: dir, resumeAt: spinningBack, reason: 'command' };
      } else if (state.motion === 'stopped') {
        wanted = { ...wanted, motion: dir, reason: 'command' };
      } else if (state.motion === 'reversing') {
        wanted = { ...wanted, heading: dir, reason: 'command' };
      } else if (state.motion !== dir) {
        wanted = {
          ...stopped(wanted, 'command'),
          motion: 'reversing',
          heading: dir,
          resumeAt: now + settings.reverseDelayMs,
        };
        if (settings.reverseDelayMs === 0) wanted = { ...wanted, motion: dir, heading: undefined, resumeAt: undefined };
      } else if (cmd.speed === undefined) {
        notes.push(`already ${dir}`);
      }
      break;
    }
    case 'speed':
      break;
  }

  if (wanted.speed !== state.speed || wanted.motion !== state.motion) wanted.reason = reason;
  const next = error ? state : transition(state, wanted, settings, now, logs);
  const result: Record<string, unknown> = { move: cmd.move, motion: next.motion, speed: next.speed };
  if (cmd.move === 'speed') delete result.move;
  if (error) result.error = error;
  if (notes.length > 0) result.note = notes.join('; ');
  return { next, result };
}
