/**
 * One PWM channel of a pwmchip, exported: its attributes written in nanoseconds, and closed
 * again (duty 0, disabled, unexported). Part of ../kernel.ts.
 */
import path from 'node:path';
import type { PwmChip, SysfsFiles } from './sysfs';

export interface ChannelPlace {
  chipDir: string;
  chip: PwmChip;
  channel: number;
}

/** An exported, enabled channel at a fixed period, written in ns. */
export class PwmChannel {
  private open = true;

  constructor(
    private readonly files: SysfsFiles,
    readonly pin: number,
    readonly place: ChannelPlace,
    readonly periodNs: number,
    private readonly onClose: () => void,
  ) {}

  get dir(): string {
    return path.join(this.place.chipDir, `pwm${this.place.channel}`);
  }

  setDutyNs(ns: number): void {
    this.write('duty_cycle', ns);
  }

  /** Duty 0, disabled, unexported: every step tried; the first failure thrown after them all. */
  close(): void {
    if (!this.open) return;
    this.open = false;
    this.onClose();
    const errors: Error[] = [];
    const attempt = (step: () => void) => {
      try {
        step();
      } catch (err) {
        errors.push(err as Error);
      }
    };
    attempt(() => this.write('duty_cycle', 0));
    attempt(() => this.write('enable', 0));
    attempt(() => this.writeFile(path.join(this.place.chipDir, 'unexport'), this.place.channel));
    if (errors.length > 0) {
      const steps = errors.map((e) => e.message.replace(`GPIO ${this.pin}: `, '')).join('; ');
      throw new Error(`GPIO ${this.pin}: closing ${this.dir}: ${steps}`, { cause: errors[0] });
    }
  }

  write(attribute: string, value: number | string): void {
    this.writeFile(path.join(this.dir, attribute), value);
  }

  private writeFile(file: string, value: number | string): void {
    try {
      this.files.write(file, String(value));
    } catch (err) {
      throw new Error(`GPIO ${this.pin}: writing ${value} to ${file}: ${(err as Error).message}`, { cause: err });
    }
  }

  read(attribute: string): string {
    return this.files.read(path.join(this.dir, attribute)).trim();
  }
}
