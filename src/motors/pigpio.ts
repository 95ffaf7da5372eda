import fs from 'node:fs';
import os from 'node:os';
import type { Backend, GpioChoice } from './types';

/**
 * Choosing the hardware backend and loading pigpio. pigpio is required only here and only
 * when called, so machines that never drive real motors never load it (nor see the warning
 * banner it prints when its native addon is missing).
 */

/** The part of pigpio's Gpio that carbot uses. */
export interface PigpioGpio {
  pwmWrite(dutyCycle: number): unknown;
  pwmFrequency(frequency: number): unknown;
  pwmRange(range: number): unknown;
  servoWrite(pulseWidth: number): unknown;
}

export interface PigpioGpioOptions {
  mode?: number;
  pullUpDown?: number;
}

/** The part of the pigpio module that carbot uses. */
export interface PigpioModule {
  Gpio: {
    new (gpio: number, options?: PigpioGpioOptions): PigpioGpio;
    readonly INPUT: number;
    readonly OUTPUT: number;
    readonly PUD_DOWN: number;
    readonly PUD_UP: number;
  };
  initialize(): void;
  terminate(): void;
  configureClock(microseconds: number, peripheral: number): void;
  configureInterfaces(ifFlags: number): void;
  readonly CLOCK_PCM: number;
  readonly DISABLE_FIFO_IF: number;
  readonly DISABLE_SOCK_IF: number;
  readonly DISABLE_ALERT: number;
}

export type RequireModule = (id: string) => unknown;

export type GpioProblem =
  | 'not-a-pi'
  | 'pi5'
  | 'not-root'
  | 'pigpiod-running'
  | 'module-missing'
  | 'addon-missing'
  | 'init-failed'
  | 'pin-unavailable';

/** pigpio cannot be used here; the message says why and how to fix it. */
export class GpioError extends Error {
  override readonly name = 'GpioError';
  constructor(
    readonly problem: GpioProblem,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export const MODEL_PATH = '/proc/device-tree/model';
/** pigpio's lock: whoever initialises the C library first owns the GPIO DMA engine. */
export const PIGPIO_LOCK_FILE = '/var/run/pigpio.pid';
/** The sample rate PIGPIO_PWM_FREQUENCIES (motor-config.ts) is computed for. */
export const PIGPIO_SAMPLE_US = 5;

export interface HostDeps {
  modelPath?: string;
  lockFile?: string;
  getuid?: () => number;
  /** Whether a process with this pid exists. */
  processAlive?: (pid: number) => boolean;
  /** The command name of a process (/proc/<pid>/comm), for the message. */
  processName?: (pid: number) => string | undefined;
}

function readText(path: string): string | undefined {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function defaultProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The board's model string, e.g. "Raspberry Pi 4 Model B Rev 1.4"; undefined off a Pi-like board. */
export function readBoardModel(path = MODEL_PATH): string | undefined {
  const text = readText(path);
  if (text === undefined) return undefined;
  return text.replace(/\0+$/, '').trim() || undefined;
}

export function isRaspberryPi(model: string | undefined): boolean {
  return model !== undefined && model.startsWith('Raspberry Pi');
}

/** Pi 5, Pi 500 and Compute Module 5 put their GPIO on the RP1 chip, which pigpio cannot drive. */
export function isRp1Board(model: string | undefined): boolean {
  return model !== undefined && /^Raspberry Pi (?:Compute Module )?5\d*\b/.test(model);
}

/**
 * The checks that pigpio itself would only fail with "pigpio error -1 in gpioInitialise";
 * done first so the message can say which one failed.
 */
export function checkPigpioHost(model: string | undefined, deps: HostDeps = {}): void {
  if (isRp1Board(model)) {
    throw new GpioError(
      'pi5',
      `this is a ${model}: the pigpio C library does not support the Raspberry Pi 5 family ` +
        `(its GPIO sit on the RP1 chip; see github.com/joan2937/pigpio/issues/589), so carbot cannot drive motors on it. ` +
        `Use a Raspberry Pi 4, 3, Zero 2 W or earlier for the motors, or set gpio to "sim" to run without them.`,
    );
  }
  const uid = (deps.getuid ?? process.getuid)?.();
  if (uid !== undefined && uid !== 0) {
    throw new GpioError(
      'not-root',
      `pigpio needs root: it drives the pins through /dev/mem and DMA (carbot runs as uid ${uid}). ` +
        `Run carbot as root (the carbot.service unit does; from a shell use sudo), ` +
        `or set gpio to "sim" to run without motors.`,
    );
  }
  const lockFile = deps.lockFile ?? PIGPIO_LOCK_FILE;
  const pid = Number.parseInt(readText(lockFile) ?? '', 10);
  if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && (deps.processAlive ?? defaultProcessAlive)(pid)) {
    const name = (deps.processName ?? ((p) => readText(`/proc/${p}/comm`)?.trim()))(pid) ?? 'another process';
    throw new GpioError(
      'pigpiod-running',
      `${name} (pid ${pid}) holds pigpio's lock ${lockFile}; only one process can use pigpio at a time. ` +
        (name === 'pigpiod'
          ? 'Stop and disable the pigpio daemon: sudo systemctl disable --now pigpiod'
          : `Stop that process (or, if it is the pigpio daemon: sudo systemctl disable --now pigpiod).`),
    );
  }
}

export interface BackendSelection {
  backend: Backend;
  model: string | undefined;
  /** Set when `auto` fell back to sim on a machine that is not a Raspberry Pi. */
  warning?: string;
}

/**
 * `auto`: pigpio on a Raspberry Pi, sim elsewhere (with a warning). On a Pi there is no
 * fallback: whatever stops pigpio from working is a GpioError saying how to fix it.
 */
export function selectBackend(choice: GpioChoice, deps: HostDeps = {}): BackendSelection {
  const model = readBoardModel(deps.modelPath ?? MODEL_PATH);
  if (choice === 'sim') return { backend: 'sim', model };
  if (!isRaspberryPi(model)) {
    const seen = model === undefined ? `${deps.modelPath ?? MODEL_PATH} is missing` : `the board is "${model}"`;
    if (choice === 'pigpio') {
      throw new GpioError(
        'not-a-pi',
        `gpio is "pigpio" but this is not a Raspberry Pi (${seen}). Set gpio to "auto" or "sim" to run with simulated motors.`,
      );
    }
    return {
      backend: 'sim',
      model,
      warning: `not a Raspberry Pi (${seen}): using simulated motors; set gpio to "pigpio" to insist on real ones`,
    };
  }
  checkPigpioHost(model, deps);
  return { backend: 'pigpio', model };
}

export interface LoadPigpioOptions extends HostDeps {
  /** Defaults to Node's require; tests pass a function returning a fake module. */
  requireModule?: RequireModule;
  /** Whose signal listeners are re-armed after pigpio initialises (default: process). */
  signalTarget?: NodeJS.EventEmitter;
}

/** The first line of an error that pigpio.js printed (it catches its addon's load error and prints it). */
function causeFromBanner(lines: string[]): string | undefined {
  const text = lines.join('\n');
  return /^(?:[A-Za-z]*Error): .*$/m.exec(text)?.[0];
}

function requireQuietly(requireModule: RequireModule, id: string): { module: unknown; printed: string[] } {
  const printed: string[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    printed.push(args.map((a) => (a instanceof Error ? a.stack ?? a.message : String(a))).join(' '));
  };
  try {
    return { module: requireModule(id), printed };
  } finally {
    console.warn = warn;
  }
}

function addonMissing(detail: string, cause: unknown): GpioError {
  return new GpioError(
    'addon-missing',
    `pigpio's native addon cannot be used (${detail}). Install the pigpio C library with "sudo apt install pigpio", ` +
      `then rebuild the addon in carbot's directory with "npm rebuild pigpio" ` +
      `(npm builds it only when pigpiod is on the PATH at install time).`,
    { cause },
  );
}

/**
 * Node's signal listeners are installed with sigaction when a signal's first listener is
 * added. pigpio's gpioInitialise then replaces the handler of every signal with its own,
 * which terminates the process on SIGINT/SIGTERM without running any JavaScript. Removing
 * and re-adding the listeners makes Node install its handlers again, so carbot's shutdown
 * runs whether its listeners were added before or after pigpio initialised.
 */
export function rearmSignalListeners(target: NodeJS.EventEmitter = process): string[] {
  const rearmed: string[] = [];
  for (const signal of Object.keys(os.constants.signals)) {
    const listeners = target.rawListeners(signal) as ((...args: unknown[]) => void)[];
    if (listeners.length === 0) continue;
    target.removeAllListeners(signal);
    for (const listener of listeners) target.on(signal, listener);
    rearmed.push(signal);
  }
  return rearmed;
}

/**
 * Loads and initialises pigpio: its pipe and socket interfaces off (pigpio would otherwise
 * let anyone on the network drive the pins through port 8888), its alert sampling off
 * (carbot uses no pigpio alerts, and the sampling thread costs several % of a CPU), the 5 µs
 * sample rate the PWM frequency check assumes, then the C library itself.
 */
export function loadPigpio(options: LoadPigpioOptions = {}): PigpioModule {
  const requireModule = options.requireModule ?? ((id: string) => require(id) as unknown);
  let loaded: { module: unknown; printed: string[] };
  try {
    loaded = requireQuietly(requireModule, 'pigpio');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'MODULE_NOT_FOUND') {
      throw new GpioError(
        'module-missing',
        `the pigpio npm module is not installed (${e.message.split('\n')[0]}). Run "npm install" in carbot's directory.`,
        { cause: err },
      );
    }
    throw addonMissing(e.message ?? String(err), err);
  }
  const pigpio = loaded.module as PigpioModule;

  try {
    pigpio.configureInterfaces(pigpio.DISABLE_FIFO_IF | pigpio.DISABLE_SOCK_IF | pigpio.DISABLE_ALERT);
    pigpio.configureClock(PIGPIO_SAMPLE_US, pigpio.CLOCK_PCM);
  } catch (err) {
    if (err instanceof TypeError && /is not a function/.test(err.message)) {
      throw addonMissing(causeFromBanner(loaded.printed) ?? err.message, err);
    }
    throw err;
  }

  try {
    pigpio.initialize();
  } catch (err) {
    // pigpio reports every start-up failure as the same -1; redo the checks that can name it.
    checkPigpioHost(readBoardModel(options.modelPath ?? MODEL_PATH), options);
    throw new GpioError(
      'init-failed',
      `pigpio could not initialise (${(err as Error).message}); the pigpio C library printed the reason on stderr just before. ` +
        `Usual causes: not running as root, the pigpiod daemon or another pigpio program running ` +
        `(see ${options.lockFile ?? PIGPIO_LOCK_FILE}), or a board pigpio does not support.`,
      { cause: err },
    );
  }
  rearmSignalListeners(options.signalTarget ?? process);
  return pigpio;
}
