/**
 * The picture at a stop (docs/track.md#the-camera): runs `camera.command` with `{file}`
 * replaced by the picture's path — no shell, in a process group of its own, killed whole at `camera.timeoutS` — then
 * writes a JSON sidecar beside the picture and prunes the stop's oldest pictures past
 * `camera.keep`. Pictures live in `<camera.dir>/<stop>/<time>.jpg`, so the latest of a stop is
 * the last name in its folder.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { CameraConfig } from '../config/config';
import { safeName } from '../config/safe-name';

/** The folder of pictures taken away from any named stop (a `photo` between stops). */
export const NO_STOP = '_place';

/** What the sidecar says about where the car was. */
export interface PhotoContext {
  stop: string | null;
  position: number | null;
  uncertainty: number | null;
  unit: 'm' | 'fraction';
  /** Wall-clock milliseconds when the home switch last closed, if ever. */
  lastHomedAt?: number;
}

export type PhotoOutcome = { file: string; sidecar: string } | { error: string };

/** Runs the command; `done` gets undefined or what went wrong. A seam for tests and the bench. */
export type CaptureRunner = (command: string[], timeoutMs: number, done: (error?: string) => void) => void;

/** A stop's folder name: the name itself where it is safe in a path, else made safe (src/config/safe-name.ts). */
export function stopFolder(stop: string | null): string {
  return stop === null ? NO_STOP : safeName(stop);
}

/** A picture's name from the time it was taken: sorts in time order. */
export function pictureName(at: number): string {
  return `${new Date(at).toISOString().replace(/:/g, '-')}.jpg`;
}

/**
 * The real runner: spawn, no shell, in a process group of its own; at the timeout the whole
 * group gets SIGKILL (a hung camera may ignore SIGTERM, and a wrapper script's rpicam-still
 * would otherwise live on, holding the camera and writing the file after the error was said).
 */
export const execRunner: CaptureRunner = (command, timeoutMs, done) => {
  // Loaded only once a picture is taken: a carbot without a camera never loads it.
  const { spawn } = require('node:child_process') as typeof import('node:child_process');
  let timedOut = false;
  let stderr = '';
  let ended = false;
  const end = (error?: string): void => {
    if (ended) return;
    ended = true;
    clearTimeout(timer);
    done(error);
  };
  const child = spawn(command[0], command.slice(1), { detached: true, stdio: ['ignore', 'ignore', 'pipe'], windowsHide: true });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    if (stderr.length < 64 * 1024) stderr += chunk;
  });
  child.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') end(`${command[0]}: no such program (camera.command)`);
    else end(`${command[0]}: ${err.code ?? err.message}`);
  });
  child.on('close', (code, signal) => {
    const said = stderr.trim().split('\n').filter(Boolean).pop();
    const tail = said ? `: ${said.slice(0, 200)}` : '';
    if (timedOut) end(`${command[0]} did not finish within ${timeoutMs / 1000} s (killed)`);
    else if (code === 0) end();
    else if (code !== null) end(`${command[0]} exited with code ${code}${tail}`);
    else end(`${command[0]} was killed by ${signal ?? 'a signal'}${tail}`);
  });
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      // The whole group: the command and whatever it started.
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
  }, timeoutMs);
};

export class Camera {
  private running = false;

  constructor(
    readonly settings: CameraConfig,
    private readonly runner: CaptureRunner = execRunner,
    private readonly wallClock: () => number = Date.now,
  ) {}

  /** Whether a capture is under way (one at a time). */
  get busy(): boolean {
    return this.running;
  }

  /** Takes a picture; `done` gets the files or why there is none. Never throws. */
  capture(context: PhotoContext, done: (outcome: PhotoOutcome) => void): void {
    if (this.running) {
      done({ error: 'a capture is already under way' });
      return;
    }
    const at = this.wallClock();
    const folder = path.join(this.settings.dir, stopFolder(context.stop));
    const file = path.join(folder, pictureName(at));
    try {
      mkdirSync(folder, { recursive: true });
    } catch (err) {
      done({ error: `cannot create ${folder}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
      return;
    }
    this.running = true;
    const command = this.settings.command.map((a) => a.split('{file}').join(file));
    this.runner(command, this.settings.timeoutS * 1000, (error) => {
      this.running = false;
      let size = 0;
      try {
        size = statSync(file).size;
      } catch {
        size = 0;
      }
      if (!error && size === 0) error = `${command[0]} finished but wrote no picture to ${file}`;
      if (error) {
        rmSync(file, { force: true });
        done({ error });
        return;
      }
      const sidecar = file.replace(/\.jpg$/, '.json');
      const body = {
        stop: context.stop,
        file,
        position: context.position,
        uncertainty: context.uncertainty,
        unit: context.unit,
        time: new Date(at).toISOString(),
        lastHomed: context.lastHomedAt === undefined ? null : new Date(context.lastHomedAt).toISOString(),
        bytes: size,
      };
      try {
        writeFileSync(`${sidecar}.tmp`, `${JSON.stringify(body, null, 2)}\n`);
        renameSync(`${sidecar}.tmp`, sidecar);
      } catch (err) {
        done({ error: `took ${file} but cannot write its sidecar: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` });
        return;
      }
      this.prune(folder, path.basename(file));
      done({ file, sidecar });
    });
  }

  /**
   * Deletes a stop's oldest pictures (and their sidecars) past `camera.keep`, never `taken`, the
   * one just written: a Pi without a clock may start with a time behind its last pictures'.
   */
  prune(folder: string, taken?: string): string[] {
    const keep = this.settings.keep;
    if (keep === 0) return [];
    let pictures: string[];
    try {
      pictures = readdirSync(folder).filter((n) => n.endsWith('.jpg') && n !== taken).sort();
    } catch {
      return [];
    }
    const old = pictures.slice(0, Math.max(0, pictures.length - (taken === undefined ? keep : keep - 1)));
    for (const name of old) {
      rmSync(path.join(folder, name), { force: true });
      rmSync(path.join(folder, name.replace(/\.jpg$/, '.json')), { force: true });
    }
    return old;
  }
}

/** The latest picture of each stop's folder in `dir`: folder -> file name. */
export function latestPictures(dir: string): Record<string, string> {
  const latest: Record<string, string> = {};
  if (!existsSync(dir)) return latest;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const names = readdirSync(path.join(dir, entry.name)).filter((n) => n.endsWith('.jpg')).sort();
    if (names.length > 0) latest[entry.name] = names[names.length - 1];
  }
  return latest;
}
