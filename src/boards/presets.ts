/**
 * Ready-made motor lists for the PCA9685 HATs people have, as a user would write them in
 * `motors` (raw objects, validated like any other config), with the `pca9685` settings each
 * one implies. Channel numbers are the vendors', checked against their code:
 *
 * - Adafruit 16-Channel PWM/Servo HAT: the original carbot.py drove it with Adafruit's
 *   ServoKit (Adafruit_CircuitPython_ServoKit: address 0x40, 50 Hz; ContinuousServo from
 *   Adafruit_CircuitPython_Motor servo.py, 750–2250 µs) on channels 0 and 1. The preset turns
 *   on pca9685.servoKitCompatible, so the chip gets ServoKit's very PRE_SCALE (122, not the
 *   data sheet's 121) and counts: see src/boards/pca9685.ts.
 * - Adafruit DC & Stepper Motor HAT: two TB6612s behind a PCA9685 at 0x60, 1600 Hz
 *   (Adafruit_CircuitPython_MotorKit adafruit_motorkit.py: motor1 (8, 9, 10), motor2
 *   (13, 11, 12), motor3 (2, 3, 4), motor4 (7, 5, 6) as (PWM, the input that drives the
 *   motor forward, the one that drives it backward); the older Adafruit-Motor-HAT-Python-
 *   Library Adafruit_MotorHAT_Motors.py uses the same channels and frequency, and the PWM
 *   channel for speed as carbot does, but calls M1's and M3's forward the other way round).
 * - Waveshare Motor Driver HAT: one TB6612 behind a PCA9685 at 0x40 (A0–A4 jumpers up to
 *   0x5F), 50 Hz in Waveshare's demo (Motor_Driver_HAT_Code, Raspberry Pi/python,
 *   MotorDriver.py: PWMA = 0, AIN1 = 1, AIN2 = 2, PWMB = 5, BIN1 = 3, BIN2 = 4, and
 *   "forward" = IN1 low, IN2 high). carbot's forward is in1 high, so in1 is AIN2 here and
 *   the car goes the way the demo's "forward" went.
 *
 * If a wheel turns the wrong way, swap its motor's wires or set `"invert": true` on it.
 */

/** The three PCA9685 channels of one motor, in carbot's terms: in1 high + in2 low = forward. */
export interface HatMotorChannels {
  readonly pwm: number;
  readonly in1: number;
  readonly in2: number;
}

/** Adafruit DC & Stepper Motor HAT, terminals M1–M4 (Adafruit_CircuitPython_MotorKit). */
export const ADAFRUIT_MOTOR_HAT_CHANNELS: Readonly<Record<'M1' | 'M2' | 'M3' | 'M4', HatMotorChannels>> = Object.freeze({
  M1: Object.freeze({ pwm: 8, in1: 9, in2: 10 }),
  M2: Object.freeze({ pwm: 13, in1: 11, in2: 12 }),
  M3: Object.freeze({ pwm: 2, in1: 3, in2: 4 }),
  M4: Object.freeze({ pwm: 7, in1: 5, in2: 6 }),
});

/** Waveshare Motor Driver HAT, outputs A and B (Waveshare's MotorDriver.py; in1 = AIN2/BIN2, see above). */
export const WAVESHARE_MOTOR_HAT_CHANNELS: Readonly<Record<'A' | 'B', HatMotorChannels>> = Object.freeze({
  A: Object.freeze({ pwm: 0, in1: 2, in2: 1 }),
  B: Object.freeze({ pwm: 5, in1: 4, in2: 3 }),
});

/** Adafruit's servo HAT: a servo on any of its 16 channels. */
export const ADAFRUIT_SERVO_HAT_CHANNELS: readonly number[] = Object.freeze(Array.from({ length: 16 }, (_, i) => i));

export type PresetName = 'adafruit-servo-hat' | 'adafruit-motor-hat' | 'waveshare-motor-hat';

export interface Pca9685Preset {
  readonly name: PresetName;
  /** The board's name as sold. */
  readonly title: string;
  /**
   * The `pca9685` settings the preset needs: the HAT's default address and the vendor's
   * frequency, and for the original car ServoKit's arithmetic (`pca9685.servoKitCompatible`).
   */
  readonly pca9685: Readonly<{ address: number; frequencyHz: number; servoKitCompatible?: boolean }>;
  /** The motors as a user would write them in `motors`. */
  readonly motors: readonly Readonly<Record<string, unknown>>[];
}

/** Two DC motors, `left` and `right`, on a motor HAT's outputs, at the vendor's address and frequency. */
function motorHat(
  name: PresetName,
  title: string,
  address: number,
  frequencyHz: number,
  left: HatMotorChannels,
  right: HatMotorChannels,
): Pca9685Preset {
  const motor = (motorName: string, channels: HatMotorChannels) =>
    Object.freeze({ name: motorName, driver: 'hbridge', board: 'pca9685', ...channels, pwmFrequency: frequencyHz });
  return Object.freeze({
    name,
    title,
    pca9685: Object.freeze({ address, frequencyHz }),
    motors: Object.freeze([motor('left', left), motor('right', right)]),
  });
}

export const PRESETS: Readonly<Record<PresetName, Pca9685Preset>> = Object.freeze({
  'adafruit-servo-hat': Object.freeze({
    name: 'adafruit-servo-hat',
    title: 'Adafruit 16-Channel PWM/Servo HAT (continuous-rotation servos on channels 0 and 1, as carbot.py drove them)',
    pca9685: Object.freeze({ address: 0x40, frequencyHz: 50, servoKitCompatible: true }),
    motors: Object.freeze([
      Object.freeze({ name: 'left', driver: 'servo', board: 'pca9685', pin: 0, invert: true }),
      Object.freeze({ name: 'right', driver: 'servo', board: 'pca9685', pin: 1 }),
    ]),
  }),
  'adafruit-motor-hat': motorHat(
    'adafruit-motor-hat',
    'Adafruit DC & Stepper Motor HAT (left motor on M1, right on M2)',
    0x60,
    1600,
    ADAFRUIT_MOTOR_HAT_CHANNELS.M1,
    ADAFRUIT_MOTOR_HAT_CHANNELS.M2,
  ),
  'waveshare-motor-hat': motorHat(
    'waveshare-motor-hat',
    'Waveshare Motor Driver HAT (left motor on A, right on B)',
    0x40,
    50,
    WAVESHARE_MOTOR_HAT_CHANNELS.A,
    WAVESHARE_MOTOR_HAT_CHANNELS.B,
  ),
});

export const PRESET_NAMES: readonly PresetName[] = Object.freeze(Object.keys(PRESETS) as PresetName[]);

export function isPresetName(value: unknown): value is PresetName {
  return typeof value === 'string' && (PRESET_NAMES as readonly string[]).includes(value);
}

/** A preset's motors as fresh, mutable objects, ready to go through config validation. */
export function presetMotors(name: PresetName): Record<string, unknown>[] {
  return PRESETS[name].motors.map((motor) => ({ ...motor }));
}
