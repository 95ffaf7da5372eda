import type { Logger } from '../process/log';
import type { MotorBank } from '../motors/types';

/**
 * Motors that exist only in memory: for laptops, demos and tests. It goes through the same
 * MotorBank interface as the Pi's drivers, so everything above it runs as it would on a car.
 */
export class SimMotorBank implements MotorBank {
  readonly backend = 'sim' as const;
  readonly outputs: Record<string, number>;
  /** Every write with a high-resolution timestamp, when a benchmark asks for it. */
  readonly writes: { at: bigint; received?: bigint; outputs: Record<string, number> }[] = [];
  /** When the command being handled arrived (process.hrtime.bigint()), set by whoever traces. */
  received?: bigint;
  private closed = false;
  /** Who else sees the outputs: the simulated track moves its car by them. */
  private readonly listeners: ((outputs: Readonly<Record<string, number>>) => void)[] = [];

  constructor(
    readonly names: readonly string[],
    private readonly log: Logger,
    private readonly recordWrites = false,
  ) {
    this.outputs = Object.fromEntries(names.map((n) => [n, 0]));
  }

  write(outputs: Readonly<Record<string, number>>): void {
    if (this.closed) throw new Error('sim motors: write after close');
    for (const name of this.names) this.outputs[name] = outputs[name] ?? 0;
    if (this.recordWrites) {
      this.writes.push({ at: process.hrtime.bigint(), received: this.received, outputs: { ...this.outputs } });
    }
    if (this.log.isLevelEnabled('debug')) this.log.debug(`sim motors: ${this.names.map((n) => `${n} ${this.outputs[n].toFixed(2)}`).join(', ')}`);
    this.tell();
  }

  stopAll(): Error[] {
    for (const name of this.names) this.outputs[name] = 0;
    this.tell();
    return [];
  }

  /** Calls `listener` with the outputs after every write and stop. */
  onWrite(listener: (outputs: Readonly<Record<string, number>>) => void): void {
    this.listeners.push(listener);
  }

  private tell(): void {
    for (const listener of this.listeners) listener(this.outputs);
  }

  async close(): Promise<void> {
    this.stopAll();
    this.closed = true;
  }
}
