#!/usr/bin/env node
/**
 * The process: arguments, exit codes, signals. Everything it starts, it stops.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { MAX_PAYLOAD_BYTES, parseCommand, type CommandId } from './core/commands';
import { ConfigError, DEFAULT_CONFIG_PATH, EX_CONFIG, embeddedBrokerUrl, loadConfig, positionalIndexes, settingsHelp, withMqttUrl, type Config } from './config/config';
import type { Motion } from './core/drive';
import { journaldLines } from './process/journald';
import { useCodeCache } from './process/code-cache';
import { mapStackTraces } from './process/source-maps';
import type { Logger } from './process/log';
import type { Hardware } from './motors';
import type { TrackHardware } from './sensors/track-hardware';
import type { EmbeddedBroker } from './mqtt/embedded-broker';
import type { RemoteServer } from './http/remote-server';
import { VERSION } from './version';

/*
 * Each verb loads only what it uses, when it runs: `--version`, `--help` and `--check-config`
 * load none of the service, `send` only the MQTT client, `safe-state` the motors and the
 * logger. docs/performance.md has what that saves; test/integration/loaded-modules.test.ts
 * holds it. The build bundles each of these modules into one file (scripts/bundle.js).
 */
const lazy = {
  log: () => require('./process/log') as typeof import('./process/log'),
  link: () => require('./mqtt/link') as typeof import('./mqtt/link'),
  runtime: () => require('./runtime') as typeof import('./runtime'),
};

/** sysexits(3): the command line was wrong. */
const EX_USAGE = 64;
/** sysexits(3): the broker could not be reached. */
const EX_UNAVAILABLE = 69;
/**
 * sysexits(3) EX_TEMPFAIL: another live carbot drives this device (docs/mqtt.md#one-carbot-per-car);
 * try again once it has stopped. The units' RestartPreventExitStatus holds it, so systemd
 * does not restart into the same refusal every 2 s.
 */
const EX_CAR_TAKEN = 75;
const SHUTDOWN_BUDGET_MS = 2500;
/** How long start-up waits to learn whether another carbot drives the car: a connect and a 2 s ping. */
const OWNER_CHECK_MS = 5000;

/** Signals whose default is to end the process: each one gets the orderly shutdown instead. */
const SHUTDOWN_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGQUIT', 'SIGALRM', 'SIGVTALRM', 'SIGXCPU', 'SIGXFSZ', 'SIGPWR', 'SIGIO'] as const;
/**
 * Ignored with a warning. SIGUSR1 would open Node's inspector on 127.0.0.1:9229 in a process
 * that runs as root, where any local user could connect and run code as root; a listener of
 * our own is what stops Node from doing that. SIGUSR2's default would end carbot unshut.
 * SIGPROF is left alone: V8's profiler samples with it.
 */
const IGNORED_SIGNALS = ['SIGUSR1', 'SIGUSR2'] as const;

let onIgnoredSignal = (_signal: string): void => undefined;
const ignoreSignal = (signal: NodeJS.Signals): void => onIgnoredSignal(signal);

/** From the first moment: before the logger, the hardware and everything else. */
function ignoreDebugSignals(): void {
  for (const signal of IGNORED_SIGNALS) process.on(signal, ignoreSignal);
  // The bundle's first statement put one in even earlier (scripts/bundle.js): ours now holds it.
  for (const listener of process.listeners('SIGUSR1')) {
    if (listener.name === 'carbotEarlySigusr1') process.off('SIGUSR1', listener);
  }
}


const USAGE = `carbot ${VERSION} — drive a Raspberry Pi car from MQTT

Usage:
  carbot [options]                 run the service
  carbot send <command> [options]  publish one command and print carbot's RESULT
  carbot --check-config [options]  print the effective configuration and exit (0 or 78)
  carbot safe-state [options]      drive every configured output to stop, then exit 0
                                   (the unit runs it after carbot, however carbot ended)
  carbot boards [options]          print the boards the configuration drives here
                                   (pigpio needs root; kernel, pca9685 and sim do not)
  carbot doctor [options]          check this Pi for what the configuration needs, one line
                                   per check with the fix (exit 0 all fine, 1 to fix)
  carbot jog <motor> [options]     run one motor forward at 20 % for 1 s, then stop, to see
                                   which way it turns (also: carbot doctor --jog <motor>)
  carbot config-txt [options]      print the config.txt lines the configured PWM pins need
                                   on this board (none unless the kernel board drives them)
  carbot --version | --help

Commands: forward (f), backward (b, back, reverse), stop (s), faster (+), slower (-),
          or JSON such as '{"move":"forward","speed":40}'.
Track:    home (h), calibrate (cal), patrol (p), goto basil, goto 0.42,
          '{"goto":"basil"}', '{"move":"forward","for":2.5}' (docs/track.md).

Options (flag, environment variable, meaning). Precedence: flag > environment >
config file (--config FILE or CARBOT_CONFIG, default /etc/carbot/config.json) > default.
  --config FILE                                               JSON configuration file
  --no-config                                                 read no file, not even /etc/carbot/config.json
${settingsHelp()}

Exit codes: 0 ok, 1 runtime failure (doctor: something to fix), 64 wrong command line,
69 broker unreachable (send), 75 another carbot already drives this device (or, for jog,
runs here), 78 invalid configuration.
`;

/**
 * The commands that reach this carbot through its embedded broker, with every setting that
 * differs from what `carbot send` would use by itself.
 */
export function tryIt(config: Config, port: number, defaultConfigExists = existsSync(DEFAULT_CONFIG_PATH)): string {
  const host = config.embeddedBroker.host === '0.0.0.0' ? '127.0.0.1' : config.embeddedBroker.host;
  const flags: string[] = [];
  if (config.configFile && config.configFile !== DEFAULT_CONFIG_PATH) flags.push('--config', config.configFile);
  if (!config.configFile && defaultConfigExists) flags.push('--no-config');
  if (port !== 1883 || !['127.0.0.1', 'localhost'].includes(host)) flags.push('--mqtt-url', `mqtt://${host}:${port}`);
  if (config.device !== 'carbot') flags.push('--device', config.device);
  if (config.topics.move !== `${config.device}/move`) flags.push('--move-topic', config.topics.move);
  const program = relative(process.cwd(), __filename) || 'dist/cli.js';
  return (
    `try it: node ${shellWord(program)} send forward${flags.map((f) => ` ${shellWord(f)}`).join('')}` +
    `   (or: mosquitto_pub -h ${host} -p ${port} -t ${shellWord(config.topics.move)} -m forward)`
  );
}

/**
 * Where to rebuild pigpio's addon: in a checkout, right there; in the copy install.sh made
 * (no src/, owned by root), by running the installer again, which builds and copies anew.
 */
export function rebuildHint(carbotDir: string, isCheckout = existsSync(join(carbotDir, 'src'))): string {
  return isCheckout
    ? `to rebuild it here: cd ${shellWord(carbotDir)} && npm rebuild pigpio`
    : `carbot runs from the copy scripts/install.sh made in ${carbotDir}: after installing the library, run ` +
        `"sudo scripts/install.sh" again in your carbot checkout; it rebuilds the addon and installs it ` +
        `(an npm rebuild inside ${carbotDir} would be undone by the next install)`;
}

/** A word as a shell would need it typed. */
function shellWord(word: string): string {
  return /^[\w./:@=+-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** For what happens before the logger exists or after it is gone; an error to journald too. */
function printError(message: string): void {
  const text = `carbot: ${message}`;
  process.stderr.write(`${process.env.JOURNAL_STREAM ? journaldLines('error', text) : text}\n`);
}

function fail(message: string, code: number): never {
  printError(message);
  process.exit(code);
}

function load(argv: string[], serving = false, ownershipWarnsOnly = false): Config {
  try {
    return loadConfig({
      argv,
      env: process.env,
      defaultConfigPath: DEFAULT_CONFIG_PATH,
      serving,
      // As root, a settings file somebody else can change is refused (docs/security.md).
      runningAs: process.getuid?.(),
      ownershipWarnsOnly,
    });
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message, EX_CONFIG);
    throw err;
  }
}

/** What `carbot send` waits for: an answer to its own command (docs/mqtt.md#matching-answers-to-questions). */
export interface Question {
  /** The command has gone out: nothing that arrived before it is its answer. */
  sent: boolean;
  /** MQTT 5: the correlation data it was published with, on its own response topic. */
  correlation?: Buffer;
  /** MQTT 3.1.1: the `id` of the JSON command, which carbot echoes in RESULT. */
  id?: CommandId;
}

/**
 * Whether a message can be carbot's answer to the command `carbot send` published: never a
 * retained one (the answer to somebody's command long ago, or a fake left there), never one
 * that arrived before the command went out; with MQTT 5 one that carries the command's
 * correlation data, with 3.1.1 a RESULT that echoes the command's `id` (when the command could
 * carry one: any command carbot understands can).
 */
export function isOurAnswer(packet: { retain?: boolean; properties?: { correlationData?: Buffer } }, payload: Buffer, question: Question): boolean {
  if (!question.sent || packet.retain === true) return false;
  if (question.correlation && packet.properties?.correlationData?.equals(question.correlation) === true) return true;
  const id = question.id;
  // With MQTT 5 and no id, only the correlated answer is ours.
  if (id === undefined) return question.correlation === undefined;
  // As carbot writes it (JSON.stringify): also found in an answer that is not JSON, which is then shown as such.
  if (typeof id === 'string') return payload.toString('utf8').includes(`"id":${JSON.stringify(id)}`);
  try {
    return (JSON.parse(payload.toString('utf8')) as { id?: unknown }).id === id;
  } catch {
    return false;
  }
}

/**
 * The command as JSON with an `id` for an MQTT 3.1.1 broker, where RESULT can only be matched
 * to a command through its payload: `back` becomes `{"move":"backward","id":"…"}`, and a JSON
 * command gets the id unless it has its own (then that one is matched). Undefined when the
 * command cannot carry one (carbot refuses it anyway, or it would grow past the 256 bytes).
 */
export function withId(command: string, id: string): { payload: string; id: CommandId } | undefined {
  const trimmed = command.trim();
  let fields: Record<string, unknown>;
  if (trimmed.startsWith('{')) {
    try {
      const value = JSON.parse(trimmed) as unknown;
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
      fields = value as Record<string, unknown>;
    } catch {
      return undefined;
    }
    const own = fields.id;
    if (own !== undefined) return typeof own === 'string' || typeof own === 'number' ? { payload: command, id: own } : undefined;
  } else {
    const parsed = parseCommand(trimmed);
    if (!parsed.ok) return undefined;
    const { move, to } = parsed.command;
    fields = move === 'goto' ? { goto: to } : { move };
  }
  const payload = JSON.stringify({ ...fields, id });
  return Buffer.byteLength(payload) <= MAX_PAYLOAD_BYTES ? { payload, id } : undefined;
}

/**
 * A payload as it may reach a terminal: control characters (ESC and the rest of C0 and C1,
 * DEL, line breaks) and the bidirectional overrides become \uXXXX, so a RESULT cannot move
 * the cursor, retitle the window or hide part of itself.
 */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `carbot send [options] <command> [options]`: the one command, and the options around it. */
async function send(args: string[]): Promise<number> {
  const positional = positionalIndexes(args);
  if (positional.length === 0) fail('send needs a command, e.g. carbot send forward', EX_USAGE);
  let words = positional.map((i) => args[i]);
  // `carbot send goto basil`: a goto and its place are one command (the parser reads `goto basil`).
  if (words.length === 2 && /^go(to)?$/i.test(words[0])) words = [words.join(' ')];
  if (words.length > 1) {
    fail(
      `send takes one command, got ${words.length}: ${words.map((a) => JSON.stringify(a)).join(' ')}. Send them one at a ` +
        `time (carbot send ${words[0]}), and quote JSON as one argument: carbot send '{"move":"forward","speed":40}'`,
      EX_USAGE,
    );
  }
  const command = words[0];
  if (command.trim() === '') fail('send needs a command, not an empty one, e.g. carbot send stop', EX_USAGE);
  const argv = args.filter((_, i) => !positional.includes(i));
  const config = load(argv);
  const { mqtt: settings, topics } = config;
  const { oneShotClient, describeMqttError, refusedVersion } = lazy.link();
  const nonce = randomBytes(8).toString('hex');
  /** MQTT 5's request/response: carbot answers on this topic too, with the correlation data. */
  const replyTopic = `${topics.result.slice(0, topics.result.lastIndexOf('/'))}/reply/send-${nonce}`;
  const REFUSED_5 = Symbol('MQTT 5 refused');
  let ownId: CommandId | undefined;
  const ask = async (version: 4 | 5): Promise<string | typeof REFUSED_5> => {
    const client = oneShotClient(settings, 5000, undefined, version);
    const question: Question = { sent: false };
    let payload = command;
    let listenOn = topics.result;
    const publishOptions: { qos: 1; properties?: { responseTopic: string; correlationData: Buffer } } = { qos: 1 };
    let listenAlso: string[] = [];
    // The id in MQTT 5 too: a carbot whose own connection is 3.1.1 (a bridge, an older
    // broker behind it) answers only on RESULT, where the id tells its answer from others'.
    const tagged = withId(command, `send-${nonce}`);
    if (tagged) {
      payload = tagged.payload;
      question.id = tagged.id;
      ownId = tagged.id === `send-${nonce}` ? tagged.id : undefined;
    }
    if (version === 5) {
      question.correlation = Buffer.from(`send-${nonce}`);
      listenOn = replyTopic;
      if (tagged) listenAlso = [topics.result];
      publishOptions.properties = { responseTopic: replyTopic, correlationData: question.correlation };
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      return await new Promise<string | typeof REFUSED_5>((resolve, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no RESULT on ${topics.result} within 5 s: is carbot running and subscribed to ${topics.move}?`)),
          5000,
        );
        // 'on', not 'once': a reset may follow the refusal, and an 'error' nobody hears would be thrown.
        client.on('error', (err) => {
          if (version === 5 && refusedVersion(err as { code?: unknown })) resolve(REFUSED_5);
          else reject(new Error(describeMqttError(err, settings.url)));
        });
        client.on('message', (_t, message, packet) => {
          if (isOurAnswer(packet, message, question)) resolve(message.toString('utf8'));
        });
        client.once('connect', () => {
          client
            .subscribeAsync([listenOn, ...listenAlso], { qos: 1 })
            .then(() => {
              question.sent = true;
              return client.publishAsync(topics.move, payload, publishOptions);
            })
            .catch(reject);
        });
      });
    } finally {
      clearTimeout(timer);
      await client.endAsync(true);
    }
  };
  try {
    // MQTT 5 first; a broker that speaks only 3.1.1 refuses it, and is asked again in 3.1.1.
    let answer = await ask(5);
    if (answer === REFUSED_5) answer = await ask(4);
    if (answer === REFUSED_5) throw new Error(`broker at ${settings.url} refused MQTT 3.1.1 too`);
    let result = answer;
    let parsed: unknown;
    try {
      parsed = JSON.parse(result);
    } catch {
      process.stdout.write(`${printable(result)}\n`);
      printError(`the RESULT on ${topics.result} is not JSON: is that carbot answering?`);
      return 1;
    }
    // The id send added for 3.1.1 is its own business: the RESULT is shown as carbot meant it.
    if (ownId !== undefined && typeof parsed === 'object' && parsed !== null && (parsed as { id?: unknown }).id === ownId) {
      const { id: _ours, ...rest } = parsed as Record<string, unknown>;
      result = JSON.stringify(rest);
    }
    process.stdout.write(`${printable(result)}\n`);
    return typeof parsed === 'object' && parsed !== null && 'error' in parsed ? 1 : 0;
  } catch (err) {
    printError((err as Error).message);
    return EX_UNAVAILABLE;
  }
}

/**
 * `carbot doctor [--jog <motor>]` and `carbot jog <motor>`: src/doctor/, loaded for these
 * verbs only. The machine's files are read under CARBOT_SYSTEM_ROOT (default /), which tests
 * point at a fake tree.
 */
async function doctorOrJog(argv: string[]): Promise<number> {
  let args = argv.slice(1);
  let motor: string | undefined;
  let jogging = argv[0] === 'jog';
  const flag = args.findIndex((a) => a === '--jog' || a.startsWith('--jog='));
  if (argv[0] === 'doctor' && flag >= 0) {
    jogging = true;
    motor = args[flag].startsWith('--jog=') ? args[flag].slice('--jog='.length) : args[flag + 1];
    if (motor === undefined || motor.startsWith('--')) fail('--jog needs a motor name, e.g. carbot doctor --jog left', EX_USAGE);
    args = args.filter((_, i) => i !== flag && (args[flag].includes('=') || i !== flag + 1));
  }
  const positional = positionalIndexes(args);
  if (jogging && motor === undefined) {
    if (positional.length > 1) fail(`jog takes one motor, got ${positional.map((i) => JSON.stringify(args[i])).join(' ')}`, EX_USAGE);
    motor = positional.length === 1 ? args[positional[0]] : undefined;
  } else if (positional.length > 0) {
    fail(`unexpected argument ${JSON.stringify(args[positional[0]])} after ${argv[0]}; see carbot --help`, EX_USAGE);
  }
  const config = load(args.filter((_, i) => !(jogging && positional.includes(i))));
  const { doctor, hostRoots, jog, JogRefused } = require('./doctor/index') as typeof import('./doctor/index');
  const roots = hostRoots(process.env);
  const print = (line: string) => process.stdout.write(`${line}\n`);
  if (!jogging) return doctor(config, { roots }, print);

  const { createLogger, flushLogger } = lazy.log();
  const log = createLogger({ level: config.logLevel, format: config.logFormat });
  let stop = () => undefined as void;
  const interrupted = new Promise<void>((resolve) => (stop = resolve));
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, stop);
  try {
    await jog(config, motor, log, { roots, print, interrupted });
    return 0;
  } catch (err) {
    if (err instanceof JogRefused) {
      printError(`jog: ${err.message}`);
      return err.exitCode;
    }
    log.error((err as Error).message);
    return 1;
  } finally {
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.off(signal, stop);
    await flushLogger(log);
  }
}

async function run(argv: string[]): Promise<void> {
  ignoreDebugSignals();
  // Frozen: the one change, the embedded broker's port once it listens, makes a new one.
  let config = load(argv, true);
  const { createLogger, flushLogger } = lazy.log();
  const { CarService, MqttFront, createNotifier, monitorEventLoop, openHardware, openTrackHardware, statusText, systemClock } = lazy.runtime();
  const log = createLogger({ level: config.logLevel, format: config.logFormat });
  // SIGUSR1 is someone trying to open the inspector: worth a warning. SIGUSR2 is what tools
  // such as the benchmark's memory probe send.
  onIgnoredSignal = (signal) => log[signal === 'SIGUSR1' ? 'warn' : 'debug'](`ignored ${signal}: carbot keeps running (SIGTERM stops it)`);
  // Ticks while the car moves and for a while after each command; a parked carbot sleeps.
  let moving = (): boolean => false;
  const loopMonitor = monitorEventLoop(log, { busy: () => moving() });
  log.info(`carbot ${VERSION} starting (node ${process.version}, pid ${process.pid})`);
  log.info(`config${config.configFile ? ` from ${config.configFile}` : ''}: ${JSON.stringify(config.effective)}`);
  for (const warning of config.warnings) log.warn(warning);

  // One carbot per car (docs/mqtt.md#one-carbot-per-car), asked before the hardware is opened:
  // its set-up would stop a car another carbot on this Pi drives. A broker that cannot be
  // reached within a few seconds does not hold the car up; the link asks again on every connect.
  const { checkOwner, describeOwner } = lazy.link();
  const taken = (owner: import('./mqtt/link').OwnerInfo) =>
    `${config.device} is already driven by ${describeOwner(owner)}: this carbot does not drive it and exits ` +
    `(${EX_CAR_TAKEN}). Stop that one first (sudo systemctl stop carbot, or Ctrl-C where it runs), or give this ` +
    `car another device name (--device)`;
  // A broker of its own is not there yet (and is asked once it is); one of another carbot's
  // on its port fails the listen.
  const ownBroker = config.embeddedBroker.enabled && config.mqtt.url === embeddedBrokerUrl(config.embeddedBroker.host, config.embeddedBroker.port);
  const verdict = ownBroker ? undefined : await checkOwner(config.mqtt, config.topics, log, AbortSignal.timeout(OWNER_CHECK_MS));
  if (verdict?.kind === 'held') {
    log.error(taken(verdict.owner));
    await flushLogger(log);
    process.exit(EX_CAR_TAKEN);
  }

  // Benchmark hook: the sim motors keep a timestamp per write, saved at exit.
  const tracePath = process.env.CARBOT_SIM_TRACE;
  let hardware: Hardware;
  try {
    hardware = await openHardware(config, log, { recordWrites: Boolean(tracePath), clock: systemClock });
  } catch (err) {
    log.error((err as Error).message);
    if ((err as { problem?: string }).problem === 'addon-missing') log.error(rebuildHint(resolve(__dirname, '..')));
    await flushLogger(log);
    process.exit(1);
  }

  let trackHardware: TrackHardware;
  try {
    trackHardware = await openTrackHardware(config, hardware, log, systemClock);
  } catch (err) {
    log.error((err as Error).message);
    await hardware.limits?.close();
    await hardware.motors.close();
    await flushLogger(log);
    process.exit(1);
  }

  // Started before the car service, which connects to it: port 0 takes any free port, and
  // carbot learns which only now.
  let broker: EmbeddedBroker | undefined;
  if (config.embeddedBroker.enabled) {
    try {
      const { startEmbeddedBroker } = require('./mqtt/embedded-broker') as typeof import('./mqtt/embedded-broker');
      broker = await startEmbeddedBroker({ ...config.embeddedBroker, allowedHosts: config.http.allowedHosts, log });
    } catch (err) {
      log.error((err as Error).message);
      trackHardware.sim?.close();
      await trackHardware.encoder?.close();
      await hardware.limits?.close();
      await hardware.motors.close();
      log.info('shutting down (a listener failed to start)');
      await flushLogger(log);
      process.exit(1);
    }
    if (config.mqtt.url === embeddedBrokerUrl(config.embeddedBroker.host, config.embeddedBroker.port)) {
      config = withMqttUrl(config, embeddedBrokerUrl(config.embeddedBroker.host, broker.port));
    }
    log.info(tryIt(config, broker.port));
  }
  let remote: RemoteServer | undefined;
  const service = new CarService({ config, log, motors: hardware.motors, ...trackHardware });
  // The car's peers: the broker's front end now, the page's further down (startRemoteServer).
  const mqtt = new MqttFront({ config, log, car: service });
  const sim = tracePath ? hardware.sim : undefined;
  if (sim) mqtt.on('received', (at: bigint) => (sim.received = at));

  // Only now, with pigpio initialised: it replaces the SIGCHLD handler, and Node installs its
  // own (which the notifier's child processes need) when it spawns its first child.
  const notifier = createNotifier(process.env, log);
  notifier.status(`connecting to ${config.mqtt.url}`);
  const showStatus = () => {
    const state = service.state();
    notifier.status(
      statusText({
        motion: state.motion as Motion,
        speed: state.speed as number,
        broker: service.brokerOnline() ? 'connected' : 'disconnected',
      }),
    );
  };
  service.on('link', (online: boolean) => {
    if (online) {
      notifier.ready();
      notifier.startWatchdog();
    }
    showStatus();
  });
  service.on('state', showStatus);
  moving = () => service.state().motion !== 'stopped';
  service.on('activity', () => loopMonitor.wake());
  service.on('state', () => loopMonitor.wake());

  let exiting = false;
  const exit = async (why: string, code: number) => {
    if (exiting) return;
    exiting = true;
    notifier.stopping();
    // The motors are zeroed first thing inside shutdown(); this bound is for the broker goodbye.
    const guard = setTimeout(() => {
      hardware.motors.stopAll();
      printError(`shutdown took over ${SHUTDOWN_BUDGET_MS} ms; outputs zeroed, exiting`);
      process.exit(code);
    }, SHUTDOWN_BUDGET_MS);
    try {
      await service.shutdown(why);
      await remote?.close();
      await broker?.close();
    } catch (err) {
      log.error(`error while shutting down: ${(err as Error).message}`);
    }
    clearTimeout(guard);
    notifier.close();
    loopMonitor.close();
    if (sim && tracePath) {
      // [arrival of the MQTT message that caused the write, the write, '1' if the car moves after it]
      const moving = (w: { outputs: Record<string, number> }) => (Object.values(w.outputs).some((v) => v !== 0) ? '1' : '0');
      writeFileSync(tracePath, JSON.stringify(sim.writes.map((w) => [String(w.received ?? ''), String(w.at), moving(w)])));
    }
    await flushLogger(log);
    process.exit(code);
  };

  // Installed after the hardware is open: pigpio's C library sets its own signal handlers
  // when it initialises, and ours must be the ones that run (taken off and put back, so that
  // Node installs its handler again).
  for (const signal of SHUTDOWN_SIGNALS) {
    process.on(signal, () => void exit(signal, 0));
  }
  for (const signal of IGNORED_SIGNALS) {
    process.off(signal, ignoreSignal);
    process.on(signal, ignoreSignal);
  }
  // systemctl stop sends SIGCONT after SIGTERM; pigpio's handler would exit 255 on it.
  process.on('SIGCONT', () => undefined);
  const crash = (err: unknown) => {
    hardware.motors.stopAll();
    log.error(`uncaught error, motors stopped: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    void exit('uncaught error', 1);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
  service.on('fatal', (err: Error) => void exit(err.message, 1));
  // Another carbot took the car while this one was away from the broker: it keeps it.
  service.on('taken', (owner: import('./mqtt/link').OwnerInfo) => {
    log.error(taken(owner));
    void exit('another carbot drives this car', EX_CAR_TAKEN);
  });

  try {
    if (config.http.port !== 0) {
      const { host, port, token, username, password, allowedHosts } = config.http;
      const { startRemoteServer } = require('./http/remote-server') as typeof import('./http/remote-server');
      remote = await startRemoteServer({
        host,
        port,
        car: service,
        log,
        auth: { token, username, password },
        allowedHosts,
        commandsPerSecond: config.commandsPerSecond,
        stopOnDisconnect: config.stopOnDisconnect,
        photosDir: config.camera?.dir,
      });
    }
  } catch (err) {
    log.error((err as Error).message);
    await exit('a listener failed to start', 1);
    return;
  }
  // The answer saves the first connect a question; a question that ran out of time is asked
  // again at once, with mqtt.js's own connect timeout.
  service.start();
  mqtt.start(verdict?.kind === 'unreachable' && verdict.error.name === 'TimeoutError' ? undefined : verdict);
}

async function main(argv: string[]): Promise<void> {
  // With stderr gone, an error report would raise an error of its own.
  process.stderr.on('error', () => undefined);
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(USAGE);
    return;
  }
  if (argv.includes('--version') || argv.includes('-v')) {
    process.stdout.write(`${VERSION}\n`);
    return;
  }
  if (argv[0] === 'send') {
    process.exitCode = await send(argv.slice(1));
    return;
  }
  if (argv[0] === 'safe-state' || argv[0] === 'boards' || argv[0] === 'config-txt') {
    // safe-state stops the outputs whoever owns the settings: that comes first.
    const config = load(argv.slice(1), false, argv[0] === 'safe-state');
    // Loaded only for these verbs: the service's modules stay unloaded.
    const { safeState, boardsNeeded, configTxtNeeded, systemHost } = require('./process/safe-state') as typeof import('./process/safe-state');
    if (argv[0] === 'boards') {
      process.stdout.write(`${boardsNeeded(config, systemHost()).join('\n')}\n`);
      return;
    }
    if (argv[0] === 'config-txt') {
      const lines = configTxtNeeded(config, systemHost());
      if (lines.length > 0) process.stdout.write(`${lines.join('\n')}\n`);
      return;
    }
    const { createLogger, flushLogger } = lazy.log();
    const log = createLogger({ level: config.logLevel, format: config.logFormat });
    // As the unit's ExecStopPost after carbot exited because another carbot drives the car
    // (systemd passes the exit in EXIT_CODE/EXIT_STATUS): the outputs are that one's, not ours.
    if (process.env.EXIT_CODE === 'exited' && process.env.EXIT_STATUS === String(EX_CAR_TAKEN)) {
      log.info(`carbot exited ${EX_CAR_TAKEN}: another carbot drives this car, so its outputs are left as they are`);
      await flushLogger(log);
      return;
    }
    for (const warning of config.warnings) log.warn(warning);
    await safeState(config, log);
    await flushLogger(log);
    return;
  }
  if (argv[0] === 'doctor' || argv[0] === 'jog') {
    process.exitCode = await doctorOrJog(argv);
    return;
  }
  const stray = positionalIndexes(argv).map((i) => argv[i]);
  if (stray.length > 0) {
    const hint = stray.length === 1 ? ` (to drive the car: carbot send ${stray[0]})` : '';
    fail(`unexpected argument${stray.length > 1 ? 's' : ''} ${stray.map((a) => JSON.stringify(a)).join(' ')}${hint}; see carbot --help`, EX_USAGE);
  }
  if (argv.includes('--check-config')) {
    const config = load(argv.filter((a) => a !== '--check-config'), true);
    process.stdout.write(`${JSON.stringify(config.effective, null, 2)}\n`);
    for (const warning of config.warnings) process.stderr.write(`carbot: warning: ${warning}\n`);
    return;
  }
  await run(argv);
}

if (require.main === module) {
  // Stack traces name src/ files, not places in the bundles (src/process/source-maps.ts); the bundles
  // compile from the V8 code caches the build made (src/process/code-cache.ts).
  mapStackTraces(__dirname);
  useCodeCache(__dirname);
  main(process.argv.slice(2)).catch((err: Error) => fail(err.stack ?? err.message, 1));
}

export { main };
export type { Logger };
