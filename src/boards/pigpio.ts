import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describeBoard, isRaspberryPi, isRp1, MODEL_PATH, readPiBoardAt, type PiBoard } from './pi';
import { onoffInput, onoffOutput, openPins, type OnoffDeps, type Pins } from './onoff';
import { BoardError, type Board, type DigitalInput, type DigitalOutput, type Level, type Pull, type PulseOutput, type PwmOutput, type RequireModule } from './types';

/** What drives the header pins: `auto` resolves to one of the others. */
export type GpioChoice = 'auto' | 'pigpio' | 'kernel' | 'sim';
export type Backend = 'pigpio' | 'kernel' | 'sim';

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

export type { RequireModule };

export type GpioProblem =
  | 'not-a-pi'
  | 'pi5'
  | 'not-root'
  | 'pigpiod-running'
  | 'module-missing'
  | 'addon-missing'
  | 'init-failed'
  | 'pin-unavailable';

/** The hardware cannot be used as configured; the message says why and how to fix it. */
export { BoardError as GpioError };

export { MODEL_PATH };
/** pigpio's lock: whoever initialises the C library first owns the GPIO DMA engine. */
export const PIGPIO_LOCK_FILE = '/var/run/pigpio.pid';
/** The sample rate PIGPIO_PWM_FREQUENCIES (motor-config.ts) is computed for. */
export const PIGPIO_SAMPLE_US = 5;

export interface HostDeps {
  /** The device tree's model file; its directory's `compatible` names the SoC (pi.ts). */
  modelPath?: string;
  /** Where to look for pigpio's C library and addon (tests point them at a temporary tree). */
  pigpioLibrary?: PigpioLibraryProbe;
  lockFile?: string;
  getuid?: () => number;
  /** Whether a process with this pid exists. */
  processAlive?: (pid: number) => boolean;
  /** The command name of a process (/proc/<pid>/comm), for the message. */
  processName?: (pid: number) => string | undefined;
}

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
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

/** Where pigpio's C library and the pigpio module's addon are looked for. */
export interface PigpioLibraryProbe {
  /** The linker's directories (default: Debian's and Raspberry Pi OS's, 32- and 64-bit). */
  libraryDirs?: string[];
  /** ldconfig's cache, which lists every library the linker finds (default /etc/ld.so.cache). */
  ldCache?: string;
  /** The pigpio module's addon; default node_modules/pigpio/build/Release/pigpio.node; null: not checked. */
  addon?: string | null;
}

export const LIBRARY_DIRS = [
  '/usr/local/lib',
  '/usr/lib',
  '/lib',
  '/usr/lib/aarch64-linux-gnu',
  '/lib/aarch64-linux-gnu',
  '/usr/lib/arm-linux-gnueabihf',
  '/lib/arm-linux-gnueabihf',
];
const LIBRARY = /^libpigpio\.so(?:\.\d+)*$/;

function defaultAddon(): string | undefined {
  try {
    return path.join(path.dirname(require.resolve('pigpio/package.json')), 'build', 'Release', 'pigpio.node');
  } catch {
    return undefined;
  }
}

/**
 * Why pigpio cannot work on this machine, or undefined when it can: its C library
 * (libpigpio.so, Debian's and Raspberry Pi OS's `pigpio` package up to bookworm; trixie has
 * none, joan2937/pigpio#632) is not where the linker looks, or the pigpio module's addon was
 * built without it. The addon links the library only when `pigpiod` was on the PATH at `npm ci`
 * (node_modules/pigpio/binding.gyp); otherwise npm builds an empty addon that cannot load.
 */
export function pigpioLibraryProblem(probe: PigpioLibraryProbe = {}): string | undefined {
  const dirs = probe.libraryDirs ?? LIBRARY_DIRS;
  const inDir = dirs.find((dir) => {
    try {
      return fs.readdirSync(dir).some((name) => LIBRARY.test(name));
    } catch {
      return false;
    }
  });
  let inCache = false;
  try {
    inCache = fs.readFileSync(probe.ldCache ?? '/etc/ld.so.cache').includes('libpigpio.so');
  } catch {
    // No cache: the directories decide.
  }
  if (!inDir && !inCache) {
    return `the pigpio C library (libpigpio.so) is not installed: not in ${dirs.join(', ')} nor in the linker's cache`;
  }
  const addon = probe.addon === undefined ? defaultAddon() : probe.addon;
  if (addon === null) return undefined;
  if (addon === undefined) return 'the pigpio npm module is not installed (npm ci in carbot\'s directory)';
  let built: Buffer;
  try {
    built = fs.readFileSync(addon);
  } catch {
    return `the pigpio module's addon ${addon} is not built (npm rebuild pigpio)`;
  }
  if (!built.includes('libpigpio.so')) {
    return `the pigpio module's addon ${addon} was built without the C library (pigpiod was not on the PATH at npm ci; npm rebuild pigpio rebuilds it)`;
  }
  return undefined;
}

/**
 * The checks that pigpio itself would only fail with "pigpio error -1 in gpioInitialise";
 * done first so the message can say which one failed.
 */
export function checkPigpioHost(board: PiBoard, deps: HostDeps = {}): void {
  if (isRp1(board)) {
    throw new BoardError(
      'pi5',
      `this is a ${describeBoard(board)}: the pigpio C library does not support the Raspberry Pi 5 family ` +
        `(its GPIO sit on the RP1 chip; see github.com/joan2937/pigpio/issues/589). ` +
        `Set gpio to "kernel" (or "auto", which picks it on a Pi 5) to drive the motors through the kernel's PWM, ` +
        `or "sim" to run without them.`,
    );
  }
  const uid = (deps.getuid ?? process.getuid)?.();
  if (uid !== undefined && uid !== 0) {
    throw new BoardError(
      'not-root',
      `pigpio needs root: it drives the pins through /dev/mem and DMA (carbot runs as uid ${uid}). ` +
        `Run carbot as root (the carbot-pigpio.service unit does; from a shell use sudo), ` +
        `set gpio to "kernel" to drive the pins through the kernel's PWM without root, ` +
        `or set gpio to "sim" to run without motors.`,
    );
  }
  const lockFile = deps.lockFile ?? PIGPIO_LOCK_FILE;
  const pid = Number.parseInt(readText(lockFile) ?? '', 10);
  if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && (deps.processAlive ?? defaultProcessAlive)(pid)) {
    const name = (deps.processName ?? ((p) => readText(`/proc/${p}/comm`)?.trim()))(pid) ?? 'another process';
    throw new BoardError(
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
  /** The model string, for messages. */
  model: string | undefined;
  board: PiBoard;
  /** Why `auto` chose this backend (logged at start); absent when the backend was named. */
  reason?: string;
  /** Set when `auto` fell back to sim on a machine that is not a Raspberry Pi. */
  warning?: string;
}

export interface HeaderNeeds {
  /** Some motor wants PWM or servo pulses on a header pin (only pigpio or the kernel's PWM can). */
  pwm: boolean;
}

/**
 * What `gpio` means on this board, without touching the hardware (also `carbot boards`):
 * `auto` is the kernel's PWM on a Pi 5 (RP1), when only plain pins are needed (no root), and
 * on a Pi 1–4 without a usable pigpio C library (trixie has no pigpio package); pigpio on a
 * Pi 1–4 that has it; sim off a Pi (with a warning).
 */
export function resolveBackend(
  choice: GpioChoice,
  board: PiBoard,
  needs: HeaderNeeds,
  pigpioProblem: () => string | undefined,
  seen = `${MODEL_PATH} is missing`,
): Omit<BackendSelection, 'model' | 'board'> {
  if (choice !== 'auto') return { backend: choice };
  if (!isRaspberryPi(board)) {
    const what = board.model === undefined ? seen : `the board is "${board.model}"`;
    return {
      backend: 'sim',
      warning: `not a Raspberry Pi (${what}): using simulated motors; set gpio to "pigpio" or "kernel" to insist on real ones`,
    };
  }
  const name = describeBoard(board);
  if (isRp1(board)) return { backend: 'kernel', reason: `gpio auto: kernel, as this is a ${name} (RP1), which pigpio cannot drive` };
  if (!needs.pwm) return { backend: 'kernel', reason: `gpio auto: kernel, as no motor needs PWM on the header (plain pins need no root)` };
  const problem = pigpioProblem();
  if (problem) {
    return {
      backend: 'kernel',
      reason: `gpio auto: kernel PWM rather than pigpio on this ${name}, as ${problem}; the PWM pins need their dtoverlay line in config.txt (docs/boards-kernel.md)`,
    };
  }
  return { backend: 'pigpio', reason: `gpio auto: pigpio on this ${name}, whose pigpio C library is installed` };
}

/**
 * Chooses the header's backend (resolveBackend) and checks it can run. On a Pi there is no
 * fallback: whatever stops the chosen backend is an error saying how to fix it.
 */
export function selectBackend(choice: GpioChoice, deps: HostDeps = {}, needs: HeaderNeeds = { pwm: true }): BackendSelection {
  const modelPath = deps.modelPath ?? MODEL_PATH;
  const board = readPiBoardAt(modelPath);
  const { model } = board;
  if (choice === 'sim') return { backend: 'sim', model, board };
  if (choice === 'kernel') return { backend: 'kernel', model, board };
  if (choice === 'pigpio' && !isRaspberryPi(board)) {
    const seen = model === undefined ? `${modelPath} is missing` : `the board is "${model}"`;
    throw new BoardError(
      'not-a-pi',
      `gpio is "pigpio" but this is not a Raspberry Pi (${seen}). Set gpio to "auto" or "sim" to run with simulated motors.`,
    );
  }
  const resolved = resolveBackend(choice, board, needs, () => pigpioLibraryProblem(deps.pigpioLibrary), `${modelPath} is missing`);
  if (resolved.backend === 'pigpio') checkPigpioHost(board, deps);
  return { ...resolved, model, board };
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

function addonMissing(detail: string, cause: unknown): BoardError {
  return new BoardError(
    'addon-missing',
    `pigpio's native addon cannot be used (${detail}). Install the pigpio C library with "sudo apt install pigpio", ` +
      `then rebuild the addon, which npm builds only when pigpiod is on the PATH at install time.`,
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
      throw new BoardError(
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
    checkPigpioHost(readPiBoardAt(options.modelPath ?? MODEL_PATH), options);
    throw new BoardError(
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

/** Duty steps of pwmWrite; pigpio maps them onto the real range of the frequency (200 at 1 kHz). */
export const PWM_RANGE = 1000;

export interface PigpioBoardDeps extends LoadPigpioOptions, OnoffDeps {
  /** An already loaded and initialised pigpio; loaded with loadPigpio(deps) when absent. */
  pigpio?: PigpioModule;
}

/**
 * The header pins through pigpio: PWM and servo pulses by DMA (pigpio's C library, root),
 * plain pins and inputs through onoff (sysfs), pull resistors through pigpio since sysfs
 * cannot set them.
 */
export class PigpioBoard implements Board {
  readonly kind = 'pigpio' as const;
  readonly description: string;
  readonly pigpio: PigpioModule;
  private pins: Pins | undefined;

  constructor(
    model: string | undefined,
    private readonly deps: PigpioBoardDeps = {},
  ) {
    this.pigpio = deps.pigpio ?? loadPigpio(deps);
    this.description = `pigpio on ${model ?? 'a Raspberry Pi'}`;
  }

  async openPwm(pin: number, frequencyHz: number): Promise<PwmOutput> {
    const gpio = new this.pigpio.Gpio(pin, { mode: this.pigpio.Gpio.OUTPUT });
    gpio.pwmWrite(0);
    gpio.pwmFrequency(frequencyHz);
    gpio.pwmRange(PWM_RANGE);
    return {
      setDuty: (fraction) => void gpio.pwmWrite(Math.round(fraction * PWM_RANGE)),
      // The driver has already written duty 0; pigpio.terminate() stops the DMA.
      close: () => undefined,
    };
  }

  async openPulses(pin: number): Promise<PulseOutput> {
    const gpio = new this.pigpio.Gpio(pin, { mode: this.pigpio.Gpio.OUTPUT });
    return {
      setPulse: (us) => void gpio.servoWrite(us),
      close: () => undefined,
    };
  }

  async openOutput(pin: number, initial: Level): Promise<DigitalOutput> {
    return onoffOutput(await this.onoff().output(pin, initial));
  }

  async openInput(pin: number, pull: Pull): Promise<DigitalInput> {
    const { Gpio } = this.pigpio;
    new Gpio(pin, { mode: Gpio.INPUT, pullUpDown: pull === 'up' ? Gpio.PUD_UP : Gpio.PUD_DOWN });
    return onoffInput(await this.onoff().input(pin));
  }

  close(): Error[] {
    try {
      this.pigpio.terminate();
      return [];
    } catch (err) {
      return [new Error(`pigpio terminate: ${(err as Error).message}`, { cause: err })];
    }
  }

  private onoff(): Pins {
    return (this.pins ??= openPins(this.deps));
  }
}

