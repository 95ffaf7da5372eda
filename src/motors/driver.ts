import type { Motor } from './types';

/** A motor on real outputs, as the bank drives it. */
export interface DriverMotor extends Motor {
  /** e.g. "hbridge pwm 12 in1 5 in2 6, 1000 Hz, coast", for logs. */
  readonly description: string;
  /** Writes every output of the stop state, whatever the motor is believed to be doing. */
  stop(): void;
  /** Stops (an H-bridge always coasting, a servo with pulses off) and gives its outputs back; returns what failed. */
  release(): Error[];
}
