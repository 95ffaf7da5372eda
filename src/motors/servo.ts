import type { Board, PulseOutput } from '../boards/types';
import type { DriverMotor } from './driver';
import type { ServoMotorConfig } from './types';

/**
 * A continuous-rotation servo: the pulse width sets speed and direction around the neutral
 * pulse (neutralUs + trimUs stands still; ± spanUs is full speed; the defaults 1500 ± 750 µs
 * are what Adafruit's ServoKit gives for `continuous_servo[n].throttle`, so a car moved from
 * carbot.py drives at the same speed).
 *
 * On a board that reproduces ServoKit (a PCA9685 with pca9685.servoKitCompatible) the output
 * is written as ServoKit's `throttle = t` with the pulse range neutral + trim ± span, so the
 * original car gets carbot.py's very registers (see src/boards/pca9685.ts).
 *
 * Stopped, it gets the neutral pulse: many continuous servos keep turning when the pulses
 * just stop. With `idleOffS` the pulses go off after that long stopped (0 = at once), for a
 * servo whose neutral is set well and that should not hum.
 */
export class ServoMotor implements DriverMotor {
  readonly name: string;
  readonly description: string;
  /** What was last written ("1500 µs", "throttle 0.1", "0 µs" = off); undefined after a failed write. */
  private written: string | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private moving = false;

  static async open(config: ServoMotorConfig, board: Board, onIdleError?: (err: Error) => void): Promise<ServoMotor> {
    return new ServoMotor(config, await board.openPulses(config.pin), onIdleError);
  }

  constructor(
    private readonly config: ServoMotorConfig,
    private readonly output: PulseOutput,
    private readonly onIdleError: (err: Error) => void = () => undefined,
  ) {
    this.name = config.name;
    const { pin, neutralUs, spanUs, trimUs, invert, board, idleOffS } = config;
    const idle = idleOffS === undefined ? '' : idleOffS === 0 ? ', stops with pulses off' : `, pulses off after ${idleOffS} s stopped`;
    this.description =
      `servo ${board === 'pca9685' ? 'PCA9685 channel' : 'pin'} ${pin}, ` +
      `${neutralUs}${trimUs ? (trimUs > 0 ? `+${trimUs}` : `${trimUs}`) : ''} ± ${spanUs} µs` +
      `${invert ? ', inverted' : ''}${output.setThrottle ? ', as ServoKit' : ''}${idle}`;
    this.stop();
  }

  set(output: number): void {
    if (!Number.isFinite(output)) throw new Error(`output must be a number from -1 to 1, got ${output}`);
    const { neutralUs, spanUs, trimUs, invert } = this.config;
    const v = Math.max(-1, Math.min(1, invert ? -output : output));
    if (v === 0) {
      // Already stopped (holding neutral, or idled off): nothing to write, no timer to restart.
      if (!this.moving && this.written !== undefined) return;
      return this.stop();
    }
    this.cancelIdle();
    this.moving = true;
    if (this.output.setThrottle) {
      if (this.written !== `throttle ${v}`) this.writeThrottle(v);
    } else {
      const pulse = Math.round(neutralUs + trimUs + spanUs * v);
      if (this.written !== `${pulse} µs`) this.write(pulse);
    }
  }

  /** The stop pulse, whatever the servo is believed to be doing. */
  stop(): void {
    this.cancelIdle();
    this.moving = false;
    if (this.output.setThrottle && this.config.idleOffS !== 0) this.writeThrottle(0);
    else this.write(this.stopPulse());
    const { idleOffS } = this.config;
    if (idleOffS !== undefined && idleOffS > 0) {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = undefined;
        try {
          this.write(0);
        } catch (err) {
          this.onIdleError(err as Error);
        }
      }, idleOffS * 1000);
      this.idleTimer.unref();
    }
  }

  /** Pulses off (a board keeps no pulses going once carbot is gone) and the output given back. */
  release(): Error[] {
    this.cancelIdle();
    const errors: Error[] = [];
    for (const step of [() => this.write(0), () => this.output.close()]) {
      try {
        step();
      } catch (err) {
        errors.push(err as Error);
      }
    }
    return errors;
  }

  private stopPulse(): number {
    const { neutralUs, trimUs, idleOffS } = this.config;
    return idleOffS === 0 ? 0 : neutralUs + trimUs;
  }

  private cancelIdle(): void {
    clearTimeout(this.idleTimer);
    this.idleTimer = undefined;
  }

  private write(pulse: number): void {
    this.written = undefined;
    this.output.setPulse(pulse);
    this.written = `${pulse} µs`;
  }

  /** ServoKit's `throttle = t` between neutral + trim ± span. */
  private writeThrottle(throttle: number): void {
    const { neutralUs, spanUs, trimUs } = this.config;
    this.written = undefined;
    this.output.setThrottle?.(throttle, neutralUs + trimUs - spanUs, neutralUs + trimUs + spanUs);
    this.written = `throttle ${throttle}`;
  }
}
