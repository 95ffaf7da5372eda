import type { Board, DigitalOutput, Level, PwmOutput } from '../boards/types';
import type { DriverMotor } from './driver';
import type { HBridgeMotorConfig } from './types';

/**
 * A DC motor on one half of an H-bridge (L298N, TB6612, or the TB6612s of a motor HAT): PWM
 * duty on the enable input, direction on IN1/IN2. IN1 high + IN2 low is the car's forward.
 * Which board carries the pins (pigpio, the kernel's PWM, a PCA9685) is not its business.
 *
 * The direction pins only ever change while the duty is 0, lows before highs, so a reversal
 * never passes through "driving the other way at speed" and the bridge is never asked to
 * switch both legs at once under load.
 */

/** Duty resolution: outputs are rounded to 1/1000, as pigpio's range of 1000 always did. */
const DUTY_STEPS = 1000;

interface Levels {
  in1: Level;
  in2: Level;
  duty: number;
}

export interface HBridgeOutputs {
  pwm: PwmOutput;
  in1: DigitalOutput;
  in2: DigitalOutput;
}

export class HBridgeMotor implements DriverMotor {
  readonly name: string;
  readonly description: string;
  /** What the pins are known to carry; undefined after a failed write, so the next one rewrites all. */
  private levels: Levels | undefined;

  /**
   * Opens the pins already stopped (coast, duty 0, then the brake if configured). A TB6612's
   * standby pin is shared by its two motors, so the bank drives it, not the motor.
   */
  static async open(config: HBridgeMotorConfig, board: Board): Promise<HBridgeMotor> {
    const opened: { close(): void }[] = [];
    try {
      const in1 = await board.openOutput(config.in1, 0);
      opened.push(in1);
      const in2 = await board.openOutput(config.in2, 0);
      opened.push(in2);
      const pwm = await board.openPwm(config.pwm, config.pwmFrequency);
      opened.push(pwm);
      return new HBridgeMotor(config, { pwm, in1, in2 });
    } catch (err) {
      for (const output of opened) {
        try {
          output.close();
        } catch {
          // The open error is the one worth reporting.
        }
      }
      throw err;
    }
  }

  constructor(
    private readonly config: HBridgeMotorConfig,
    private readonly outputs: HBridgeOutputs,
  ) {
    this.name = config.name;
    const { pwm, in1, in2, standby, pwmFrequency, brake, invert, board } = config;
    const where = board === 'pca9685' ? 'PCA9685 channels ' : '';
    this.description =
      `hbridge ${where}pwm ${pwm} in1 ${in1} in2 ${in2}${standby !== undefined ? ` standby ${standby}` : ''}, ` +
      `${pwmFrequency} Hz, ${brake ? 'brake' : 'coast'}${invert ? ', inverted' : ''}`;
    this.levels = { in1: 0, in2: 0, duty: 0 };
    this.applyStop();
  }

  set(output: number): void {
    if (!Number.isFinite(output)) throw new Error(`output must be a number from -1 to 1, got ${output}`);
    const v = Math.max(-1, Math.min(1, this.config.invert ? -output : output));
    if (v === 0) return this.applyStop();
    const duty = Math.round(Math.abs(v) * DUTY_STEPS) / DUTY_STEPS;
    if (v > 0) this.apply(1, 0, duty);
    else this.apply(0, 1, duty);
  }

  /** Writes every pin of the configured stop, whatever the motor is believed to be doing. */
  stop(): void {
    this.levels = undefined;
    this.applyStop();
  }

  /** Coast, then give the pins back; the enable output stays low. */
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
    const { in1, in2, pwm } = this.outputs;
    for (const output of [in1, in2, pwm]) attempt(() => output.close());
    return errors;
  }

  /**
   * Braking needs the enable pin high: an L298N only brakes with EN high and IN1 = IN2
   * (EN low lets the motor run free), and a TB6612 brakes with IN1 = IN2 = high at any PWM.
   */
  private applyStop(): void {
    if (this.config.brake) this.apply(1, 1, 1);
    else this.apply(0, 0, 0);
  }

  private apply(in1: Level, in2: Level, duty: number): void {
    const known = this.levels;
    const { pwm } = this.outputs;
    this.levels = undefined;
    if (!known || known.in1 !== in1 || known.in2 !== in2) {
      if (!known || known.duty !== 0) pwm.setDuty(0);
      const writes: [DigitalOutput, Level, Level | undefined][] = [
        [this.outputs.in1, in1, known?.in1],
        [this.outputs.in2, in2, known?.in2],
      ];
      for (const level of [0, 1] as const) {
        for (const [output, wanted, was] of writes) if (wanted === level && was !== level) output.write(level);
      }
      if (duty !== 0) pwm.setDuty(duty);
    } else if (known.duty !== duty) {
      pwm.setDuty(duty);
    }
    this.levels = { in1, in2, duty };
  }
}
