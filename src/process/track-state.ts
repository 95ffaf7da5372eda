/**
 * What the car learns, kept across restarts: the speed curve from `calibrate`, the encoder's
 * scale and lag, and when the car was last homed, in `<stateDir>/track.json` (docs/track.md).
 * A file that cannot be read, is not JSON or is not carbot's is reported and ignored: never
 * fatal, as a start-up that refuses to drive because of a stale file would be worse than a
 * calibration to do again. Written atomically (a temporary file renamed over it), so a power
 * cut leaves the old file or the new one, never half of one.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import type { CurvePoint, SpeedCurve } from '../core/track';

export const STATE_FILE = 'track.json';
/** What says the file is carbot's, and which layout it has. */
const KIND = 'carbot track state';
const VERSION = 1;

export interface LearntState {
  curve?: SpeedCurve;
  edgesPerTrack?: number;
  lagS?: number;
  /** Wall-clock milliseconds when the home switch last closed. */
  lastHomedAt?: number;
}

export interface SavedTrack extends LearntState {
  /** The track it was learnt on: a curve in track lengths per second means nothing on another. */
  lengthM?: number;
}

const isPoints = (v: unknown): v is CurvePoint[] =>
  Array.isArray(v) &&
  v.length > 0 &&
  v.every((p) => p && typeof p === 'object' && [p.duty, p.speed].every((x: unknown) => typeof x === 'number' && Number.isFinite(x) && x > 0) && p.duty <= 1);

/** The state in `dir`, or undefined (no file yet) — with `warning` saying what was wrong with one that was ignored. */
export function loadTrackState(dir: string, device: string, lengthM: number | undefined): { state?: LearntState; warning?: string } {
  const file = path.join(dir, STATE_FILE);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return {};
    return { warning: `${file}: cannot read it (${code ?? (err as Error).message}); ignored, the car starts with nothing learnt` };
  }
  const ignored = (why: string) => ({ warning: `${file}: ${why}; ignored, the car starts with nothing learnt (the next calibrate or home writes it anew)` });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return ignored(`not valid JSON (${(err as Error).message})`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return ignored('not a JSON object');
  const r = raw as Record<string, unknown>;
  if (r.kind !== KIND) return ignored(`not carbot's track state (no "kind": ${JSON.stringify(KIND)})`);
  if (r.version !== VERSION) return ignored(`version ${JSON.stringify(r.version)}, this carbot reads version ${VERSION}`);
  if (r.device !== device) return ignored(`written for device ${JSON.stringify(r.device)}, this is ${JSON.stringify(device)}`);
  if ((r.lengthM ?? undefined) !== lengthM) {
    return ignored(`learnt on a track of ${r.lengthM === undefined ? 'no stated length' : `${String(r.lengthM)} m`}, this one is ${lengthM === undefined ? 'of no stated length' : `${lengthM} m`}: calibrate again`);
  }
  const state: LearntState = {};
  if (r.curve !== undefined) {
    const c = r.curve as Record<string, unknown> | null;
    if (!c || !isPoints(c.forward) || !isPoints(c.backward)) return ignored('"curve" is not a speed curve');
    state.curve = { forward: c.forward, backward: c.backward };
  }
  for (const key of ['edgesPerTrack', 'lagS', 'lastHomedAt'] as const) {
    const v = r[key];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) return ignored(`"${key}" is not a number`);
    // A track of no edges would divide the position by zero.
    if (key === 'edgesPerTrack' && v === 0) return ignored('"edgesPerTrack" is 0');
    state[key] = v;
  }
  return { state };
}

/** Writes the state atomically; throws what the file system says. */
export function saveTrackState(dir: string, device: string, saved: SavedTrack): string {
  const file = path.join(dir, STATE_FILE);
  mkdirSync(dir, { recursive: true });
  const body = { kind: KIND, version: VERSION, device, savedAt: new Date().toISOString(), ...saved };
  const temp = `${file}.${process.pid}.tmp`;
  try {
    const fd = openSync(temp, 'w', 0o644);
    try {
      writeSync(fd, `${JSON.stringify(body, null, 2)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
  } catch (err) {
    // A full card, say: no half-written temp file left behind.
    rmSync(temp, { force: true });
    throw err;
  }
  return file;
}
