/**
 * Where the car is along its track, and taking it places: a pure function of
 * (state, event) -> (state, effects), like drive.ts beside it. No I/O and no timers: the shell
 * feeds in what happened (commands, the outputs the drive actually applied, limit switches,
 * encoder edges, time) and performs what comes out (drive commands, ARRIVED, log lines, one
 * timer for `wakeAt`).
 *
 * Positions are fractions of the track between its two ends: 0 at the home end
 * (`track.homeEnd`), 1 at the far end. The shell converts to metres when `track.lengthM` is set.
 *
 * Dead reckoning: the position moves by the velocity of the applied output through the speed
 * curve, integrated over time, so ramps and reversal pauses count as they happened. The curve
 * (duty -> track lengths per second, per direction) is learnt by `calibrate` or stated in
 * `track.speedTable`: motors are not linear, with a dead band at low duty and saturation near
 * full. With a first-order motor lag the integral of the commanded velocity equals the distance
 * the car covers once it has come to rest, which is why a goto stops when the estimate reaches
 * the target and reports arrival after `settleMs`. With a wheel encoder, counted edges replace
 * the integral between switches.
 *
 * Stalls: every leg that drives the car somewhere (a goto, a touch of a switch, homing's
 * back-off) has a deadline, its expected time by the curve × STALL_FACTOR plus
 * `timeoutMarginS`, counted from when the drive applies the leg's output; with an encoder, no
 * edge for `stallS` (or STALL_EDGES edges' time at the output's speed, if longer) while the
 * output moves the car is a stall as well. A stall stops the car with reason `stalled`, ends
 * the task (a patrol too) and says so in `failed` (docs/track.md).
 *
 * Homing touches twice: fast to the switch, back off HOME_BACKOFF, slow to the switch again.
 */
import type { Command } from './commands';
import type { Direction, LogEntry, Motion, Reason, TrackEnd } from './drive';

/** Velocity in track lengths per second at a duty (0..1] for one drive direction. */
export interface CurvePoint {
  duty: number;
  speed: number;
}
export type SpeedCurve = Record<Direction, readonly CurvePoint[]>;

export interface Stop {
  name: string;
  /** Fraction of the track from the home end. */
  at: number;
}

export interface TrackSettings {
  homeEnd: TrackEnd;
  /** The ends that have a limit switch. */
  switches: readonly TrackEnd[];
  lengthM?: number;
  /** Sorted by position, home first: the order a patrol visits them. */
  stops: readonly Stop[];
  dwellMs: number;
  /** Percent. */
  homingSpeed: number;
  /** Percent, ascending. */
  calibrationSpeeds: readonly number[];
  /** A stated curve (from `track.speedTable`), used until a calibration replaces it. */
  speedTable?: SpeedCurve;
  /** Pause after a stop before the car counts as arrived (the car comes to rest). */
  settleMs: number;
  /** A leg may take its expected time × STALL_FACTOR plus this before it stops as `stalled`. */
  timeoutMarginS: number;
  /** With an encoder: no edge for this long while the output moves the car is a stall (default STALL_S). */
  stallS?: number;
  /** Longest homing or calibration leg while no curve tells how long one should take. */
  homeTimeoutS: number;
  /** Uncertainty grows by this fraction of the distance travelled since the last switch. */
  drift: number;
  /** Configured when the car has a wheel encoder; `edgesPerTrack` when stated (else calibrate learns it). */
  encoder?: { edgesPerTrack?: number };
  /** The drive's `commandTimeoutS` (0 = off): no timed move may last longer. */
  commandTimeoutS?: number;
  /** The file the shell keeps a calibration in (src/process/track-state.ts), if any. */
  keptIn?: string;
  /**
   * With a camera, an arrival at a named stop starts a capture (the shell runs it): a patrol's
   * dwell, and a goto to a stop, end only once the shell says it has ended (`captured`), or
   * after this many milliseconds whatever happens.
   */
  captureMaxMs?: number;
}

type Leg =
  | { kind: 'switch'; end: TrackEnd; speed: number; measure?: boolean }
  | { kind: 'goto'; target: number; stop?: string }
  /** Homing between its touches: away from the home switch until it is open and HOME_BACKOFF from it. */
  | { kind: 'backoff'; speed: number }
  | { kind: 'settle' }
  | { kind: 'arrive'; target: number; stop?: string }
  /** `ms` instead of `track.dwellS`: a goto's wait for its picture is 0 plus the capture. */
  | { kind: 'dwell'; ms?: number }
  | { kind: 'timed'; move: Direction; forS: number }
  | { kind: 'learn' };

export type TaskName = 'home' | 'calibrate' | 'goto' | 'patrol' | 'move';

/** One calibration leg, measured while it runs. */
interface Measure {
  dir: Direction;
  duty: number;
  /**
   * The switch the leg starts on: timing and counting begin when it opens, where the car is
   * exactly at the end, rather than wherever it came to rest past the switch.
   */
  from?: TrackEnd;
  /** Seconds at the leg's duty that the applied outputs amount to (a ramp counts in part), from the switch opening. */
  effective: number;
  /** The same from the start of the leg, where the car stood still. */
  total: number;
  /** Encoder edges from the switch opening to the other closing: the track's length. */
  edges: number;
  /** Edges since the start of the leg. */
  edgesAll: number;
  /** `total` at the latest edges, for the encoder's steady rate at the end of the leg. */
  recent: readonly number[];
}

interface Sample {
  dir: Direction;
  duty: number;
  effective: number;
  edges: number;
  /** Seconds the car lags behind its output (from the encoder), when measurable. */
  lag?: number;
}

export interface Task {
  name: TaskName;
  legs: readonly Leg[];
  /** Whether legs[0] has begun. */
  begun: boolean;
  /** Deadline of the current leg: its timeout, or the end of a settle, dwell or timed move. */
  until?: number;
  /** For a leg's timeout: how long it was given, and whether by track.homeTimeoutS (no curve yet). */
  allowed?: { s: number; bySetting: boolean };
  /** The speed setting before a leg changed it, given back when the task ends. */
  restoreSpeed?: number;
  measure?: Measure;
  samples: readonly Sample[];
  /** Re-plans after a switch closed short of a goto's target. */
  replans: number;
  /** The way a goto leg goes along the axis (+1 away from home). */
  axis?: number;
  /** A dwell whose time is up waits for the capture to end. */
  waitingForCapture?: boolean;
  /** With an encoder: the last edge, or when the output began to move the car, during a leg that drives. */
  edgeAt?: number;
}

export interface TrackState {
  /** Whether the position is known: a switch closed since the start and nothing lost it. */
  homed: boolean;
  position: number;
  /** Distance moved since the last switch closed, for the uncertainty. */
  travelled: number;
  output: number;
  outputAt: number;
  /** The drive's motion: `reversing` is not stopped, though its output is zero. */
  motion: Motion;
  /** The drive's speed setting, percent. */
  speed: number;
  /** +1 away from home, −1 toward it: the way the last nonzero output drove (encoder edges count that way). */
  heading: 1 | -1;
  limits: Record<TrackEnd, boolean>;
  /** When each switch last opened: closing again within BOUNCE_MS as the car leaves it is its contacts bouncing. */
  openedAt?: Partial<Record<TrackEnd, number>>;
  /** Where the last switch put the car, and the encoder edges since (signed by heading). */
  anchor: number;
  edgesSince: number;
  curve?: SpeedCurve;
  edgesPerTrack?: number;
  /** Seconds the car runs on after its output stops (encoder only): a goto stops that much early. */
  lagS: number;
  task?: Task;
  /** A capture started at an arrival has not ended yet: until when it may last. */
  captureUntil?: number;
}

export type TrackEvent =
  | { type: 'command'; command: Command; now: number }
  /** A drive command a user sent (forward, stop, faster…): it may cancel the task. */
  | { type: 'manual'; command: Command; now: number }
  /** What the drive applied after any step that changed it. */
  | { type: 'drive'; output: number; motion: Motion; reason: Reason; speed: number; now: number }
  | { type: 'limit'; end: TrackEnd; closed: boolean; now: number }
  | { type: 'edge'; now: number }
  | { type: 'tick'; now: number }
  /** The car's driver is gone (broker or driving page lost, a flood): any task ends, moving or not. */
  | { type: 'lost'; reason: Reason; now: number }
  /** The capture started at the last arrival ended (a picture, or an error): a waiting dwell may end. */
  | { type: 'captured'; now: number };

export interface Arrival {
  stop: string | null;
  position: number;
  target: number;
}

export interface DriveRequest {
  command: Command;
  reason?: Reason;
}

export interface TrackStep {
  state: TrackState;
  /** A task that ended without getting there (stalled, a switch out of place): published like a RESULT. */
  failed?: Record<string, unknown>;
  /** Commands for the drive, in order. */
  drive: DriveRequest[];
  result?: Record<string, unknown>;
  /** Published on stat/<device>/ARRIVED. */
  arrived?: Arrival;
  logs: LogEntry[];
  wakeAt?: number;
  /** A task is under way: the shell tells the drive, so `commandTimeoutS` does not stop it. */
  busy: boolean;
}

/** How often the estimate is advanced while the car moves, so STATE shows it going. */
export const PROGRESS_MS = 250;
/** Closer than this (a fraction of the track) is there. */
export const TOLERANCE = 0.001;
/** A leg that drives may take its expected time × this (plus `timeoutMarginS`) before it is a stall. */
export const STALL_FACTOR = 1.25;
/** Default of `track.stallS`: with an encoder, no edge for this long while the car is driven is a stall. */
export const STALL_S = 0.3;
/** …or no edge for this many edges' time at the output's speed, when that is longer (slow speeds, coarse encoders). */
export const STALL_EDGES = 3;
/** With an encoder whose scale is not known yet (before calibrate): no edge for this long at least. */
export const STALL_UNSCALED_S = 1;
/** A switch the car is leaving that closes again within this long of opening is bouncing, not met again. */
export const BOUNCE_MS = 50;
/** How far homing backs off the switch between its two touches, a fraction of the track. */
export const HOME_BACKOFF = 0.02;
/** A goto that meets a switch short of its target plans again from there, at most this often. */
const MAX_REPLANS = 1;

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

export const farEnd = (s: Pick<TrackSettings, 'homeEnd'>): TrackEnd => (s.homeEnd === 'backward' ? 'forward' : 'backward');
/** The drive direction that moves the car along the axis: +1 away from home. */
const dirFor = (s: Pick<TrackSettings, 'homeEnd'>, axis: number): Direction => (axis > 0 ? farEnd(s) : s.homeEnd);
const axisOf = (s: Pick<TrackSettings, 'homeEnd'>, output: number): number =>
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

/** Whether the position follows the encoder (its scale is known) rather than the curve. */
const byEncoder = (state: TrackState, settings: TrackSettings) => settings.encoder !== undefined && state.edgesPerTrack !== undefined;

/** The uncertainty of the position, a fraction of the track; null while not homed. */
export function uncertainty(state: TrackState, settings: TrackSettings): number | null {
  return state.homed ? settings.drift * state.travelled : null;
}

/** Integrates the applied output from `outputAt` to `now`. */
function advance(state: TrackState, settings: TrackSettings, now: number): TrackState {
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

interface Ctx {
  settings: TrackSettings;
  now: number;
  logs: LogEntry[];
  drive: DriveRequest[];
  arrived?: Arrival;
  failed?: Record<string, unknown>;
}

const info = (ctx: Ctx, message: string) => ctx.logs.push({ level: 'info', message });
const warn = (ctx: Ctx, message: string) => ctx.logs.push({ level: 'warn', message });
const fmt = (x: number) => (Math.round(x * 1000) / 1000).toString();

/** A position as the user gives and reads them: metres with `track.lengthM`, else a fraction. */
export function describePlace(at: number, settings: Pick<TrackSettings, 'lengthM'>): string {
  return settings.lengthM ? `${fmt(at * settings.lengthM)} m` : fmt(at);
}

function setSpeed(state: TrackState, ctx: Ctx, speed: number): TrackState {
  if (speed === state.speed || !state.task) return state;
  const task = state.task.restoreSpeed === undefined ? { ...state.task, restoreSpeed: state.speed } : state.task;
  ctx.drive.push({ command: { move: 'speed', speed } });
  return { ...state, speed, task };
}

/** Ends the task, giving back the speed it borrowed; with `stopReason`, stops the car if it moves. */
function endTask(state: TrackState, ctx: Ctx, opts: { stopReason?: Reason } = {}): TrackState {
  const task = state.task;
  if (!task) return state;
  // Reversing: stopped for now, but about to drive the other way.
  if (opts.stopReason && (state.output !== 0 || state.motion !== 'stopped')) ctx.drive.push({ command: { move: 'stop' }, reason: opts.stopReason });
  if (task.restoreSpeed !== undefined && task.restoreSpeed !== state.speed) {
    ctx.drive.push({ command: { move: 'speed', speed: task.restoreSpeed } });
  }
  return { ...state, task: undefined, speed: task.restoreSpeed ?? state.speed };
}

function cancel(state: TrackState, ctx: Ctx, why: string, stopReason?: Reason): TrackState {
  if (!state.task) return state;
  info(ctx, `${state.task.name} cancelled: ${why}`);
  return endTask(state, ctx, { stopReason });
}

function fail(state: TrackState, ctx: Ctx, why: string, stopReason: Reason = 'stalled'): TrackState {
  const task = state.task;
  if (!task) return state;
  warn(ctx, `${task.name} stopped: ${why}`);
  // What the task was after: the shell publishes it on RESULT, places in the user's unit.
  const target = currentTarget(state, ctx.settings);
  ctx.failed = {
    move: task.name,
    ...(target?.stop ? { to: target.stop } : {}),
    ...(target ? { target: target.at } : {}),
    reason: stopReason,
    error: why,
    ...(state.homed ? { position: state.position } : {}),
  };
  if (stopReason === 'stalled' && state.homed && !byEncoder(state, ctx.settings)) {
    // Dead reckoning went on counting what the car did not do: where it is, nobody knows.
    warn(ctx, 'position unknown after the stall: send home');
    state = { ...state, homed: false };
  }
  return endTask(state, ctx, { stopReason });
}

/** Seconds a move across `distance` should take at `speed` percent, if the curve knows. */
function expectedS(state: TrackState, settings: TrackSettings, distance: number, axis: number, speed: number): number | undefined {
  const dir = dirFor(settings, axis);
  const v = state.curve ? curveSpeed(state.curve[dir], speed / 100) : 0;
  return v > 0 ? Math.abs(distance) / v : undefined;
}

function legTimeout(state: TrackState, ctx: Ctx, distance: number, axis: number, speed: number): Pick<Task, 'until' | 'allowed'> {
  const expected = expectedS(state, ctx.settings, distance, axis, speed);
  const s = expected === undefined ? ctx.settings.homeTimeoutS : expected * STALL_FACTOR + ctx.settings.timeoutMarginS;
  return { until: ctx.now + s * 1000, allowed: { s, bySetting: expected === undefined } };
}

type DrivingLeg = Extract<Leg, { kind: 'switch' | 'goto' | 'backoff' }>;
const drivingLeg = (leg: Leg | undefined): leg is DrivingLeg => leg?.kind === 'switch' || leg?.kind === 'goto' || leg?.kind === 'backoff';

/** The way a leg that drives goes along the axis (+1 away from home). */
function legAxis(settings: TrackSettings, task: Task, leg: DrivingLeg): number {
  if (leg.kind === 'goto') return task.axis ?? 0;
  if (leg.kind === 'backoff') return 1;
  return leg.end === settings.homeEnd ? -1 : 1;
}

/**
 * How far a leg that drives still has to go, for its deadline: a switch may be as much further
 * off as the position is uncertain (never more than the track); homing's back-off allows for
 * the car having run on past the switch by as much again.
 */
function legDistance(state: TrackState, settings: TrackSettings, leg: DrivingLeg): number {
  if (leg.kind === 'goto') return Math.abs(leg.target - state.position);
  if (leg.kind === 'backoff') return 2 * HOME_BACKOFF;
  if (!state.homed) return 1;
  const to = leg.end === settings.homeEnd ? state.position : 1 - state.position;
  return Math.min(1, Math.max(0, to) + (uncertainty(state, settings) ?? 0));
}

/** Seconds without an encoder edge that are a stall at the current output. */
function stallWindowS(state: TrackState, settings: TrackSettings): number {
  const stallS = settings.stallS ?? STALL_S;
  const v = Math.abs(velocity(state.curve, settings, state.output));
  // Until a calibration learns the encoder's scale, how far apart its edges are is not known.
  if (!state.edgesPerTrack) return Math.max(stallS, STALL_UNSCALED_S);
  return v > 0 ? Math.max(stallS, STALL_EDGES / (v * state.edgesPerTrack)) : stallS;
}

/** Whether the output drives the car (above the dead band, by the curve; any output without one). */
const moves = (state: TrackState, settings: TrackSettings, output: number) =>
  output !== 0 && (!state.curve || velocity(state.curve, settings, output) !== 0);

/**
 * The drive changed the output during a leg that drives: the deadline counts from now, for
 * what is left at this output (a reversal pause, a ramp or `faster`/`slower` take nothing
 * from it), and the encoder's stall clock starts when the output begins to move the car.
 */
function onOutput(state: TrackState, before: number, ctx: Ctx): TrackState {
  const task = state.task;
  const leg = task?.legs[0];
  if (!task?.begun || !drivingLeg(leg) || state.output === before) return state;
  const axis = legAxis(ctx.settings, task, leg);
  if (state.output === 0 || axisOf(ctx.settings, state.output) !== axis) return { ...state, task: { ...task, edgeAt: undefined } };
  const timeout = legTimeout(state, ctx, legDistance(state, ctx.settings, leg), axis, Math.abs(state.output) * 100);
  const wasMoving = axisOf(ctx.settings, before) === axis && moves(state, ctx.settings, before);
  const edgeAt = !ctx.settings.encoder || !moves(state, ctx.settings, state.output) ? undefined : wasMoving ? (task.edgeAt ?? ctx.now) : ctx.now;
  return { ...state, task: { ...task, ...timeout, edgeAt } };
}

/** With an encoder: a leg that drives and counts no edge for the stall window is stalled. */
function checkEncoderStall(state: TrackState, ctx: Ctx): TrackState {
  const task = state.task;
  const leg = task?.legs[0];
  if (!task?.begun || !drivingLeg(leg) || task.edgeAt === undefined) return state;
  const window = stallWindowS(state, ctx.settings);
  if (ctx.now < task.edgeAt + window * 1000) return state;
  const where = state.homed ? ` at ${describePlace(state.position, ctx.settings)}` : '';
  return fail(state, ctx, `stalled: no encoder edge for ${fmt(window)} s${where} while driving ${legGoal(leg, ctx.settings)}`);
}

/** Where a leg that drives is going, in words. */
function legGoal(leg: DrivingLeg, settings: TrackSettings): string {
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

/** The task without its current leg, the next one not yet begun. */
function dropLeg(state: TrackState): TrackState {
  const task = state.task!;
  return {
    ...state,
    task: { ...task, legs: task.legs.slice(1), begun: false, until: undefined, allowed: undefined, measure: undefined, waitingForCapture: undefined, edgeAt: undefined },
  };
}

/** Starts legs[0] of the task; legs that finish at once are passed over. */
function beginLeg(state: TrackState, ctx: Ctx): TrackState {
  for (let guard = 0; guard < 100 && state.task && !state.task.begun; guard++) {
    const task = state.task;
    const leg = task.legs[0];
    if (!leg) {
      info(ctx, `${task.name} done`);
      return endTask(state, ctx);
    }
    switch (leg.kind) {
      case 'switch': {
        if (state.limits[leg.end]) {
          state = dropLeg(state);
          break;
        }
        state = setSpeed(state, ctx, leg.speed);
        const axis = leg.end === ctx.settings.homeEnd ? -1 : 1;
        const timeout = legTimeout(state, ctx, legDistance(state, ctx.settings, leg), axis, leg.speed);
        const from = leg.end === 'forward' ? 'backward' : 'forward';
        const measure: Measure | undefined = leg.measure
          ? { dir: leg.end, duty: leg.speed / 100, from: state.limits[from] ? from : undefined, effective: 0, total: 0, edges: 0, edgesAll: 0, recent: [] }
          : undefined;
        ctx.drive.push({ command: { move: leg.end } });
        state = { ...state, task: { ...state.task!, begun: true, ...timeout, measure } };
        break;
      }
      case 'goto': {
        const remaining = leg.target - state.position;
        if (Math.abs(remaining) <= TOLERANCE) {
          state = dropLeg(state);
          break;
        }
        const axis = Math.sign(remaining);
        const end = axis > 0 ? farEnd(ctx.settings) : ctx.settings.homeEnd;
        // A place at an end with a switch: drive on until the switch says so, not the estimate.
        const atEnd = (axis > 0 ? leg.target >= 1 - TOLERANCE : leg.target <= TOLERANCE) && ctx.settings.switches.includes(end);
        const timeout = legTimeout(state, ctx, remaining, axis, state.speed);
        if (atEnd) {
          ctx.drive.push({ command: { move: end } });
          state = { ...state, task: { ...task, legs: [{ kind: 'switch', end, speed: state.speed }, ...task.legs.slice(1)], begun: true, ...timeout } };
          break;
        }
        ctx.drive.push({ command: { move: dirFor(ctx.settings, axis) } });
        state = { ...state, task: { ...task, begun: true, ...timeout, axis } };
        break;
      }
      case 'backoff': {
        if (!state.limits[ctx.settings.homeEnd] && state.position >= HOME_BACKOFF) {
          state = dropLeg(state);
          break;
        }
        state = setSpeed(state, ctx, leg.speed);
        const timeout = legTimeout(state, ctx, legDistance(state, ctx.settings, leg), 1, leg.speed);
        ctx.drive.push({ command: { move: farEnd(ctx.settings) } });
        state = { ...state, task: { ...state.task!, begun: true, ...timeout } };
        break;
      }
      case 'settle':
        state = { ...state, task: { ...task, begun: true, until: ctx.now + ctx.settings.settleMs } };
        break;
      case 'dwell':
        state = { ...state, task: { ...task, begun: true, until: ctx.now + (leg.ms ?? ctx.settings.dwellMs) } };
        break;
      case 'arrive': {
        const position = state.position;
        ctx.arrived = { stop: leg.stop ?? null, position, target: leg.target };
        // The shell takes the picture on this ARRIVED; the dwell after it waits for the capture.
        if (leg.stop !== undefined && ctx.settings.captureMaxMs !== undefined) state = { ...state, captureUntil: ctx.now + ctx.settings.captureMaxMs };
        info(ctx, `arrived at ${leg.stop ?? describePlace(leg.target, ctx.settings)} (position ${describePlace(position, ctx.settings)})`);
        state = dropLeg(state);
        break;
      }
      case 'timed':
        ctx.drive.push({ command: { move: leg.move } });
        state = { ...state, task: { ...task, begun: true, until: ctx.now + leg.forS * 1000 } };
        break;
      case 'learn':
        state = dropLeg(learn(state, ctx));
        break;
    }
  }
  return state;
}

/** A leg done: the next one begins. */
function finishLeg(state: TrackState, ctx: Ctx): TrackState {
  return beginLeg(dropLeg(state), ctx);
}

/** A goto in progress: stop once the estimate (plus the car's run-on, with an encoder) reaches the target. */
function checkGoto(state: TrackState, ctx: Ctx): TrackState {
  const leg = state.task?.legs[0];
  if (leg?.kind === 'backoff') return checkBackoff(state, ctx);
  // Only once the drive has turned the way the leg goes (a reversal pauses at zero first).
  if (!leg || leg.kind !== 'goto' || !state.task?.begun || axisOf(ctx.settings, state.output) !== state.task.axis) return state;
  const v = velocity(state.curve, ctx.settings, state.output);
  const runOn = byEncoder(state, ctx.settings) ? v * state.lagS : 0;
  const remaining = (leg.target - (state.position + runOn)) * axisOf(ctx.settings, state.output);
  // Not exactly zero: the wake time computed from it must not land a hair short, again and again.
  if (remaining > 1e-7) return state;
  ctx.drive.push({ command: { move: 'stop' }, reason: 'arrived' });
  return finishLeg(state, ctx);
}

/** Homing's back-off: done once the switch is open and the car is HOME_BACKOFF from it (by the estimate). */
function checkBackoff(state: TrackState, ctx: Ctx): TrackState {
  if (!state.task?.begun || axisOf(ctx.settings, state.output) !== 1) return state;
  if (state.limits[ctx.settings.homeEnd]) return state;
  // Without a curve or an encoder nothing measures the distance: the switch opening is enough.
  const measured = state.curve !== undefined || byEncoder(state, ctx.settings);
  if (measured && state.position < HOME_BACKOFF - 1e-7) return state;
  ctx.drive.push({ command: { move: 'stop' } });
  return finishLeg(state, ctx);
}

/** When the estimate reaches the goto's target (or the back-off its distance) at the current output, if it will. */
function gotoWake(state: TrackState, settings: TrackSettings): number | undefined {
  const leg = state.task?.legs[0];
  if (!leg || (leg.kind !== 'goto' && leg.kind !== 'backoff') || !state.task?.begun || byEncoder(state, settings)) return undefined;
  const v = velocity(state.curve, settings, state.output);
  const axis = leg.kind === 'goto' ? state.task.axis : 1;
  const remaining = (leg.kind === 'goto' ? leg.target : HOME_BACKOFF) - state.position;
  // The back-off also waits for its switch to open, which onLimit sees.
  if (leg.kind === 'backoff' && (v <= 0 || remaining <= 1e-7 || state.limits[settings.homeEnd])) return undefined;
  if (v === 0 || Math.sign(v) !== Math.sign(remaining) || Math.sign(v) !== axis) return undefined;
  return state.outputAt + (remaining / v) * 1000;
}

/** The curve, the encoder's scale and the car's lag from the calibration legs. */
function learn(state: TrackState, ctx: Ctx): TrackState {
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
function sampleLeg(task: Task): Task {
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

function taskLegs(command: Command, state: TrackState, settings: TrackSettings, target?: { at: number; stop?: string }): { name: TaskName; legs: Leg[] } {
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
function check(command: Command, state: TrackState, settings: TrackSettings): { error: string; details?: Record<string, unknown> } | { target?: { at: number; stop?: string } } {
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
    return beginLeg({ ...state, task: { ...task, begun: false, replans: task.replans + 1 } }, ctx);
  }
  if (leg.kind === 'switch' || leg.kind === 'timed') {
    // The drive stopped the car at the end: a timed move is over, a leg to the other end is not.
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
  if (state.task && event.motion === 'stopped' && ['disconnect', 'timeout', 'shutdown', 'flood'].includes(event.reason)) {
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
  if (command.move === 'forward' || command.move === 'backward' || task.name === 'calibrate') {
    return cancel(state, ctx, `${command.move} by hand`, task.name === 'calibrate' && state.output !== 0 ? 'command' : undefined);
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

/** Where the car is headed (a fraction), while a task takes it somewhere. */
export function currentTarget(state: TrackState, settings: TrackSettings): { at: number; stop?: string } | undefined {
  for (const leg of state.task?.legs ?? []) {
    if (leg.kind === 'goto' || leg.kind === 'arrive') return { at: leg.target, stop: leg.stop };
    if (leg.kind === 'switch') return { at: leg.end === settings.homeEnd ? 0 : 1 };
    if (leg.kind === 'timed') return undefined;
  }
  return undefined;
}
