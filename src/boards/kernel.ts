import path from 'node:path';
import type { Logger } from '../process/log';
import { onoffInput, onoffOutput, openPins, type Pins } from './onoff';
import { describeBoard, type PiBoard } from './pi';
import {
  BoardError,
  type Board,
  type DigitalInput,
  type DigitalOutput,
  type Level,
  type Pull,
  type PulseOutput,
  type PwmOutput,
  type RequireModule,
} from './types';
import { BLOCKS, overlayLine, type PwmBlock, pwmBlockForSoc, RP1_PWM0 } from './kernel/blocks';
import { errno, listPwmChips, nodeSysfsFiles, type PwmChip, readBoard, type SysfsFiles } from './kernel/sysfs';
import { type ChannelPlace, PwmChannel } from './kernel/channel';
import { channelBeyond, readOnly, safeUserName } from './kernel/errors';
export { BCM2711_PWM, BCM2835_PWM, BCM2837_PWM, configTxtLines, OVERLAY_FUNC, overlayLine, type PwmBlock, pwmBlockForSoc, RP1_PWM0 } from './kernel/blocks';
export { type HardwarePwmPin, hardwarePwmPins, listPwmChips, nodeSysfsFiles, type PwmChip, readBoard, type SysfsFiles } from './kernel/sysfs';

/**
 * The `kernel` board: hardware PWM through the kernel's sysfs PWM interface
 * (/sys/class/pwm/pwmchipN: export, period, duty_cycle, enable; nanoseconds), plain pins and
 * limit switches through onoff. No root: Raspberry Pi OS's udev rule hands what the kernel
 * creates to the gpio group (raspberrypi-sys-mods, 99-com.rules:
 * `SUBSYSTEM=="pwm", ACTION!="remove", PROGRAM="/bin/sh -c 'chgrp -R gpio /sys%p && chmod -R g=u /sys%p'"`),
 * a moment after each export.
 *
 * The kernel's rules this code is written to (Raspberry Pi kernel sources, drivers/pwm/):
 * - sysfs.c export_store: a channel >= npwm is ENODEV; a channel already exported, or held by
 *   a kernel driver (the Pi 5's fan, the audio), is EBUSY.
 * - core.c __pwm_apply (every write of period, duty_cycle, enable, polarity applies the whole
 *   state): EINVAL when the period is 0 or duty_cycle > period. So on a fresh channel
 *   (period 0) neither duty_cycle nor enable can be written before period, and a period
 *   below the current duty_cycle is refused: duty goes to 0 first, then the period.
 * - pwm-rp1.c and pwm-bcm2835.c take a new period on an enabled channel; pwm-bcm2835.c
 *   refuses a period shorter than 2 cycles of its 10 MHz clock (bcm283x.dtsi).
 * - core.c skips the driver when the written state equals the held one, and pwm-bcm2835.c's
 *   free() clears the channel's enable bit while the kernel still reports enable=1: a
 *   channel left enabled by a program that unexported it only runs again after a 0 then 1
 *   written to enable. Opening therefore always disables an enabled channel first.
 *
 * The board and its motor outputs are here; the rest in kernel/, by what it does: the PWM
 * blocks and config.txt lines (blocks.ts), sysfs access and the pwmchips (sysfs.ts), one
 * exported channel (channel.ts) and the errors for what sysfs refuses (errors.ts).
 */

/** A user's choice of chip and channel for a pin: a device name ("1f00098000.pwm") or "pwmchipN". */
export interface PwmChannelChoice {
  chip: string;
  channel: number;
}

export interface KernelBoardOptions {
  /** Where sysfs is: `process.env.CARBOT_SYSFS_ROOT ?? '/sys'` at the caller. */
  sysfsRoot: string;
  /** BCM pin -> chip and channel, for pins the board's own table does not cover (pwm-gpio, other boards). */
  pwmChannels?: Readonly<Record<number, PwmChannelChoice>>;
  /** The board (model, SoC); read from `<sysfsRoot>/firmware/devicetree/base` when absent. */
  board?: PiBoard;
}

export interface KernelBoardDeps {
  requireModule?: RequireModule;
  /** The sysfs number of BCM pin 0; found from `<sysfsRoot>/class/gpio` when not given. */
  gpioBase?: number;
  files?: SysfsFiles;
  log?: Logger;
  /** How long an export (PWM channel or sysfs GPIO) may take to become writable (udev's chgrp); default 2000 ms. */
  exportWaitMs?: number;
  /** The user named in the permission message; default the one carbot runs as. */
  userName?: string;
}

const EXPORT_POLL_MS = 10;
const SERVO_PERIOD_NS = 20_000_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class KernelBoard implements Board {
  readonly kind = 'kernel' as const;
  readonly description: string;
  readonly model: string | undefined;
  private readonly files: SysfsFiles;
  private readonly block: PwmBlock | undefined;
  private readonly channels = new Map<string, PwmChannel>();
  private readonly pullHints = new Set<number>();
  private pins: Pins | undefined;

  constructor(
    private readonly options: KernelBoardOptions,
    private readonly deps: KernelBoardDeps = {},
  ) {
    this.files = deps.files ?? nodeSysfsFiles;
    const board = options.board ?? readBoard(options.sysfsRoot, this.files);
    this.model = board.model;
    this.block = pwmBlockForSoc(board.soc);
    const pwm = this.block ? `${this.block.name}, ${this.block.device}` : 'no known PWM block';
    this.description = `kernel sysfs under ${options.sysfsRoot} on ${describeBoard(board)} (PWM: ${pwm})`;
  }

  async openPwm(pin: number, frequencyHz: number): Promise<PwmOutput> {
    if (!(frequencyHz > 0)) throw new RangeError(`GPIO ${pin}: PWM frequency must be above 0 Hz (got ${frequencyHz})`);
    const channel = await this.openChannel(pin, Math.round(1e9 / frequencyHz));
    return {
      setDuty: (fraction) => channel.setDutyNs(Math.round(Math.min(1, Math.max(0, fraction)) * channel.periodNs)),
      close: () => channel.close(),
    };
  }

  async openPulses(pin: number): Promise<PulseOutput> {
    const channel = await this.openChannel(pin, SERVO_PERIOD_NS);
    return {
      setPulse: (us) => {
        const ns = Math.round(us * 1000);
        if (!(ns >= 0 && ns <= SERVO_PERIOD_NS)) throw new RangeError(`GPIO ${pin}: a ${us} µs pulse does not fit the 20 ms servo period`);
        channel.setDutyNs(ns);
      },
      close: () => channel.close(),
    };
  }

  async openOutput(pin: number, initial: Level): Promise<DigitalOutput> {
    return onoffOutput(await this.onoff().output(pin, initial));
  }

  async openInput(pin: number, pull: Pull): Promise<DigitalInput> {
    const input = onoffInput(await this.onoff().input(pin));
    if (!this.pullHints.has(pin)) {
      this.pullHints.add(pin);
      this.deps.log?.info(
        `GPIO ${pin}: the kernel board cannot set pull resistors (sysfs GPIO has no pull control); ` +
          `for the ${pull === 'up' ? 'pull-up' : 'pull-down'} add "gpio=${pin}=ip,${pull === 'up' ? 'pu' : 'pd'}" ` +
          `to /boot/firmware/config.txt, or fit an external resistor`,
      );
    }
    return input;
  }

  /** Closes any PWM channel still open (duty 0, disabled, unexported); returns what failed. */
  close(): Error[] {
    const errors: Error[] = [];
    for (const channel of [...this.channels.values()]) {
      try {
        channel.close();
      } catch (err) {
        errors.push(err as Error);
      }
    }
    return errors;
  }

  private onoff(): Pins {
    return (this.pins ??= openPins({
      requireModule: this.deps.requireModule,
      gpioBase: this.deps.gpioBase,
      sysfsGpioDir: path.join(this.options.sysfsRoot, 'class', 'gpio'),
      udevWaitMs: this.deps.exportWaitMs,
      writable: (file) => this.files.writeBlocked(file) === undefined,
    }));
  }

  /** The chip and channel for a pin: the user's choice first, then the board's own table. */
  private locate(pin: number): ChannelPlace {
    const classDir = path.join(this.options.sysfsRoot, 'class', 'pwm');
    const chips = listPwmChips(this.options.sysfsRoot, this.files);
    const choice = this.options.pwmChannels?.[pin];
    let chip: PwmChip | undefined;
    let channel: number;
    if (choice) {
      chip = chips.find((c) => c.name === choice.chip || c.device === choice.chip);
      if (!chip) {
        const seen = chips.map((c) => `${c.name} (${c.device})`).join(', ') || 'none';
        throw new BoardError(
          'pwm-no-chip',
          `GPIO ${pin}: no PWM chip "${choice.chip}" in ${classDir} (there: ${seen}). ` +
            `Check the overlay in /boot/firmware/config.txt and the chip named for this pin (ls -l ${classDir}).`,
        );
      }
      channel = choice.channel;
    } else {
      const block = this.block ?? BLOCKS.find((b) => chips.some((c) => c.device === b.device));
      if (!block) {
        throw new BoardError(
          'pwm-unknown-board',
          `GPIO ${pin}: carbot does not know where the PWM of ${this.model ? `"${this.model}"` : 'this board'} is. ` +
            `Name the PWM chip and channel for this pin in the kernel board's pwmChannels setting (ls -l ${classDir} shows the chips).`,
        );
      }
      const known = block.channels[pin];
      if (known === undefined) {
        const pins = Object.keys(block.channels).join(', ');
        throw new BoardError(
          'pwm-not-a-pwm-pin',
          `GPIO ${pin} has no hardware PWM on ${block.name} (GPIO ${pins} do). Move this output to one of those pins, ` +
            `or use the kernel's software PWM (fine for servos): add "dtoverlay=pwm-gpio,gpio=${pin}" to /boot/firmware/config.txt, ` +
            `reboot, and name its chip and channel 0 for GPIO ${pin} in the kernel board's pwmChannels setting.`,
        );
      }
      chip = chips.find((c) => c.device === block.device);
      if (!chip) {
        throw new BoardError(
          'pwm-no-chip',
          `GPIO ${pin}: the PWM of ${block.name} (${block.device}) is not enabled: no pwmchip in ${classDir} belongs to it. ` +
            `Add "${overlayLine(pin)}" to /boot/firmware/config.txt and reboot.`,
        );
      }
      channel = known;
    }
    if (!(Number.isInteger(channel) && channel >= 0 && channel < chip.npwm)) {
      throw channelBeyond(pin, chip, channel);
    }
    return { chipDir: path.join(classDir, chip.name), chip, channel };
  }

  private async openChannel(pin: number, periodNs: number): Promise<PwmChannel> {
    const place = this.locate(pin);
    const key = `${place.chip.name}/${place.channel}`;
    const holder = this.channels.get(key);
    if (holder) {
      throw new BoardError(
        'pwm-shared-channel',
        `GPIO ${pin} and GPIO ${holder.pin} are both channel ${place.channel} of ${place.chip.name} (${place.chip.device}) ` +
          `and would carry the same signal. Use pins on different channels` +
          (this.block === RP1_PWM0 || this.block === undefined ? '.' : ': GPIO 12 or 18 with GPIO 13 or 19.'),
      );
    }
    const channel = new PwmChannel(this.files, pin, place, periodNs, () => this.channels.delete(key));
    // Held from here, so a second pin on this channel is refused even while this one waits.
    this.channels.set(key, channel);
    let reused: boolean;
    try {
      reused = this.export(pin, place);
    } catch (err) {
      this.channels.delete(key);
      throw err;
    }
    try {
      await this.waitWritable(channel, reused);
    } catch (err) {
      this.channels.delete(key);
      if (!reused) {
        try {
          this.files.write(path.join(place.chipDir, 'unexport'), String(place.channel));
        } catch {
          // The wait's error says what is wrong; the export is given back where possible.
        }
      }
      throw err;
    }
    if (reused) {
      this.deps.log?.warn(
        `GPIO ${pin}: PWM channel ${place.channel} of ${place.chip.name} (${place.chip.device}) was already exported ` +
          `(a carbot that did not shut down?); taking it over`,
      );
    }
    try {
      this.configure(channel);
    } catch (err) {
      try {
        channel.close();
      } catch {
        // The configure error is the one worth reporting.
      }
      throw err;
    }
    return channel;
  }

  /** Exports the channel; true when it already was (EBUSY), so it is reused. */
  private export(pin: number, place: ChannelPlace): boolean {
    const file = path.join(place.chipDir, 'export');
    try {
      this.files.write(file, String(place.channel));
      return false;
    } catch (err) {
      switch (errno(err)) {
        case 'EBUSY':
          return true;
        case 'ENODEV':
          throw channelBeyond(pin, place.chip, place.channel);
        case 'EACCES':
        case 'EPERM':
          throw this.permission(pin, file, err);
        case 'EROFS':
          throw readOnly(pin, file, err);
        default:
          throw new BoardError('pwm-export', `GPIO ${pin}: exporting channel ${place.channel} through ${file}: ${(err as Error).message}`, { cause: err });
      }
    }
  }

  /** Polls until pwmN/ exists and udev has handed its files to this user's group. */
  private async waitWritable(channel: PwmChannel, reused: boolean): Promise<void> {
    const attributes = ['period', 'duty_cycle', 'enable', 'polarity'].map((a) => path.join(channel.dir, a));
    const waitMs = this.deps.exportWaitMs ?? 2000;
    const deadline = Date.now() + waitMs;
    const { pin, place } = channel;
    for (;;) {
      const blocked = attributes.map((file) => ({ file, code: this.files.writeBlocked(file) })).find((b) => b.code !== undefined);
      if (blocked === undefined) return;
      if (blocked.code === 'EROFS') throw readOnly(pin, blocked.file);
      if (Date.now() >= deadline) {
        if (blocked.code !== 'ENOENT') throw this.permission(pin, blocked.file, undefined, waitMs);
        if (reused) {
          throw new BoardError(
            'pwm-busy',
            `GPIO ${pin}: channel ${place.channel} of ${place.chip.name} (${place.chip.device}) is held by a kernel driver ` +
              `(the export is refused as busy and no ${channel.dir} appears): an overlay or dtparam in /boot/firmware/config.txt ` +
              `uses it (audio: dtparam=audio=off; a fan or IR overlay). Free it, or move this output to another pin.`,
          );
        }
        throw new BoardError('pwm-export', `GPIO ${pin}: ${channel.dir} did not appear within ${waitMs} ms of the export`);
      }
      await sleep(EXPORT_POLL_MS);
    }
  }

  /**
   * Brings the channel to the period, at duty 0, enabled, in an order the kernel accepts
   * whatever state a previous program left: disable, duty 0 (only once a period is set, as
   * period 0 refuses any write but period), period, normal polarity, enable.
   */
  private configure(channel: PwmChannel): void {
    if (channel.read('enable') === '1') channel.write('enable', 0);
    const period = Number.parseInt(channel.read('period'), 10);
    if (period > 0 && channel.read('duty_cycle') !== '0') channel.write('duty_cycle', 0);
    if (period !== channel.periodNs) {
      try {
        channel.write('period', channel.periodNs);
      } catch (err) {
        if (errno((err as Error).cause) !== 'EINVAL') throw err;
        const hz = Math.round(1e9 / channel.periodNs);
        throw new BoardError(
          'pwm-frequency',
          `GPIO ${channel.pin}: ${channel.place.chip.device} refuses a period of ${channel.periodNs} ns (${hz} Hz); choose a lower PWM frequency.`,
          { cause: err },
        );
      }
    }
    if (channel.read('polarity') !== 'normal') channel.write('polarity', 'normal');
    channel.write('enable', 1);
  }

  private permission(pin: number, file: string, cause?: unknown, waitedMs?: number): BoardError {
    const user = this.deps.userName ?? safeUserName();
    return new BoardError(
      'pwm-permission',
      `GPIO ${pin}: no permission to write ${file}${waitedMs ? ` after waiting ${waitedMs} ms for udev to hand it to the gpio group` : ''}. ` +
        `Add the user carbot runs as to the gpio group: sudo usermod -aG gpio ${user} (then restart carbot). ` +
        `Raspberry Pi OS's udev rule (99-com.rules) gives /sys/class/pwm to that group; on other systems add such a rule (docs/boards-kernel.md).`,
      cause === undefined ? undefined : { cause },
    );
  }
}

export function openKernelBoard(options: KernelBoardOptions, deps: KernelBoardDeps = {}): KernelBoard {
  return new KernelBoard(options, deps);
}
