/**
 * Calibration: each measured leg becomes a sample, and the samples the curve, the encoder's
 * scale and the car's lag. Part of ../track.ts.
 */
import type { Direction } from '../drive';
import { type CurvePoint, farEnd } from './curve';
import type { Task, TrackState } from './types';
import { type Ctx, describePlace, info, warn } from './context';

/** The curve, the encoder's scale and the car's lag from the calibration legs. */
export function learn(state: TrackState, ctx: Ctx): TrackState {
  const samples = state.task?.samples ?? [];
  if (samples.length === 0) {
    warn(ctx, 'calibrate learnt nothing: no leg was timed');
    return state;
  }
  const curve: Record<Direction, CurvePoint[]> = { forward: [], backward: [] };
  for (const dir of ['forward', 'backward'] as const) {
    const duties = [...new Set(samples.filter((s) => s.dir === dir).map((s) => s.duty))].sort((a, b) => a - b);
    for (const duty of duties) {
      const legs = samples.filter((s) => s.dir === dir && s.duty === duty);
      const effective = legs.reduce((sum, s) => sum + s.effective, 0) / legs.length;
      curve[dir].push({ duty, speed: 1 / effective });
    }
  }
  let { edgesPerTrack, lagS } = state;
  if (ctx.settings.encoder) {
    if (ctx.settings.encoder.edgesPerTrack === undefined) {
      edgesPerTrack = samples.reduce((sum, s) => sum + s.edges, 0) / samples.length;
    }
    const lags = samples.map((s) => s.lag).filter((l): l is number => l !== undefined).sort((a, b) => a - b);
    if (lags.length > 0) lagS = Math.max(0, lags[Math.floor(lags.length / 2)]);
  }
  const table = (dir: Direction) => curve[dir].map((p) => `${Math.round(p.duty * 100)}% ${describePlace(p.speed, ctx.settings)}/s`).join(', ');
  info(ctx, `calibrated: ${farEnd(ctx.settings)} ${table(farEnd(ctx.settings))}; ${ctx.settings.homeEnd} ${table(ctx.settings.homeEnd)}` +
    (ctx.settings.encoder ? `; encoder ${Math.round(edgesPerTrack ?? 0)} edges per track, lag ${Math.round(lagS * 1000)} ms` : ''));
  // Said in the form a configuration takes too: the shell saves it only with a state directory.
  const unit = ctx.settings.lengthM ?? 1;
  const stated = Object.fromEntries(
    (['forward', 'backward'] as const).map((dir) => [dir, Object.fromEntries(curve[dir].map((p) => [Math.round(p.duty * 100), Math.round(p.speed * unit * 10000) / 10000]))]),
  );
  info(
    ctx,
    ctx.settings.keptIn
      ? `calibration kept in ${ctx.settings.keptIn} for the next start; to state it in the configuration instead, set track.speedTable to ${JSON.stringify(stated)}`
      : `to keep this calibration after a restart, set track.speedTable to ${JSON.stringify(stated)}`,
  );
  // Edges counted since the last switch, before their length was known, place the car now.
  const position = edgesPerTrack !== undefined && ctx.settings.encoder ? state.anchor + state.edgesSince / edgesPerTrack : state.position;
  return { ...state, curve, edgesPerTrack, lagS, position };
}

/** A calibration leg reached its switch: what it measured becomes a sample. */
export function sampleLeg(task: Task): Task {
  const m = task.measure;
  if (!m || m.effective <= 0) return task;
  let lag: number | undefined;
  const r = m.recent;
  if (r.length >= 8 && r[r.length - 1] > r[0]) {
    // Steady edges per second at the end of the leg; where that line meets zero edges is how
    // long the car lagged its output at the start.
    const slope = (r.length - 1) / (r[r.length - 1] - r[0]);
    lag = r[r.length - 1] - m.edgesAll / slope;
  }
  return { ...task, samples: [...task.samples, { dir: m.dir, duty: m.duty, effective: m.effective, edges: m.edges, lag }] };
}
