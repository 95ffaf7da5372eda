import type { DriverMotor } from '../motors/driver';

/**
 * A `driver: "sim"` motor: it only remembers its output. On the sim board it is one of the
 * simulated car's motors (the board reads its output after each write of the bank); on a car
 * whose other motors are real it stands for one that is not there.
 */
export class SimMotor implements DriverMotor {
  readonly description = 'sim';
  output = 0;
  constructor(readonly name: string) {}
  set(output: number): void {
    this.output = output;
  }
  stop(): void {
    this.output = 0;
  }
  release(): Error[] {
    this.output = 0;
    return [];
  }
}
