/**
 * The step itself: each event's handling, and when the shell should wake it next. Part of ../track.ts.
 */
import type { Command } from '../commands';
import { DRIVER_GONE, type TrackEnd } from '../drive';
import { axisOf } from './curve';
import type { TrackEvent, TrackSettings, TrackState, TrackStep } from './types';
import { advance, byEncoder } from './position';
import { type Ctx, describePlace, fmt, info, warn } from './context';
import { check, drivingLeg, stallWindowS, taskLegs } from './plan';
import { sampleLeg } from './calibration';
import { beginLeg, cancel, checkEncoderStall, checkGoto, endTask, fail, finishLeg, gotoWake, onOutput, TOLERANCE } from './task';

/** How often the estimate is advanced while the car moves, so STATE shows it going. */
export const PROGRESS_MS = 250;

/** A switch the car is leaving that closes again within this long of opening is bouncing, not met again. */
export const BOUNCE_MS = 50;

/** A goto that meets a switch short of its target plans again from there, at most this often. */
const MAX_REPLANS = 1;

function onCommand(state: TrackState, command: Command, ctx: Ctx): { state: TrackState; result: Record<string, unknown> } {
  const result: Record<string, unknown> = { move: command.move };
  if (command.to !== undefined) result.to = command.to;
  if (command.forS !== undefined) result.for = command.forS;
  const checked = check(command, state, ctx.settings);
  if ('error' in checked) {
    warn(ctx, `${command.move} refused: ${checked.error}`);
    return { state, result: { ...result, error: checked.error, ...checked.details } };
  }
  const notes: string[] = [];
  if (state.task) {
    notes.push(`replaces ${state.task.name}`);
    info(ctx, `${state.task.name} replaced by ${command.move}`);
    state = endTask(state, ctx);
  }
  // A task starts from a stop: it may not drive at all (a goto to where the car already is).
  if (state.motion !== 'stopped') ctx.drive.push({ command: { move: 'stop' } });
  const { name, legs } = taskLegs(command, state, ctx.settings, checked.target);
  // A fraction: the shell publishes places in the user's unit.
  if (checked.target) result.target = checked.target.at;
  if (name === 'goto' && Math.abs(checked.target!.at - state.position) <= TOLERANCE) notes.push('already there');
  info(ctx, `${name}${checked.target ? ` to ${checked.target.stop ?? describePlace(checked.target.at, ctx.settings)}` : ''}${command.forS ? ` ${command.move} for ${command.forS} s` : ''}`);
  state = beginLeg({ ...state, task: { name, legs, begun: false, samples: [], replans: 0 } }, ctx);
  if (notes.length > 0) result.note = notes.join('; ');
  return { state, result };
}

function onLimit(state: TrackState, end: TrackEnd, closed: boolean, ctx: Ctx): TrackState {
  state = { ...state, limits: { ...state.limits, [end]: closed } };
  const measure = state.task?.measure;
  if (!closed && measure?.from === end) state = { ...state, task: { ...state.task!, measure: { ...measure, from: undefined } } };
  // Homing's back-off may be waiting for its switch to open.
  if (!closed) return checkGoto({ ...state, openedAt: { ...state.openedAt, [end]: ctx.now } }, ctx);
  const at = end === ctx.settings.homeEnd ? 0 : 1;
  if (!state.homed) info(ctx, `position known: at the ${end} end`);
  state = { ...state, homed: true, position: at, travelled: 0, anchor: at, edgesSince: 0 };
  const opened = state.openedAt?.[end];
  const leaving = state.heading === (end === ctx.settings.homeEnd ? 1 : -1);
  // The switch the car is leaving, bouncing: the car is still at it, and nothing else happened.
  if (leaving && opened !== undefined && ctx.now - opened <= BOUNCE_MS) return state;
  const task = state.task;
  const leg = task?.legs[0];
  if (!task || !leg || !task.begun) return state;
  if (leg.kind === 'switch' && leg.end === end) {
    return finishLeg({ ...state, task: sampleLeg(task) }, ctx);
  }
  if (leg.kind === 'goto') {
    const where = leg.stop ?? describePlace(leg.target, ctx.settings);
    if (task.replans >= MAX_REPLANS) return fail(state, ctx, `met the ${end} end on the way to ${where}`, 'limit');
    warn(ctx, `${task.name}: met the ${end} end on the way to ${where}; the estimate was off, going on from there`);
    // The switch is where it was going: the leg is done, but the drive may still go on (away
    // from this switch, or reversing toward the other end, its output 0 for now).
    if (Math.abs(leg.target - state.position) <= TOLERANCE && (state.output !== 0 || state.motion !== 'stopped')) {
      ctx.drive.push({ command: { move: 'stop' }, reason: 'arrived' });
    }
    return beginLeg({ ...state, task: { ...task, begun: false, replans: task.replans + 1 } }, ctx);
  }
  if (leg.kind === 'switch' || leg.kind === 'timed') {
    // The drive stopped the car at the end: a timed move is over, a leg to the other end is not.
    // A switch behind the car ends a timed move too, and the drive did not stop for it: the car
    // drives away from it, or reverses toward the other end (its output 0 for now).
    if (leg.kind === 'timed' && (state.output !== 0 || state.motion !== 'stopped')) ctx.drive.push({ command: { move: 'stop' }, reason: 'limit' });
    return leg.kind === 'timed'
      ? finishLeg(state, ctx)
      : fail(state, ctx, `met the ${end} end instead of the ${leg.end} end: are the switches swapped?`, 'limit');
  }
  return state;
}

function onEdge(state: TrackState, ctx: Ctx): TrackState {
  const task = state.task;
  if (task?.measure) {
    const m = task.measure;
    const recent = [...m.recent.slice(-31), m.total];
    state = { ...state, task: { ...task, measure: { ...m, edges: m.from ? m.edges : m.edges + 1, edgesAll: m.edgesAll + 1, recent } } };
  }
  state = { ...state, edgesSince: state.edgesSince + state.heading };
  if (state.task?.edgeAt !== undefined) state = { ...state, task: { ...state.task, edgeAt: ctx.now } };
  if (!byEncoder(state, ctx.settings)) return state;
  const step = 1 / state.edgesPerTrack!;
  return checkGoto({ ...state, position: state.anchor + state.edgesSince * step, travelled: state.travelled + step }, ctx);
}

function onDeadline(state: TrackState, ctx: Ctx): TrackState {
  const task = state.task;
  if (!task?.begun || task.until === undefined || ctx.now < task.until) return state;
  const leg = task.legs[0];
  switch (leg.kind) {
    case 'settle':
      return finishLeg(state, ctx);
    case 'dwell':
      if (state.captureUntil !== undefined) {
        if (ctx.now < state.captureUntil) return { ...state, task: { ...task, until: state.captureUntil, waitingForCapture: true } };
        warn(ctx, `${task.name}: the capture did not end in time; going on`);
        state = { ...state, captureUntil: undefined };
      }
      return finishLeg(state, ctx);
    case 'timed':
      ctx.drive.push({ command: { move: 'stop' }, reason: 'done' });
      return finishLeg(state, ctx);
    case 'switch': {
      const allowed = task.allowed ? ` within ${fmt(task.allowed.s)} s${task.allowed.bySetting ? ' (track.homeTimeoutS)' : ''}` : '';
      return fail(state, ctx, `stalled: the ${leg.end} limit switch did not close${allowed}`);
    }
    case 'goto':
      return fail(state, ctx, `stalled: not at ${leg.stop ?? describePlace(leg.target, ctx.settings)} in time (position ${describePlace(state.position, ctx.settings)})`);
    case 'backoff':
      return fail(state, ctx, `stalled: did not get off the ${ctx.settings.homeEnd} switch in time`);
    default:
      return state;
  }
}

function onDrive(state: TrackState, event: Extract<TrackEvent, { type: 'drive' }>, ctx: Ctx): TrackState {
  const before = state.output;
  const moving = event.output !== 0;
  state = { ...state, output: event.output, motion: event.motion, speed: event.speed };
  if (moving) state = { ...state, heading: axisOf(ctx.settings, event.output) > 0 ? 1 : -1 };
  if (moving && state.homed && !state.curve && !byEncoder(state, ctx.settings)) {
    // Said when it is news: homing and calibrating drive to a switch anyway.
    const toSwitch = state.task?.legs[0]?.kind === 'switch' || state.task?.legs[0]?.kind === 'backoff';
    if (!toSwitch) warn(ctx, 'position unknown until the car meets a switch again: it moves without calibration');
    state = { ...state, homed: false };
  }
  if (state.task && event.motion === 'stopped' && DRIVER_GONE.includes(event.reason)) {
    // `output` still holds what was applied before this event.
    return cancel(state, ctx, before !== 0 ? `the car stopped (${event.reason})` : `${event.reason} while the car waited`);
  }
  return checkGoto(onOutput(state, before, ctx), ctx);
}

/** What the user did by hand: a drive of their own ends a task; during a calibration any command does. */
function onManual(state: TrackState, command: Command, ctx: Ctx): TrackState {
  const task = state.task;
  if (!task) return state;
  if (command.move === 'stop') return cancel(state, ctx, 'stop');
  const drives = command.move === 'forward' || command.move === 'backward';
  if (drives || task.name === 'calibrate') {
    // The drive goes on as the command says only if it drives and the drive takes it (not
    // toward a closed switch, which the drive refuses); else the task's motion would carry on
    // with no task: stopped, though its output is 0 for now (a reversal, a ramp not begun).
    const takesOver = drives && !state.limits[command.move as TrackEnd];
    const stop = !takesOver || (task.name === 'calibrate' && state.output !== 0);
    return cancel(state, ctx, `${command.move} by hand`, stop ? 'command' : undefined);
  }
  return state;
}

function wakeAt(state: TrackState, settings: TrackSettings): number | undefined {
  const times: number[] = [];
  if (state.task?.until !== undefined) times.push(state.task.until);
  if (state.task?.edgeAt !== undefined && drivingLeg(state.task.legs[0])) times.push(state.task.edgeAt + stallWindowS(state, settings) * 1000);
  const crossing = gotoWake(state, settings);
  if (crossing !== undefined) times.push(crossing);
  if (state.output !== 0 || state.task) times.push(state.outputAt + PROGRESS_MS);
  return times.length > 0 ? Math.min(...times) : undefined;
}

export function trackStep(state: TrackState, event: TrackEvent, settings: TrackSettings): TrackStep {
  const ctx: Ctx = { settings, now: event.now, logs: [], drive: [] };
  let result: Record<string, unknown> | undefined;
  let next = advance(state, settings, event.now);
  switch (event.type) {
    case 'command':
      ({ state: next, result } = onCommand(next, event.command, ctx));
      break;
    case 'manual':
      next = onManual(next, event.command, ctx);
      break;
    case 'drive':
      next = onDrive(next, event, ctx);
      break;
    case 'limit':
      next = onLimit(next, event.end, event.closed, ctx);
      break;
    case 'edge':
      next = onEdge(next, ctx);
      break;
    case 'tick':
      next = checkGoto(next, ctx);
      break;
    case 'lost':
      next = cancel(next, ctx, `${event.reason} while the car waited`, event.reason);
      break;
    case 'captured':
      next = { ...next, captureUntil: undefined };
      // A dwell whose time is up ends now (onDeadline, below).
      if (next.task?.waitingForCapture) next = { ...next, task: { ...next.task, until: event.now } };
      break;
  }
  next = onDeadline(checkEncoderStall(next, ctx), ctx);
  return {
    state: next,
    drive: ctx.drive,
    result,
    arrived: ctx.arrived,
    failed: ctx.failed,
    logs: ctx.logs,
    wakeAt: wakeAt(next, settings),
    busy: next.task !== undefined,
  };
}
