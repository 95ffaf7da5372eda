/**
 * Planning a task: whether it can start, its legs (goto, patrol, homing, calibration, a timed
 * move), and each leg's stall deadline. Part of ../track.ts.
 */
import type { Command } from '../commands';
import type { Direction, TrackEnd } from '../drive';
import { curveSpeed, dirFor, farEnd, velocity } from './curve';
import type { Leg, Task, TaskName, TrackSettings, TrackState } from './types';
import { byEncoder, uncertainty } from './position';
import { type Ctx, describePlace } from './context';

/** A leg that drives may take its expected time × this (plus `timeoutMarginS`) before it is a stall. */
export const STALL_FACTOR = 1.25;
/** Default of `track.stallS`: with an encoder, no edge for this long while the car is driven is a stall. */
export const STALL_S = 0.3;
/** …or no edge for this many edges' time at the output's speed, when that is longer (slow speeds, coarse encoders). */
export const STALL_EDGES = 3;
/** With an encoder whose scale is not known yet (before calibrate): no edge for this long at least. */
export const STALL_UNSCALED_S = 1;

/** How far homing backs off the switch between its two touches, a fraction of the track. */
export const HOME_BACKOFF = 0.02;

/** Seconds a move across `distance` should take at `speed` percent, if the curve knows. */
function expectedS(state: TrackState, settings: TrackSettings, distance: number, axis: number, speed: number): number | undefined {
  const dir = dirFor(settings, axis);
  const v = state.curve ? curveSpeed(state.curve[dir], speed / 100) : 0;
  return v > 0 ? Math.abs(distance) / v : undefined;
}

export function legTimeout(state: TrackState, ctx: Ctx, distance: number, axis: number, speed: number): Pick<Task, 'until' | 'allowed'> {
  const expected = expectedS(state, ctx.settings, distance, axis, speed);
  const s = expected === undefined ? ctx.settings.homeTimeoutS : expected * STALL_FACTOR + ctx.settings.timeoutMarginS;
  return { until: ctx.now + s * 1000, allowed: { s, bySetting: expected === undefined } };
}

type DrivingLeg = Extract<Leg, { kind: 'switch' | 'goto' | 'backoff' }>;
export const drivingLeg = (leg: Leg | undefined): leg is DrivingLeg => leg?.kind === 'switch' || leg?.kind === 'goto' || leg?.kind === 'backoff';

/** The way a leg that drives goes along the axis (+1 away from home). */
export function legAxis(settings: TrackSettings, task: Task, leg: DrivingLeg): number {
  if (leg.kind === 'goto') return task.axis ?? 0;
  if (leg.kind === 'backoff') return 1;
  return leg.end === settings.homeEnd ? -1 : 1;
}

/**
 * How far a leg that drives still has to go, for its deadline: a switch may be as much further
 * off as the position is uncertain (never more than the track); homing's back-off allows for
 * the car having run on past the switch by as much again.
 */
export function legDistance(state: TrackState, settings: TrackSettings, leg: DrivingLeg): number {
  if (leg.kind === 'goto') return Math.abs(leg.target - state.position);
  if (leg.kind === 'backoff') return 2 * HOME_BACKOFF;
  if (!state.homed) return 1;
  const to = leg.end === settings.homeEnd ? state.position : 1 - state.position;
  return Math.min(1, Math.max(0, to) + (uncertainty(state, settings) ?? 0));
}

/** Seconds without an encoder edge that are a stall at the current output. */
export function stallWindowS(state: TrackState, settings: TrackSettings): number {
  const stallS = settings.stallS ?? STALL_S;
  const v = Math.abs(velocity(state.curve, settings, state.output));
  // Until a calibration learns the encoder's scale, how far apart its edges are is not known.
  if (!state.edgesPerTrack) return Math.max(stallS, STALL_UNSCALED_S);
  return v > 0 ? Math.max(stallS, STALL_EDGES / (v * state.edgesPerTrack)) : stallS;
}

/** Whether the output drives the car (above the dead band, by the curve; any output without one). */
export const moves = (state: TrackState, settings: TrackSettings, output: number) =>
  output !== 0 && (!state.curve || velocity(state.curve, settings, output) !== 0);

/** Where a leg that drives is going, in words. */
export function legGoal(leg: DrivingLeg, settings: TrackSettings): string {
  if (leg.kind === 'goto') return `to ${leg.stop ?? describePlace(leg.target, settings)}`;
  if (leg.kind === 'backoff') return `off the ${settings.homeEnd} switch`;
  return `to the ${leg.end} switch`;
}

/** Homing: fast to the switch, back off, slow to it again; the second touch is home. */
function homeLegs(settings: TrackSettings, state: TrackState): Leg[] {
  return [
    { kind: 'switch', end: settings.homeEnd, speed: settings.homingSpeed },
    { kind: 'backoff', speed: settings.homingSpeed },
    { kind: 'switch', end: settings.homeEnd, speed: slowHomingSpeed(settings, state) },
  ];
}

/** Half the homing speed, but not below the slowest speed the curve was measured or stated at (below it is a guess). */
export function slowHomingSpeed(settings: Pick<TrackSettings, 'homingSpeed' | 'homeEnd'>, state: Pick<TrackState, 'curve'>): number {
  const lowest = state.curve?.[settings.homeEnd].reduce((min, p) => Math.min(min, p.duty), 1);
  return Math.min(settings.homingSpeed, Math.max(Math.ceil(settings.homingSpeed / 2), lowest === undefined ? 0 : Math.ceil(lowest * 100)));
}

export function taskLegs(command: Command, state: TrackState, settings: TrackSettings, target?: { at: number; stop?: string }): { name: TaskName; legs: Leg[] } {
  const home = homeLegs(settings, state);
  if (command.forS !== undefined) return { name: 'move', legs: [{ kind: 'timed', move: command.move as Direction, forS: command.forS }] };
  switch (command.move) {
    case 'home':
      return { name: 'home', legs: [...home, { kind: 'settle' }] };
    case 'calibrate': {
      const legs: Leg[] = [...home, { kind: 'settle' }];
      // Fastest first: the car ends at home after the slowest leg, least far past the switch.
      for (const speed of [...settings.calibrationSpeeds].reverse()) {
        legs.push({ kind: 'switch', end: farEnd(settings), speed, measure: true }, { kind: 'settle' });
        legs.push({ kind: 'switch', end: settings.homeEnd, speed, measure: true }, { kind: 'settle' });
      }
      legs.push({ kind: 'learn' });
      return { name: 'calibrate', legs };
    }
    case 'patrol': {
      const legs: Leg[] = [];
      for (const stop of settings.stops) {
        legs.push({ kind: 'goto', target: stop.at, stop: stop.name }, { kind: 'settle' }, { kind: 'arrive', target: stop.at, stop: stop.name }, { kind: 'dwell' });
      }
      legs.push(...home, { kind: 'settle' });
      return { name: 'patrol', legs };
    }
    default: {
      const t = target ?? { at: state.position };
      const legs: Leg[] = [{ kind: 'goto', target: t.at, stop: t.stop }, { kind: 'settle' }, { kind: 'arrive', target: t.at, stop: t.stop }];
      // At a stop with a camera, the goto ends when its picture has been taken, the car still.
      if (t.stop !== undefined && settings.captureMaxMs !== undefined) legs.push({ kind: 'dwell', ms: 0 });
      return { name: 'goto', legs };
    }
  }
}

/** Why a task cannot start now, or where a goto goes. */
export function check(command: Command, state: TrackState, settings: TrackSettings): { error: string; details?: Record<string, unknown> } | { target?: { at: number; stop?: string } } {
  const hasSwitch = (end: TrackEnd) => settings.switches.includes(end);
  if (command.forS !== undefined) {
    const dir = command.move as Direction;
    // A timed move is driving by hand for a while: the dead man's limit holds for it too.
    const limit = settings.commandTimeoutS ?? 0;
    if (limit > 0 && command.forS > limit) return { error: 'for is longer than commandTimeoutS', details: { commandTimeoutS: limit } };
    return state.limits[dir] ? { error: `${dir} limit switch is closed` } : {};
  }
  switch (command.move) {
    case 'home':
      return hasSwitch(settings.homeEnd) ? {} : { error: `no limit switch at the home end: configure limits.${settings.homeEnd}` };
    case 'calibrate':
      if (!hasSwitch('forward') || !hasSwitch('backward')) {
        return { error: 'calibrate needs a limit switch at each end; with one switch, set track.lengthM and track.speedTable' };
      }
      return {};
    default:
      break;
  }
  if (!state.homed) return { error: 'not homed: send home first' };
  if (!state.curve && !byEncoder(state, settings)) return { error: 'not calibrated: send calibrate (or set track.speedTable)' };
  for (const dir of ['forward', 'backward'] as const) {
    if (state.curve && curveSpeed(state.curve[dir], state.speed / 100) <= 0) {
      return { error: `the car does not move ${dir} at ${state.speed}%: raise the speed` };
    }
  }
  if (command.move === 'patrol') return settings.stops.length > 0 ? {} : { error: 'no stops: set track.stops' };
  const to = command.to;
  if (typeof to === 'string') {
    const stop = settings.stops.find((s) => s.name.toLowerCase() === to.toLowerCase());
    if (!stop) return { error: `no stop named ${JSON.stringify(to)}`, details: { stops: settings.stops.map((s) => s.name) } };
    return { target: { at: stop.at, stop: stop.name } };
  }
  const at = settings.lengthM ? (to ?? 0) / settings.lengthM : (to ?? 0);
  if (at > 1 + 1e-9) {
    return { error: settings.lengthM ? `${to} m is beyond the ${settings.lengthM} m track` : `${to} is off the track: a fraction 0-1 (or metres with track.lengthM)` };
  }
  return { target: { at: Math.min(1, at) } };
}
