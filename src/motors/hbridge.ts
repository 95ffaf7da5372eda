import type { DriverMotor } from './gpio-bank';
import type { BinaryValue, OnoffGpio, Pins } from '../boards/onoff';
import type { PigpioGpio, PigpioModule } from './pigpio';
import type { HBridgeMotorConfig } from './types';

/**
 * A DC motor on one half of an H-bridge (L298N, TB6612): PWM duty on the enable pin through
 * pigpio, direction on IN1/IN2 through onoff. IN1 high + IN2 low is the car's forward.
 *
 * The direction pins only ever change while the duty is 0, lows before highs, so a reversal
 * never passes through "driving the other way at speed" and the bridge is never asked to
 * switch both legs at once under load.
 */

/** Duty steps of pwmWrite; pigpio maps them onto the real range of the frequency (200 at 1 kHz). */
export const PWM_RANGE = 1000;

interface Levels {
  in1: BinaryValue;
  in2: BinaryValue;
  duty: number;
}

export class HBridgeMotor implements DriverMotor {
  readonly name: string;
  readonly description: string;
  private readonly pwm: PigpioGpio;
  private readonly in1: OnoffGpio;
  private readonly in2: OnoffGpio;
  /** What the pins are known to carry; undefined after a failed write, so the next one rewrites all. */
  private levels: Levels | undefined;

  /**
   * Opens the pins already stopped (coast, duty 0, then the brake if configured). A TB6612's
   * standby pin is shared by its two motors, so the bank drives it, not the motor.
   */
  constructor(
    private readonly config: HBridgeMotorConfig,
    pigpio: PigpioModule,
    pins: Pins,
  ) {
    this.name = config.name;
    const { pwm, in1, in2, standby, pwmFrequency, brake, invert } = config;
    this.description =
      `hbridge pwm ${pwm} in1 ${in1} in2 ${in2}${standby !== undefined ? ` standby ${standby}` : ''}, ` +
      `${pwmFrequency} Hz, ${brake ? 'brake' : 'coast'}${invert ? ', inverted' : ''}`;

    const opened: OnoffGpio[] = [];
    try {
      opened.push((this.in1 = pins.output(in1, 0)));
      opened.push((this.in2 = pins.output(in2, 0)));
      this.pwm = new pigpio.Gpio(pwm, { mode: pigpio.Gpio.OUTPUT });
      this.pwm.pwmWrite(0);
      this.pwm.pwmFrequency(pwmFrequency);
      this.pwm.pwmRange(PWM_RANGE);
      this.levels = { in1: 0, in2: 0, duty: 0 };
      this.applyStop();
    } catch (err) {
      for (const gpio of opened) {
        try {
          gpio.unexport();
        } catch {
          // The open error is the one worth reporting.
        }
      }
      throw err;
    }
  }

  set(output: number): void {
    if (!Number.isFinite(output)) throw new Error(`output must be a number from -1 to 1, got ${output}`);
    const v = Math.max(-1, Math.min(1, this.config.invert ? -output : output));
    if (v === 0) return this.applyStop();
    const duty = Math.round(Math.abs(v) * PWM_RANGE);
    if (v > 0) this.apply(1, 0, duty);
    else this.apply(0, 1, duty);
  }

  /** Writes every pin of the configured stop, whatever the motor is believed to be doing. */
  stop(): void {
    this.levels = undefined;
    this.applyStop();
  }

  /** Coast, then give the direction pins back; the enable pin stays low. */
  release(): Error[] {
    const errors: Error[] = [];
    const attempt = (what: () => void) => {
      try {
        what();
      } catch (err) {
        errors.push(err as Error);
      }
    };
    this.levels = undefined;
    attempt(() => this.apply(0, 0, 0));
    for (const gpio of [this.in1, this.in2]) attempt(() => gpio.unexport());
    return errors;
  }

  /**
   * Braking needs the enable pin high: an L298N only brakes with EN high and IN1 = IN2
   * (EN low lets the motor run free), and a TB6612 brakes with IN1 = IN2 = high at any PWM.
   */
  private applyStop(): void {
    if (this.config.brake) this.apply(1, 1, PWM_RANGE);
    else this.apply(0, 0, 0);
  }

  private apply(in1: BinaryValue, in2: BinaryValue, duty: number): void {
    const known = this.levels;
    this.levels = undefined;
    if (!known || known.in1 !== in1 || known.in2 !== in2) {
      if (!known || known.duty !== 0) this.pwm.pwmWrite(0);
      const writes: [OnoffGpio, BinaryValue, BinaryValue | undefined][] = [
        [this.in1, in1, known?.in1],
        [this.in2, in2, known?.in2],
      ];
      for (const level of [0, 1] as const) {
        for (const [gpio, wanted, was] of writes) if (wanted === level && was !== level) gpio.writeSync(level);
      }
      if (duty !== 0) this.pwm.pwmWrite(duty);
    } else if (known.duty !== duty) {
      this.pwm.pwmWrite(duty);
    }
    this.levels = { in1, in2, duty };
  }
}
