/**
 * The estimate of where the car is: its start, its uncertainty, and the applied output
 * integrated over time (dead reckoning). Part of ../track.ts.
 */
import { velocity } from './curve';
import type { TrackSettings, TrackState } from './types';

export function initialTrackState(now: number, speed: number, settings: TrackSettings): TrackState {
  return {
    homed: false,
    position: 0,
    travelled: 0,
    output: 0,
    outputAt: now,
    motion: 'stopped',
    speed,
    heading: 1,
    limits: { forward: false, backward: false },
    anchor: 0,
    edgesSince: 0,
    curve: settings.speedTable,
    edgesPerTrack: settings.encoder?.edgesPerTrack,
    lagS: 0,
  };
}

/** Whether the position follows the encoder (its scale is known) rather than the curve. */
export const byEncoder = (state: TrackState, settings: TrackSettings) => settings.encoder !== undefined && state.edgesPerTrack !== undefined;

/** The uncertainty of the position, a fraction of the track; null while not homed. */
export function uncertainty(state: TrackState, settings: TrackSettings): number | null {
  return state.homed ? settings.drift * state.travelled : null;
}

/** Integrates the applied output from `outputAt` to `now`. */
export function advance(state: TrackState, settings: TrackSettings, now: number): TrackState {
  const dt = Math.max(0, now - state.outputAt) / 1000;
  if (dt === 0) return state;
  let next: TrackState = { ...state, outputAt: now };
  const measure = state.task?.measure;
  if (measure && state.output !== 0) {
    const at = (Math.abs(state.output) * dt) / measure.duty;
    const effective = measure.from ? measure.effective : measure.effective + at;
    next = { ...next, task: { ...state.task!, measure: { ...measure, effective, total: measure.total + at } } };
  }
  if (!byEncoder(state, settings) && state.output !== 0) {
    const moved = velocity(state.curve, settings, state.output) * dt;
    next = { ...next, position: state.position + moved, travelled: state.travelled + Math.abs(moved) };
  }
  return next;
}
