import { frequencyProblem, prescaleFor } from '../boards/pca9685';
import { PRESET_NAMES, isPresetName, presetMotors } from '../boards/presets';
import type {
  BoardName,
  HBridgeMotorConfig,
  LimitSwitchConfig,
  LimitsConfig,
  MotorConfig,
  ServoMotorConfig,
  SimMotorConfig,
  TrackEnd,
} from '../motors/types';

/**
 * The `motors` and `limits` settings: defaults and validation, one message per problem, each
 * naming the setting path so a user can find it in their config file.
 */

/**
 * A common two-motor L298N wiring: ENA/ENB on GPIO 12/13, IN1..IN4 on GPIO 5, 6, 20, 21.
 * 1000 Hz is one of pigpio's frequencies, quiet enough and with 200 real duty steps.
 */
export const DEFAULT_MOTORS: readonly HBridgeMotorConfig[] = Object.freeze([
  { name: 'left', driver: 'hbridge', board: 'gpio', pwm: 12, in1: 5, in2: 6, brake: false, pwmFrequency: 1000, invert: false },
  { name: 'right', driver: 'hbridge', board: 'gpio', pwm: 13, in1: 20, in2: 21, brake: false, pwmFrequency: 1000, invert: false },
]);

export const DEFAULT_PWM_FREQUENCY = 1000;
/** 1500 ± 750 µs: what Adafruit's ServoKit gives for continuous_servo[n].throttle = ±1. */
export const DEFAULT_SERVO = { neutralUs: 1500, spanUs: 750, trimUs: 0 } as const;
export const DEFAULT_LIMIT = { activeLow: true, debounceMs: 20 } as const;

/** BCM GPIO numbers on the 40-pin header. */
export const MIN_PIN = 0;
export const MAX_PIN = 27;
/** Channels of a PCA9685. */
export const MAX_CHANNEL = 15;

/**
 * Header pins that are unsafe for motor outputs: 0/1 are the HAT ID EEPROM's I2C, 2/3 the I2C
 * bus (a PCA9685's), 14/15 the UART, which the firmware drives high at boot.
 */
export const UNSAFE_PINS: Readonly<Record<number, string>> = {
  0: 'the HAT EEPROM I2C bus (ID_SD)',
  1: 'the HAT EEPROM I2C bus (ID_SC)',
  2: 'the I2C bus (SDA)',
  3: 'the I2C bus (SCL)',
  14: 'the UART (TXD), high at boot',
  15: 'the UART (RXD), high at boot',
};
/** BCM 0–8 have pull-ups at power-on: an enable pin there is high before carbot runs. */
const PULLED_UP_AT_BOOT = [4, 5, 6, 7, 8];

const pca9685FrequencyOk = (f: unknown) => frequencyProblem(f) === undefined;
/** Servo pulses up to 2500 µs need a period longer than that. */
const SERVO_MAX_HZ = 400;

/**
 * PWM frequencies pigpio can generate at its default 5 µs sample rate (the loader pins the
 * sample rate to 5 µs). pigpio would silently round any other value to the nearest of these.
 */
export const PIGPIO_PWM_FREQUENCIES: readonly number[] = [
  8000, 4000, 2000, 1600, 1000, 800, 500, 400, 320, 250, 200, 160, 100, 80, 50, 40, 20, 10,
];

/** pigpio's servoWrite accepts 500–2500 µs (and 0 for pulses off). */
export const SERVO_MIN_US = 500;
export const SERVO_MAX_US = 2500;

const DRIVERS = ['hbridge', 'servo', 'sim'] as const;
type Driver = (typeof DRIVERS)[number];

const KEYS: Record<Driver, readonly string[]> = {
  hbridge: ['name', 'driver', 'board', 'pwm', 'in1', 'in2', 'standby', 'brake', 'pwmFrequency', 'invert'],
  servo: ['name', 'driver', 'board', 'pin', 'neutralUs', 'spanUs', 'trimUs', 'invert', 'idleOffS'],
  sim: ['name', 'driver', 'board', 'invert'],
};
const BOARDS = ['gpio', 'pca9685'] as const;
const LIMIT_KEYS = ['pin', 'activeLow', 'debounceMs'] as const;
const TRACK_ENDS: readonly TrackEnd[] = ['forward', 'backward'];
const NAME = /^[A-Za-z0-9_-]{1,32}$/;

export interface MotorConfigResult {
  /** Only meaningful when `errors` is empty. */
  motors: MotorConfig[];
  limits: LimitsConfig;
  errors: string[];
  /** Worth a line in the log, not fatal: an enable pin pulled up at power-on, for instance. */
  warnings: string[];
  /** The PCA9685's PWM frequency: given, or what its motors need (50 Hz for servos). */
  pca9685Frequency: number;
}

export interface MotorConfigInput {
  motors?: unknown;
  limits?: unknown;
  /** Header pins the user allows despite UNSAFE_PINS. */
  allowUnsafePins?: unknown;
  /** Seconds a stopped servo holds its neutral pulse before the pulses go off. */
  servoIdleOffS?: number;
  /** `gpio`: which PWM frequencies a header motor may ask for depends on it. */
  gpio?: string;
  pca9685Frequency?: number;
}

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  return v === undefined ? 'nothing' : JSON.stringify(v);
}

/** Checks fields of one object, collecting errors under its path. */
class Fields {
  constructor(
    private readonly obj: Obj,
    private readonly path: string,
    private readonly errors: string[],
  ) {}

  error(key: string, message: string): void {
    this.errors.push(`${this.path}.${key}: ${message}`);
  }

  pin(key: string, required: boolean, board: BoardName = 'gpio'): number | undefined {
    const v = this.obj[key];
    const what = board === 'pca9685' ? `a PCA9685 channel 0–${MAX_CHANNEL}` : `a BCM pin number ${MIN_PIN}–${MAX_PIN}`;
    const max = board === 'pca9685' ? MAX_CHANNEL : MAX_PIN;
    if (v === undefined) {
      if (required) this.error(key, `required (${what})`);
      return undefined;
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < MIN_PIN || v > max) {
      this.error(key, `must be ${what}, got ${show(v)}`);
      return undefined;
    }
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.obj[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'boolean') {
      this.error(key, `must be true or false, got ${show(v)}`);
      return fallback;
    }
    return v;
  }

  int(key: string, fallback: number, min: number, max: number, unit: string): number | undefined {
    const v = this.obj[key];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
      this.error(key, `must be a whole number of ${unit} from ${min} to ${max}, got ${show(v)}`);
      return undefined;
    }
    return v;
  }

  unknownKeys(allowed: readonly string[], what: string): void {
    for (const key of Object.keys(this.obj)) {
      if (!allowed.includes(key)) this.error(key, `unknown setting for ${what} (expected ${allowed.join(', ')})`);
    }
  }
}

/**
 * Remembers which setting claimed each pin, so a second use names the first. The one pin
 * that may be shared is a standby pin: a TB6612 has one STBY for both of its motors.
 */
class PinRegistry {
  private readonly owners = new Map<string, { path: string; standby: boolean }>();
  constructor(private readonly errors: string[]) {}

  claim(pin: number | undefined, path: string, standby = false, board: BoardName = 'gpio'): void {
    if (pin === undefined) return;
    const owner = this.owners.get(`${board}:${pin}`);
    const what = board === 'pca9685' ? 'channel' : 'pin';
    if (owner === undefined) this.owners.set(`${board}:${pin}`, { path, standby });
    else if (!(standby && owner.standby)) this.errors.push(`${path}: ${what} ${pin} is already used by ${owner.path}`);
  }

  /** Header pins claimed so far, with the setting that claimed each. */
  header(): [number, string][] {
    return [...this.owners].filter(([k]) => k.startsWith('gpio:')).map(([k, v]) => [Number(k.slice(5)), v.path]);
  }
}

interface MotorContext {
  errors: string[];
  pins: PinRegistry;
  gpio: string;
  servoIdleOffS?: number;
}

function parseMotor(raw: unknown, path: string, ctx: MotorContext): MotorConfig | undefined {
  const { errors, pins } = ctx;
  if (!isObject(raw)) {
    errors.push(`${path}: must be an object like {"name": "left", "driver": "hbridge", ...}, got ${show(raw)}`);
    return undefined;
  }
  const f = new Fields(raw, path, errors);
  const before = errors.length;

  let name = '';
  if (raw.name === undefined) f.error('name', 'required (for example "left")');
  else if (typeof raw.name !== 'string' || !NAME.test(raw.name)) {
    f.error('name', `must be 1–32 letters, digits, "_" or "-", got ${show(raw.name)}`);
  } else name = raw.name;

  const driver = raw.driver;
  if (driver === undefined) {
    f.error('driver', `required (${DRIVERS.join(', ')})`);
    return undefined;
  }
  if (typeof driver !== 'string' || !(DRIVERS as readonly string[]).includes(driver)) {
    f.error('driver', `unknown driver ${show(driver)} (expected ${DRIVERS.join(', ')})`);
    return undefined;
  }
  f.unknownKeys(KEYS[driver as Driver], `${driver === 'hbridge' ? 'an' : 'a'} ${driver} motor`);
  const invert = f.bool('invert', false);
  let board: BoardName = 'gpio';
  if (raw.board !== undefined) {
    if (typeof raw.board !== 'string' || !(BOARDS as readonly string[]).includes(raw.board)) {
      f.error('board', `unknown board ${show(raw.board)} (expected ${BOARDS.join(', ')})`);
      return undefined;
    }
    board = raw.board as BoardName;
  }

  let motor: MotorConfig | undefined;
  if (driver === 'hbridge') {
    const pwm = f.pin('pwm', true, board);
    const in1 = f.pin('in1', true, board);
    const in2 = f.pin('in2', true, board);
    const standby = f.pin('standby', false, board);
    for (const [key, pin] of [['pwm', pwm], ['in1', in1], ['in2', in2], ['standby', standby]] as const) {
      pins.claim(pin, `${path}.${key}`, key === 'standby', board);
    }
    const brake = f.bool('brake', false);
    let pwmFrequency: number | undefined = DEFAULT_PWM_FREQUENCY;
    if (raw.pwmFrequency !== undefined) {
      pwmFrequency = raw.pwmFrequency as number;
      if (board === 'pca9685') {
        const problem = frequencyProblem(pwmFrequency);
        if (problem) {
          f.error('pwmFrequency', problem);
          pwmFrequency = undefined;
        }
      } else if (ctx.gpio === 'kernel') {
        if (typeof pwmFrequency !== 'number' || !Number.isInteger(pwmFrequency) || pwmFrequency < 1 || pwmFrequency > 100_000) {
          f.error('pwmFrequency', `must be a whole number of Hz from 1 to 100000, got ${show(raw.pwmFrequency)}`);
          pwmFrequency = undefined;
        }
      } else if (!PIGPIO_PWM_FREQUENCIES.includes(pwmFrequency)) {
        f.error(
          'pwmFrequency',
          `${show(raw.pwmFrequency)} Hz is not a frequency pigpio can generate at its 5 µs sample rate; ` +
            `use one of ${PIGPIO_PWM_FREQUENCIES.join(', ')}`,
        );
        pwmFrequency = undefined;
      }
    } else if (board === 'pca9685') pwmFrequency = undefined;
    if (pwm !== undefined && in1 !== undefined && in2 !== undefined && (pwmFrequency !== undefined || board === 'pca9685')) {
      // A PCA9685 motor without a frequency of its own runs at the chip's (resolved below).
      const hb: HBridgeMotorConfig = { name, driver, board, pwm, in1, in2, brake, pwmFrequency: pwmFrequency ?? 0, invert };
      if (standby !== undefined) hb.standby = standby;
      motor = hb;
    }
  } else if (driver === 'servo') {
    const pin = f.pin('pin', true, board);
    pins.claim(pin, `${path}.pin`, false, board);
    const neutralUs = f.int('neutralUs', DEFAULT_SERVO.neutralUs, SERVO_MIN_US, SERVO_MAX_US, 'µs');
    const spanUs = f.int('spanUs', DEFAULT_SERVO.spanUs, 1, (SERVO_MAX_US - SERVO_MIN_US) / 2, 'µs');
    const trimUs = f.int('trimUs', DEFAULT_SERVO.trimUs, -(SERVO_MAX_US - SERVO_MIN_US), SERVO_MAX_US - SERVO_MIN_US, 'µs');
    const idleOffS = raw.idleOffS === undefined ? ctx.servoIdleOffS : f.int('idleOffS', 0, 0, 86400, 'seconds');
    if (neutralUs !== undefined && spanUs !== undefined && trimUs !== undefined) {
      const low = neutralUs + trimUs - spanUs;
      const high = neutralUs + trimUs + spanUs;
      if (low < SERVO_MIN_US || high > SERVO_MAX_US) {
        const key = raw.spanUs !== undefined ? 'spanUs' : raw.trimUs !== undefined ? 'trimUs' : 'neutralUs';
        const trim = trimUs < 0 ? ` − ${-trimUs}` : ` + ${trimUs}`;
        f.error(
          key,
          `neutralUs${trim} ± spanUs = ${neutralUs}${trim} ± ${spanUs} reaches ${low}–${high} µs; ` +
            `servo pulses must stay within ${SERVO_MIN_US}–${SERVO_MAX_US} µs`,
        );
      } else if (pin !== undefined) {
        const servo: ServoMotorConfig = { name, driver, board, pin, neutralUs, spanUs, trimUs, invert };
        if (idleOffS !== undefined) servo.idleOffS = idleOffS;
        motor = servo;
      }
    }
  } else {
    const sim: SimMotorConfig = { name, driver: 'sim', invert };
    motor = sim;
  }
  return errors.length === before ? motor : undefined;
}

function parseLimit(raw: unknown, path: string, errors: string[], pins: PinRegistry): LimitSwitchConfig | undefined {
  if (!isObject(raw)) {
    errors.push(`${path}: must be an object like {"pin": 23}, got ${show(raw)}`);
    return undefined;
  }
  const f = new Fields(raw, path, errors);
  const before = errors.length;
  f.unknownKeys(LIMIT_KEYS, 'a limit switch');
  const pin = f.pin('pin', true);
  pins.claim(pin, `${path}.pin`);
  const activeLow = f.bool('activeLow', DEFAULT_LIMIT.activeLow);
  const debounceMs = f.int('debounceMs', DEFAULT_LIMIT.debounceMs, 0, 1000, 'milliseconds');
  if (errors.length !== before || pin === undefined || debounceMs === undefined) return undefined;
  return { pin, activeLow, debounceMs };
}

/** The pins of `allowUnsafePins`, or the problem with it. */
function parseAllowed(raw: unknown, errors: string[]): Set<number> {
  if (raw === undefined || raw === null) return new Set();
  if (!Array.isArray(raw) || !raw.every((p) => typeof p === 'number' && Number.isInteger(p) && p >= MIN_PIN && p <= MAX_PIN)) {
    errors.push(`allowUnsafePins: must be a list of BCM pin numbers like [14, 15], got ${show(raw)}`);
    return new Set();
  }
  return new Set(raw as number[]);
}

/**
 * Parses `{motors, limits}` as found in the configuration. A missing `motors` means the
 * default L298N wiring; a given list replaces it entirely, and a name picks a ready-made list
 * (src/boards/presets.ts). A missing `limits` means none.
 */
export function parseMotorConfig(input: MotorConfigInput): MotorConfigResult {
  const errors: string[] = [];
  const warnings: string[] = [];
  const motors: MotorConfig[] = [];
  const limits: LimitsConfig = {};
  const pins = new PinRegistry(errors);
  const ctx: MotorContext = { errors, pins, gpio: input.gpio ?? 'auto', servoIdleOffS: input.servoIdleOffS };

  let rawMotors: unknown = input.motors === undefined ? DEFAULT_MOTORS.map((m) => ({ ...m })) : input.motors;
  if (typeof rawMotors === 'string') {
    if (!isPresetName(rawMotors)) errors.push(`motors: no ready-made motor list called ${show(rawMotors)} (there are ${PRESET_NAMES.join(', ')})`);
    rawMotors = isPresetName(rawMotors) ? presetMotors(rawMotors) : [];
  }
  if (!Array.isArray(rawMotors) || (rawMotors.length === 0 && errors.length === 0)) {
    errors.push(`motors: must be a non-empty list of motors or the name of a ready-made one, got ${show(rawMotors)}`);
  } else {
    const names = new Map<string, number>();
    rawMotors.forEach((entry, i) => {
      const path = `motors[${i}]`;
      const name = isObject(entry) && typeof entry.name === 'string' ? entry.name : undefined;
      if (name !== undefined) {
        const first = names.get(name);
        if (first !== undefined) errors.push(`${path}.name: "${name}" is already used by motors[${first}]`);
        else names.set(name, i);
      }
      const motor = parseMotor(entry, path, ctx);
      if (motor) motors.push(motor);
    });
  }

  if (input.limits !== undefined && input.limits !== null) {
    if (!isObject(input.limits)) {
      errors.push(`limits: must be an object like {"forward": {"pin": 23}}, got ${show(input.limits)}`);
    } else {
      for (const [key, value] of Object.entries(input.limits)) {
        if (!(TRACK_ENDS as readonly string[]).includes(key)) {
          errors.push(`limits.${key}: unknown track end (expected ${TRACK_ENDS.join(', ')})`);
          continue;
        }
        if (value === null || value === undefined) continue;
        const limit = parseLimit(value, `limits.${key}`, errors, pins);
        if (limit) limits[key as TrackEnd] = limit;
      }
    }
  }

  // Header pins that are unsafe for outputs; the I2C pins always while a PCA9685 hangs on them.
  const allowed = parseAllowed(input.allowUnsafePins, errors);
  const pca = motors.filter((m) => m.board === 'pca9685' && m.driver !== 'sim');
  for (const [pin, path] of pins.header()) {
    const output = !path.startsWith('limits.');
    if ((pin === 2 || pin === 3) && pca.length > 0) {
      errors.push(`${path}: GPIO ${pin} is ${UNSAFE_PINS[pin]}, which the PCA9685 (${pca[0].name}) uses; pick another pin`);
    } else if (output && UNSAFE_PINS[pin] !== undefined && !allowed.has(pin)) {
      errors.push(`${path}: GPIO ${pin} is ${UNSAFE_PINS[pin]}; pick another pin, or list it in allowUnsafePins if you know it is free`);
    } else if (output && PULLED_UP_AT_BOOT.includes(pin) && /\.(pwm|standby)$/.test(path)) {
      warnings.push(`${path}: GPIO ${pin} is pulled up at power-on, so the bridge is enabled before carbot starts; a pin from 9 to 27 is safer`);
    }
  }

  // One frequency per PCA9685: given, or what its H-bridges ask for, or 50 Hz for servos.
  const pcaBridges = pca.filter((m): m is HBridgeMotorConfig => m.driver === 'hbridge');
  const asked = [...new Set(pcaBridges.map((m) => m.pwmFrequency).filter((f) => f > 0))];
  let pca9685Frequency = input.pca9685Frequency ?? asked[0] ?? (pcaBridges.length > 0 ? 1600 : 50);
  if (input.pca9685Frequency !== undefined && !pca9685FrequencyOk(input.pca9685Frequency)) {
    errors.push(`pca9685.frequency: ${frequencyProblem(input.pca9685Frequency)}`);
    pca9685Frequency = 50;
  }
  for (const m of pcaBridges) {
    if (m.pwmFrequency === 0) m.pwmFrequency = pca9685Frequency;
    else if (prescaleFor(m.pwmFrequency) !== prescaleFor(pca9685Frequency)) {
      errors.push(`motors "${m.name}".pwmFrequency: ${m.pwmFrequency} Hz, but the PCA9685 runs all its channels at ${pca9685Frequency} Hz`);
    }
  }
  const servosOnPca = pca.filter((m) => m.driver === 'servo');
  if (servosOnPca.length > 0 && pca9685Frequency > SERVO_MAX_HZ) {
    errors.push(
      `motors "${servosOnPca[0].name}": a servo needs the PCA9685 at ${SERVO_MAX_HZ} Hz or less (50 Hz is usual), ` +
        `but it runs at ${pca9685Frequency} Hz for its H-bridge motors`,
    );
  }

  return { motors, limits, errors, warnings, pca9685Frequency };
}
