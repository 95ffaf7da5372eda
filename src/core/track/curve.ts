/**
 * The track's axis and the speed curve: which way each drive direction goes, and how fast
 * the car moves at a duty (a monotone cubic through the curve's points). Part of ../track.ts.
 */
import type { Direction, TrackEnd } from '../drive';
import type { TrackSettings } from './types';

/** Velocity in track lengths per second at a duty (0..1] for one drive direction. */
export interface CurvePoint {
  duty: number;
  speed: number;
}
export type SpeedCurve = Record<Direction, readonly CurvePoint[]>;

export const farEnd = (s: Pick<TrackSettings, 'homeEnd'>): TrackEnd => (s.homeEnd === 'backward' ? 'forward' : 'backward');
/** The drive direction that moves the car along the axis: +1 away from home. */
export const dirFor = (s: Pick<TrackSettings, 'homeEnd'>, axis: number): Direction => (axis > 0 ? farEnd(s) : s.homeEnd);
export const axisOf = (s: Pick<TrackSettings, 'homeEnd'>, output: number): number =>
  Math.sign(output) * (s.homeEnd === 'backward' ? 1 : -1);

/**
 * Track lengths per second at `duty` (0..1), by the curve: a monotone cubic (Fritsch–Carlson)
 * through the points, which follows a saturating motor far better than straight lines between
 * a few calibrated speeds; below the first point the line on down to zero (the dead band);
 * above the last, flat (saturation).
 */
export function curveSpeed(points: readonly CurvePoint[] | undefined, duty: number): number {
  if (!points || points.length === 0 || duty <= 0) return 0;
  const p = [...points].sort((a, b) => a.duty - b.duty);
  const n = p.length;
  if (duty >= p[n - 1].duty) return p[n - 1].speed;
  if (n === 1) return (p[0].speed * duty) / p[0].duty;
  const h = p.slice(1).map((q, i) => q.duty - p[i].duty);
  const d = p.slice(1).map((q, i) => (q.speed - p[i].speed) / h[i]);
  const m = p.map((_, i) => {
    if (i === 0) return n === 2 ? d[0] : endSlope(h[0], h[1], d[0], d[1]);
    if (i === n - 1) return n === 2 ? d[0] : endSlope(h[n - 2], h[n - 3], d[n - 2], d[n - 3]);
    if (d[i - 1] * d[i] <= 0) return 0;
    const [w1, w2] = [2 * h[i] + h[i - 1], h[i] + 2 * h[i - 1]];
    return (w1 + w2) / (w1 / d[i - 1] + w2 / d[i]);
  });
  if (duty < p[0].duty) {
    const slope = m[0] > 0 ? m[0] : d[0];
    return slope > 0 ? Math.max(0, p[0].speed + (duty - p[0].duty) * slope) : (p[0].speed * duty) / p[0].duty;
  }
  const i = p.findIndex((_, k) => k < n - 1 && duty < p[k + 1].duty);
  const t = (duty - p[i].duty) / h[i];
  const [t2, t3] = [t * t, t * t * t];
  return Math.max(
    0,
    (2 * t3 - 3 * t2 + 1) * p[i].speed + (t3 - 2 * t2 + t) * h[i] * m[i] + (-2 * t3 + 3 * t2) * p[i + 1].speed + (t3 - t2) * h[i] * m[i + 1],
  );
}

/** The end slope of the monotone cubic: the three-point estimate, kept from overshooting. */
function endSlope(h0: number, h1: number, d0: number, d1: number): number {
  const m = ((2 * h0 + h1) * d0 - h0 * d1) / (h0 + h1);
  if (Math.sign(m) !== Math.sign(d0)) return 0;
  if (Math.sign(d0) !== Math.sign(d1) && Math.abs(m) > Math.abs(3 * d0)) return 3 * d0;
  return m;
}

/** Signed velocity along the axis (track lengths per second) of an applied output. */
export function velocity(curve: SpeedCurve | undefined, settings: Pick<TrackSettings, 'homeEnd'>, output: number): number {
  if (output === 0 || !curve) return 0;
  return axisOf(settings, output) * curveSpeed(curve[output > 0 ? 'forward' : 'backward'], Math.abs(output));
}
