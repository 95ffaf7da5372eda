import fs from 'node:fs';
import path from 'node:path';
import type { DigitalInput, DigitalOutput, RequireModule } from './types';

/**
 * onoff (sysfs GPIO) for the direction, standby and limit-switch pins. Loaded lazily like
 * pigpio. Since Linux 6.6 (Raspberry Pi OS from 2024) the sysfs numbers of the Pi's GPIO no
 * longer equal the BCM numbers: they start at the GPIO chip's base (512 on a Pi 4), and
 * onoff writes whatever number it is given. Pins are therefore translated here, once.
 */

export type BinaryValue = 0 | 1;

/** The part of onoff's Gpio that carbot uses. */
export interface OnoffGpio {
  readSync(): BinaryValue;
  writeSync(value: BinaryValue): void;
  watch(callback: (err: Error | null | undefined, value: BinaryValue) => void): void;
  unwatchAll(): void;
  unexport(): void;
}

export interface OnoffModule {
  Gpio: new (
    gpio: number,
    direction: 'in' | 'out' | 'high' | 'low',
    edge?: 'none' | 'rising' | 'falling' | 'both',
    options?: { debounceTimeout?: number; activeLow?: boolean },
  ) => OnoffGpio;
}

export const SYSFS_GPIO_DIR = '/sys/class/gpio';

/** Labels of the chips that carry the header pins: Pi 1–3 and Zero, Pi 4, Pi 5. */
const HEADER_CHIP = /^pinctrl-(?:bcm2835|bcm2711|rp1)$/;

/**
 * The sysfs number of BCM pin 0: the base of the header's GPIO chip, or 0 when no such chip
 * is listed (older kernels number the header from 0).
 */
export function findGpioBase(dir = SYSFS_GPIO_DIR): number {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir).filter((e) => e.startsWith('gpiochip'));
  } catch {
    return 0;
  }
  for (const entry of entries) {
    try {
      const label = fs.readFileSync(path.join(dir, entry, 'label'), 'utf8').trim();
      if (!HEADER_CHIP.test(label)) continue;
      const base = Number.parseInt(fs.readFileSync(path.join(dir, entry, 'base'), 'utf8'), 10);
      if (Number.isInteger(base) && base >= 0) return base;
    } catch {
      // A chip whose attributes cannot be read is not the one we are looking for.
    }
  }
  return 0;
}

export interface OnoffDeps {
  requireModule?: RequireModule;
  /** The sysfs number of BCM pin 0; found from sysfsGpioDir when not given. */
  gpioBase?: number;
  sysfsGpioDir?: string;
  /** How long udev may take to hand a new gpioN/ to the gpio group; default 2000 ms. */
  udevWaitMs?: number;
  /** Whether this process may write the file now (default: access(2) W_OK); tests check as another user. */
  writable?: (file: string) => boolean;
}

/** onoff with BCM pin numbers. */
export interface Pins {
  output(pin: number, initial: BinaryValue): Promise<OnoffGpio>;
  input(pin: number): Promise<OnoffGpio>;
}

const UDEV_WAIT_MS = 2000;
const UDEV_POLL_MS = 25;
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function accessible(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function explain(pin: number, sysfs: number, err: unknown, waitedMs?: number): Error {
  const e = err as NodeJS.ErrnoException;
  const hint =
    e.code === 'EACCES'
      ? `${waitedMs ? `still so after waiting ${waitedMs} ms for udev to hand it to the gpio group; ` : ''}` +
        'add the user carbot runs as to the gpio group (sudo usermod -aG gpio carbot, then restart carbot)'
      : e.code === 'EBUSY'
        ? 'another driver or program holds it (a dtoverlay in config.txt, or a second carbot)'
        : e.code === 'EINVAL'
          ? 'the kernel has no GPIO with that number'
          : e.code === 'ENOENT'
            ? 'this kernel offers no sysfs GPIO (/sys/class/gpio)'
            : undefined;
  const at = sysfs === pin ? `GPIO ${pin}` : `GPIO ${pin} (sysfs gpio${sysfs})`;
  return new Error(`cannot open ${at}: ${e.message}${hint ? `; ${hint}` : ''}`, { cause: err });
}

/**
 * onoff exports a pin, then waits for udev to hand gpioN/ to the gpio group by trying to open
 * its files 10 000 times in a row with no pause (onoff.js waitForGpioAccessPermission), which a
 * slow Pi at boot finishes before udev has run (fivdi/onoff#131): EACCES for a user who is in
 * the gpio group. So an EACCES here is waited out on a timer — the files polled every 25 ms,
 * up to 2 s — and onoff asked again (the pin is exported by then, so it checks only value);
 * only an EACCES that outlasts the wait is a missing group membership.
 */
export function openPins(deps: OnoffDeps = {}): Pins {
  const requireModule = deps.requireModule ?? ((id: string) => require(id) as unknown);
  const onoff = requireModule('onoff') as OnoffModule;
  const gpioDir = deps.sysfsGpioDir ?? SYSFS_GPIO_DIR;
  const base = deps.gpioBase ?? findGpioBase(gpioDir);
  const writable = deps.writable ?? accessible;
  const waitMs = deps.udevWaitMs ?? UDEV_WAIT_MS;
  const open = async (pin: number, direction: 'in' | 'high' | 'low', edge?: 'both'): Promise<OnoffGpio> => {
    const sysfs = base + pin;
    const construct = () => (edge ? new onoff.Gpio(sysfs, direction, edge) : new onoff.Gpio(sysfs, direction));
    const denied = (err: unknown) => ['EACCES', 'EPERM'].includes((err as NodeJS.ErrnoException).code ?? '');
    try {
      return construct();
    } catch (err) {
      if (!denied(err)) throw explain(pin, sysfs, err);
      const dir = path.join(gpioDir, `gpio${sysfs}`);
      const files = ['value', 'direction', 'active_low', ...(edge ? ['edge'] : [])].map((name) => path.join(dir, name));
      const deadline = Date.now() + waitMs;
      let last = err;
      for (;;) {
        if (files.every(writable)) {
          try {
            return construct();
          } catch (again) {
            if (!denied(again)) throw explain(pin, sysfs, again);
            last = again;
          }
        }
        if (Date.now() >= deadline) throw explain(pin, sysfs, last, waitMs);
        await sleep(UDEV_POLL_MS);
      }
    }
  };
  return {
    // 'high'/'low' set direction and level in one write, so the pin never glitches.
    output: (pin, initial) => open(pin, initial ? 'high' : 'low'),
    input: (pin) => open(pin, 'in', 'both'),
  };
}

/** An onoff pin as a board output. */
export function onoffOutput(gpio: OnoffGpio): DigitalOutput {
  return { write: (level) => gpio.writeSync(level), close: () => gpio.unexport() };
}

/** An onoff pin with edge interrupts as a board input. */
export function onoffInput(gpio: OnoffGpio): DigitalInput {
  return {
    read: () => gpio.readSync(),
    watch: (callback) => gpio.watch((err) => callback(err ?? undefined)),
    close: () => gpio.unexport(),
  };
}
