/**
 * The imperative shell around the car's pure step (src/core/car.ts): it feeds events in
 * (commands, timer ticks, broker loss, limit switches, encoder edges) and performs the effects
 * that come out — pin writes, log lines and the one timer the step asks for — and says what
 * happened in events ('result', 'state', 'arrived', 'failed', 'photo', 'link', 'fatal').
 * The front ends are its peers: the MQTT one (src/mqtt/front.ts) publishes those, the page
 * server (src/http/remote-server.ts) sends them to the pages; both hand it commands their
 * admission (src/admission/admission.ts) has let in and parsed (`obey`).
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { Admission, type Admitted } from './admission/admission';
import { echo, isTask, type Command } from './core/commands';
import type { Config } from './config/config';
import type { DriveState, LogEntry } from './core/drive';
import { carStep, initialCarState, place, type CarEvent, type CarSettings, type CarState, type GoneReason } from './core/car';
import type { Logger } from './process/log';
import type { ReplyTo } from './mqtt/reply';
import type { CarView } from './http/car-view';
import type { LimitSwitches, MotorBank, TrackEnd } from './motors/types';
import type { Encoder } from './sensors/encoder';
import type { SimTrack } from './boards/sim-track';
import { currentTarget, PROGRESS_MS, uncertainty, type TrackSettings, type TrackState } from './core/track';
import { toTrackSettings } from './config/track-config';
import { loadTrackState, saveTrackState, STATE_FILE } from './process/track-state';
import { Camera, type PhotoOutcome } from './sensors/camera';
import * as path from 'node:path';

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): NodeJS.Timeout;
  clearTimeout(t: NodeJS.Timeout | undefined): void;
}

// Monotonic: a Pi without a real-time clock jumps years when NTP syncs after boot.
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => clearTimeout(t),
};

/** The shortest time between two STATE publishes while the state keeps changing. */
export const STATE_INTERVAL_MS = 50;

/**
 * A stall of the event loop longer than this (carbot stopped with SIGSTOP, a Pi swapping or
 * starved of CPU) makes the commands that waited through it stale: they are refused, all but
 * stop, as a command sent 14 s ago must not drive the car now.
 */
export const STALL_MS = 1000;
/**
 * How often the loop's progress is noted, to tell a stall from a quiet spell: often while the
 * car moves, every 1.25 s at rest, so that a parked carbot wakes less often than the Python
 * original's once a second (a stall of over 2.25 s at rest is always caught, one of 1–2.25 s
 * when it straddles a tick).
 */
const STALL_TICK_MS = 250;
const STALL_TICK_AT_REST_MS = 1250;

export interface ServiceDeps {
  config: Config;
  log: Logger;
  motors: MotorBank;
  limits?: LimitSwitches;
  /** A wheel encoder, when the car has one (track.encoder). */
  encoder?: Encoder;
  /** The simulated car's track (track.sim with simulated motors): STATE shows its true position. */
  sim?: SimTrack;
  clock?: Clock;
  /** Takes the pictures; made from camera.command when left out. A seam for the bench. */
  camera?: Camera;
  /** Wall-clock milliseconds, for the sidecars and the last home (the bench's virtual days). */
  wallClock?: () => number;
}

/** A capture may run camera.timeoutS; the car waits this much more for carbot to hear of its end. */
const CAPTURE_GRACE_MS = 5000;

/** Tasmota's `Time`: local time to the second, no zone. */
function localTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** The broker's side of the car, as the MQTT front end attaches it (attachBroker). */
export interface BrokerSide {
  /** Whether the command connection is up. */
  readonly connected: boolean;
  /** Said goodbye to the broker and closed its connections (at shutdown, after the last STATE). */
  close(): Promise<void>;
  /** Writes what its own counters still hold (at shutdown, after the car's). */
  flush(): void;
}

/** What the front ends learn of the car to describe it (Home Assistant's discovery). */
export interface CarFacts {
  trackSettings: TrackSettings;
  /** Whether STATE shows the track. */
  trackShown: boolean;
  camera: boolean;
}
/** How long after a home the state file is written (saveSoon). */
const SAVE_DELAY_MS = 2000;

/** A `photo` this close to a stop (a fraction of the track) is that stop's picture. */
const STOP_RADIUS = 0.01;

export class CarService extends EventEmitter implements CarView {
  /** The drive and the track model (src/core/car.ts), stepped once per event. */
  private car: CarState;
  private readonly carSettings: CarSettings;
  private readonly clock: Clock;
  private broker?: BrokerSide;
  private readonly startedAt = Date.now();
  /** The car's one timer, for the wake-up its last step asked for (drive and track together). */
  private wakeTimer?: NodeJS.Timeout;
  private stateTimer?: NodeJS.Timeout;
  private lastStateAt = -Infinity;
  private fault?: string;
  /** After a failed write, the motors whose stop failed too, at the output last written to them. */
  private stuck: Record<string, number> = {};
  private stopping = false;
  private lastSource?: string;
  private readonly trackSettings: TrackSettings;
  /** Whether STATE shows the track: the car has end switches, an encoder or a simulated track. */
  private readonly trackShown: boolean;
  /** The state directory's file (src/process/track-state.ts), when there is one. */
  private readonly stateFile?: string;
  /** Wall-clock time the home switch last closed. */
  private lastHomedAt?: number;
  /** What the state file held at start, written back where the configuration overrides it now. */
  private loaded: { curve?: TrackState['curve']; edgesPerTrack?: number; lagS?: number } = {};
  /** The last save's error, said once until a save works again. */
  private saveError?: string;
  private readonly camera?: Camera;
  /** A save of the state file after a home (saveSoon). */
  private saveTimer?: NodeJS.Timeout;
  private readonly wallClock: () => number;
  /**
   * Admission of the commands that reach the car directly and over MQTT (src/admission/admission.ts):
   * its rejection lines are counted together, per source, with the MQTT front end's.
   */
  readonly admission: Admission;
  /** Rejected input, one line per source and 10 s plus a count, however much of it arrives. */
  private readonly rejections: Admission['rejections'];
  /** When the loop last got round to the stall tick, and the tick's timer. */
  private tickedAt = 0;
  private stallTickMs = STALL_TICK_MS;
  private stallTimer?: NodeJS.Timeout;
  /** After a stall, while what waited through it is still being read: how long the stall was. */
  private staleFor?: number;
  /** A command came in this turn of the loop while `staleFor` was set. */
  private staleInput = false;

  /** What the drive applies now. */
  private get drive(): DriveState {
    return this.car.drive;
  }

  /** Where the car is on its track. */
  private get track(): TrackState {
    return this.car.track;
  }

  constructor(private readonly deps: ServiceDeps) {
    super();
    this.clock = deps.clock ?? systemClock;
    const switches = Object.keys(deps.limits?.closed ?? {}) as TrackEnd[];
    const settings = { ...toTrackSettings(deps.config.track, switches, deps.encoder !== undefined), commandTimeoutS: deps.config.drive.commandTimeoutS };
    this.wallClock = deps.wallClock ?? Date.now;
    const { stateDir, camera } = deps.config;
    if (stateDir) {
      this.stateFile = path.join(stateDir, STATE_FILE);
      settings.keptIn = this.stateFile;
    }
    if (camera) {
      this.camera = deps.camera ?? new Camera(camera, undefined, this.wallClock);
      settings.captureMaxMs = camera.timeoutS * 1000 + CAPTURE_GRACE_MS;
    }
    // The simulated track ships a speed table for its own motors, unless one is stated (docs/track.md).
    this.trackSettings = deps.sim && !settings.speedTable ? { ...settings, speedTable: deps.sim.nominalSpeedTable() } : settings;
    this.trackShown = switches.length > 0 || deps.encoder !== undefined || deps.sim !== undefined;
    this.carSettings = { drive: deps.config.drive, track: this.trackSettings, trackShown: this.trackShown };
    this.car = initialCarState(this.carSettings, this.clock.now());
    if (stateDir) this.loadLearnt(stateDir, settings.speedTable !== undefined, settings.encoder?.edgesPerTrack !== undefined);
    deps.encoder?.onEdge(() => this.run({ type: 'edge', now: this.clock.now() }));
    this.admission = new Admission(deps.log, deps.config.commandsPerSecond);
    this.rejections = this.admission.rejections;
    // Limit switches guard the car from the first moment, whoever sends the commands.
    const { limits } = deps;
    limits?.onChange((end, closed) => this.run({ type: 'limit', end, closed, now: this.clock.now() }));
    for (const [end, closed] of Object.entries(limits?.closed ?? {})) {
      if (closed) this.run({ type: 'limit', end: end as TrackEnd, closed, now: this.clock.now() });
    }
  }

  /**
   * What the car learnt before the last restart: the curve unless the configuration states
   * one (track.speedTable wins), the encoder's scale unless stated, its lag, the last home.
   * Never the position: the car may have been moved while carbot was off.
   */
  private loadLearnt(dir: string, tableStated: boolean, scaleStated: boolean): void {
    const { log, config } = this.deps;
    const { state, warning } = loadTrackState(dir, config.device, this.trackSettings.lengthM);
    if (warning) log.warn(warning);
    if (!state) return;
    this.loaded = { curve: state.curve, edgesPerTrack: state.edgesPerTrack, lagS: state.lagS };
    const kept: string[] = [];
    let t = this.track;
    if (state.curve && !tableStated) {
      t = { ...t, curve: state.curve };
      kept.push('the calibration');
    } else if (state.curve) kept.push('nothing of the calibration (track.speedTable is set and wins)');
    if (state.edgesPerTrack !== undefined && !scaleStated && this.trackSettings.encoder) {
      t = { ...t, edgesPerTrack: state.edgesPerTrack };
      kept.push('the encoder scale');
    }
    if (state.lagS !== undefined && this.trackSettings.encoder && !tableStated) t = { ...t, lagS: state.lagS };
    this.car = { ...this.car, track: t };
    this.lastHomedAt = state.lastHomedAt;
    if (state.lastHomedAt !== undefined) kept.push(`the last home (${new Date(state.lastHomedAt).toISOString()})`);
    log.info(`loaded from ${this.stateFile}: ${kept.length > 0 ? kept.join(', ') : 'nothing this car uses'}`);
  }

  /**
   * A home (each touch, each bounce of the switch) is saved a while later, once: the write and
   * its fsync would otherwise hold the event loop, stops included, on a slow SD card while the
   * car backs off the switch. Shutdown writes what is pending.
   */
  private saveSoon(): void {
    if (!this.stateFile || this.saveTimer || this.stopping) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      this.saveLearnt();
    }, SAVE_DELAY_MS);
    this.saveTimer.unref();
  }

  /** Saves what the car learnt, atomically; a failure is a warning (said once), never fatal. */
  private saveLearnt(): void {
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    if (!this.stateFile) return;
    const t = this.track;
    const configured = this.trackSettings.speedTable;
    // A curve that is the configuration's own (or the simulation's shipped one) is nothing
    // learnt: what the file held is kept for when the configuration no longer states one.
    const learnt = t.curve !== configured;
    const curve = learnt ? t.curve : this.loaded.curve;
    try {
      saveTrackState(path.dirname(this.stateFile), this.deps.config.device, {
        lengthM: this.trackSettings.lengthM,
        curve,
        edgesPerTrack: this.trackSettings.encoder?.edgesPerTrack === undefined ? t.edgesPerTrack : this.loaded.edgesPerTrack,
        lagS: learnt ? t.lagS || undefined : this.loaded.lagS,
        lastHomedAt: this.lastHomedAt,
      });
      if (this.saveError) this.deps.log.info(`${this.stateFile} written again`);
      this.saveError = undefined;
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      if (why !== this.saveError) this.deps.log.warn(`cannot write ${this.stateFile} (${why}): what the car learnt is kept until carbot stops, not after`);
      this.saveError = why;
    }
  }

  /**
   * Takes a picture (camera.command) where the car stands, then publishes PHOTO; with
   * `arrival`, the track model's waiting dwell is told when it has ended.
   */
  private takePhoto(stop: string | null, arrival: boolean): void {
    const camera = this.camera!;
    const t = this.track;
    const u = uncertainty(t, this.trackSettings);
    const position = t.homed ? this.place(t.position) : null;
    const context = {
      stop,
      position,
      uncertainty: u === null ? null : this.place(u),
      unit: (this.trackSettings.lengthM ? 'm' : 'fraction') as 'm' | 'fraction',
      lastHomedAt: this.lastHomedAt,
    };
    camera.capture(context, (outcome: PhotoOutcome) => {
      const { log } = this.deps;
      const message: Record<string, unknown> = { stop, position };
      if ('error' in outcome) {
        message.error = outcome.error;
        log.warn(`photo${stop === null ? '' : ` at ${stop}`} failed: ${outcome.error}`);
      } else {
        message.file = outcome.file;
        message.sidecar = outcome.sidecar;
        log.info(`photo${stop === null ? '' : ` at ${stop}`}: ${outcome.file}`);
      }
      // The MQTT front end publishes PHOTO (and Home Assistant's picture) from this.
      this.emit('photo', message);
      if (arrival && !this.stopping) this.run({ type: 'captured', now: this.clock.now() });
    });
  }

  /** `photo`: a picture where the car stands (at a stop if it is at one), answered at once; PHOTO follows. */
  private photoCommand(): Record<string, unknown> {
    const result: Record<string, unknown> = { move: 'photo', motion: this.drive.motion, speed: this.drive.speed };
    if (!this.camera) return { ...result, error: 'no camera: set camera.command' };
    if (this.drive.motion !== 'stopped' || this.drive.output !== 0) return { ...result, error: 'the car is moving: a picture is taken standing still' };
    // A task would drive off in the middle of it (the dwell waits only for its own pictures).
    if (this.track.task !== undefined) return { ...result, error: `a ${this.track.task.name} is under way: it takes the pictures at its stops` };
    if (this.camera.busy) return { ...result, error: 'a capture is already under way' };
    const t = this.track;
    const here = t.homed ? this.trackSettings.stops.find((s) => Math.abs(s.at - t.position) <= STOP_RADIUS) : undefined;
    const stop = here?.name ?? null;
    this.takePhoto(stop, false);
    return { ...result, stop };
  }

  /** Starts watching for stalls; the front ends start themselves (src/mqtt/front.ts, src/http/remote-server.ts). */
  start(): void {
    this.tickedAt = this.clock.now();
    this.stallTick();
  }

  /**
   * The MQTT front end: brokerOnline asks it, and shutdown closes it after the last STATE.
   */
  attachBroker(broker: BrokerSide): void {
    this.broker = broker;
  }

  brokerOnline(): boolean {
    return this.broker?.connected ?? false;
  }

  /**
   * The broker connection came (true) or went (false): the pages and the status line hear of
   * it ('link'); lost, the car stops as when its driver goes, unless stopOnDisconnect is off.
   */
  linkChanged(online: boolean): void {
    if (!online && this.deps.config.stopOnDisconnect) this.driverGone('disconnect');
    this.emit('link', online);
  }

  /** Something arrived from a front end (for the event-loop monitor, which ticks only while something happens). */
  noteActivity(): void {
    if (this.listenerCount('activity') > 0) this.emit('activity');
  }

  /** Whether the motors are driven right now (the link chases up a silent broker while they are). */
  moving(): boolean {
    return this.drive.output !== 0;
  }

  /**
   * A flood of the move topic began (src/mqtt/front.ts): a stop sent there may be lost with it,
   * so the car stops (reason `flood`) and any task ends.
   */
  floodBegan(): void {
    this.driverGone('flood');
  }

  /** Whether shutdown has begun: nothing is published or started from then on. */
  get shuttingDown(): boolean {
    return this.stopping;
  }

  /** What a front end needs to describe the car (Home Assistant's discovery). */
  facts(): CarFacts {
    return { trackSettings: this.trackSettings, trackShown: this.trackShown, camera: this.camera !== undefined };
  }

  lastCommandSource(): string | undefined {
    return this.lastSource;
  }

  state(): Record<string, unknown> {
    const { motors, limits } = this.deps;
    const output = this.drive.output;
    const state: Record<string, unknown> = {
      Time: localTime(new Date()),
      motion: this.drive.motion,
      speed: this.drive.speed,
      reason: this.drive.reason,
      motors: Object.fromEntries(motors.names.map((n) => [n, this.stuck[n] ?? output])),
      uptime: Math.floor((Date.now() - this.startedAt) / 1000),
    };
    if (limits && Object.keys(limits.closed).length > 0) {
      state.limits = Object.fromEntries(Object.entries(limits.closed).map(([end, c]) => [end, c ? 'closed' : 'open']));
    }
    if (this.trackShown) Object.assign(state, this.trackState());
    if (this.fault) state.error = this.fault;
    return state;
  }

  /** A place as published: metres with track.lengthM (to the millimetre), else a fraction. */
  private place(fraction: number): number {
    return place(fraction, this.trackSettings.lengthM);
  }

  /** STATE's track part (docs/track.md). */
  private trackState(): Record<string, unknown> {
    const t = this.track;
    const settings = this.trackSettings;
    const u = uncertainty(t, settings);
    const state: Record<string, unknown> = {
      position: t.homed ? this.place(t.position) : null,
      homed: t.homed,
      uncertainty: u === null ? null : this.place(u),
    };
    const target = currentTarget(t, settings);
    if (target) state.target = this.place(target.at);
    if (t.task) state.task = t.task.name;
    const { sim } = this.deps;
    if (sim) {
      const x = sim.position() / sim.options.lengthM;
      state.simPosition = this.place(settings.homeEnd === 'backward' ? x : 1 - x);
    }
    state.track = {
      unit: settings.lengthM ? 'm' : 'fraction',
      length: settings.lengthM ?? 1,
      stops: Object.fromEntries(settings.stops.map((stop) => [stop.name, this.place(stop.at)])),
      calibrated: t.curve !== undefined || t.edgesPerTrack !== undefined,
    };
    return state;
  }

  /**
   * A command from a caller without a front end of its own (the tests, the benches): admitted
   * (parsed once) and obeyed as one from the page would be.
   */
  command(payload: Buffer | string, source: string, replyTo?: ReplyTo): Record<string, unknown> {
    return this.obey(this.admission.admitted(payload), source, replyTo);
  }

  /**
   * One command from any front end, as admission let it in (src/admission/admission.ts),
   * already parsed: applied, answered ('result': the MQTT front end publishes it on RESULT and
   * on its MQTT 5 response topic, `replyTo`). A JSON command's `id` comes back in its answer.
   */
  obey(command: Admitted, source: string, replyTo?: ReplyTo): Record<string, unknown> {
    // For the event-loop monitor, which ticks only while something happens (src/process/loop-monitor.ts).
    this.noteActivity();
    const { log } = this.deps;
    const { parsed, payload } = command;
    // The sender waits for the RESULT and journald does not: a command's log lines (each a
    // synchronous write to a pipe under systemd) are written once the RESULT has left.
    const held: LogEntry[] = [];
    let result: Record<string, unknown>;
    if (!parsed.ok) {
      result = parsed.rejection;
      const detail = Object.entries(parsed.rejection)
        .filter(([k]) => k !== 'error')
        .map(([k, v]) => `${k} ${JSON.stringify(v)}`)
        .join(', ');
      if (this.rejections.admit(source)) {
        held.push({ level: 'warn', message: `rejected command from ${source}: ${result.error}${detail ? ` (${detail})` : ''}` });
      }
    } else if (this.stopping) {
      result = { move: parsed.command.move, motion: this.drive.motion, speed: this.drive.speed, error: 'shutting down' };
    } else if (this.stalled() !== undefined && parsed.command.move !== 'stop') {
      const seconds = ((this.staleFor ?? 0) / 1000).toFixed(1);
      result = {
        move: parsed.command.move,
        motion: this.drive.motion,
        speed: this.drive.speed,
        error: `stale: carbot was held up for ${seconds} s and this command waited through it; send it again`,
      };
      if (this.rejections.admit(source)) {
        held.push({ level: 'warn', message: `dropped ${JSON.stringify(echo(Buffer.from(payload)))} from ${source}: it waited while carbot was held up for ${seconds} s (only a stop is obeyed from then)` });
      }
    } else {
      // Not formatted at all while debug lines are off.
      if (log.isLevelEnabled('debug')) log.debug(`command from ${source}: ${JSON.stringify(String(payload))}`);
      this.lastSource = source;
      result = this.perform(parsed.command, this.clock.now(), held);
      // A refused command is no sign of a driver who knows what the car does.
      if (result.error === undefined) this.watchTask();
      if (parsed.ignored) {
        const ignored = `ignored: ${parsed.ignored.error}`;
        result.note = result.note ? `${String(result.note)}; ${ignored}` : ignored;
        if (this.rejections.admit(source)) {
          held.push({ level: 'warn', message: `stop from ${source} obeyed, ${ignored} (${JSON.stringify(parsed.ignored)})` });
        }
      }
    }
    if (parsed.id !== undefined) result = { ...result, id: parsed.id };
    // The MQTT front end publishes it; a line of its own about the answer joins `held`.
    this.emit('result', result, source, replyTo, held);
    // mqtt.js corks the socket for a publish and uncorks it on the next tick: queued after that.
    if (held.length > 0) process.nextTick(() => this.writeLogs(held));
    return result;
  }

  /**
   * Notes the loop's progress every STALL_TICK_MS; a tick that comes more than STALL_MS late
   * was held up by a stall, and what arrived meanwhile is read right after it.
   */
  private stallTick(): void {
    this.stallTickMs = this.drive.output !== 0 ? STALL_TICK_MS : STALL_TICK_AT_REST_MS;
    this.stallTimer = this.clock.setTimeout(() => {
      const now = this.clock.now();
      const late = now - this.tickedAt - this.stallTickMs;
      this.tickedAt = now;
      if (late > STALL_MS) this.staleAfter(late);
      this.stallTick();
    }, this.stallTickMs);
  }

  /**
   * Whether a command now waited through a stall: the stall tick is overdue (the loop reads
   * input before its timers after some stalls), or the input that waited is still being read.
   * Returns how long the stall was.
   */
  private stalled(): number | undefined {
    if (this.stallTimer === undefined) return undefined;
    const late = this.clock.now() - this.tickedAt - this.stallTickMs;
    if (late > STALL_MS && this.staleFor === undefined) this.staleAfter(late);
    if (this.staleFor !== undefined) this.staleInput = true;
    return this.staleFor;
  }

  /**
   * A stall of `ms` is over: commands are stale until a turn of the loop goes by without one,
   * which is when what waited in the sockets (MQTT's chunks, a page's one message per turn)
   * has all been read.
   */
  private staleAfter(ms: number): void {
    const checking = this.staleFor !== undefined;
    this.staleFor = Math.max(ms, this.staleFor ?? 0);
    this.staleInput = true;
    if (checking) return;
    const check = () => {
      if (this.staleInput && !this.stopping) {
        this.staleInput = false;
        setImmediate(check);
      } else {
        this.staleFor = undefined;
      }
    };
    setImmediate(check);
  }

  private writeLogs(entries: readonly LogEntry[]): void {
    for (const entry of entries) this.deps.log[entry.level](entry.message);
  }

  /**
   * The front end `source` that sent the car's last command went away (the remote page
   * closed, or stopped answering) while the car moves: stop it as a lost broker would, with
   * reason `disconnect`, unless `stopOnDisconnect` is off or another client has driven since.
   */
  driverLost(source: string): void {
    // The front end logs why; the state machine logs the stop.
    if (!this.deps.config.stopOnDisconnect || this.stopping || this.lastSource !== source || !this.driving()) return;
    this.driverGone('disconnect');
  }

  /** Whether the car moves or a task is under way (it may be waiting at a stop, motors at 0). */
  driving(): boolean {
    return this.drive.motion !== 'stopped' || this.drive.output !== 0 || this.track.task !== undefined;
  }

  /**
   * With `commandTimeoutS`, a task dies like driving by hand when its driver falls silent: no
   * accepted command for that long cancels it, moving or waiting at a stop (reason `timeout`).
   * A driver keeps a long task going by sending anything that leaves it as it is, such as
   * `{"speed":N}` with the speed it has. The car keeps the watch (src/core/car.ts), on its one
   * timer, from each accepted command while a task is under way.
   */
  private watchTask(): void {
    if (this.deps.config.drive.commandTimeoutS > 0) this.run({ type: 'accepted', now: this.clock.now() });
  }

  /**
   * Whoever drove the car can no longer stop it (the broker or the page driving it is lost,
   * or the move topic is flooded): the car stops and any task ends, moving or not — a patrol
   * waiting at a stop would otherwise drive on by itself a few seconds later.
   */
  private driverGone(reason: GoneReason): void {
    this.run({ type: 'gone', reason, now: this.clock.now() });
  }

  /**
   * A parsed command: `photo` here (it needs the camera), anything else one step of the car
   * (src/core/car.ts). Its log lines go to `held`, written once its RESULT is out.
   */
  private perform(command: Command, now: number, held: LogEntry[]): Record<string, unknown> {
    if (command.move === 'photo') return this.photoCommand();
    const { result, failed } = this.run({ type: 'command', command, now }, held);
    // The command did not happen: its answer says so, not what it asked for (a task's says where the car is).
    if (failed && !isTask(command)) return { ...result, motion: this.drive.motion, error: this.fault };
    return result ?? {};
  }

  /**
   * One step of the car, and its effects: the pins first (a stop must not wait for anything),
   * then the late answers and arrivals, the log lines (into `held` for a command, written
   * after its RESULT), STATE, the state file and the one timer. A write that fails stops every
   * motor and is a `fault` for the car.
   */
  private run(event: CarEvent, held?: LogEntry[]): { result?: Record<string, unknown>; failed: boolean } {
    const out = carStep(this.car, event, this.carSettings);
    this.car = out.state;
    const fx = out.effects;
    let failure: { err: Error; others: Error[] } | undefined;
    let failedOutput = 0;
    for (const output of fx.outputs) {
      failure = this.writeMotors(output);
      if (failure) {
        failedOutput = output;
        break;
      }
    }
    // Armed before anything that may call back in (a listener, the camera): a step it causes arms it anew.
    if (!failure) this.arm(fx.wakeAt);
    // A task's late answer ('failed', on RESULT) and ARRIVED: the front ends publish them.
    for (const notice of fx.notices) this.emit(notice.kind, notice.message);
    // The pins first, the log lines after: a stop must not wait for its line to reach journald
    // (Node writes to a pipe synchronously).
    if (held && !failure) held.push(...fx.logs);
    else this.writeLogs(fx.logs);
    if (fx.homed) {
      this.lastHomedAt = this.wallClock();
      this.saveSoon();
    }
    if (this.stateFile && fx.learnt) this.saveLearnt();
    if (fx.state === 'change') this.scheduleState();
    else if (fx.state === 'progress') this.scheduleState(PROGRESS_MS);
    if (failure) this.motorsFailed(failure, failedOutput);
    // Last: a capture's end is a step of its own (`captured`), and may come at once.
    for (const notice of fx.notices) {
      if (notice.kind === 'arrived' && this.camera && notice.message.stop !== null) this.takePhoto(notice.message.stop, true);
    }
    return { result: fx.result, failed: failure !== undefined };
  }

  /** The car's one timer, replaced: cleared, then armed for the wake-up its last step asked for, unless shutting down. */
  private arm(wakeAt: number | undefined): void {
    this.clock.clearTimeout(this.wakeTimer);
    this.wakeTimer = undefined;
    if (wakeAt === undefined || this.stopping) return;
    this.wakeTimer = this.clock.setTimeout(() => {
      this.wakeTimer = undefined;
      this.run({ type: 'tick', now: this.clock.now() });
    }, Math.max(0, wakeAt - this.clock.now()));
  }

  /** Writes every motor; if one fails, stops them all at once and returns what went wrong. */
  private writeMotors(output: number): { err: Error; others: Error[] } | undefined {
    const { motors } = this.deps;
    try {
      motors.write(Object.fromEntries(motors.names.map((n) => [n, output])));
      return undefined;
    } catch (err) {
      // A car with one wheel driven and the other dead spins or drags: stop everything.
      return { err: err as Error, others: motors.stopAll() };
    }
  }

  /** Says so on STATE and lets the process exit, so systemd restarts it on a clean slate. */
  private motorsFailed({ err, others }: { err: Error; others: Error[] }, output: number): void {
    this.fault = `motor write failed: ${err.message}`;
    // A motor that could not be stopped either keeps what it was given, as far as carbot knows.
    for (const e of others) {
      const motor = (e as { motor?: unknown }).motor;
      if (typeof motor === 'string') this.stuck[motor] = output;
    }
    this.run({ type: 'fault', now: this.clock.now() });
    this.deps.log.error(`${this.fault}; all motors stopped${others.length ? ` (also failed: ${others.map((e) => e.message).join('; ')})` : ''}`);
    this.publishState();
    // Once the command that failed has been answered (its RESULT says so): 'fatal' shuts the
    // process down, which closes the front ends. The motors are stopped already.
    const fatal = new Error(this.fault);
    process.nextTick(() => this.emit('fatal', fatal));
  }

  /**
   * A change is published once the command that made it has been answered; changes that
   * follow within STATE_INTERVAL_MS are folded into one publish at the end of that window,
   * so a burst of commands (or a ramp) costs a few STATE messages, not one per command,
   * and the state it settles on always goes out.
   */
  private scheduleState(interval = STATE_INTERVAL_MS): void {
    // Shutdown publishes the last STATE itself.
    if (this.stateTimer || this.stopping) return;
    const wait = Math.max(0, this.lastStateAt + interval - this.clock.now());
    this.stateTimer = this.clock.setTimeout(() => {
      this.stateTimer = undefined;
      this.publishState();
    }, wait);
  }

  /** STATE now: the front ends hear of it ('state'; the MQTT front end publishes it, retained). */
  publishState(): void {
    this.lastStateAt = this.clock.now();
    this.emit('state', this.state());
  }

  /** Zero the motors, tell the broker we are going, close every resource. Safe to call twice. */
  async shutdown(why: string): Promise<void> {
    if (this.stopping) return;
    const { log, motors, limits } = this.deps;
    log.info(`shutting down (${why})`);
    this.run({ type: 'shutdown', now: this.clock.now() });
    this.stopping = true;
    if (this.saveTimer) this.saveLearnt();
    this.clock.clearTimeout(this.wakeTimer);
    this.clock.clearTimeout(this.stallTimer);
    this.clock.clearTimeout(this.stateTimer);
    this.stateTimer = undefined;
    this.publishState();
    await this.broker?.close();
    this.admission.close();
    this.broker?.flush();
    await limits?.close();
    await this.deps.encoder?.close();
    await motors.close();
    this.deps.sim?.close();
    log.info('motor outputs zeroed, broker connection closed');
  }
}
