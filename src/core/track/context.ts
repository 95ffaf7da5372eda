/**
 * What one step collects while it runs (log lines, drive commands, an arrival or a failure),
 * and places in the user's words. Part of ../track.ts.
 */
import type { LogEntry } from '../drive';
import type { Arrival, DriveRequest, TrackSettings } from './types';

export interface Ctx {
  settings: TrackSettings;
  now: number;
  logs: LogEntry[];
  drive: DriveRequest[];
  arrived?: Arrival;
  failed?: Record<string, unknown>;
}

export const info = (ctx: Ctx, message: string) => ctx.logs.push({ level: 'info', message });
export const warn = (ctx: Ctx, message: string) => ctx.logs.push({ level: 'warn', message });
export const fmt = (x: number) => (Math.round(x * 1000) / 1000).toString();

/** A position as the user gives and reads them: metres with `track.lengthM`, else a fraction. */
export function describePlace(at: number, settings: Pick<TrackSettings, 'lengthM'>): string {
  return settings.lengthM ? `${fmt(at * settings.lengthM)} m` : fmt(at);
}
