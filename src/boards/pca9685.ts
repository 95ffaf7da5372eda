import os from 'node:os';
import {
  BoardError,
  type Board,
  type DigitalInput,
  type DigitalOutput,
  type Level,
  type PulseOutput,
  type PwmOutput,
  type RequireModule,
} from './types';

/**
 * The PCA9685 16-channel, 12-bit PWM chip on I2C (servo HATs, and the motor HATs that put a
 * TB6612 behind it), through the i2c-bus npm module and the kernel's /dev/i2c-N, so it works
 * unprivileged (group `i2c`) on any Linux board. Register facts are from the NXP PCA9685
 * product data sheet (Rev. 4, 2015): §7.3 register map, §7.3.1.1 restart, §7.3.3 LED
 * output and PWM control, §7.3.5 PRE_SCALE. The sequence follows it and Adafruit's
 * drivers (Adafruit_CircuitPython_PCA9685, Adafruit-Motor-HAT-Python-Library).
 *
 * Every write is one SMBus transaction, so it is synchronous: with MODE2.OCH = 0 the chip
 * applies a channel's four registers together at the I2C STOP, never half of them.
 */

/** Register addresses (data sheet Table 4). LEDn_ON_L is LED0_ON_L + 4·n. */
export const REGISTER = {
  MODE1: 0x00,
  MODE2: 0x01,
  LED0_ON_L: 0x06,
  ALL_LED_ON_L: 0xfa,
  ALL_LED_ON_H: 0xfb,
  ALL_LED_OFF_L: 0xfc,
  ALL_LED_OFF_H: 0xfd,
  PRE_SCALE: 0xfe,
} as const;

/** MODE1 bits (data sheet Table 5). */
export const MODE1 = {
  RESTART: 0x80,
  EXTCLK: 0x40,
  AI: 0x20,
  SLEEP: 0x10,
  SUB1: 0x08,
  SUB2: 0x04,
  SUB3: 0x02,
  ALLCALL: 0x01,
} as const;

/** MODE2 OUTDRV: totem-pole outputs (the reset value; Adafruit's Motor HAT library writes it too). */
export const MODE2_OUTDRV = 0x04;
/** Bit 4 of LEDn_ON_H (full on) and of LEDn_OFF_H (full off, which wins over full on). */
export const FULL_BIT = 0x10;

export const CHANNELS = 16;
/** The internal oscillator the prescaler divides (data sheet §7.3.5). */
export const OSCILLATOR_HZ = 25_000_000;
/** One PWM period is 4096 counts. */
export const STEPS = 4096;
/** The chip forces PRE_SCALE to at least 3; the register holds at most 255. */
export const PRESCALE_MIN = 3;
export const PRESCALE_MAX = 255;
/** Whole frequencies whose prescale lies in 3..255 (the data sheet's "24 Hz to 1526 Hz" are the actual ones). */
export const MIN_FREQUENCY_HZ = 24;
export const MAX_FREQUENCY_HZ = 1743;
/** A servo pulse is at most 2500 µs, so a board carrying servos needs at least that period. */
export const MIN_SERVO_PERIOD_US = 2500;
/** The oscillator needs 500 µs after SLEEP is cleared (data sheet §7.3.1.1). */
export const OSCILLATOR_START_US = 500;

export const DEFAULT_BUS = 1;
/** Adafruit's servo HAT and Waveshare's motor HAT; Adafruit's motor HAT is 0x60. */
export const DEFAULT_ADDRESS = 0x40;
export const DEFAULT_FREQUENCY_HZ = 50;
/** Addresses a PCA9685 can take with its A0–A5 pins (1 A5 A4 A3 A2 A1 A0), below the reserved 0x78–0x7F. */
export const MIN_ADDRESS = 0x40;
export const MAX_ADDRESS = 0x77;

/** PRE_SCALE for a frequency: round(25 MHz / (4096 · f)) − 1 (data sheet equation 1), not yet limited. */
export function prescaleFor(frequencyHz: number): number {
  return Math.round(OSCILLATOR_HZ / (STEPS * frequencyHz)) - 1;
}

/** The frequency the chip really runs at with a prescale. */
export function frequencyOf(prescale: number): number {
  return OSCILLATOR_HZ / (STEPS * (prescale + 1));
}

/** One PWM period in µs with a prescale: 163.84 µs per prescale step. */
export function periodUsOf(prescale: number): number {
  return ((prescale + 1) * STEPS * 1e6) / OSCILLATOR_HZ;
}

/*
 * ServoKit's arithmetic, for the original car (pca9685.servoKitCompatible). carbot.py (solarslurpi/carbot
 * eacd6e5, 2021-12-11) drove its servos through adafruit_servokit, which in December 2021 ran on
 * Adafruit_CircuitPython_PCA9685 3.3.9 (adafruit_pca9685.py at b640947) and
 * Adafruit_CircuitPython_Motor's servo.py (at c917de9):
 * - PCA9685.frequency setter: prescale = int(reference_clock_speed / 4096.0 / freq + 0.5), with
 *   no −1 (Adafruit added the data sheet's −1 in b683f99, December 2023, release 3.4.14);
 * - PCA9685.frequency getter: reference_clock_speed / 4096 / prescale_reg;
 * - _BaseServo.set_pulse_width_range: _min_duty = int((min_pulse · frequency) / 1000000 · 0xFFFF),
 *   _duty_range = int((max_pulse · frequency) / 1000000 · 0xFFFF − _min_duty), frequency being
 *   the getter's;
 * - ContinuousServo.throttle → fraction = (throttle + 1) / 2; _BaseServo.fraction →
 *   duty_cycle = _min_duty + int(fraction · _duty_range);
 * - PWMChannel.duty_cycle setter: 0xFFFF → (ON, OFF) = (0x1000, 0); else (0, (value + 1) >> 4)
 *   (the "+ 1" went in 090842d, May 2023, release 3.4.10).
 * So the chip runs at 25 MHz / 4096 / 123 = 49.6 Hz while the counts are computed for 50.03 Hz:
 * every pulse is 0.8 % longer than its name, and the servos' trim pots were set to that.
 */

/** The PRE_SCALE ServoKit wrote: int(25 MHz / 4096 / f + 0.5), 122 at 50 Hz. */
export function servoKitPrescaleFor(frequencyHz: number): number {
  return Math.trunc(OSCILLATOR_HZ / 4096.0 / frequencyHz + 0.5);
}

/** The frequency ServoKit's PCA9685 driver reported for a prescale, and computed its counts with. */
export function servoKitFrequencyOf(prescale: number): number {
  return OSCILLATOR_HZ / 4096 / prescale;
}

/** ContinuousServo's duty_cycle (16 bits) for a throttle −1..1 between pulses of minUs and maxUs, at a prescale. */
export function servoKitDutyCycle(throttle: number, minUs: number, maxUs: number, prescale: number): number {
  if (!Number.isFinite(throttle) || throttle > 1 || throttle < -1) {
    throw new RangeError(`throttle must be from -1 to 1, got ${throttle}`);
  }
  const frequency = servoKitFrequencyOf(prescale);
  const minDuty = Math.trunc(((minUs * frequency) / 1000000) * 0xffff);
  const maxDuty = ((maxUs * frequency) / 1000000) * 0xffff;
  const dutyRange = Math.trunc(maxDuty - minDuty);
  const dutyCycle = minDuty + Math.trunc(((throttle + 1) / 2) * dutyRange);
  if (dutyCycle < 0 || dutyCycle > 0xffff) throw new RangeError(`duty cycle ${dutyCycle} is out of 0–65535 (pulses ${minUs}–${maxUs} µs)`);
  return dutyCycle;
}

/** The four LEDn registers PWMChannel.duty_cycle wrote for a 16-bit duty cycle. */
export function servoKitRegisters(dutyCycle: number): readonly number[] {
  if (dutyCycle === 0xffff) return FULL_ON;
  const off = (dutyCycle + 1) >> 4;
  return [0, 0, off & 0xff, off >> 8];
}

/** Why a frequency cannot be a PCA9685's, or undefined when it can. */
export function frequencyProblem(frequencyHz: unknown): string | undefined {
  if (typeof frequencyHz !== 'number' || !Number.isFinite(frequencyHz)) {
    return `must be a frequency in Hz from ${MIN_FREQUENCY_HZ} to ${MAX_FREQUENCY_HZ}, got ${JSON.stringify(frequencyHz)}`;
  }
  if (frequencyHz < MIN_FREQUENCY_HZ || frequencyHz > MAX_FREQUENCY_HZ) {
    return (
      `${frequencyHz} Hz is out of a PCA9685's range: its prescaler (3–255 on a 25 MHz clock) gives ` +
      `${MIN_FREQUENCY_HZ}–${MAX_FREQUENCY_HZ} Hz (Adafruit's motor HAT uses 1600 Hz, servos 50 Hz)`
    );
  }
  return undefined;
}

/** Why a number cannot be a PCA9685's I2C address, or undefined when it can. */
export function addressProblem(address: unknown): string | undefined {
  if (typeof address !== 'number' || !Number.isInteger(address) || address < MIN_ADDRESS || address > MAX_ADDRESS) {
    return (
      `must be a PCA9685 address from ${MIN_ADDRESS} to ${MAX_ADDRESS} (0x40–0x77, set by the A0–A5 jumpers; ` +
      `64 = 0x40 for Adafruit's servo HAT and Waveshare's motor HAT, 96 = 0x60 for Adafruit's motor HAT), got ${JSON.stringify(address)}`
    );
  }
  return undefined;
}

/** LEDn_ON_L, LEDn_ON_H, LEDn_OFF_L, LEDn_OFF_H for a channel that is always low. */
export const FULL_OFF: readonly number[] = Object.freeze([0, 0, 0, FULL_BIT]);
/** ... that is always high (its full-off bit cleared, since full off would win). */
export const FULL_ON: readonly number[] = Object.freeze([0, FULL_BIT, 0, 0]);

/**
 * The four registers for a high time of `count` of 4096 steps from the start of the period:
 * 0 is full off and 4096 full on, since ON and OFF must never hold the same count (§7.3.4).
 */
export function countRegisters(count: number): readonly number[] {
  if (count <= 0) return FULL_OFF;
  if (count >= STEPS) return FULL_ON;
  return [0, 0, count & 0xff, count >> 8];
}

/** Duty 0..1 as the four registers: round(duty · 4096) steps high. */
export function dutyRegisters(duty: number): readonly number[] {
  if (!Number.isFinite(duty) || duty < 0 || duty > 1) throw new RangeError(`duty must be from 0 to 1, got ${duty}`);
  return countRegisters(Math.round(duty * STEPS));
}

/** A pulse of `us` µs in every period of the prescale as the four registers; 0 = no pulses. */
export function pulseRegisters(us: number, prescale: number): readonly number[] {
  const period = periodUsOf(prescale);
  if (!Number.isFinite(us) || us < 0 || us >= period) {
    throw new RangeError(`pulse must be from 0 to under ${Math.floor(period)} µs (one period), got ${us}`);
  }
  return countRegisters(Math.round((us * STEPS) / period));
}

/** The part of an i2c-bus Bus that the board uses (fivdi/i2c-bus, i2c-bus.js). */
export interface I2cBus {
  readByteSync(address: number, command: number): number;
  writeByteSync(address: number, command: number, byte: number): unknown;
  writeI2cBlockSync(address: number, command: number, length: number, buffer: Buffer): unknown;
  closeSync(): void;
}

/** The part of the i2c-bus module that the board uses. */
export interface I2cBusModule {
  openSync(busNumber: number): I2cBus;
}

export interface Pca9685Options {
  bus: number;
  address: number;
  frequencyHz: number;
  /**
   * PRE_SCALE and servo counts as Adafruit's ServoKit computed them for carbot.py (see above),
   * instead of the data sheet's prescale and pulses true to the µs.
   */
  servoKitCompatible?: boolean;
}

export interface Pca9685Deps {
  /** Defaults to Node's require; tests pass one handing out the fake i2c-bus. */
  requireModule?: RequireModule;
  /** The user named in a permission message (default: the one carbot runs as). */
  userName?: string;
}

const hex = (n: number): string => `0x${n.toString(16).padStart(2, '0')}`;
const devicePath = (bus: number): string => `/dev/i2c-${bus}`;

function currentUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return 'carbot';
  }
}

/** What went wrong talking to the chip, with how to fix it. */
export function explain(err: unknown, options: Pca9685Options, deps: Pca9685Deps, doing: string): BoardError {
  if (err instanceof BoardError) return err;
  const e = err as NodeJS.ErrnoException;
  const dev = devicePath(options.bus);
  const at = `the PCA9685 at ${hex(options.address)} on ${dev}`;
  const detect = `"i2cdetect -y ${options.bus}" (Debian package i2c-tools) lists the addresses that answer`;
  switch (e.code) {
    case 'ENOENT':
      return new BoardError(
        'no-bus',
        `${dev} does not exist, so ${at} cannot be reached. On a Raspberry Pi, enable I2C: add ` +
          `"dtparam=i2c_arm=on" to /boot/firmware/config.txt (or run "sudo raspi-config nonint do_i2c 0"), ` +
          `make sure the i2c-dev module loads ("i2c-dev" in /etc/modules), and reboot. ` +
          `Elsewhere "ls /dev/i2c-*" shows the buses there are; set pca9685.bus to the right one.`,
        { cause: err },
      );
    case 'EACCES':
    case 'EPERM': {
      const user = deps.userName ?? currentUser();
      return new BoardError(
        'permission',
        `no permission to open ${dev} as user ${user} (${e.code}): add that user to the i2c group ` +
          `("sudo usermod -aG i2c ${user}") and restart carbot (log in again for a shell to see the new group).`,
        { cause: err },
      );
    }
    case 'EBUSY':
      return new BoardError(
        'address-busy',
        `address ${hex(options.address)} on ${dev} is held by a kernel driver (EBUSY; i2cdetect shows it as UU): ` +
          `remove the dtoverlay that claims it (such as "dtoverlay=i2c-pwm-pca9685a") from /boot/firmware/config.txt and reboot.`,
        { cause: err },
      );
    case 'EREMOTEIO':
    case 'ENXIO':
      return new BoardError(
        'no-answer',
        `nothing answers at address ${hex(options.address)} on ${dev} (${e.code}: no acknowledge while ${doing}). ` +
          `Check that the HAT is seated on all 40 pins and powered, the SDA/SCL wiring (GPIO 2 and 3), ` +
          `and the address jumpers A0–A5 against pca9685.address; ${detect}.`,
        { cause: err },
      );
    default:
      return new BoardError(
        'io-error',
        `I2C transfer to ${at} failed while ${doing}: ${e.message ?? String(err)}. ${detect}.`,
        { cause: err },
      );
  }
}

export function loadI2cBus(requireModule: RequireModule): I2cBusModule {
  try {
    return requireModule('i2c-bus') as I2cBusModule;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'MODULE_NOT_FOUND' && /'i2c-bus'/.test(e.message)) {
      throw new BoardError('module-missing', `the i2c-bus npm module is not installed. Run "npm ci" in carbot's directory.`, {
        cause: err,
      });
    }
    throw new BoardError(
      'addon-missing',
      `i2c-bus's native addon cannot be loaded (${e.message?.split('\n')[0] ?? String(err)}). ` +
        `Rebuild it in carbot's directory with "npm rebuild i2c-bus" (needs make, g++ and python3).`,
      { cause: err },
    );
  }
}

/** Waits until at least `us` µs have passed: a timer alone may fire up to a millisecond early. */
async function waitAtLeast(us: number): Promise<void> {
  const start = process.hrtime.bigint();
  do await new Promise((resolve) => setTimeout(resolve, 1));
  while (process.hrtime.bigint() - start < BigInt(us) * 1000n);
}

function checkOptions(options: Pca9685Options): void {
  const problems = [
    Number.isInteger(options.bus) && options.bus >= 0 ? undefined : `bus must be a number N of /dev/i2c-N, got ${JSON.stringify(options.bus)}`,
    addressProblem(options.address) && `address ${addressProblem(options.address)}`,
    frequencyProblem(options.frequencyHz) && `frequency ${frequencyProblem(options.frequencyHz)}`,
  ].filter((p): p is string => typeof p === 'string');
  if (problems.length > 0) throw new BoardError('bad-options', `PCA9685: ${problems.join('; ')}`);
}

/** MODE1 bits carbot keeps as it finds them: EXTCLK is sticky anyway, the sub and all-call addresses are the user's. */
const KEPT_MODE1 = MODE1.EXTCLK | MODE1.SUB1 | MODE1.SUB2 | MODE1.SUB3 | MODE1.ALLCALL;

/**
 * Reads MODE1 and PRE_SCALE, writing nothing, and throws unless they can be a PCA9685's: 0x40
 * is also a common sensor address (INA219, HTU21D, Si7021), which no write of carbot's should
 * reach. The chip forces PRE_SCALE to at least 3 (§7.3.5) and MODE1's bits 7:0 are all
 * defined, so only a PRE_SCALE under 3 tells for sure that something else answers.
 */
function probe(bus: I2cBus, options: Pca9685Options): void {
  bus.readByteSync(options.address, REGISTER.MODE1);
  const prescale = bus.readByteSync(options.address, REGISTER.PRE_SCALE);
  if (prescale < PRESCALE_MIN) {
    throw new BoardError(
      'foreign-chip',
      `the chip at ${hex(options.address)} on ${devicePath(options.bus)} is not a PCA9685: its register 0xfe reads ${prescale}, ` +
        `and a PCA9685's PRE_SCALE is never under ${PRESCALE_MIN}. Nothing was written to it; ` +
        `check pca9685.address against "i2cdetect -y ${options.bus}" (0x40 is also a common sensor address).`,
    );
  }
}

/**
 * Opens the chip: probed read-only first, then every channel fully off, totem-pole outputs,
 * asleep while PRE_SCALE is written (the chip ignores PRE_SCALE while awake), awake with
 * auto-increment, and the restart the data sheet asks for if the chip reports one pending.
 */
export async function openPca9685Board(options: Pca9685Options, deps: Pca9685Deps = {}): Promise<Board> {
  checkOptions(options);
  const { address } = options;
  const servoKit = options.servoKitCompatible === true;
  const prescaleOf = servoKit ? servoKitPrescaleFor : prescaleFor;
  const prescale = prescaleOf(options.frequencyHz);
  const period = periodUsOf(prescale);
  const i2c = loadI2cBus(deps.requireModule ?? ((id: string) => require(id) as unknown));

  let bus: I2cBus;
  try {
    bus = i2c.openSync(options.bus);
  } catch (err) {
    throw explain(err, options, deps, 'opening the bus');
  }

  let wakeMode: number = MODE1.AI;
  try {
    probe(bus, options);
    // An orderly shutdown first (§7.3.1.1 footnote): one byte each, as auto-increment may be
    // either way. ALL_LED_OFF_H's full-off bit alone stops every channel; the other three
    // leave every channel's registers at ON = OFF = 0 under it.
    bus.writeByteSync(address, REGISTER.ALL_LED_OFF_H, FULL_BIT);
    bus.writeByteSync(address, REGISTER.ALL_LED_ON_L, 0);
    bus.writeByteSync(address, REGISTER.ALL_LED_ON_H, 0);
    bus.writeByteSync(address, REGISTER.ALL_LED_OFF_L, 0);
    bus.writeByteSync(address, REGISTER.MODE2, MODE2_OUTDRV);

    const kept = bus.readByteSync(address, REGISTER.MODE1) & KEPT_MODE1;
    wakeMode = kept | MODE1.AI;
    bus.writeByteSync(address, REGISTER.MODE1, wakeMode | MODE1.SLEEP);
    bus.writeByteSync(address, REGISTER.PRE_SCALE, prescale);
    const stored = bus.readByteSync(address, REGISTER.PRE_SCALE);
    if (stored !== prescale) {
      throw new BoardError(
        'not-a-pca9685',
        `the chip at ${hex(address)} on ${devicePath(options.bus)} did not keep the prescaler it was given ` +
          `(wrote ${prescale}, read back ${stored}), so it is not a PCA9685 or not one alone at that address; ` +
          `check pca9685.address against "i2cdetect -y ${options.bus}".`,
      );
    }
    bus.writeByteSync(address, REGISTER.MODE1, wakeMode);
    await waitAtLeast(OSCILLATOR_START_US);
    // The data sheet's restart: only when the chip says channels are waiting for one.
    if (bus.readByteSync(address, REGISTER.MODE1) & MODE1.RESTART) {
      bus.writeByteSync(address, REGISTER.MODE1, wakeMode | MODE1.RESTART);
    }
  } catch (err) {
    try {
      bus.closeSync();
    } catch {
      // The open error is the one worth reporting.
    }
    throw explain(err, options, deps, 'initialising it');
  }

  const users = new Map<number, string>();
  let closed = false;
  const frequencyText = servoKit
    ? `${options.frequencyHz} Hz as ServoKit sets it (prescale ${prescale}: really ${frequencyOf(prescale).toFixed(1)} Hz)`
    : Math.abs(frequencyOf(prescale) - options.frequencyHz) < 0.05
      ? `${options.frequencyHz} Hz`
      : `${options.frequencyHz} Hz (prescale ${prescale}: really ${frequencyOf(prescale).toFixed(1)} Hz)`;
  const chipName = `PCA9685 at ${hex(address)} on ${devicePath(options.bus)}`;
  const description = `${chipName}, ${frequencyText}`;

  const write = (channel: number, registers: readonly number[], doing: string): void => {
    if (closed) throw new BoardError('closed', `${description} is closed; channel ${channel} cannot be ${doing}`);
    try {
      bus.writeI2cBlockSync(address, REGISTER.LED0_ON_L + 4 * channel, 4, Buffer.from(registers));
    } catch (err) {
      throw explain(err, options, deps, `setting channel ${channel}`);
    }
  };

  /** Claims a free channel, drives it to `initial`, and gives a setter plus a close that turns it off. */
  const claim = (channel: number, use: string, initial: readonly number[]) => {
    if (!Number.isInteger(channel) || channel < 0 || channel >= CHANNELS) {
      throw new BoardError('bad-channel', `${description} has channels 0–15; ${use} asked for ${JSON.stringify(channel)}`);
    }
    const holder = users.get(channel);
    if (holder !== undefined) {
      throw new BoardError('channel-in-use', `channel ${channel} of ${description} is already used as ${holder}`);
    }
    write(channel, initial, 'opened');
    users.set(channel, use);
    let open = true;
    return {
      set: (registers: readonly number[]) => {
        if (!open) throw new BoardError('closed', `channel ${channel} of ${description} is closed`);
        write(channel, registers, 'set');
      },
      close: () => {
        if (!open) return;
        open = false;
        users.delete(channel);
        write(channel, FULL_OFF, 'turned off');
      },
    };
  };

  return {
    kind: 'pca9685',
    description,

    async openPwm(channel: number, frequencyHz: number): Promise<PwmOutput> {
      const wanted = prescaleOf(frequencyHz);
      if (!Number.isFinite(frequencyHz) || wanted !== prescale) {
        throw new BoardError(
          'frequency-conflict',
          `channel ${channel} asks for ${frequencyHz} Hz (prescale ${wanted}), but the ${chipName} runs at ` +
            `${options.frequencyHz} Hz (prescale ${prescale}): its 16 channels share one frequency, so give every ` +
            `motor on it the same one (or set pca9685.frequency to ${frequencyHz}).`,
        );
      }
      const out = claim(channel, `PWM at ${frequencyHz} Hz`, FULL_OFF);
      return { setDuty: (fraction) => out.set(dutyRegisters(fraction)), close: out.close };
    },

    async openPulses(channel: number): Promise<PulseOutput> {
      if (period < MIN_SERVO_PERIOD_US) {
        throw new BoardError(
          'too-fast-for-servos',
          `channel ${channel} is for a servo, but the ${chipName} at ${frequencyText} has a period of ${Math.round(period)} µs, ` +
            `shorter than a servo pulse can be (${MIN_SERVO_PERIOD_US} µs): servos need pca9685.frequency ` +
            `of at most ${Math.floor(1e6 / MIN_SERVO_PERIOD_US)} Hz (50 Hz is usual), so put them on another board than motors at high PWM frequencies.`,
        );
      }
      const out = claim(channel, 'servo pulses', FULL_OFF);
      const pulses: PulseOutput = { setPulse: (us) => out.set(pulseRegisters(us, prescale)), close: out.close };
      if (servoKit) {
        pulses.setThrottle = (throttle, minUs, maxUs) =>
          out.set(servoKitRegisters(servoKitDutyCycle(throttle, minUs, maxUs, prescale)));
      }
      return pulses;
    },

    async openOutput(channel: number, initial: Level): Promise<DigitalOutput> {
      const registers = (level: Level) => (level ? FULL_ON : FULL_OFF);
      const out = claim(channel, 'a digital output', registers(initial));
      return { write: (level) => out.set(registers(level)), close: out.close };
    },

    async openInput(pin: number): Promise<DigitalInput> {
      throw new BoardError(
        'no-inputs',
        `a PCA9685 has only outputs, so its channel ${pin} cannot be an input: put limit switches on the Pi's GPIO pins.`,
      );
    },

    close(): Error[] {
      if (closed) return [];
      closed = true;
      users.clear();
      return shutDown(bus, options, deps, wakeMode | MODE1.SLEEP);
    },
  };
}

/** Every channel full off through ALL_LED_OFF_H, the oscillator asleep, the bus closed; errors returned, every step tried. */
function shutDown(bus: I2cBus, options: Pca9685Options, deps: Pca9685Deps, sleepMode: number | undefined): Error[] {
  const errors: Error[] = [];
  const attempt = (doing: string, step: () => void) => {
    try {
      step();
    } catch (err) {
      errors.push(explain(err, options, deps, doing));
    }
  };
  attempt('turning every channel off', () => bus.writeByteSync(options.address, REGISTER.ALL_LED_OFF_H, FULL_BIT));
  attempt('putting it to sleep', () => {
    const mode = sleepMode ?? (bus.readByteSync(options.address, REGISTER.MODE1) & ~MODE1.RESTART) | MODE1.SLEEP;
    bus.writeByteSync(options.address, REGISTER.MODE1, mode);
  });
  attempt('closing the bus', () => bus.closeSync());
  return errors;
}

/**
 * The safe state without an open board (for `carbot safe-state` after carbot died): every
 * channel full off and the chip asleep, whatever state the dead process left it in.
 */
export function stopPca9685(options: Pick<Pca9685Options, 'bus' | 'address'>, deps: Pca9685Deps = {}): Error[] {
  const full: Pca9685Options = { ...options, frequencyHz: DEFAULT_FREQUENCY_HZ };
  let bus: I2cBus;
  try {
    bus = loadI2cBus(deps.requireModule ?? ((id: string) => require(id) as unknown)).openSync(options.bus);
  } catch (err) {
    return [explain(err, full, deps, 'opening the bus')];
  }
  return shutDown(bus, full, deps, undefined);
}

/** How often `carbot safe-state` tries ALL_LED full-off on a chip it could not initialise, and how far apart. */
export const ALL_OFF_ATTEMPTS = 5;
export const ALL_OFF_INTERVAL_MS = 100;

/** Problems after which an ALL_LED write is no use or must not go out (the probe found another chip). */
const NO_FALLBACK = new Set(['foreign-chip', 'bad-options', 'no-module']);

/** Whether safe-state should fall back to ALL_LED full-off after openPca9685Board failed with this. */
export function allOffMayHelp(err: unknown): boolean {
  return !(err instanceof BoardError && NO_FALLBACK.has(err.problem));
}

export interface AllOffResult {
  /** The attempt that switched every channel off (1-based), or undefined if none did. */
  attempt?: number;
  /** Why the last attempt failed, or what failed after the channels were off (sleep, close). */
  errors: Error[];
}

/**
 * `carbot safe-state`'s fallback for a chip that could not be initialised (a NAK while the HAT
 * powers up, EIO, a prescale that did not read back): the one write that stops every channel,
 * ALL_LED_OFF_H's full-off bit (data sheet §7.3.4, full off wins over everything, §7.3.3),
 * tried up to `attempts` times `intervalMs` apart; once it is acknowledged, the chip is put to
 * sleep and the bus closed as stopPca9685 does.
 */
export async function switchAllOff(
  options: Pick<Pca9685Options, 'bus' | 'address'>,
  deps: Pca9685Deps = {},
  retry: { attempts?: number; intervalMs?: number } = {},
): Promise<AllOffResult> {
  const attempts = retry.attempts ?? ALL_OFF_ATTEMPTS;
  const intervalMs = retry.intervalMs ?? ALL_OFF_INTERVAL_MS;
  const full: Pca9685Options = { ...options, frequencyHz: DEFAULT_FREQUENCY_HZ };
  let errors: Error[] = [];
  for (let attempt = 1; attempt <= attempts; attempt++) {
    if (attempt > 1) await new Promise((resolve) => setTimeout(resolve, intervalMs));
    let bus: I2cBus;
    try {
      bus = loadI2cBus(deps.requireModule ?? ((id: string) => require(id) as unknown)).openSync(options.bus);
    } catch (err) {
      errors = [explain(err, full, deps, 'opening the bus')];
      continue;
    }
    try {
      bus.writeByteSync(options.address, REGISTER.ALL_LED_OFF_H, FULL_BIT);
    } catch (err) {
      errors = [explain(err, full, deps, 'turning every channel off')];
      try {
        bus.closeSync();
      } catch {
        // The write's error is the one worth reporting.
      }
      continue;
    }
    return { attempt, errors: shutDown(bus, full, deps, undefined) };
  }
  return { errors };
}
