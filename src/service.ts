/**
 * The imperative shell around the drive state machine: it feeds events in (commands,
 * timer ticks, broker loss, limit switches) and performs the effects that come out —
 * pin writes, publishes, log lines and the one timer the state machine asks for.
 */
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import { CommandBudget, FloodGuard, isStop } from './admission/budget';
import { isTask, parseCommand, type Command } from './core/commands';
import type { Config } from './config/config';
import type { DriveState, LogEntry } from './core/drive';
import { carStep, initialCarState, place, type CarEvent, type CarSettings, type CarState, type GoneReason } from './core/car';
import type { Logger } from './process/log';
import { Repeats } from './admission/repeats';
import { BrokerLink, type MqttVersion, type OwnerVerdict, type ReplyTo } from './mqtt/link';
import { replyProblem } from './mqtt/reply';
import type { CarView } from './http/car-view';
import { clearMessages, discoveryMessages, legacyClearMessages, photoImageTopic, statusTopic, type DiscoveryOptions } from './mqtt/homeassistant';
import { VERSION } from './version';
import type { LimitSwitches, MotorBank, TrackEnd } from './motors/types';
import type { Encoder } from './sensors/encoder';
import type { SimTrack } from './boards/sim-track';
import { currentTarget, PROGRESS_MS, uncertainty, type TrackSettings, type TrackState } from './core/track';
import { toTrackSettings } from './config/track-config';
import { loadTrackState, saveTrackState, STATE_FILE } from './process/track-state';
import { MAX_PACKET_BYTES } from './mqtt/packet-size';
import { Camera, stopFolder, type PhotoOutcome } from './sensors/camera';
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
 * After Home Assistant's `online`, the wait before its discovery config goes out again: a
 * burst of `online`s (several Home Assistants, a flapping one) costs one publish, well within
 * the 2 s the docs promise (docs/home-assistant.md).
 */
export const HOMEASSISTANT_REPUBLISH_MS = 250;

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

function echo(payload: Buffer): string {
  const text = payload.subarray(0, 64).toString('utf8');
  return payload.length > 64 ? `${text}…` : text;
}

/**
 * The largest picture published for Home Assistant (MQTT carries it whole, retained): within
 * the 1 MiB packet limit of carbot's embedded broker and the sample mosquitto config, which
 * close a connection that sends more (src/mqtt/packet-size.ts), with room for the topic.
 */
const MAX_IMAGE_BYTES = MAX_PACKET_BYTES - 1024;
/** How long after a home the state file is written (saveSoon). */
const SAVE_DELAY_MS = 2000;

/** A `photo` this close to a stop (a fraction of the track) is that stop's picture. */
const STOP_RADIUS = 0.01;

export class CarService extends EventEmitter implements CarView {
  /** The drive and the track model (src/core/car.ts), stepped once per event. */
  private car: CarState;
  private readonly carSettings: CarSettings;
  private readonly clock: Clock;
  private readonly link: BrokerLink;
  /** A connection of its own for the stop topic, so a flood of the move topic cannot hold up or lose a stop. */
  private readonly stopLink: BrokerLink;
  private stopLinkStarted = false;
  private readonly startedAt = Date.now();
  /** The car's one timer, for the wake-up its last step asked for (drive and track together). */
  private wakeTimer?: NodeJS.Timeout;
  private teleTimer?: NodeJS.Timeout;
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
  /** MQTT does not say who published: one budget for everything that arrives on the move topic. */
  private readonly mqttBudget: CommandBudget;
  /** Floods of the move topic: the car stops and only stops are obeyed there while one lasts. */
  private readonly flood: FloodGuard;
  /** Stops on the stop topic past this are still obeyed, but answered only when they change something. */
  private readonly stopBudget: CommandBudget;
  /** Rejected input, one line per source and 10 s plus a count, however much of it arrives. */
  private readonly rejections: Repeats;
  /** Empty messages (retained commands cleared), as few lines however many come. */
  private readonly clears: Repeats;
  /** When the loop last got round to the stall tick, and the tick's timer. */
  private tickedAt = 0;
  private stallTickMs = STALL_TICK_MS;
  private stallTimer?: NodeJS.Timeout;
  /** After a stall, while what waited through it is still being read: how long the stall was. */
  private staleFor?: number;
  /** A command came in this turn of the loop while `staleFor` was set. */
  private staleInput = false;
  /** The per-entity discovery topics of earlier versions have been cleared (once per start). */
  private legacyCleared = false;
  /** Home Assistant said `online`: the discovery config goes out again when this fires. */
  private haStatusTimer?: NodeJS.Timeout;

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
    const { config, log } = deps;
    this.mqttBudget = new CommandBudget(config.commandsPerSecond);
    this.flood = new FloodGuard(config.commandsPerSecond);
    this.stopBudget = new CommandBudget(config.commandsPerSecond);
    this.rejections = new Repeats(log);
    this.clears = new Repeats(log, {
      level: 'info',
      summary: (count, _source, seconds) => `${count} more empty messages on ${config.topics.move} in the last ${seconds} s`,
    });
    // Both connections fail for the same reasons (a wrong password, the broker down): said once.
    const linkErrors = {};
    // MQTT 5 unless the broker refuses it; the stop topic's connection follows the command
    // connection. The embedded broker (aedes 1.x) speaks only 3.1.1: no MQTT 5 try at each
    // start (carbot given another broker's mqtt.url beside it speaks 3.1.1 to that one too).
    const protocol: { version: MqttVersion } = { version: config.embeddedBroker.enabled ? 4 : 5 };
    this.link = new BrokerLink({
      errors: linkErrors,
      protocol,
      settings: config.mqtt,
      topics: config.topics,
      log,
      onOnline: () => {
        // The stop topic's connection, once this carbot holds the car (a carbot that another
        // one keeps from driving never listens for stops).
        if (!this.stopLinkStarted) {
          this.stopLinkStarted = true;
          this.stopLink.start();
        }
        this.publishDiscovery();
        this.publishState();
        this.emit('link', true);
      },
      onOffline: () => {
        if (config.stopOnDisconnect) this.driverGone('disconnect');
        this.emit('link', false);
      },
      onCommand: (payload, retained, admitted, replyTo) => this.onMessage(payload, retained, admitted, replyTo),
      shed: { admit: (payload) => this.admitMqtt(payload) },
      moving: () => this.drive.output !== 0,
      // Another carbot drives this car: the process says who and exits (src/cli.ts).
      onTaken: (owner) => this.emit('taken', owner),
      version: VERSION,
      // Home Assistant says `online` there when it starts: the discovery config goes out again.
      also: config.homeassistant.enabled
        ? { topics: [statusTopic(config.homeassistant.prefix)], onMessage: (_topic, payload, retained) => this.onHomeAssistantStatus(payload, retained) }
        : undefined,
    });
    this.stopLink = new BrokerLink({
      settings: config.mqtt,
      topics: config.topics,
      log,
      onOnline: () => undefined,
      // The command connection's loss is what stops the car; this one reconnects on its own.
      onOffline: () => undefined,
      onCommand: (payload, retained, _admitted, replyTo) => this.onStopMessage(payload, retained, replyTo),
      listener: { topic: config.topics.stop, label: 'stop topic' },
      errors: linkErrors,
      protocol,
    });
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
      const { config, log } = this.deps;
      const message: Record<string, unknown> = { stop, position };
      if ('error' in outcome) {
        message.error = outcome.error;
        log.warn(`photo${stop === null ? '' : ` at ${stop}`} failed: ${outcome.error}`);
      } else {
        message.file = outcome.file;
        message.sidecar = outcome.sidecar;
        log.info(`photo${stop === null ? '' : ` at ${stop}`}: ${outcome.file}`);
        if (config.homeassistant.enabled && stop !== null && !this.stopping) this.publishImage(stop, outcome.file);
      }
      if (!this.stopping) this.link.publish(config.topics.photo, JSON.stringify(message), config.mqtt.qos);
      this.emit('photo', message);
      if (arrival && !this.stopping) this.run({ type: 'captured', now: this.clock.now() });
    });
  }

  /** The picture itself, retained, for Home Assistant's image entity of its stop; a large one is left out. */
  private publishImage(stop: string, file: string): void {
    const { config, log } = this.deps;
    try {
      const { readFileSync } = require('node:fs') as typeof import('node:fs');
      const body = readFileSync(file);
      if (body.length > MAX_IMAGE_BYTES) {
        log.warn(`${file}: ${body.length} bytes, too large for Home Assistant's image of ${stop} (at most ${MAX_IMAGE_BYTES}); take smaller pictures (rpicam-still --width 1280 --height 960)`);
        return;
      }
      this.link.publish(photoImageTopic(config.topics.photo, stopFolder(stop)), body, 0, true);
    } catch (err) {
      log.warn(`cannot read ${file} for Home Assistant: ${(err as Error).message}`);
    }
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

  /** `owner`: what the caller has just learnt asking the broker who drives the car (checkOwner in src/mqtt/link.ts). */
  start(owner?: OwnerVerdict): void {
    const { config } = this.deps;
    this.link.start(owner);
    this.tickedAt = this.clock.now();
    this.stallTick();
    if (config.telePeriod > 0) {
      this.teleTimer = setInterval(() => this.publishState(), config.telePeriod * 1000);
    }
  }

  brokerOnline(): boolean {
    return this.link.connected;
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
   * One command from any front end: parsed, applied, answered on RESULT (and on its MQTT 5
   * response topic, `replyTo`). A JSON command's `id` comes back in its answer.
   */
  command(payload: Buffer | string, source: string, replyTo?: ReplyTo): Record<string, unknown> {
    // For the event-loop monitor, which ticks only while something happens (src/process/loop-monitor.ts).
    if (this.listenerCount('activity') > 0) this.emit('activity');
    const { log } = this.deps;
    const parsed = parseCommand(payload);
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
    result = this.answer(result, replyTo, source, held);
    // mqtt.js corks the socket for a publish and uncorks it on the next tick: queued after that.
    if (held.length > 0) process.nextTick(() => this.writeLogs(held));
    return result;
  }

  /**
   * Publishes an answer on RESULT and, for a command published with an MQTT 5 response topic,
   * there too with its correlation data (src/mqtt/reply.ts); a response topic carbot will not
   * publish to is said in the RESULT (`reply`) and the log. Returns the answer as published.
   */
  private answer(result: Record<string, unknown>, replyTo: ReplyTo | undefined, source: string, held?: LogEntry[]): Record<string, unknown> {
    const { config } = this.deps;
    let answer = result;
    const problem = replyTo && replyProblem(replyTo, config.topics, config.homeassistant.prefix);
    if (problem) {
      answer = { ...result, reply: `not answered on the response topic: ${problem}` };
      if (this.rejections.admit(`${source} response topic`)) {
        const line = { level: 'warn' as const, message: `did not answer ${source} on its response topic: ${problem}` };
        if (held) held.push(line);
        else this.writeLogs([line]);
      }
    }
    const text = JSON.stringify(answer);
    this.link.publish(config.topics.result, text, config.mqtt.qos);
    if (replyTo && !problem) this.link.reply(replyTo, text, config.mqtt.qos);
    return answer;
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

  private onMessage(payload: Buffer, retained: boolean, admitted: boolean, replyTo?: ReplyTo): void {
    if (this.listenerCount('received') > 0) this.emit('received', process.hrtime.bigint());
    if (payload.length === 0) {
      // MQTT's way to delete a retained message (mosquitto_pub -r -n): the broker passes the
      // empty message on to subscribers. It is housekeeping, not a command: no RESULT.
      if (this.listenerCount('activity') > 0) this.emit('activity');
      if (this.clears.admit('mqtt')) {
        this.deps.log.info(`empty message on ${this.deps.config.topics.move}: a retained command was cleared; nothing to do`);
      }
      return;
    }
    if (retained) {
      // A retained command is a replay of the past, delivered because we subscribed:
      // acting on it would drive a car that just rebooted.
      if (this.listenerCount('activity') > 0) this.emit('activity');
      const text = echo(payload);
      if (this.rejections.admit('mqtt')) {
        this.deps.log.warn(
          `ignored retained command ${JSON.stringify(text)} on ${this.deps.config.topics.move}: retained commands are stale; publish without the retain flag`,
        );
      }
      this.answer({ error: 'retained command ignored', payload: text }, replyTo, 'mqtt');
      return;
    }
    if (!admitted) {
      // The flood shedder (src/mqtt/shed.ts) asks admitMqtt itself, below mqtt.js's parser.
      const verdict = this.admitMqtt(payload);
      if (verdict === this.refuseFirst) return this.refuseFirst(replyTo);
      if (verdict !== true) return verdict();
    }
    if (this.flood.flooded && !isStop(payload)) {
      // Within the budget, but the flood it came with may have swallowed a stop sent after it.
      const { topics } = this.deps.config;
      this.answer({ error: 'move topic flooded: only stop is obeyed until the flood ends', stopTopic: topics.stop }, replyTo, 'mqtt');
      this.overBudget('mqtt', this.mqttBudget.perSecond);
      return;
    }
    this.command(payload, 'mqtt', replyTo);
  }

  /**
   * The command budget for a non-retained message on the move topic: true to go on with it;
   * over the budget and not a stop, what refusing it does, for the caller to run where the
   * message stands in the order of arrival (the flood shedder decides below mqtt.js's parser,
   * before the messages ahead of it have been handled; src/mqtt/link.ts keeps the order).
   */
  private admitMqtt(payload: Buffer): true | (() => void) {
    if (this.listenerCount('activity') > 0) this.emit('activity');
    // An empty message clears a retained one: housekeeping, not a command (onMessage).
    if (payload.length === 0) return true;
    const budget = this.mqttBudget.take();
    if (budget === 'ok' || isStop(payload)) return true;
    return budget === 'first' ? this.refuseFirst : this.refuseOver;
  }

  /** Over the budget nothing is published (a RESULT per flooded message would double the flood); the flood guard counts it. */
  private readonly refuseOver = (): void => {
    if (this.flood.over()) this.flooded();
    this.overBudget('mqtt', this.mqttBudget.perSecond);
  };

  /** The first command over the budget is worth one answer (on its response topic too, when mqtt.js parsed it). */
  private readonly refuseFirst = (replyTo?: ReplyTo): void => {
    this.answer({ error: 'too many commands', limit: this.mqttBudget.perSecond }, replyTo, 'mqtt');
    this.refuseOver();
  };

  /**
   * A flood of the move topic began: whatever drives the car, a stop sent on that topic may now
   * wait in the broker's queue for seconds or be dropped with the flood, so the car stops
   * (reason `flood`) and any task ends. The page and the stop topic still work.
   */
  private flooded(): void {
    const { config, log } = this.deps;
    log.warn(
      `flood on ${config.topics.move}: more than ${this.flood.limit} messages over commandsPerSecond in a second; ` +
        `stopping the car, only stop is obeyed there until the flood ends (a stop that must get through: ${config.topics.stop} or the page)`,
    );
    this.driverGone('flood');
  }

  /** Any message on the stop topic stops the car: a stop is never refused, retained or not. */
  private onStopMessage(payload: Buffer, retained: boolean, replyTo?: ReplyTo): void {
    // An empty message clears a retained one (MQTT's way): no command.
    if (payload.length === 0) return;
    const source = retained ? 'mqtt stop topic (retained)' : 'mqtt stop topic';
    // A flood of stops still stops the car; it is answered only while there is something to stop.
    if (this.stopBudget.take() !== 'ok' && !this.driving()) return;
    this.command('stop', source, replyTo);
  }

  /** Counts a command refused for its rate; the first of a window is logged in full. */
  private overBudget(source: string, perSecond: number): void {
    if (this.rejections.admit(source)) {
      this.deps.log.warn(
        `rejected commands from ${source}: more than ${perSecond} a second (commandsPerSecond); only stop is obeyed until they slow down`,
      );
    }
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

  /** A state machine's one timer, replaced: cleared, then armed for `wakeAt` unless shutting down. */
  private rearm(current: NodeJS.Timeout | undefined, wakeAt: number | undefined, fire: () => void): NodeJS.Timeout | undefined {
    this.clock.clearTimeout(current);
    if (wakeAt === undefined || this.stopping) return undefined;
    return this.clock.setTimeout(fire, Math.max(0, wakeAt - this.clock.now()));
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
    const { config } = this.deps;
    for (const notice of fx.notices) {
      const topic = notice.kind === 'failed' ? config.topics.result : config.topics.arrived;
      this.link.publish(topic, JSON.stringify(notice.message), config.mqtt.qos);
      this.emit(notice.kind, notice.message);
    }
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

  /** The car's one timer, for the wake-up its last step asked for. */
  private arm(wakeAt: number | undefined): void {
    this.wakeTimer = this.rearm(this.wakeTimer, wakeAt, () => {
      this.wakeTimer = undefined;
      this.run({ type: 'tick', now: this.clock.now() });
    });
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
    this.emit('fatal', new Error(this.fault));
  }

  /**
   * Home Assistant's config on every connect while enabled (after the per-entity configs of
   * earlier versions are cleared, once per start); while disabled, empty retained configs,
   * which is what removes them once someone turns the option off.
   */
  private publishDiscovery(): void {
    const opts = this.discoveryOptions();
    if (!this.deps.config.homeassistant.enabled) {
      for (const m of clearMessages(opts)) this.link.publish(m.topic, m.payload, 1, true);
      return;
    }
    // Cleared before the device config goes out, so that Home Assistant has dropped the old
    // entities before the new config brings the same unique_ids back.
    if (!this.legacyCleared && this.link.connected) {
      this.legacyCleared = true;
      for (const m of legacyClearMessages(opts)) this.link.publish(m.topic, m.payload, 1, true);
    }
    for (const m of discoveryMessages(opts)) this.link.publish(m.topic, m.payload, 1, true);
  }

  private discoveryOptions(): DiscoveryOptions {
    const { config } = this.deps;
    const settings = this.trackSettings;
    return {
      prefix: config.homeassistant.prefix,
      device: config.device,
      moveTopic: config.topics.move,
      stopTopic: config.topics.stop,
      stateTopic: config.topics.state,
      lwtTopic: config.topics.lwt,
      arrivedTopic: config.topics.arrived,
      version: VERSION,
      speed: { min: config.drive.minSpeed, max: config.drive.maxSpeed },
      track: this.trackShown
        ? {
            stops: settings.stops.map((s) => s.name),
            metres: settings.lengthM !== undefined,
            length: settings.lengthM ?? 1,
            homeSwitch: settings.switches.includes(settings.homeEnd),
          }
        : undefined,
      camera: this.camera
        ? { photoTopic: config.topics.photo, stops: settings.stops.map((s) => ({ name: s.name, folder: stopFolder(s.name) })) }
        : undefined,
    };
  }

  /**
   * `online` on Home Assistant's status topic: it has (re)started, perhaps with a broker that
   * lost its retained messages, so the config goes out again (HOMEASSISTANT_REPUBLISH_MS later,
   * one publish however many `online`s come meanwhile). A retained `online` is no news: the
   * config went out as carbot connected.
   */
  private onHomeAssistantStatus(payload: Buffer, retained: boolean): void {
    if (retained || payload.toString('utf8').trim().toLowerCase() !== 'online' || this.haStatusTimer || this.stopping) return;
    this.haStatusTimer = this.clock.setTimeout(() => {
      this.haStatusTimer = undefined;
      if (this.stopping || !this.link.connected) return;
      this.deps.log.info(`Home Assistant is online (${statusTopic(this.deps.config.homeassistant.prefix)}): discovery config published again`);
      this.publishDiscovery();
    }, HOMEASSISTANT_REPUBLISH_MS);
  }

  /**
   * A change is published once the command that made it has been answered; changes that
   * follow within STATE_INTERVAL_MS are folded into one publish at the end of that window,
   * so a burst of commands (or a ramp) costs a few STATE messages, not one per command,
   * and the state it settles on always goes out.
   */
  private scheduleState(interval = STATE_INTERVAL_MS): void {
    if (this.stateTimer) return;
    const wait = Math.max(0, this.lastStateAt + interval - this.clock.now());
    this.stateTimer = this.clock.setTimeout(() => {
      this.stateTimer = undefined;
      this.publishState();
    }, wait);
  }

  private publishState(): void {
    this.lastStateAt = this.clock.now();
    const state = this.state();
    this.link.publish(this.deps.config.topics.state, JSON.stringify(state), this.deps.config.mqtt.qos, true);
    // The car may have started moving: the link chases up a silent broker while it does.
    this.link.watch();
    this.emit('state', state);
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
    this.clock.clearTimeout(this.haStatusTimer);
    clearInterval(this.teleTimer);
    this.clock.clearTimeout(this.stateTimer);
    this.stateTimer = undefined;
    this.publishState();
    await Promise.all([this.link.close(), this.stopLink.close()]);
    this.rejections.close();
    this.clears.close();
    await limits?.close();
    await this.deps.encoder?.close();
    await motors.close();
    this.deps.sim?.close();
    log.info('motor outputs zeroed, broker connection closed');
  }
}
