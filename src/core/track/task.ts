/**
 * Running a task leg by leg: beginning and finishing legs, stopping at a goto's target, stalls,
 * and ending, cancelling or failing the task. Part of ../track.ts.
 */
import type { Reason } from '../drive';
import { axisOf, dirFor, farEnd, velocity } from './curve';
import type { Measure, TrackSettings, TrackState } from './types';
import { byEncoder } from './position';
import { type Ctx, describePlace, fmt, info, warn } from './context';
import { drivingLeg, HOME_BACKOFF, legAxis, legDistance, legGoal, legTimeout, moves, stallWindowS } from './plan';
import { learn } from './calibration';

/** Closer than this (a fraction of the track) is there. */
export const TOLERANCE = 0.001;

function setSpeed(state: TrackState, ctx: Ctx, speed: number): TrackState {
  if (speed === state.speed || !state.task) return state;
  const task = state.task.restoreSpeed === undefined ? { ...state.task, restoreSpeed: state.speed } : state.task;
  ctx.drive.push({ command: { move: 'speed', speed } });
  return { ...state, speed, task };
}

/** Ends the task, giving back the speed it borrowed; with `stopReason`, stops the car if it moves. */
export function endTask(state: TrackState, ctx: Ctx, opts: { stopReason?: Reason } = {}): TrackState {
  const task = state.task;
  if (!task) return state;
  // Reversing: stopped for now, but about to drive the other way.
  if (opts.stopReason && (state.output !== 0 || state.motion !== 'stopped')) ctx.drive.push({ command: { move: 'stop' }, reason: opts.stopReason });
  if (task.restoreSpeed !== undefined && task.restoreSpeed !== state.speed) {
    ctx.drive.push({ command: { move: 'speed', speed: task.restoreSpeed } });
  }
  return { ...state, task: undefined, speed: task.restoreSpeed ?? state.speed };
}

export function cancel(state: TrackState, ctx: Ctx, why: string, stopReason?: Reason): TrackState {
  if (!state.task) return state;
  info(ctx, `${state.task.name} cancelled: ${why}`);
  return endTask(state, ctx, { stopReason });
}

export function fail(state: TrackState, ctx: Ctx, why: string, stopReason: Reason = 'stalled'): TrackState {
  const task = state.task;
  if (!task) return state;
  warn(ctx, `${task.name} stopped: ${why}`);
  // What the task was after: the shell publishes it on RESULT, places in the user's unit.
  const target = currentTarget(state, ctx.settings);
  ctx.failed = {
    move: task.name,
    ...(target?.stop ? { to: target.stop } : {}),
    ...(target ? { target: target.at } : {}),
    reason: stopReason,
    error: why,
    ...(state.homed ? { position: state.position } : {}),
  };
  if (stopReason === 'stalled' && state.homed && !byEncoder(state, ctx.settings)) {
    // Dead reckoning went on counting what the car did not do: where it is, nobody knows.
    warn(ctx, 'position unknown after the stall: send home');
    state = { ...state, homed: false };
  }
  return endTask(state, ctx, { stopReason });
}

/**
 * The drive changed the output during a leg that drives: the deadline counts from now, for
 * what is left at this output (a reversal pause, a ramp or `faster`/`slower` take nothing
 * from it), and the encoder's stall clock starts when the output begins to move the car.
 */
export function onOutput(state: TrackState, before: number, ctx: Ctx): TrackState {
  const task = state.task;
  const leg = task?.legs[0];
  if (!task?.begun || !drivingLeg(leg) || state.output === before) return state;
  const axis = legAxis(ctx.settings, task, leg);
  if (state.output === 0 || axisOf(ctx.settings, state.output) !== axis) return { ...state, task: { ...task, edgeAt: undefined } };
  const timeout = legTimeout(state, ctx, legDistance(state, ctx.settings, leg), axis, Math.abs(state.output) * 100);
  const wasMoving = axisOf(ctx.settings, before) === axis && moves(state, ctx.settings, before);
  const edgeAt = !ctx.settings.encoder || !moves(state, ctx.settings, state.output) ? undefined : wasMoving ? (task.edgeAt ?? ctx.now) : ctx.now;
  return { ...state, task: { ...task, ...timeout, edgeAt } };
}

/** With an encoder: a leg that drives and counts no edge for the stall window is stalled. */
export function checkEncoderStall(state: TrackState, ctx: Ctx): TrackState {
  const task = state.task;
  const leg = task?.legs[0];
  if (!task?.begun || !drivingLeg(leg) || task.edgeAt === undefined) return state;
  const window = stallWindowS(state, ctx.settings);
  if (ctx.now < task.edgeAt + window * 1000) return state;
  const where = state.homed ? ` at ${describePlace(state.position, ctx.settings)}` : '';
  return fail(state, ctx, `stalled: no encoder edge for ${fmt(window)} s${where} while driving ${legGoal(leg, ctx.settings)}`);
}

/** The task without its current leg, the next one not yet begun. */
function dropLeg(state: TrackState): TrackState {
  const task = state.task!;
  return {
    ...state,
    task: { ...task, legs: task.legs.slice(1), begun: false, until: undefined, allowed: undefined, measure: undefined, waitingForCapture: undefined, edgeAt: undefined },
  };
}

/** Starts legs[0] of the task; legs that finish at once are passed over. */
export function beginLeg(state: TrackState, ctx: Ctx): TrackState {
  for (let guard = 0; guard < 100 && state.task && !state.task.begun; guard++) {
    const task = state.task;
    const leg = task.legs[0];
    if (!leg) {
      info(ctx, `${task.name} done`);
      return endTask(state, ctx);
    }
    switch (leg.kind) {
      case 'switch': {
        if (state.limits[leg.end]) {
          state = dropLeg(state);
          break;
        }
        state = setSpeed(state, ctx, leg.speed);
        const axis = leg.end === ctx.settings.homeEnd ? -1 : 1;
        const timeout = legTimeout(state, ctx, legDistance(state, ctx.settings, leg), axis, leg.speed);
        const from = leg.end === 'forward' ? 'backward' : 'forward';
        const measure: Measure | undefined = leg.measure
          ? { dir: leg.end, duty: leg.speed / 100, from: state.limits[from] ? from : undefined, effective: 0, total: 0, edges: 0, edgesAll: 0, recent: [] }
          : undefined;
        ctx.drive.push({ command: { move: leg.end } });
        state = { ...state, task: { ...state.task!, begun: true, ...timeout, measure } };
        break;
      }
      case 'goto': {
        const remaining = leg.target - state.position;
        if (Math.abs(remaining) <= TOLERANCE) {
          state = dropLeg(state);
          break;
        }
        const axis = Math.sign(remaining);
        const end = axis > 0 ? farEnd(ctx.settings) : ctx.settings.homeEnd;
        // A place at an end with a switch: drive on until the switch says so, not the estimate.
        const atEnd = (axis > 0 ? leg.target >= 1 - TOLERANCE : leg.target <= TOLERANCE) && ctx.settings.switches.includes(end);
        const timeout = legTimeout(state, ctx, remaining, axis, state.speed);
        if (atEnd) {
          ctx.drive.push({ command: { move: end } });
          state = { ...state, task: { ...task, legs: [{ kind: 'switch', end, speed: state.speed }, ...task.legs.slice(1)], begun: true, ...timeout } };
          break;
        }
        ctx.drive.push({ command: { move: dirFor(ctx.settings, axis) } });
        state = { ...state, task: { ...task, begun: true, ...timeout, axis } };
        break;
      }
      case 'backoff': {
        if (!state.limits[ctx.settings.homeEnd] && state.position >= HOME_BACKOFF) {
          state = dropLeg(state);
          break;
        }
        state = setSpeed(state, ctx, leg.speed);
        const timeout = legTimeout(state, ctx, legDistance(state, ctx.settings, leg), 1, leg.speed);
        ctx.drive.push({ command: { move: farEnd(ctx.settings) } });
        state = { ...state, task: { ...state.task!, begun: true, ...timeout } };
        break;
      }
      case 'settle':
        state = { ...state, task: { ...task, begun: true, until: ctx.now + ctx.settings.settleMs } };
        break;
      case 'dwell':
        state = { ...state, task: { ...task, begun: true, until: ctx.now + (leg.ms ?? ctx.settings.dwellMs) } };
        break;
      case 'arrive': {
        const position = state.position;
        ctx.arrived = { stop: leg.stop ?? null, position, target: leg.target };
        // The shell takes the picture on this ARRIVED; the dwell after it waits for the capture.
        if (leg.stop !== undefined && ctx.settings.captureMaxMs !== undefined) state = { ...state, captureUntil: ctx.now + ctx.settings.captureMaxMs };
        info(ctx, `arrived at ${leg.stop ?? describePlace(leg.target, ctx.settings)} (position ${describePlace(position, ctx.settings)})`);
        state = dropLeg(state);
        break;
      }
      case 'timed':
        ctx.drive.push({ command: { move: leg.move } });
        state = { ...state, task: { ...task, begun: true, until: ctx.now + leg.forS * 1000 } };
        break;
      case 'learn':
        state = dropLeg(learn(state, ctx));
        break;
    }
  }
  return state;
}

/** A leg done: the next one begins. */
export function finishLeg(state: TrackState, ctx: Ctx): TrackState {
  return beginLeg(dropLeg(state), ctx);
}

/** A goto in progress: stop once the estimate (plus the car's run-on, with an encoder) reaches the target. */
export function checkGoto(state: TrackState, ctx: Ctx): TrackState {
  const leg = state.task?.legs[0];
  if (leg?.kind === 'backoff') return checkBackoff(state, ctx);
  // Only once the drive has turned the way the leg goes (a reversal pauses at zero first).
  if (!leg || leg.kind !== 'goto' || !state.task?.begun || axisOf(ctx.settings, state.output) !== state.task.axis) return state;
  const v = velocity(state.curve, ctx.settings, state.output);
  const runOn = byEncoder(state, ctx.settings) ? v * state.lagS : 0;
  const remaining = (leg.target - (state.position + runOn)) * axisOf(ctx.settings, state.output);
  // Not exactly zero: the wake time computed from it must not land a hair short, again and again.
  if (remaining > 1e-7) return state;
  ctx.drive.push({ command: { move: 'stop' }, reason: 'arrived' });
  return finishLeg(state, ctx);
}

/** Homing's back-off: done once the switch is open and the car is HOME_BACKOFF from it (by the estimate). */
function checkBackoff(state: TrackState, ctx: Ctx): TrackState {
  if (!state.task?.begun || axisOf(ctx.settings, state.output) !== 1) return state;
  if (state.limits[ctx.settings.homeEnd]) return state;
  // Without a curve or an encoder nothing measures the distance: the switch opening is enough.
  const measured = state.curve !== undefined || byEncoder(state, ctx.settings);
  if (measured && state.position < HOME_BACKOFF - 1e-7) return state;
  ctx.drive.push({ command: { move: 'stop' } });
  return finishLeg(state, ctx);
}

/** When the estimate reaches the goto's target (or the back-off its distance) at the current output, if it will. */
export function gotoWake(state: TrackState, settings: TrackSettings): number | undefined {
  const leg = state.task?.legs[0];
  if (!leg || (leg.kind !== 'goto' && leg.kind !== 'backoff') || !state.task?.begun || byEncoder(state, settings)) return undefined;
  const v = velocity(state.curve, settings, state.output);
  const axis = leg.kind === 'goto' ? state.task.axis : 1;
  const remaining = (leg.kind === 'goto' ? leg.target : HOME_BACKOFF) - state.position;
  // The back-off also waits for its switch to open, which onLimit sees.
  if (leg.kind === 'backoff' && (v <= 0 || remaining <= 1e-7 || state.limits[settings.homeEnd])) return undefined;
  if (v === 0 || Math.sign(v) !== Math.sign(remaining) || Math.sign(v) !== axis) return undefined;
  return state.outputAt + (remaining / v) * 1000;
}

/** Where the car is headed (a fraction), while a task takes it somewhere. */
export function currentTarget(state: TrackState, settings: TrackSettings): { at: number; stop?: string } | undefined {
  for (const leg of state.task?.legs ?? []) {
    if (leg.kind === 'goto' || leg.kind === 'arrive') return { at: leg.target, stop: leg.stop };
    if (leg.kind === 'switch') return { at: leg.end === settings.homeEnd ? 0 : 1 };
    if (leg.kind === 'timed') return undefined;
  }
  return undefined;
}
