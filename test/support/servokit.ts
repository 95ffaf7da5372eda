/**
 * A model of what carbot.py put on the servo HAT's PCA9685, written from the Python sources it
 * ran on and independent of carbot's code (src/boards/pca9685.ts must agree with it, not the
 * other way round):
 *
 * - carbot.py, solarslurpi/carbot commit eacd6e5 (2021-12-11), lines 27–60: `throttle_speed = .1`;
 *   forward `continuous_servo[0].throttle = -t`, `[1] = t`; backward the other way; stop 0 on
 *   both; slow_down `round(t - .1 if t > .1 else t, 1)` and speed_up `round(t + .1 if t < 1
 *   else t, 1)`, each re-applying forward or backward when the car moves; lines 85–98 take
 *   only the payloads `f`, `s`, `b`, `+`, `-`.
 * - adafruit_servokit.py (Adafruit_CircuitPython_ServoKit at 801ed7a, the last change before
 *   2021-12-11), lines 65–86: `PCA9685(i2c, address=0x40, reference_clock_speed=25000000)`,
 *   then `frequency = 50`; lines 169–174: `ContinuousServo(pca.channels[n])` with the default
 *   pulse range.
 * - adafruit_pca9685.py (Adafruit_CircuitPython_PCA9685 3.3.9 of 2021-11-09, the latest release in December 2021;
 *   the file at b640947), lines 131–147: the frequency setter writes PRE_SCALE =
 *   `int(reference_clock_speed / 4096.0 / freq + 0.5)` and the getter reports
 *   `reference_clock_speed / 4096 / prescale_reg`; lines 71–81: duty_cycle 0xFFFF is
 *   (LEDn_ON, LEDn_OFF) = (0x1000, 0), anything else (0, (value + 1) >> 4); lines 115–117:
 *   `pwm_regs = StructArray(0x06, "<HH", 16)`, so ON and OFF are little-endian 16-bit words.
 *   (Later releases changed both: value >> 4 in 090842d, May 2023; PRE_SCALE − 1 and the getter's
 *   prescale + 1 in b683f99, December 2023.)
 * - adafruit_motor/servo.py (Adafruit_CircuitPython_Motor at c917de9, 2021-11-12), lines
 *   35–47: min_pulse 750, max_pulse 2250, `_min_duty = int((min_pulse * frequency) / 1000000 *
 *   0xFFFF)`, `_duty_range = int(max_duty - _min_duty)` with max_duty likewise unrounded; lines
 *   59–67: `duty_cycle = _min_duty + int(value * _duty_range)`; lines 144–150: ContinuousServo's
 *   throttle sets fraction `(value + 1) / 2`.
 *
 * Python's float arithmetic is IEEE 754 double, as JavaScript's; int() truncates toward zero.
 */

const REFERENCE_CLOCK_SPEED = 25_000_000;

/** What ServoKit left in a channel's LEDn_ON and LEDn_OFF words. */
export interface ServoKitChannel {
  on: number;
  off: number;
}

export class ServoKitModel {
  /** PRE_SCALE as ServoKit(channels=16) wrote it. */
  readonly prescale: number;
  private readonly minDuty: number;
  private readonly dutyRange: number;
  /** LEDn words by channel, once ServoKit has written them. */
  readonly channels = new Map<number, ServoKitChannel>();

  constructor(frequency = 50, minPulse = 750, maxPulse = 2250) {
    this.prescale = Math.trunc(REFERENCE_CLOCK_SPEED / 4096.0 / frequency + 0.5);
    const reported = REFERENCE_CLOCK_SPEED / 4096 / this.prescale;
    this.minDuty = Math.trunc(((minPulse * reported) / 1000000) * 0xffff);
    const maxDuty = ((maxPulse * reported) / 1000000) * 0xffff;
    this.dutyRange = Math.trunc(maxDuty - this.minDuty);
  }

  /** `kit.continuous_servo[channel].throttle = value` */
  throttle(channel: number, value: number): void {
    if (value > 1.0 || value < -1.0) throw new RangeError('Throttle must be between -1.0 and 1.0');
    const fraction = (value + 1) / 2;
    const dutyCycle = this.minDuty + Math.trunc(fraction * this.dutyRange);
    this.channels.set(channel, dutyCycle === 0xffff ? { on: 0x1000, off: 0 } : { on: 0, off: (dutyCycle + 1) >> 4 });
  }
}

/** Python's round(x, 1) for the sums carbot.py rounds (none of them a tie). */
const round1 = (x: number): number => Number(x.toFixed(1));

/** carbot.py's `carbot` class and on_message, driving a ServoKitModel. */
export class CarbotPy {
  throttleSpeed = 0.1;
  private prevMovement: 'FORWARD' | 'BACKWARD' | 'STOP' = 'STOP';

  constructor(readonly kit: ServoKitModel) {}

  message(payload: string): void {
    if (payload === 'f') this.forward();
    else if (payload === 's') this.stop();
    else if (payload === 'b') this.backward();
    else if (payload === '+') this.speedUp();
    else if (payload === '-') this.slowDown();
  }

  private forward(): void {
    this.kit.throttle(0, -this.throttleSpeed);
    this.kit.throttle(1, this.throttleSpeed);
    this.prevMovement = 'FORWARD';
  }

  private backward(): void {
    this.kit.throttle(0, this.throttleSpeed);
    this.kit.throttle(1, -this.throttleSpeed);
    this.prevMovement = 'BACKWARD';
  }

  private stop(): void {
    this.kit.throttle(0, 0);
    this.kit.throttle(1, 0);
    this.prevMovement = 'STOP';
  }

  private slowDown(): void {
    this.throttleSpeed = round1(this.throttleSpeed > 0.1 ? this.throttleSpeed - 0.1 : this.throttleSpeed);
    this.again();
  }

  private speedUp(): void {
    this.throttleSpeed = round1(this.throttleSpeed < 1 ? this.throttleSpeed + 0.1 : this.throttleSpeed);
    this.again();
  }

  private again(): void {
    if (this.prevMovement === 'FORWARD') this.forward();
    else if (this.prevMovement === 'BACKWARD') this.backward();
  }
}
