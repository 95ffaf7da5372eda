/**
 * The `track.*` settings that are more than a number (stops, speed table, encoder, the
 * simulated track): checked here into what the track model and the simulation take, every
 * problem named with its setting, as config.ts does for the rest.
 */
import type { Direction } from '../core/drive';
import type { Pull } from '../boards/types';
import type { EncoderConfig } from '../sensors/encoder';
import { SIM_TRACK_DEFAULTS, type SimTrackOptions } from '../boards/sim-track';
import type { TrackEnd } from '../motors/types';
import type { CurvePoint, SpeedCurve, Stop, TrackSettings } from '../core/track';

export interface TrackConfig {
  lengthM?: number;
  /** Fractions of the track, sorted from home. */
  stops: Stop[];
  dwellMs: number;
  homeEnd: TrackEnd;
  homingSpeed: number;
  calibrationSpeeds: number[];
  /** Track lengths per second (converted from m/s when lengthM is set). */
  speedTable?: SpeedCurve;
  settleMs: number;
  timeoutMarginS: number;
  stallS: number;
  homeTimeoutS: number;
  /** Percent of the distance since the last switch; undefined = the default for the car (with or without encoder). */
  driftPercent?: number;
  encoder?: EncoderConfig;
  /** Present when the simulated motors get a physical track. */
  sim?: Partial<SimTrackOptions>;
}

export interface TrackRaw {
  lengthM?: number;
  stops?: unknown;
  dwellS: number;
  homeEnd: TrackEnd;
  homingSpeed: number;
  calibrationSpeeds: unknown;
  speedTable?: unknown;
  settleMs: number;
  timeoutMarginS: number;
  stallS: number;
  homeTimeoutS: number;
  driftPercent?: number;
  encoder?: unknown;
  sim?: unknown;
}

const MAX_NAME = 32;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const show = (v: unknown) => JSON.stringify(v) ?? String(v);

function parseStops(raw: unknown, lengthM: number | undefined, problems: string[]): Stop[] {
  if (raw === undefined || raw === null) return [];
  const unit = lengthM ? `metres 0-${lengthM}` : 'fractions 0-1 (or metres with track.lengthM)';
  if (!isObject(raw)) {
    problems.push(`track.stops: must be an object of names and places (${unit}), like {"basil": 0.25, "thyme": 0.6}; got ${show(raw)}`);
    return [];
  }
  const stops: Stop[] = [];
  const seen = new Set<string>();
  for (const [name, at] of Object.entries(raw)) {
    const label = `track.stops.${name}`;
    if (name.trim() === '' || name.length > MAX_NAME || name !== name.trim()) {
      problems.push(`${label}: a stop's name is 1-${MAX_NAME} characters without spaces around it`);
    } else if (seen.has(name.toLowerCase())) {
      problems.push(`${label}: another stop has this name (names are not case-sensitive)`);
    } else if (typeof at !== 'number' || !Number.isFinite(at) || at < 0 || at > (lengthM ?? 1)) {
      problems.push(`${label}: ${show(at)} is not a place on the track (${unit})`);
    } else {
      seen.add(name.toLowerCase());
      stops.push({ name, at: lengthM ? at / lengthM : at });
    }
  }
  return stops.sort((a, b) => a.at - b.at);
}

function parseSpeeds(raw: unknown, problems: string[]): number[] {
  const ok = Array.isArray(raw) && raw.length >= 2 && raw.every((s) => Number.isInteger(s) && s >= 1 && s <= 100);
  if (!ok || new Set(raw as number[]).size !== (raw as number[]).length) {
    problems.push(`track.calibrationSpeeds: must be two or more different percentages 1-100, like [30, 60, 100]; got ${show(raw)}`);
    return [];
  }
  return [...(raw as number[])].sort((a, b) => a - b);
}

/** `{"30": 0.05, "100": 0.2}` for both directions, or `{"forward": {...}, "backward": {...}}`. */
function parseSpeedTable(raw: unknown, lengthM: number | undefined, problems: string[]): SpeedCurve | undefined {
  if (raw === undefined || raw === null) return undefined;
  const unit = lengthM ? 'm/s' : 'track lengths per second';
  const example = `like {"30": 0.05, "60": 0.12, "100": 0.2} (percent: ${unit}), or one such table under "forward" and "backward"`;
  const table = (value: unknown, label: string): CurvePoint[] | undefined => {
    if (!isObject(value) || Object.keys(value).length === 0) {
      problems.push(`${label}: must be ${example}; got ${show(value)}`);
      return undefined;
    }
    const points: CurvePoint[] = [];
    for (const [percent, speed] of Object.entries(value)) {
      const duty = Number(percent);
      if (!/^\d+$/.test(percent) || duty < 1 || duty > 100 || typeof speed !== 'number' || !(speed > 0) || !Number.isFinite(speed)) {
        problems.push(`${label}.${percent}: must be a percentage 1-100 with a speed above 0 in ${unit}; got ${show(speed)}`);
        return undefined;
      }
      points.push({ duty: duty / 100, speed: lengthM ? speed / lengthM : speed });
    }
    return points.sort((a, b) => a.duty - b.duty);
  };
  if (isObject(raw) && ('forward' in raw || 'backward' in raw)) {
    const curve: Partial<Record<Direction, CurvePoint[]>> = {};
    for (const dir of ['forward', 'backward'] as const) curve[dir] = table(raw[dir], `track.speedTable.${dir}`);
    return curve.forward && curve.backward ? (curve as SpeedCurve) : undefined;
  }
  const both = table(raw, 'track.speedTable');
  return both ? { forward: both, backward: both } : undefined;
}

function parseEncoder(raw: unknown, lengthM: number | undefined, problems: string[]): EncoderConfig | undefined {
  if (raw === undefined || raw === null) return undefined;
  const example = 'like {"pin": 17, "edgesPerMetre": 120, "debounceMs": 1, "pull": "up"}';
  if (!isObject(raw)) {
    problems.push(`track.encoder: must be an object ${example}; got ${show(raw)}`);
    return undefined;
  }
  const before = problems.length;
  const unknown = Object.keys(raw).filter((k) => !['pin', 'edgesPerMetre', 'debounceMs', 'pull'].includes(k));
  if (unknown.length > 0) problems.push(`track.encoder: unknown key ${unknown.join(', ')} (${example})`);
  const { pin, edgesPerMetre, debounceMs = 1, pull = 'up' } = raw;
  if (!Number.isInteger(pin) || (pin as number) < 0 || (pin as number) > 27) problems.push(`track.encoder.pin: must be a BCM pin number 0-27; got ${show(pin)}`);
  if (edgesPerMetre !== undefined) {
    if (typeof edgesPerMetre !== 'number' || !(edgesPerMetre > 0) || !Number.isFinite(edgesPerMetre)) {
      problems.push(`track.encoder.edgesPerMetre: must be a number above 0; got ${show(edgesPerMetre)}`);
    } else if (!lengthM) {
      problems.push('track.encoder.edgesPerMetre: needs track.lengthM (or leave it out and calibrate counts the edges)');
    }
  }
  if (!Number.isInteger(debounceMs) || (debounceMs as number) < 0 || (debounceMs as number) > 100) {
    problems.push(`track.encoder.debounceMs: must be a whole number 0-100; got ${show(debounceMs)}`);
  }
  if (pull !== 'up' && pull !== 'down') problems.push(`track.encoder.pull: must be "up" or "down"; got ${show(pull)}`);
  if (problems.length > before) return undefined;
  return { pin: pin as number, edgesPerMetre: edgesPerMetre as number | undefined, debounceMs: debounceMs as number, pull: pull as Pull };
}

const SIM_RANGES: Record<keyof SimTrackOptions, [number, number]> = {
  lengthM: [0.05, 1000],
  topSpeed: [0.001, 100],
  deadBand: [0, 0.9],
  saturation: [0, 20],
  asymmetry: [0, 0.5],
  lagMs: [0, 5000],
  noise: [0, 0.5],
  jitter: [0, 0.5],
  start: [0, 1],
  overtravelM: [0, 1],
  edgesPerMetre: [1, 100000],
  jamAt: [0, 1],
  bounceMs: [0, 100],
  seed: [0, 2 ** 32 - 1],
};

function parseSim(raw: unknown, lengthM: number | undefined, encoder: EncoderConfig | undefined, problems: string[]): Partial<SimTrackOptions> | undefined {
  if (raw === undefined || raw === null || raw === false) return undefined;
  if (raw !== true && !isObject(raw)) {
    problems.push(`track.sim: must be true or an object of ${Object.keys(SIM_TRACK_DEFAULTS).join(', ')}, seed; got ${show(raw)}`);
    return undefined;
  }
  const sim: Partial<SimTrackOptions> = {};
  if (lengthM) sim.lengthM = lengthM;
  if (encoder?.edgesPerMetre) sim.edgesPerMetre = encoder.edgesPerMetre;
  for (const [key, value] of Object.entries(raw === true ? {} : raw)) {
    const range = SIM_RANGES[key as keyof SimTrackOptions];
    if (!range) {
      problems.push(`track.sim.${key}: unknown (known: ${Object.keys(SIM_RANGES).join(', ')})`);
    } else if (typeof value !== 'number' || !Number.isFinite(value) || value < range[0] || value > range[1]) {
      problems.push(`track.sim.${key}: must be a number ${range[0]}-${range[1]}; got ${show(value)}`);
    } else {
      sim[key as keyof SimTrackOptions] = value;
    }
  }
  return sim;
}

export function parseTrackConfig(raw: TrackRaw, problems: string[]): TrackConfig {
  const { lengthM } = raw;
  const encoder = parseEncoder(raw.encoder, lengthM, problems);
  return {
    lengthM,
    stops: parseStops(raw.stops, lengthM, problems),
    dwellMs: Math.round(raw.dwellS * 1000),
    homeEnd: raw.homeEnd,
    homingSpeed: raw.homingSpeed,
    calibrationSpeeds: parseSpeeds(raw.calibrationSpeeds, problems),
    speedTable: parseSpeedTable(raw.speedTable, lengthM, problems),
    settleMs: raw.settleMs,
    timeoutMarginS: raw.timeoutMarginS,
    stallS: raw.stallS,
    homeTimeoutS: raw.homeTimeoutS,
    driftPercent: raw.driftPercent,
    encoder,
    sim: parseSim(raw.sim, lengthM, encoder, problems),
  };
}

/** Default uncertainty growth: what dead reckoning and an encoder are out by, per distance (docs/track.md). */
export const DRIFT_PERCENT = { deadReckoning: 2, encoder: 0.5 };

/** What the track model needs: the settings plus what the car has (which switches, an encoder). */
export function toTrackSettings(config: TrackConfig, switches: readonly TrackEnd[], encoder: boolean): TrackSettings {
  const { lengthM } = config;
  const edgesPerMetre = encoder ? config.encoder?.edgesPerMetre : undefined;
  return {
    homeEnd: config.homeEnd,
    switches,
    lengthM,
    stops: config.stops,
    dwellMs: config.dwellMs,
    homingSpeed: config.homingSpeed,
    calibrationSpeeds: config.calibrationSpeeds,
    speedTable: config.speedTable,
    settleMs: config.settleMs,
    timeoutMarginS: config.timeoutMarginS,
    stallS: config.stallS,
    homeTimeoutS: config.homeTimeoutS,
    drift: (config.driftPercent ?? (encoder ? DRIFT_PERCENT.encoder : DRIFT_PERCENT.deadReckoning)) / 100,
    encoder: encoder ? { edgesPerTrack: edgesPerMetre && lengthM ? edgesPerMetre * lengthM : undefined } : undefined,
  };
}
