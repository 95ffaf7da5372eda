/**
 * The car: the drive (drive.ts) and the track model (track.ts) joined into one pure step,
 * (state, event) -> (state, effects). No I/O and no timers, like the two machines it joins:
 * the shell (src/service.ts) feeds one event in, performs the effects that come out (the pins
 * first, then the answers, then the log lines) and arms one timer for `wakeAt`.
 *
 * The hand-off between the two runs until nothing changes: what the drive applies (its
 * output, motion, speed setting or reason changed) goes to the track as a `drive` event; the
 * track's drive requests go back to the drive, and so on. It runs depth first, each machine's
 * effects in the order its step made them, which is the order the log lines come out in.
 *
 * The ordering rules of a command by hand live here: a stop reaches the drive before a task
 * under way is cancelled, anything else cancels the task first (it gives back the speed setting
 * it borrowed); a task command with a speed is asked of the track first and, refused, leaves the
 * speed as it was.
 */
import { isTask, type Command } from './commands';
import { DRIVER_GONE, initialState, step, type DriveEvent, type DriveSettings, type DriveState, type LogEntry, type TrackEnd } from './drive';
import { initialTrackState, trackStep, type TrackEvent, type TrackSettings, type TrackState, type TrackStep } from './track';

export interface CarSettings {
  drive: DriveSettings;
  track: TrackSettings;
  /** Whether STATE shows the track (end switches, an encoder or a simulated track): its changes are STATE changes. */
  trackShown: boolean;
}

export interface CarState {
  drive: DriveState;
  track: TrackState;
  /** When each machine asked to be woken, if it did: a `tick` wakes the ones whose time has come. */
  driveWakeAt?: number;
  trackWakeAt?: number;
  /**
   * With `commandTimeoutS`, a task dies like driving by hand when its driver falls silent: no
   * accepted command until then cancels it, moving or waiting at a stop (reason `timeout`).
   */
  taskDeadline?: number;
  /** A motor write failed: the car stands still for good (the process exits and restarts). */
  fault?: true;
}

/** Why whoever drove the car can no longer stop it: broker or page lost, the move topic flooded, no command in commandTimeoutS during a task. */
export type GoneReason = 'disconnect' | 'flood' | 'timeout';

export type CarEvent =
  /** A parsed command, drive or task (`photo` is the shell's: it needs the camera). */
  | { type: 'command'; command: Command; now: number }
  /**
   * The shell accepted a command (its RESULT has no error): a task under way has its driver
   * for `commandTimeoutS` more. A driver keeps a long task going by sending anything that
   * leaves it as it is, such as `{"speed":N}` with the speed it has.
   */
  | { type: 'accepted'; now: number }
  /** The time `wakeAt` asked for has come. */
  | { type: 'tick'; now: number }
  | { type: 'limit'; end: TrackEnd; closed: boolean; now: number }
  /** A wheel encoder's edge. */
  | { type: 'edge'; now: number }
  /** The capture started at the last arrival has ended. */
  | { type: 'captured'; now: number }
  /** The car's driver is gone: the car stops and any task ends, moving or not. */
  | { type: 'gone'; reason: GoneReason; now: number }
  /** A motor write failed; the shell has stopped every motor it could. */
  | { type: 'fault'; now: number }
  | { type: 'shutdown'; now: number };

/** A late answer of a task (`failed`, published on RESULT) or an arrival (ARRIVED), places converted. */
export type Notice =
  | { kind: 'failed'; message: Record<string, unknown> }
  | { kind: 'arrived'; message: { stop: string | null; position: number; target: number } };

export interface CarEffects {
  /** Outputs to write to every motor, in order (a stop reaches the pins before what follows it). */
  outputs: number[];
  /** The answer to a command: what RESULT reports, places converted. */
  result?: Record<string, unknown>;
  notices: Notice[];
  /** In the order they were made; written after the pins and the answers. */
  logs: LogEntry[];
  /** STATE changed (`change`), or only the position moved in the unit shown (`progress`, at most every PROGRESS_MS). */
  state?: 'change' | 'progress';
  /** What the car learnt (curve, encoder scale, lag) changed: the state file is due. */
  learnt: boolean;
  /** The home switch closed: its time goes in the state file (lastHomedAt). */
  homed: boolean;
  /** When the shell must send a `tick`, if anything is pending; never before the event's time. */
  wakeAt?: number;
}

export interface CarStep {
  state: CarState;
  effects: CarEffects;
}

export function initialCarState(settings: CarSettings, now: number): CarState {
  const drive = initialState(settings.drive, now);
  return { drive, track: initialTrackState(now, drive.speed, settings.track) };
}

/** A place as published: metres with track.lengthM (to the millimetre), else a fraction (to 1e-4). */
export function place(fraction: number, lengthM: number | undefined): number {
  return lengthM ? Math.round(fraction * lengthM * 1000) / 1000 + 0 : Math.round(fraction * 10000) / 10000 + 0;
}

/** One step's work in progress: the state as the hand-off leaves it, and the effects so far. */
interface Run {
  s: CarState;
  settings: CarSettings;
  fx: CarEffects;
}

export function carStep(state: CarState, event: CarEvent, settings: CarSettings): CarStep {
  const run: Run = { s: { ...state }, settings, fx: { outputs: [], notices: [], logs: [], learnt: false, homed: false } };
  const { now } = event;
  if (state.fault) {
    // Nothing drives a car whose motors failed: it waits for the process to end.
    if (event.type === 'command') {
      const { motion, speed } = state.drive;
      run.fx.result = { move: event.command.move, motion, speed, error: 'motor write failed: the car is stopped until carbot restarts' };
    }
    return { state: { ...state, driveWakeAt: undefined, trackWakeAt: undefined, taskDeadline: undefined }, effects: run.fx };
  }
  switch (event.type) {
    case 'command':
      run.fx.result = command(run, event.command, now);
      break;
    case 'accepted': {
      const limitS = settings.drive.commandTimeoutS;
      if (limitS > 0) run.s.taskDeadline = run.s.track.task !== undefined ? now + limitS * 1000 : undefined;
      break;
    }
    case 'tick': {
      // The timer was armed for the earliest of them; a late one wakes each that is due.
      const { driveWakeAt, trackWakeAt, taskDeadline } = state;
      const due = Math.min(driveWakeAt ?? Infinity, trackWakeAt ?? Infinity, taskDeadline ?? Infinity);
      if (driveWakeAt !== undefined && (driveWakeAt <= now || driveWakeAt === due)) drive(run, { type: 'tick', now });
      if (trackWakeAt !== undefined && (trackWakeAt <= now || trackWakeAt === due)) track(run, { type: 'tick', now });
      const task = run.s.track.task?.name;
      if (taskDeadline !== undefined && (taskDeadline <= now || taskDeadline === due) && task !== undefined) {
        run.s.taskDeadline = undefined;
        run.fx.logs.push({
          level: 'warn',
          message: `no command for ${settings.drive.commandTimeoutS} s during the ${task}: stopping the car and cancelling it (commandTimeoutS)`,
        });
        gone(run, 'timeout', now);
      }
      break;
    }
    case 'limit':
      drive(run, event);
      break;
    case 'edge':
    case 'captured':
      track(run, event);
      break;
    case 'gone':
      gone(run, event.reason, now);
      break;
    case 'fault': {
      const before = run.s.drive;
      run.s.drive = { ...before, motion: 'stopped', output: 0, heading: undefined, resumeAt: undefined };
      run.s.fault = true;
      run.s.driveWakeAt = undefined;
      run.s.taskDeadline = undefined;
      run.fx.state = 'change';
      // The track learns that the car stands; what it would ask of the drive now goes nowhere.
      const d = run.s.drive;
      const out = trackStep(run.s.track, { type: 'drive', output: d.output, motion: d.motion, reason: d.reason, speed: d.speed, now }, settings.track);
      run.s.track = out.state;
      run.s.trackWakeAt = undefined;
      run.fx.logs.push(...out.logs);
      break;
    }
    case 'shutdown':
      drive(run, { type: 'shutdown', now });
      break;
  }
  // The watch ends with the task, however it ends.
  if (run.s.track.task === undefined) run.s.taskDeadline = undefined;
  const wakes = [run.s.driveWakeAt, run.s.trackWakeAt, run.s.taskDeadline].filter((t): t is number => t !== undefined);
  if (wakes.length > 0) run.fx.wakeAt = Math.max(now, Math.min(...wakes));
  return { state: run.s, effects: run.fx };
}

/** Whoever drove the car can no longer stop it: the car stops and any task ends, moving or not. */
function gone(run: Run, reason: GoneReason, now: number): void {
  drive(run, { type: 'disconnect', now, reason, task: run.s.track.task !== undefined });
  // The drive's change usually ends the task already; not when its reason was the same.
  if (run.s.track.task) track(run, { type: 'lost', reason, now });
}

/** A command by hand or a task, and its answer (see the ordering rules above). */
function command(run: Run, cmd: Command, now: number): Record<string, unknown> {
  const task = run.s.track.task?.name;
  const { lengthM } = run.settings.track;
  if (cmd.move === 'photo') {
    const { motion, speed } = run.s.drive;
    return { move: 'photo', motion, speed, error: 'a photo is the shell’s to take (it needs the camera)' };
  }
  if (isTask(cmd)) {
    // A task the track refuses leaves the speed as it was: asked first (the step is pure),
    // on the state the new speed would give it.
    const refused = cmd.speed === undefined ? undefined : trackStep({ ...run.s.track, speed: cmd.speed }, { type: 'command', command: cmd, now }, run.settings.track);
    if (refused?.result?.error === undefined && cmd.speed !== undefined) {
      drive(run, { type: 'command', command: { move: 'speed', speed: cmd.speed }, now });
    }
    let result: Record<string, unknown>;
    if (refused?.result?.error !== undefined) {
      run.fx.logs.push(...refused.logs);
      result = refused.result;
    } else result = track(run, { type: 'command', command: cmd, now }).result ?? {};
    const { move, to, for: forS, target, error, note, ...details } = result;
    const { motion, speed } = run.s.drive;
    return Object.fromEntries(
      Object.entries({ move, to, for: forS, target, motion, speed, error, note, ...details })
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [k, k === 'target' ? place(v as number, lengthM) : v]),
    );
  }
  let result: Record<string, unknown>;
  if (cmd.move === 'stop') {
    result = drive(run, { type: 'command', command: cmd, now }) ?? {};
    track(run, { type: 'manual', command: cmd, now });
  } else {
    track(run, { type: 'manual', command: cmd, now });
    result = drive(run, { type: 'command', command: cmd, now }) ?? {};
  }
  if (task && !run.s.track.task) result.note = result.note ? `${String(result.note)}; ${task} cancelled` : `${task} cancelled`;
  return result;
}

/** One step of the drive, and the track told of what it applied. */
function drive(run: Run, event: DriveEvent): Record<string, unknown> | undefined {
  const before = run.s.drive;
  const next = step(before, event, run.settings.drive);
  run.s.drive = next.state;
  run.s.driveWakeAt = next.wakeAt;
  const d = next.state;
  if (d.output !== before.output) run.fx.outputs.push(d.output);
  run.fx.logs.push(...next.logs);
  if (d.motion !== before.motion || d.speed !== before.speed || d.reason !== before.reason || d.output !== before.output || d.limits !== before.limits) {
    run.fx.state = 'change';
  }
  if (d.output !== before.output || d.motion !== before.motion || d.speed !== before.speed || d.reason !== before.reason) {
    track(run, { type: 'drive', output: d.output, motion: d.motion, reason: d.reason, speed: d.speed, now: event.now });
  }
  if (event.type === 'limit') {
    track(run, { type: 'limit', end: event.end, closed: event.closed, now: event.now });
    if (event.closed && event.end === run.settings.track.homeEnd) run.fx.homed = true;
  }
  return next.result;
}


/** One step of the track model, and the drive given what it asks for. */
function track(run: Run, event: TrackEvent): TrackStep {
  const { settings, fx } = run;
  const before = run.s.track;
  const out = trackStep(before, event, settings.track);
  run.s.track = out.state;
  run.s.trackWakeAt = out.wakeAt;
  fx.logs.push(...out.logs);
  for (const request of out.drive) {
    // A speed given back after a task is no news: STATE keeps the reason the car stopped for.
    // Not a task's own speed after its driver was lost: the track would take that reason for
    // the driver lost now and cancel the task it just began, leaving its next move to drive
    // on with no task (a `home` after a disconnect drove the car off at the old speed).
    const task = out.state.task !== undefined;
    const reason = request.command.move !== 'speed' ? request.reason : task && DRIVER_GONE.includes(run.s.drive.reason) ? request.reason : run.s.drive.reason;
    drive(run, { type: 'command', command: request.command, reason, now: event.now });
  }
  if (out.busy && settings.drive.commandTimeoutS > 0) drive(run, { type: 'keepalive', now: event.now });
  const { lengthM } = settings.track;
  if (out.failed) {
    // The task's own answer, late: it did not get there (a stall, a switch out of place).
    const { target, position, ...rest } = out.failed;
    fx.notices.push({
      kind: 'failed',
      message: {
        ...rest,
        ...(target === undefined ? {} : { target: place(target as number, lengthM) }),
        motion: run.s.drive.motion,
        speed: run.s.drive.speed,
        ...(position === undefined ? {} : { position: place(position as number, lengthM) }),
      },
    });
  }
  if (out.arrived) {
    fx.notices.push({
      kind: 'arrived',
      message: { stop: out.arrived.stop, position: place(out.arrived.position, lengthM), target: place(out.arrived.target, lengthM) },
    });
  }
  const after = run.s.track;
  if (out.state.curve !== before.curve || out.state.edgesPerTrack !== before.edgesPerTrack || out.state.lagS !== before.lagS) fx.learnt = true;
  if (settings.trackShown) {
    if (after.homed !== before.homed || after.task !== before.task || after.curve !== before.curve) fx.state = 'change';
    else if (place(after.position, lengthM) !== place(before.position, lengthM) && fx.state === undefined) fx.state = 'progress';
  }
  return out;
}
