import type { DriverMotor } from './gpio-bank';
import type { PigpioGpio, PigpioModule } from './pigpio';
import type { ServoMotorConfig } from './types';

/**
 * A continuous-rotation servo: the pulse width sets speed and direction around the neutral
 * pulse (neutralUs + trimUs stands still; ± spanUs is full speed). Stopped means no pulses at
 * all, so a servo whose neutral drifts cannot creep.
 */
export class ServoMotor implements DriverMotor {
  readonly name: string;
  readonly description: string;
  private readonly gpio: PigpioGpio;
  /** The last pulse written, 0 = off; undefined after a failed write. */
  private pulse: number | undefined;

  constructor(
    private readonly config: ServoMotorConfig,
    pigpio: PigpioModule,
  ) {
    this.name = config.name;
    const { pin, neutralUs, spanUs, trimUs, invert } = config;
    this.description =
      `servo pin ${pin}, ${neutralUs}${trimUs ? (trimUs > 0 ? `+${trimUs}` : `${trimUs}`) : ''} ± ${spanUs} µs` +
      `${invert ? ', inverted' : ''}`;
    this.gpio = new pigpio.Gpio(pin, { mode: pigpio.Gpio.OUTPUT });
    this.write(0);
  }

  set(output: number): void {
    if (!Number.isFinite(output)) throw new Error(`output must be a number from -1 to 1, got ${output}`);
    const { neutralUs, spanUs, trimUs, invert } = this.config;
    const v = Math.max(-1, Math.min(1, invert ? -output : output));
    const pulse = v === 0 ? 0 : Math.round(neutralUs + trimUs + spanUs * v);
    if (pulse !== this.pulse) this.write(pulse);
  }

  stop(): void {
    this.write(0);
  }

  release(): Error[] {
    try {
      this.write(0);
      return [];
    } catch (err) {
      return [err as Error];
    }
  }

  private write(pulse: number): void {
    this.pulse = undefined;
    this.gpio.servoWrite(pulse);
    this.pulse = pulse;
  }
}
