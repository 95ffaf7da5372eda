import fs from 'node:fs';
import path from 'node:path';
import type { PigpioGpioOptions, PigpioLibraryProbe, PigpioModule } from '../../src/boards/pigpio';
import type { CallLog } from './call-log';

/**
 * A fake of the pigpio npm module at its JavaScript surface (the part carbot uses), writing
 * every call to the shared CallLog as e.g. `pigpio.pwmWrite(12,0)`. Like the real module it
 * initialises the C library on the first Gpio, and once terminated every pin call fails with
 * the error the C library returns (PI_NOT_INITIALISED).
 */

const MODES: Record<number, string> = { 0: 'INPUT', 1: 'OUTPUT' };
const PULLS: Record<number, string> = { 0: 'PUD_OFF', 1: 'PUD_DOWN', 2: 'PUD_UP' };
const INTERFACES: [number, string][] = [[1, 'DISABLE_FIFO_IF'], [2, 'DISABLE_SOCK_IF'], [4, 'LOCALHOST_SOCK_IF'], [8, 'DISABLE_ALERT']];

export interface FakePigpio extends PigpioModule {
  readonly initialized: boolean;
}

export interface FakePigpioOptions {
  /** What gpioInitialise throws, e.g. new Error('pigpio error -1 in gpioInitialise'). */
  initError?: Error;
  /**
   * Behave like pigpio.js when its native addon did not load: it has already printed its
   * banner, and every call into the C library is a TypeError.
   */
  withoutAddon?: boolean;
}

export function createFakePigpio(log: CallLog, options: FakePigpioOptions = {}): FakePigpio {
  let initialized = false;

  const c = (fn: string, call: string): void => {
    if (options.withoutAddon) throw new TypeError(`pigpio.${fn} is not a function`);
    log.record(call);
  };
  const onPin = (fn: string, call: string): void => {
    c(fn, call);
    if (!initialized) throw new Error(`pigpio error -31 in ${fn}`);
  };
  const initialize = (): void => {
    if (initialized) return;
    c('gpioInitialise', 'pigpio.initialize()');
    if (options.initError) throw options.initError;
    initialized = true;
  };

  class Gpio {
    static readonly INPUT = 0;
    static readonly OUTPUT = 1;
    static readonly PUD_OFF = 0;
    static readonly PUD_DOWN = 1;
    static readonly PUD_UP = 2;

    constructor(
      private readonly gpio: number,
      opts: PigpioGpioOptions = {},
    ) {
      initialize();
      const shown = [
        opts.mode !== undefined ? `mode:${MODES[opts.mode]}` : undefined,
        opts.pullUpDown !== undefined ? `pullUpDown:${PULLS[opts.pullUpDown]}` : undefined,
      ].filter(Boolean);
      onPin('gpioSetMode', `pigpio.Gpio(${gpio}${shown.length ? `,{${shown.join(',')}}` : ''})`);
    }

    pwmWrite(dutyCycle: number): this {
      onPin('gpioPWM', `pigpio.pwmWrite(${this.gpio},${dutyCycle})`);
      return this;
    }

    pwmFrequency(frequency: number): this {
      onPin('gpioSetPWMfrequency', `pigpio.pwmFrequency(${this.gpio},${frequency})`);
      return this;
    }

    pwmRange(range: number): this {
      onPin('gpioSetPWMrange', `pigpio.pwmRange(${this.gpio},${range})`);
      return this;
    }

    servoWrite(pulseWidth: number): this {
      onPin('gpioServo', `pigpio.servoWrite(${this.gpio},${pulseWidth})`);
      return this;
    }
  }

  return {
    Gpio,
    get initialized() {
      return initialized;
    },
    initialize,
    terminate(): void {
      c('gpioTerminate', 'pigpio.terminate()');
      initialized = false;
    },
    configureClock(microseconds: number, peripheral: number): void {
      c('gpioCfgClock', `pigpio.configureClock(${microseconds},${peripheral === 1 ? 'CLOCK_PCM' : 'CLOCK_PWM'})`);
    },
    configureInterfaces(ifFlags: number): void {
      const names = INTERFACES.filter(([bit]) => ifFlags & bit).map(([, name]) => name);
      c('gpioCfgInterfaces', `pigpio.configureInterfaces(${names.join('|') || 0})`);
    },
    CLOCK_PWM: 0,
    CLOCK_PCM: 1,
    DISABLE_FIFO_IF: 1,
    DISABLE_SOCK_IF: 2,
    DISABLE_ALERT: 8,
  } as FakePigpio;
}

/** What pigpio.js prints (console.warn) when require('bindings')('pigpio.node') fails. */
export function printMissingAddonBanner(cause: string): void {
  console.warn('+-----------------------------------------------------------------------+');
  console.warn('| Warning: The pigpio C library can\'t be loaded on this machine and any |');
  console.warn('| Error: "Module did not self-register"                                 |');
  console.warn('+-----------------------------------------------------------------------+');
  console.warn();
  console.warn("Invoking require('bindings')('pigpio.node') resulted in the follwoing error:");
  console.warn();
  console.warn(`${cause}\n    at Module._extensions..node (node:internal/modules/cjs/loader:1661:18)`);
}

/**
 * Where pigpio.ts looks for pigpio's C library and the pigpio module's addon, as a temporary
 * tree: with the library (a Pi up to bookworm with `apt install pigpio` before `npm ci`: the
 * addon links libpigpio.so.1, so its NEEDED entry names it), or without (trixie: no library,
 * and npm built the empty addon node_modules/pigpio/binding.gyp makes when pigpiod is not on
 * the PATH).
 */
export function pigpioLibraryAt(dir: string, installed: boolean): PigpioLibraryProbe {
  const lib = path.join(dir, installed ? 'lib-with-pigpio' : 'lib-without-pigpio');
  fs.mkdirSync(lib, { recursive: true });
  fs.writeFileSync(path.join(lib, 'libc.so.6'), 'ELF');
  if (installed) fs.writeFileSync(path.join(lib, 'libpigpio.so.1'), 'ELF');
  const addon = path.join(dir, installed ? 'pigpio-linked.node' : 'pigpio-empty.node');
  fs.writeFileSync(addon, installed ? 'ELF NEEDED libpigpio.so.1 gpioInitialise' : 'ELF NEEDED libstdc++.so.6');
  return { libraryDirs: [lib], ldCache: path.join(dir, 'no-ld.so.cache'), addon };
}
