import fs from 'node:fs';
import Module from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { SysfsFiles } from '../../src/boards/kernel';
import type { BinaryValue, OnoffGpio, OnoffModule } from '../../src/boards/onoff';
import { removeOnExit, track } from '../support/cleanup';
import { fakeRequire } from './call-log';

/**
 * A Raspberry Pi's sysfs in a temporary folder, with the kernel's rules for the PWM class
 * and a file-backed fake of onoff, for the `kernel` board in this process and in a child
 * process that runs as an unprivileged user.
 *
 * Layout, as the kernel and Raspberry Pi OS make it:
 *   sys/class/pwm/pwmchipN -> ../../devices/<platform device>/pwm/pwmchipN  (N varies by kernel)
 *   sys/devices/<platform device>/pwm/pwmchipN/{export,unexport,npwm,device -> ../../../<device>}
 *   sys/devices/<platform device>/pwm/pwmchipN/pwmM/{period,duty_cycle,enable,polarity,capture}
 *   sys/class/gpio/{export,unexport,gpiochipB/{label,base,ngpio}}
 *   sys/firmware/devicetree/base/{model,compatible}  (/proc/device-tree links here; compatible is
 *   NUL-separated, most specific first, the SoC last: raspberrypi/linux arch/arm/boot/dts/broadcom)
 * and beside sys/, what the kernel and the hardware hold (a sysfs file shows only part of it):
 *   kernel/pwm/<pwmchipN>.json   the chip's channels: exported, the pwm_state, the registers
 *   kernel/gpio/<number>         a pin's direction and level, kept after unexport as the chip keeps them
 *   kernel/writes.log            every write to a PWM attribute, with the kernel's answer
 *
 * The rules (Raspberry Pi kernel, drivers/pwm/; Documentation/ABI/testing/sysfs-class-pwm):
 * - export_store (sysfs.c): a channel >= npwm is ENODEV (not EINVAL: export checks npwm itself
 *   before pwm_request_from_chip); an exported channel, or one a kernel driver holds (the
 *   Pi 5's fan on RP1 PWM1 channel 3, bcm2712-rpi-5-b.dts `pwms = <&rp1_pwm1 3 41566 ...>`),
 *   is EBUSY. unexport_store: a channel that is not exported is ENODEV.
 * - The kernel registers pwmM/ during the export write, with its attributes root:root 0644;
 *   here it appears `exportDelayMs` later, so a board that does not wait is caught. udev then
 *   runs Raspberry Pi OS's rule (raspberrypi-sys-mods 99-com.rules: `SUBSYSTEM=="pwm",
 *   ACTION!="remove", PROGRAM="/bin/sh -c 'chgrp -R gpio /sys%p && chmod -R g=u /sys%p'"`)
 *   on the chip, `udevDelayMs` after that: only then may a member of the gpio group write.
 * - period_store, duty_cycle_store, enable_store, polarity_store (sysfs.c) parse the value
 *   (kstrtouint / kstrtoint: anything else is EINVAL; enable only 0 or 1; polarity only
 *   "normal" or "inversed") and apply the whole state through __pwm_apply (core.c), which
 *   refuses a period of 0 and duty_cycle > period with EINVAL: on a fresh channel nothing but
 *   period can be written, and a period below the duty_cycle is refused. A state equal to the
 *   held one never reaches the driver.
 * - The drivers accept a new period on an enabled channel (pwm-rp1.c, pwm-bcm2835.c apply it
 *   at once); pwm-bcm2835.c refuses a period shorter than PERIOD_MIN = 2 cycles of its
 *   10 MHz clock (bcm283x.dtsi assigned-clock-rates) with EINVAL. Neither has get_state, so
 *   the pwm_state (period, duty, enable) outlives unexport and shows again on the next export.
 * - request/free: pwm-bcm2835.c sets the channel's PWM mode on request and clears its
 *   control bits (mode and enable) on free; pwm-rp1.c sets the channel's mode on request and
 *   clears it on free, leaving the global enable bit. So a bcm2835 channel unexported while
 *   enabled shows enable=1 after the next export while the output is off, and writing 1 to
 *   enable then changes nothing (the state is equal): only 0 then 1 starts it.
 * - A write to an attribute of a channel that is not (or no longer) exported: its pwmM/
 *   directory is gone (ENOENT); on a stale directory the kernel answers ENODEV.
 */

export type FakePi = 'pi5' | 'pi4' | 'cm4s' | 'pi3';
type PwmDriver = 'rp1' | 'bcm2835' | 'pwm-gpio';

export interface FakePwmChip {
  /** N of pwmchipN. */
  number: number;
  /** The platform device's path under sys/, e.g. devices/platform/soc/fe20c000.pwm. */
  devicePath: string;
  npwm: number;
  driver: PwmDriver;
  /** Channels a kernel driver has requested: export is EBUSY and no pwmM/ appears. */
  held?: number[];
}

interface BoardLayout {
  model: string;
  /** The device tree's root compatible (bcm2711-rpi-4-b.dts: "raspberrypi,4-model-b", "brcm,bcm2711"). */
  compatible: string[];
  /** The header's PWM (present when config.txt loads the overlay). */
  overlayChip: FakePwmChip;
  /** Chips that are there whatever config.txt says. */
  otherChips: FakePwmChip[];
  gpiochips: { label: string; base: number; ngpio: number }[];
}

/** A Pi 1–4: the SoC's two-channel PWM, the header's GPIO chip and the firmware's expander. */
function bcm283x(model: string, compatible: string[], device: string, header: BoardLayout['gpiochips'][number], expanderBase: number): BoardLayout {
  return {
    model,
    compatible,
    overlayChip: { number: 0, devicePath: `devices/platform/soc/${device}`, npwm: 2, driver: 'bcm2835' },
    otherChips: [],
    gpiochips: [header, { label: 'raspberrypi-exp-gpio', base: expanderBase, ngpio: 8 }],
  };
}

const BOARDS: Record<FakePi, BoardLayout> = {
  pi5: {
    model: 'Raspberry Pi 5 Model B Rev 1.0',
    compatible: ['raspberrypi,5-model-b', 'brcm,bcm2712'],
    // On a Pi 5 /sys/class/pwm shows pwmchip0 and pwmchip2 (docs/boards.md); which is which
    // changes with the kernel, so the fan's chip takes the lower number here.
    overlayChip: { number: 2, devicePath: 'devices/platform/axi/1000120000.pcie/1f00098000.pwm', npwm: 4, driver: 'rp1' },
    otherChips: [{ number: 0, devicePath: 'devices/platform/axi/1000120000.pcie/1f0009c000.pwm', npwm: 4, driver: 'rp1', held: [3] }],
    gpiochips: [
      { label: 'gpio-brcmstb@107d508500', base: 512, ngpio: 32 },
      { label: 'pinctrl-rp1', base: 571, ngpio: 54 },
    ],
  },
  pi4: bcm283x('Raspberry Pi 4 Model B Rev 1.4', ['raspberrypi,4-model-b', 'brcm,bcm2711'], 'fe20c000.pwm', { label: 'pinctrl-bcm2711', base: 512, ngpio: 58 }, 570),
  // The Compute Module 4S (bcm2711-rpi-cm4s.dts): a BCM2711 in the CM3's form factor.
  cm4s: bcm283x(
    'Raspberry Pi Compute Module 4S Rev 1.0',
    ['raspberrypi,4-compute-module-s', 'brcm,bcm2711'],
    'fe20c000.pwm',
    { label: 'pinctrl-bcm2711', base: 512, ngpio: 58 },
    570,
  ),
  pi3: bcm283x('Raspberry Pi 3 Model B Plus Rev 1.3', ['raspberrypi,3-model-b-plus', 'brcm,bcm2837'], '3f20c000.pwm', { label: 'pinctrl-bcm2835', base: 512, ngpio: 54 }, 566),
};

type Polarity = 'normal' | 'inversed';

/** struct pwm_state, and the channel's registers (what the pin carries). */
interface ChannelState {
  exported: boolean;
  /** Counts exports, so a pwmM/ made for an earlier export is known to be stale. */
  generation: number;
  exportedAt: number;
  period: number;
  duty_cycle: number;
  enabled: boolean;
  polarity: Polarity;
  hw: { mode: boolean; enable: boolean; period: number; duty: number; polarity: Polarity };
}

/** Which export the test process made pwmM/ for, and handed to the group, and when. */
interface Made {
  created: number;
  handedOver: number;
  at: number;
}

interface ChipState {
  name: string;
  device: string;
  driver: PwmDriver;
  npwm: number;
  held: number[];
  channels: ChannelState[];
}

/** What a PWM channel holds and drives, for assertions. */
export interface PwmChannelView {
  exported: boolean;
  period: number;
  dutyCycle: number;
  enabled: boolean;
  polarity: Polarity;
  /** What the pin carries: a PWM signal, or 'low'. */
  output: { periodNs: number; dutyNs: number } | 'low';
}

export interface PinView {
  direction: 'in' | 'out';
  level: BinaryValue;
}

/** A user and group a process runs as; the fake's gpio group owns what udev hands over. */
export interface Credentials {
  uid: number;
  gid: number;
}

/** fs.writeFileSync as Node made it: the preload patches the module's, and the fake itself must not go through that. */
const writeRaw: typeof fs.writeFileSync = fs.writeFileSync;

// --- errors, as Node reports a failed system call -------------------------------------------

const MESSAGES: Record<string, string> = {
  EACCES: 'permission denied',
  EBUSY: 'resource busy or locked',
  EINVAL: 'invalid argument',
  ENODEV: 'no such device',
  ENOENT: 'no such file or directory',
  EPERM: 'operation not permitted',
  ERANGE: 'result too large',
};

function sysError(code: string, syscall: string, file?: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: ${MESSAGES[code] ?? code}, ${syscall}${file ? ` '${file}'` : ''}`);
  err.code = code;
  err.errno = -(os.constants.errno as Record<string, number>)[code];
  err.syscall = syscall;
  if (file) err.path = file;
  return err;
}

/** chmod g=u, as udev's rule does after chgrp. */
function chmodGroupLikeUser(file: string): void {
  const mode = fs.lstatSync(file).mode & 0o7777;
  fs.chmodSync(file, (mode & ~0o070) | ((mode & 0o700) >> 3));
}

// --- the kernel's side, shared by every process writing the tree ----------------------------

/** kstrtouint(buf, 0, &val): decimal, 0x hex or 0 octal, one trailing newline. */
function parseUint(value: string): number {
  const m = /^\+?(0x[0-9a-f]+|0[0-7]*|[1-9][0-9]*)\n?$/i.exec(value);
  if (!m) throw sysError('EINVAL', 'write');
  const text = m[1];
  const n = /^0x/i.test(text) ? Number.parseInt(text.slice(2), 16) : text.length > 1 && text.startsWith('0') ? Number.parseInt(text, 8) : Number(text);
  if (n > 0xffffffff) throw sysError('ERANGE', 'write');
  return n;
}

/** kstrtoint(buf, 0, &val) for enable. */
function parseInt32(value: string): number {
  const m = /^([+-]?)(.*)$/s.exec(value) as RegExpExecArray;
  const n = parseUint(m[2]);
  return m[1] === '-' ? -n : n;
}

const CHANNEL_ATTRIBUTE = /\/pwm\/(pwmchip\d+)\/pwm(\d+)\/(period|duty_cycle|enable|polarity)$/;
const CHIP_ATTRIBUTE = /\/pwm\/(pwmchip\d+)\/(export|unexport)$/;

/**
 * The kernel's PWM rules over the state files beside the tree. Stateless itself, so the test
 * process and a child process (through the preload) apply the same rules to the same chips.
 */
export class PwmKernel {
  constructor(
    /** The sysfs root (…/sys). */
    readonly root: string,
  ) {}

  get stateDir(): string {
    return path.join(path.dirname(this.root), 'kernel');
  }

  chipFile(name: string): string {
    return path.join(this.stateDir, 'pwm', `${name}.json`);
  }

  readChip(name: string): ChipState {
    return JSON.parse(fs.readFileSync(this.chipFile(name), 'utf8')) as ChipState;
  }

  writeChip(chip: ChipState): void {
    const file = this.chipFile(chip.name);
    const temp = `${file}.${process.pid}.tmp`;
    writeRaw(temp, JSON.stringify(chip));
    fs.chmodSync(temp, 0o666);
    fs.renameSync(temp, file);
  }

  /** The generation of the pwmM/ directory the test process made (and handed to the group), if any. */
  madeFor(chip: string, channel: number): Made {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.stateDir, 'pwm', `${chip}.pwm${channel}.made`), 'utf8')) as Made;
    } catch {
      return { created: 0, handedOver: 0, at: 0 };
    }
  }

  /** Whether a write to `file` is one the PWM rules answer (rather than a plain file). */
  handles(file: string): boolean {
    return CHANNEL_ATTRIBUTE.test(file) || CHIP_ATTRIBUTE.test(file);
  }

  /**
   * A write that the permission check let through: validated as the kernel would, then the
   * attribute file shows the new value. Throws the kernel's errno otherwise.
   */
  store(file: string, value: string): void {
    const real = fs.realpathSync(file);
    let result = 'ok';
    try {
      this.apply(real, value);
    } catch (err) {
      result = (err as NodeJS.ErrnoException).code ?? 'error';
      throw err;
    } finally {
      fs.appendFileSync(path.join(this.stateDir, 'writes.log'), `${path.relative(this.root, file)} ${value.trim()} ${result}\n`);
    }
  }

  private apply(real: string, value: string): void {
    const chipMatch = CHIP_ATTRIBUTE.exec(real);
    if (chipMatch) {
      const chip = this.readChip(chipMatch[1]);
      const channel = parseUint(value);
      if (channel >= chip.npwm) throw sysError('ENODEV', 'write');
      const state = chip.channels[channel];
      if (chipMatch[2] === 'export') {
        if (state.exported || chip.held.includes(channel)) throw sysError('EBUSY', 'write');
        state.exported = true;
        state.generation += 1;
        state.exportedAt = Date.now();
        request(chip.driver, state);
      } else {
        if (!state.exported) throw sysError('ENODEV', 'write');
        state.exported = false;
        free(chip.driver, state);
      }
      this.writeChip(chip);
      // The kernel removes pwmM/ within the unexport write. This process removes it, or one
      // left from an earlier export, when it may (root, or the group after udev); the test
      // process's tick does otherwise.
      try {
        fs.rmSync(path.join(path.dirname(real), `pwm${channel}`), { recursive: true, force: true });
      } catch {
        // Not this process's to remove.
      }
      return;
    }
    const m = CHANNEL_ATTRIBUTE.exec(real) as RegExpExecArray;
    const chip = this.readChip(m[1]);
    const channel = Number(m[2]);
    const state = chip.channels[channel];
    const attribute = m[3] as 'period' | 'duty_cycle' | 'enable' | 'polarity';
    // kernfs refuses a write to the attribute of a device already unregistered before any store runs.
    if (!state.exported || this.madeFor(chip.name, channel).created !== state.generation) throw sysError('ENODEV', 'write');
    const next = { period: state.period, duty_cycle: state.duty_cycle, enabled: state.enabled, polarity: state.polarity };
    let shown: string;
    if (attribute === 'polarity') {
      const polarity = value.replace(/\n$/, '');
      if (polarity !== 'normal' && polarity !== 'inversed') throw sysError('EINVAL', 'write');
      next.polarity = polarity;
      shown = polarity;
    } else if (attribute === 'enable') {
      const n = parseInt32(value);
      if (n !== 0 && n !== 1) throw sysError('EINVAL', 'write');
      next.enabled = n === 1;
      shown = String(n);
    } else {
      next[attribute] = parseUint(value);
      shown = String(next[attribute]);
    }
    // __pwm_apply (core.c)
    if (next.period === 0 || next.duty_cycle > next.period) throw sysError('EINVAL', 'write');
    const same =
      next.period === state.period && next.duty_cycle === state.duty_cycle && next.enabled === state.enabled && next.polarity === state.polarity;
    if (!same) {
      driverApply(chip.driver, state, next);
      Object.assign(state, next);
      this.writeChip(chip);
    }
    writeRaw(real, `${shown}\n`);
  }
}

function request(driver: PwmDriver, state: ChannelState): void {
  // pwm-bcm2835.c request: the channel's control byte becomes PWM_MODE (enable cleared).
  if (driver === 'bcm2835') state.hw.enable = false;
  state.hw.mode = true;
}

function free(driver: PwmDriver, state: ChannelState): void {
  // pwm-bcm2835.c free clears the channel's control byte; pwm-rp1.c free clears its mode bits.
  if (driver === 'bcm2835') state.hw.enable = false;
  state.hw.mode = false;
}

function driverApply(driver: PwmDriver, state: ChannelState, next: Omit<ChannelState, 'exported' | 'generation' | 'exportedAt' | 'hw'>): void {
  // pwm-bcm2835.c: period_cycles = period * 10 MHz / 1e9, rounded; fewer than PERIOD_MIN (2) is EINVAL.
  if (driver === 'bcm2835' && Math.round(next.period / 100) < 2) throw sysError('EINVAL', 'write');
  state.hw = { mode: state.hw.mode, enable: next.enabled, period: next.period, duty: next.duty_cycle, polarity: next.polarity };
}

// --- the file-backed onoff -----------------------------------------------------------------

/** May this process write the file? Throws EACCES/ENOENT as open(2) would. */
type WriteCheck = (file: string) => void;

/**
 * A fake of onoff's Gpio keeping each pin in the tree as the kernel's sysfs GPIO shows it
 * (class/gpio/gpioN/{direction,value,edge,active_low} while exported) and in kernel/gpio/N
 * (what the pin carries, kept after unexport: pinctrl-rp1 persists outputs, the BCM283x keeps
 * its function select). Kernel rules: a number outside every gpiochip is EINVAL on export;
 * writing value of an input is EPERM (gpiolib-sysfs value_store).
 */
export function createSysfsOnoff(root: string, checkWrite: WriteCheck, udev: (handOver: () => void) => void = (handOver) => handOver()): OnoffModule {
  const gpioDir = path.join(root, 'class', 'gpio');
  const hwDir = path.join(path.dirname(root), 'kernel', 'gpio');

  const chips = (): { base: number; ngpio: number }[] =>
    fs
      .readdirSync(gpioDir)
      .filter((e) => e.startsWith('gpiochip'))
      .map((e) => ({
        base: Number(fs.readFileSync(path.join(gpioDir, e, 'base'), 'utf8')),
        ngpio: Number(fs.readFileSync(path.join(gpioDir, e, 'ngpio'), 'utf8')),
      }));

  class Gpio implements OnoffGpio {
    private readonly dir: string;
    private readonly listeners: ((err: Error | null | undefined, value: BinaryValue) => void)[] = [];
    private watcher: fs.FSWatcher | undefined;
    private last: BinaryValue = 0;
    private edge: string;

    constructor(
      private readonly gpio: number,
      direction: 'in' | 'out' | 'high' | 'low',
      edge?: 'none' | 'rising' | 'falling' | 'both',
    ) {
      this.dir = path.join(gpioDir, `gpio${gpio}`);
      this.edge = edge ?? 'none';
      // onoff exports only a pin that is not exported yet.
      if (!fs.existsSync(this.dir)) {
        checkWrite(path.join(gpioDir, 'export'));
        if (!chips().some((c) => gpio >= c.base && gpio < c.base + c.ngpio)) throw sysError('EINVAL', 'write');
        fs.mkdirSync(this.dir);
        const carried = readHw(hwDir, gpio);
        writeRaw(path.join(this.dir, 'direction'), `${carried.direction}\n`);
        writeRaw(path.join(this.dir, 'value'), `${carried.level}\n`);
        writeRaw(path.join(this.dir, 'edge'), 'none\n');
        writeRaw(path.join(this.dir, 'active_low'), '0\n');
        // Raspberry Pi OS's udev rule for the gpio subsystem (99-com.rules: `chgrp -R gpio
        // /sys%p && chmod -R g=u /sys%p`) hands the new gpioN/ to the group that owns class/gpio:
        // at once, or later (FakeSysfsOptions.gpioUdevDelayMs).
        const dir = this.dir;
        udev(() => {
          if (!fs.existsSync(dir)) return;
          const group = fs.statSync(gpioDir).gid;
          for (const entry of [...fs.readdirSync(dir).map((e) => path.join(dir, e)), dir]) {
            fs.chownSync(entry, -1, group);
            chmodGroupLikeUser(entry);
          }
        });
        // onoff's waitForGpioAccessPermission: value, direction, active_low (and edge for an
        // input with an edge) opened for writing; it gives up with the last error.
        for (const name of ['direction', 'active_low', ...(edge && direction === 'in' ? ['edge'] : [])]) checkWrite(path.join(this.dir, name));
      }
      // A pin exported before: onoff checks only value.
      checkWrite(path.join(this.dir, 'value'));
      // "high"/"low" set the direction and the level in one write (gpiolib-sysfs direction_store).
      if (direction === 'in') this.carry('in', readHw(hwDir, gpio).level);
      else this.carry('out', direction === 'high' ? 1 : 0);
      if (direction === 'in') writeRaw(path.join(this.dir, 'edge'), `${this.edge}\n`);
    }

    private carry(direction: 'in' | 'out', level: BinaryValue): void {
      writeRaw(path.join(this.dir, 'direction'), `${direction}\n`);
      writeRaw(path.join(this.dir, 'value'), `${level}\n`);
      writeHw(hwDir, this.gpio, { direction, level });
    }

    readSync(): BinaryValue {
      return Number(fs.readFileSync(path.join(this.dir, 'value'), 'utf8').trim()) === 1 ? 1 : 0;
    }

    writeSync(value: BinaryValue): void {
      const direction = fs.readFileSync(path.join(this.dir, 'direction'), 'utf8').trim();
      if (direction !== 'out') throw sysError('EPERM', 'write');
      this.carry('out', value);
    }

    watch(callback: (err: Error | null | undefined, value: BinaryValue) => void): void {
      this.listeners.push(callback);
      if (this.watcher) return;
      this.last = this.readSync();
      // onoff's epoll poller wakes on every edge of the value file; inotify stands in for it.
      this.watcher = fs.watch(path.join(this.dir, 'value'), () => {
        let value: BinaryValue;
        try {
          value = this.readSync();
        } catch {
          return;
        }
        if (value === this.last) return;
        this.last = value;
        if ((value === 1 && this.edge === 'falling') || (value === 0 && this.edge === 'rising') || this.edge === 'none') return;
        for (const listener of [...this.listeners]) listener(null, value);
      });
    }

    unwatchAll(): void {
      this.listeners.length = 0;
      this.watcher?.close();
      this.watcher = undefined;
    }

    unexport(): void {
      this.unwatchAll();
      checkWrite(path.join(gpioDir, 'unexport'));
      fs.rmSync(this.dir, { recursive: true, force: true });
    }
  }
  return { Gpio };
}

function readHw(hwDir: string, gpio: number): PinView {
  try {
    const [direction, level] = fs.readFileSync(path.join(hwDir, String(gpio)), 'utf8').trim().split(' ');
    return { direction: direction === 'out' ? 'out' : 'in', level: level === '1' ? 1 : 0 };
  } catch {
    return { direction: 'in', level: 0 };
  }
}

function writeHw(hwDir: string, gpio: number, pin: PinView): void {
  const file = path.join(hwDir, String(gpio));
  writeRaw(file, `${pin.direction} ${pin.level}\n`);
  try {
    fs.chmodSync(file, 0o666);
  } catch {
    // Made by another user: already world-writable.
  }
}

// --- the test side: building the tree, "udev", assertions ----------------------------------

export interface FakeSysfsOptions {
  /** Whether config.txt loads the PWM overlay (the header's PWM chip exists); default true. */
  overlay?: boolean;
  /** More chips, e.g. a pwm-gpio software PWM. */
  extraChips?: FakePwmChip[];
  /** How long after an export pwmM/ appears; default 5 ms. */
  exportDelayMs?: number;
  /** How long after pwmM/ appears udev hands it to the gpio group; default 30 ms. */
  udevDelayMs?: number;
  /** false: no udev rule, pwmM/ stays root's. */
  udev?: boolean;
  /** Who the in-process file seam acts as; default nobody in the gpio group. */
  user?: Credentials;
  /** false: the device tree has no `compatible` (only the model string names the board). */
  compatible?: boolean;
  /**
   * How long after onoff exports a sysfs GPIO udev hands gpioN/ to the gpio group (99-com.rules,
   * as for PWM); default 0, at once. Real onoff waits for it in a loop of 10 000 openSync tries
   * with no sleep (node_modules/onoff/onoff.js waitForGpioAccessPermission), which a slow Pi at
   * boot finishes before udev (fivdi/onoff#131): the fake's onoff, being synchronous, tries once
   * and throws the EACCES onoff would. In-process only (the file-backed onoff of this class).
   */
  gpioUdevDelayMs?: number;
}

/**
 * Who owns the kernel's files. As root (here and in CI) that is root, as on a Pi; a developer
 * running the suite unprivileged cannot give files to root, so the kernel's files are theirs and
 * "the gpio group" is their own primary group: the in-process seam still checks every write
 * against the mode bits as the unprivileged `user`, only the child-process tests need root.
 */
const PRIVILEGED = process.getuid?.() === 0;
const KERNEL_UID = PRIVILEGED ? 0 : (process.getuid?.() ?? 0);
const KERNEL_GID = PRIVILEGED ? 0 : (process.getgid?.() ?? 0);

function defaultGpioGid(): number {
  if (!PRIVILEGED) return KERNEL_GID;
  try {
    const line = fs
      .readFileSync('/etc/group', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('gpio:'));
    if (line) return Number(line.split(':')[2]);
  } catch {
    // No /etc/group: nogroup's number stands in for gpio.
  }
  return 65534;
}

export class FakeSysfs {
  /** The sysfs root: what CARBOT_SYSFS_ROOT points at. */
  readonly root: string;
  readonly model: string;
  readonly kernel: PwmKernel;
  /** The gid udev hands things to (the fake "gpio" group). */
  readonly gpioGid: number;
  /** Who the in-process seam acts as, and who a child process should run as. */
  readonly user: Credentials;
  /** The board's file operations as `user` would see them (permission bits checked, rules applied). */
  readonly files: SysfsFiles;
  /** Path of the preload a child process loads with `--require` to get these rules and onoff. */
  static readonly preload = path.join(__dirname, 'sysfs-preload.js');

  private readonly base: string;
  private readonly chips: FakePwmChip[];
  private readonly timer: NodeJS.Timeout;
  private readonly untrack: () => void;
  private readonly removeDir: () => void;
  private closed = false;
  /** sysfs GPIO exports waiting for "udev" (gpioUdevDelayMs). */
  private gpioUdev: { at: number; handOver: () => void }[] = [];

  constructor(
    readonly pi: FakePi,
    private readonly options: FakeSysfsOptions = {},
  ) {
    const layout = BOARDS[pi];
    this.base = fs.mkdtempSync(path.join(os.tmpdir(), 'carbot-sysfs-'));
    this.removeDir = removeOnExit(this.base);
    fs.chmodSync(this.base, 0o755);
    this.root = path.join(this.base, 'sys');
    this.model = layout.model;
    this.kernel = new PwmKernel(this.root);
    this.gpioGid = defaultGpioGid();
    // nobody, unless the suite itself runs as nobody: the seam's user must not own the kernel's files.
    this.user = options.user ?? { uid: KERNEL_UID === 65534 ? 65533 : 65534, gid: this.gpioGid };
    this.chips = [...(options.overlay === false ? [] : [layout.overlayChip]), ...layout.otherChips, ...(options.extraChips ?? [])];
    this.build(layout);
    this.files = this.seam();
    this.timer = setInterval(() => this.tick(), 2);
    this.timer.unref();
    this.untrack = track({ name: `fake sysfs ${this.base}`, isOpen: () => !this.closed, close: async () => this.close() });
  }

  private build(layout: BoardLayout): void {
    const mkdir = (dir: string, mode = 0o755) => {
      fs.mkdirSync(dir, { recursive: true });
      fs.chmodSync(dir, mode);
    };
    const file = (name: string, content: string, mode: number, gid = KERNEL_GID) => {
      writeRaw(name, content);
      fs.chmodSync(name, mode);
      fs.chownSync(name, KERNEL_UID, gid);
    };
    mkdir(path.join(this.root, 'class', 'pwm'));
    // The chips were probed at boot, so udev has long handed their export files to the group.
    for (const chip of this.chips) {
      const name = `pwmchip${chip.number}`;
      const chipDir = path.join(this.root, chip.devicePath, 'pwm', name);
      mkdir(chipDir, 0o775);
      fs.chownSync(chipDir, KERNEL_UID, this.gpioGid);
      file(path.join(chipDir, 'export'), '', 0o220, this.gpioGid);
      file(path.join(chipDir, 'unexport'), '', 0o220, this.gpioGid);
      file(path.join(chipDir, 'npwm'), `${chip.npwm}\n`, 0o444, this.gpioGid);
      file(path.join(chipDir, 'uevent'), '', 0o664, this.gpioGid);
      fs.symlinkSync(path.join('..', '..', '..', path.basename(chip.devicePath)), path.join(chipDir, 'device'));
      fs.symlinkSync(path.relative(path.join(this.root, 'class', 'pwm'), chipDir), path.join(this.root, 'class', 'pwm', name));
    }
    const gpioDir = path.join(this.root, 'class', 'gpio');
    mkdir(gpioDir, 0o775);
    fs.chownSync(gpioDir, KERNEL_UID, this.gpioGid);
    file(path.join(gpioDir, 'export'), '', 0o220, this.gpioGid);
    file(path.join(gpioDir, 'unexport'), '', 0o220, this.gpioGid);
    for (const chip of layout.gpiochips) {
      const dir = path.join(gpioDir, `gpiochip${chip.base}`);
      mkdir(dir);
      file(path.join(dir, 'label'), `${chip.label}\n`, 0o444);
      file(path.join(dir, 'base'), `${chip.base}\n`, 0o444);
      file(path.join(dir, 'ngpio'), `${chip.ngpio}\n`, 0o444);
    }
    const dt = path.join(this.root, 'firmware', 'devicetree', 'base');
    mkdir(dt);
    file(path.join(dt, 'model'), `${layout.model}\0`, 0o444);
    if (this.options.compatible !== false) file(path.join(dt, 'compatible'), layout.compatible.map((c) => `${c}\0`).join(''), 0o444);

    for (const dir of ['kernel', 'kernel/pwm', 'kernel/gpio']) mkdir(path.join(this.base, dir), 0o777);
    file(path.join(this.base, 'kernel', 'writes.log'), '', 0o666);
    for (const chip of this.chips) {
      const idle = (): ChannelState => ({
        exported: false,
        generation: 0,
        exportedAt: 0,
        period: 0,
        duty_cycle: 0,
        enabled: false,
        polarity: 'normal',
        hw: { mode: false, enable: false, period: 0, duty: 0, polarity: 'normal' },
      });
      this.kernel.writeChip({
        name: `pwmchip${chip.number}`,
        device: path.basename(chip.devicePath),
        driver: chip.driver,
        npwm: chip.npwm,
        held: chip.held ?? [],
        channels: Array.from({ length: chip.npwm }, idle),
      });
    }
  }

  /** The in-process file operations, checking permission bits as `user` (this process is root). */
  private seam(): SysfsFiles {
    const allowed = (file: string, bit: 4 | 2): void => {
      let st: fs.Stats;
      try {
        st = fs.statSync(file);
      } catch {
        throw sysError('ENOENT', 'open', file);
      }
      const { uid, gid } = this.user;
      const bits = uid === 0 ? 7 : st.uid === uid ? (st.mode >> 6) & 7 : st.gid === gid ? (st.mode >> 3) & 7 : st.mode & 7;
      if ((bits & bit) === 0) throw sysError('EACCES', 'open', file);
    };
    return {
      read: (file) => {
        allowed(file, 4);
        return fs.readFileSync(file, 'utf8');
      },
      write: (file, value) => {
        allowed(file, 2);
        if (this.kernel.handles(fs.realpathSync(file))) this.kernel.store(file, value);
        else writeRaw(file, value);
      },
      list: (dir) => fs.readdirSync(dir),
      realpath: (file) => fs.realpathSync(file),
      writeBlocked: (file) => {
        try {
          allowed(file, 2);
          return undefined;
        } catch (err) {
          return (err as NodeJS.ErrnoException).code;
        }
      },
    };
  }

  /** The kernel's asynchronous half and udev: make pwmM/ after an export, hand it over, remove it after unexport. */
  private tick(): void {
    if (this.closed) return;
    const now = Date.now();
    const due = this.gpioUdev.filter((u) => now >= u.at);
    this.gpioUdev = this.gpioUdev.filter((u) => now < u.at);
    for (const u of due) u.handOver();
    for (const chip of this.chips) {
      const name = `pwmchip${chip.number}`;
      const chipDir = path.join(this.root, chip.devicePath, 'pwm', name);
      let state: ChipState;
      try {
        state = this.kernel.readChip(name);
      } catch {
        continue;
      }
      state.channels.forEach((channel, i) => {
        const dir = path.join(chipDir, `pwm${i}`);
        const made = this.kernel.madeFor(name, i);
        if (!channel.exported) {
          if (fs.existsSync(dir)) fs.rmSync(dir, { recursive: true, force: true });
          return;
        }
        if (made.created !== channel.generation && now >= channel.exportedAt + (this.options.exportDelayMs ?? 5)) {
          this.makeChannelDir(dir, channel);
          this.recordMade(name, i, { created: channel.generation, handedOver: 0, at: now });
        } else if (
          made.created === channel.generation &&
          made.handedOver !== channel.generation &&
          this.options.udev !== false &&
          now >= made.at + (this.options.udevDelayMs ?? 30)
        ) {
          this.udev(chipDir);
          this.recordMade(name, i, { created: channel.generation, handedOver: channel.generation, at: now });
        }
      });
    }
  }

  private makeChannelDir(dir: string, channel: ChannelState): void {
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(dir);
    fs.chmodSync(dir, 0o755);
    const attribute = (name: string, content: string, mode = 0o644) => {
      const file = path.join(dir, name);
      writeRaw(file, content);
      fs.chmodSync(file, mode);
      fs.chownSync(file, KERNEL_UID, KERNEL_GID);
    };
    attribute('period', `${channel.period}\n`);
    attribute('duty_cycle', `${channel.duty_cycle}\n`);
    attribute('enable', `${channel.enabled ? 1 : 0}\n`);
    attribute('polarity', `${channel.polarity}\n`);
    attribute('capture', '', 0o444);
    attribute('uevent', '');
    fs.chownSync(dir, KERNEL_UID, KERNEL_GID);
  }

  private recordMade(chip: string, channel: number, made: Made): void {
    const file = path.join(this.kernel.stateDir, 'pwm', `${chip}.pwm${channel}.made`);
    writeRaw(file, JSON.stringify(made));
    fs.chmodSync(file, 0o644);
  }

  /** `chgrp -R gpio /sys%p && chmod -R g=u /sys%p` on the chip (symlinks left alone, as chgrp -R does). */
  private udev(dir: string): void {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isSymbolicLink()) continue;
      if (entry.isDirectory()) this.udev(full);
      else {
        fs.chownSync(full, KERNEL_UID, this.gpioGid);
        chmodGroupLikeUser(full);
      }
    }
    fs.chownSync(dir, KERNEL_UID, this.gpioGid);
    chmodGroupLikeUser(dir);
  }

  /** Resolves once every export has its pwmM/ and (with udev) has been handed over. */
  async settled(timeoutMs = 2000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const pending = this.chips.some((chip) => {
        const name = `pwmchip${chip.number}`;
        return this.kernel.readChip(name).channels.some((c, i) => {
          const made = this.kernel.madeFor(name, i);
          return c.exported && (made.created !== c.generation || (this.options.udev !== false && made.handedOver !== c.generation));
        });
      });
      if (!pending) return;
      if (Date.now() > deadline) throw new Error('fake sysfs: exports did not settle');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  /** pwmchipN of a platform device, e.g. chipName('1f00098000.pwm') = 'pwmchip2'. */
  chipName(device: string): string {
    const chip = this.chips.find((c) => path.basename(c.devicePath) === device);
    if (!chip) throw new Error(`fake sysfs: no chip ${device}`);
    return `pwmchip${chip.number}`;
  }

  /** What the kernel holds for a channel and what its pin carries. */
  channel(device: string, channel: number): PwmChannelView {
    const state = this.kernel.readChip(this.chipName(device)).channels[channel];
    const { hw } = state;
    const running = hw.mode && hw.enable && hw.period > 0;
    return {
      exported: state.exported,
      period: state.period,
      dutyCycle: state.duty_cycle,
      enabled: state.enabled,
      polarity: state.polarity,
      output: running ? { periodNs: hw.period, dutyNs: hw.polarity === 'normal' ? hw.duty : hw.period - hw.duty } : 'low',
    };
  }

  /** An attribute as `cat /sys/class/pwm/pwmchipN/pwmM/<name>` shows it; undefined when pwmM/ is absent. */
  attribute(device: string, channel: number, name: string): string | undefined {
    try {
      return fs.readFileSync(path.join(this.root, 'class', 'pwm', this.chipName(device), `pwm${channel}`, name), 'utf8').trim();
    } catch {
      return undefined;
    }
  }

  /** Every write to a PWM attribute so far, as "class/pwm/pwmchip2/pwm0/period 1000000 ok". */
  writes(): string[] {
    return fs.readFileSync(path.join(this.kernel.stateDir, 'writes.log'), 'utf8').split('\n').filter(Boolean);
  }

  /** The writes since the last call. */
  takeWrites(): string[] {
    const lines = this.writes();
    writeRaw(path.join(this.kernel.stateDir, 'writes.log'), '');
    return lines;
  }

  /**
   * A channel as a carbot killed with SIGKILL leaves it: exported, handed to the group long
   * ago, running at `period` and `dutyCycle` (written as root, in an order the kernel takes).
   */
  async leaveRunning(device: string, channel: number, period: number, dutyCycle: number): Promise<void> {
    const chipDir = path.join(this.root, 'class', 'pwm', this.chipName(device));
    this.kernel.store(path.join(chipDir, 'export'), String(channel));
    await this.settled();
    for (const [attribute, value] of [
      ['period', period],
      ['duty_cycle', dutyCycle],
      ['enable', 1],
    ] as const) {
      this.kernel.store(path.join(chipDir, `pwm${channel}`, attribute), String(value));
    }
    this.takeWrites();
  }

  /**
   * What a carbot with the default L298N car (PWM on GPIO 12/13 = channels 0/1, IN1 on 5,
   * IN3 on 20) leaves when it is SIGKILLed driving forward at 70 %.
   */
  async leaveDefaultCarDriving(): Promise<void> {
    const device = path.basename(BOARDS[this.pi].overlayChip.devicePath);
    for (const channel of [0, 1]) await this.leaveRunning(device, channel, 1_000_000, 700_000);
    const onoff = this.onoff();
    for (const pin of [5, 20]) new onoff.Gpio(this.gpioNumber(pin), 'high');
  }

  /** The sysfs number of a BCM pin on this board. */
  gpioNumber(bcm: number): number {
    const header = BOARDS[this.pi].gpiochips.find((c) => /^pinctrl-/.test(c.label));
    return (header?.base ?? 0) + bcm;
  }

  /** What a header pin carries (also after unexport); undefined if nothing ever drove or read it. */
  pin(bcm: number): PinView | undefined {
    const file = path.join(this.kernel.stateDir, 'gpio', String(this.gpioNumber(bcm)));
    return fs.existsSync(file) ? readHw(path.dirname(file), this.gpioNumber(bcm)) : undefined;
  }

  /** Whether class/gpio/gpioN exists (the pin is exported). */
  exported(bcm: number): boolean {
    return fs.existsSync(path.join(this.root, 'class', 'gpio', `gpio${this.gpioNumber(bcm)}`));
  }

  /** Drives an input from outside (a limit switch closing): the level the pin reads. */
  setInput(bcm: number, level: BinaryValue): void {
    const n = this.gpioNumber(bcm);
    writeHw(path.join(this.kernel.stateDir, 'gpio'), n, { direction: 'in', level });
    const value = path.join(this.root, 'class', 'gpio', `gpio${n}`, 'value');
    if (fs.existsSync(value)) writeRaw(value, `${level}\n`);
  }

  /** onoff on this tree, its permission checks as `user`. */
  onoff(): OnoffModule {
    return createSysfsOnoff(
      this.root,
      (file) => {
        const blocked = this.files.writeBlocked(file);
        if (blocked) throw sysError(blocked, 'open', file);
      },
      (handOver) => {
        const delay = this.options.gpioUdevDelayMs ?? 0;
        if (delay > 0) this.gpioUdev.push({ at: Date.now() + delay, handOver });
        else handOver();
      },
    );
  }

  /** Node's require for the board, with this tree's onoff. */
  get requireModule(): (id: string) => unknown {
    return fakeRequire({ onoff: () => this.onoff() });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.untrack();
    this.removeDir();
  }
}

/**
 * For a child process (through sysfs-preload.js): writes under `root` get the kernel's PWM
 * rules after the operating system's own permission check (the child runs as an unprivileged
 * user, so EACCES is real), and require('onoff') gets the file-backed onoff.
 */
export function installInProcess(root: string): void {
  const kernel = new PwmKernel(path.resolve(root));
  const inTree = (file: unknown): file is string => typeof file === 'string' && path.resolve(file).startsWith(kernel.root + path.sep);
  const writeFileSync = fs.writeFileSync;
  fs.writeFileSync = function (file: fs.PathOrFileDescriptor, data: string | NodeJS.ArrayBufferView, options?: fs.WriteFileOptions) {
    if (inTree(file) && fs.existsSync(file) && kernel.handles(fs.realpathSync(file))) {
      // open(2) for writing, without truncating: the permission the kernel's VFS checks.
      fs.closeSync(fs.openSync(file, fs.constants.O_WRONLY));
      kernel.store(file, String(data));
      return;
    }
    if (inTree(file) && !fs.existsSync(path.dirname(file))) throw sysError('ENOENT', 'open', file);
    return writeFileSync(file, data, options);
  } as typeof fs.writeFileSync;

  const onoff = createSysfsOnoff(kernel.root, (file) => fs.accessSync(file, fs.constants.W_OK));
  const load = (Module as unknown as { _load: (request: string, parent: unknown, isMain: boolean) => unknown })._load;
  (Module as unknown as { _load: typeof load })._load = function (request: string, parent: unknown, isMain: boolean) {
    if (request === 'onoff') return onoff;
    return load.call(this, request, parent, isMain);
  };
}
