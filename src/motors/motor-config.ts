import type {
  HBridgeMotorConfig,
  LimitSwitchConfig,
  LimitsConfig,
  MotorConfig,
  ServoMotorConfig,
  SimMotorConfig,
  TrackEnd,
} from './types';

/**
 * The `motors` and `limits` settings: defaults and validation, one message per problem, each
 * naming the setting path so a user can find it in their config file.
 */

/**
 * A common two-motor L298N wiring: ENA/ENB on GPIO 12/13, IN1..IN4 on GPIO 5, 6, 20, 21.
 * 1000 Hz is one of pigpio's frequencies, quiet enough and with 200 real duty steps.
 */
export const DEFAULT_MOTORS: readonly HBridgeMotorConfig[] = Object.freeze([
  { name: 'left', driver: 'hbridge', pwm: 12, in1: 5, in2: 6, brake: false, pwmFrequency: 1000, invert: false },
  { name: 'right', driver: 'hbridge', pwm: 13, in1: 20, in2: 21, brake: false, pwmFrequency: 1000, invert: false },
]);

export const DEFAULT_PWM_FREQUENCY = 1000;
export const DEFAULT_SERVO = { neutralUs: 1500, spanUs: 500, trimUs: 0 } as const;
export const DEFAULT_LIMIT = { activeLow: true, debounceMs: 20 } as const;

/** BCM GPIO numbers on the 40-pin header. */
export const MIN_PIN = 0;
export const MAX_PIN = 27;

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
  hbridge: ['name', 'driver', 'pwm', 'in1', 'in2', 'standby', 'brake', 'pwmFrequency', 'invert'],
  servo: ['name', 'driver', 'pin', 'neutralUs', 'spanUs', 'trimUs', 'invert'],
  sim: ['name', 'driver', 'invert'],
};
const LIMIT_KEYS = ['pin', 'activeLow', 'debounceMs'] as const;
const TRACK_ENDS: readonly TrackEnd[] = ['forward', 'backward'];
const NAME = /^[A-Za-z0-9_-]{1,32}$/;

export interface MotorConfigResult {
  /** Only meaningful when `errors` is empty. */
  motors: MotorConfig[];
  limits: LimitsConfig;
  errors: string[];
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

  pin(key: string, required: boolean): number | undefined {
    const v = this.obj[key];
    if (v === undefined) {
      if (required) this.error(key, `required (a BCM pin number ${MIN_PIN}–${MAX_PIN})`);
      return undefined;
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < MIN_PIN || v > MAX_PIN) {
      this.error(key, `must be a BCM pin number ${MIN_PIN}–${MAX_PIN}, got ${show(v)}`);
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
  private readonly owners = new Map<number, { path: string; standby: boolean }>();
  constructor(private readonly errors: string[]) {}

  claim(pin: number | undefined, path: string, standby = false): void {
    if (pin === undefined) return;
    const owner = this.owners.get(pin);
    if (owner === undefined) this.owners.set(pin, { path, standby });
    else if (!(standby && owner.standby)) this.errors.push(`${path}: pin ${pin} is already used by ${owner.path}`);
  }
}

function parseMotor(raw: unknown, path: string, errors: string[], pins: PinRegistry): MotorConfig | undefined {
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

  let motor: MotorConfig | undefined;
  if (driver === 'hbridge') {
    const pwm = f.pin('pwm', true);
    const in1 = f.pin('in1', true);
    const in2 = f.pin('in2', true);
    const standby = f.pin('standby', false);
    for (const [key, pin] of [['pwm', pwm], ['in1', in1], ['in2', in2], ['standby', standby]] as const) {
      pins.claim(pin, `${path}.${key}`, key === 'standby');
    }
    const brake = f.bool('brake', false);
    let pwmFrequency: number | undefined = DEFAULT_PWM_FREQUENCY;
    if (raw.pwmFrequency !== undefined) {
      pwmFrequency = raw.pwmFrequency as number;
      if (!PIGPIO_PWM_FREQUENCIES.includes(pwmFrequency)) {
        f.error(
          'pwmFrequency',
          `${show(raw.pwmFrequency)} Hz is not a frequency pigpio can generate at its 5 µs sample rate; ` +
            `use one of ${PIGPIO_PWM_FREQUENCIES.join(', ')}`,
        );
        pwmFrequency = undefined;
      }
    }
    if (pwm !== undefined && in1 !== undefined && in2 !== undefined && pwmFrequency !== undefined) {
      const hb: HBridgeMotorConfig = { name, driver, pwm, in1, in2, brake, pwmFrequency, invert };
      if (standby !== undefined) hb.standby = standby;
      motor = hb;
    }
  } else if (driver === 'servo') {
    const pin = f.pin('pin', true);
    pins.claim(pin, `${path}.pin`);
    const neutralUs = f.int('neutralUs', DEFAULT_SERVO.neutralUs, SERVO_MIN_US, SERVO_MAX_US, 'µs');
    const spanUs = f.int('spanUs', DEFAULT_SERVO.spanUs, 1, (SERVO_MAX_US - SERVO_MIN_US) / 2, 'µs');
    const trimUs = f.int('trimUs', DEFAULT_SERVO.trimUs, -(SERVO_MAX_US - SERVO_MIN_US), SERVO_MAX_US - SERVO_MIN_US, 'µs');
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
        const servo: ServoMotorConfig = { name, driver, pin, neutralUs, spanUs, trimUs, invert };
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

/**
 * Parses `{motors, limits}` as found in the configuration. A missing `motors` means the
 * default L298N wiring; a given list replaces it entirely. A missing `limits` means none.
 */
export function parseMotorConfig(raw: unknown): MotorConfigResult {
  const errors: string[] = [];
  const motors: MotorConfig[] = [];
  const limits: LimitsConfig = {};
  const input = isObject(raw) ? raw : {};
  const pins = new PinRegistry(errors);

  const rawMotors = input.motors === undefined ? DEFAULT_MOTORS.map((m) => ({ ...m })) : input.motors;
  if (!Array.isArray(rawMotors) || rawMotors.length === 0) {
    errors.push(`motors: must be a non-empty list of motors, got ${show(rawMotors)}`);
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
      const motor = parseMotor(entry, path, errors, pins);
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

  return { motors, limits, errors };
}
