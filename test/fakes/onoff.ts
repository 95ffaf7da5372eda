import type { BinaryValue, OnoffGpio, OnoffModule } from '../../src/boards/onoff';
import type { CallLog } from './call-log';

/**
 * A fake of onoff's Gpio (sysfs numbers, as onoff sees them) writing every call to the
 * shared CallLog as e.g. `onoff.writeSync(5,1)`. The board holds the pin levels, so a test
 * can move an input and have the watchers called as onoff's epoll poller would.
 */
export class FakeBoard {
  readonly levels = new Map<number, BinaryValue>();
  private readonly watchers = new Map<number, ((err: Error | null | undefined, value: BinaryValue) => void)[]>();

  /** An edge on an input: the level changes and every watcher of the pin is called. */
  edge(pin: number, level: BinaryValue): void {
    this.levels.set(pin, level);
    for (const watcher of this.watchers.get(pin) ?? []) watcher(null, level);
  }

  /** An interrupt that reports an error, as onoff passes on epoll's. */
  fault(pin: number, err: Error): void {
    for (const watcher of this.watchers.get(pin) ?? []) watcher(err, this.levels.get(pin) ?? 0);
  }

  watch(pin: number, callback: (err: Error | null | undefined, value: BinaryValue) => void): void {
    this.watchers.set(pin, [...(this.watchers.get(pin) ?? []), callback]);
  }

  unwatch(pin: number): void {
    this.watchers.delete(pin);
  }

  watched(pin: number): boolean {
    return (this.watchers.get(pin)?.length ?? 0) > 0;
  }
}

export function createFakeOnoff(log: CallLog, board = new FakeBoard()): OnoffModule {
  class Gpio implements OnoffGpio {
    private exported = true;

    constructor(
      private readonly gpio: number,
      direction: 'in' | 'out' | 'high' | 'low',
      edge?: 'none' | 'rising' | 'falling' | 'both',
    ) {
      log.record(`onoff.Gpio(${gpio},${direction}${edge ? `,${edge}` : ''})`);
      if (direction === 'high' || direction === 'low') board.levels.set(gpio, direction === 'high' ? 1 : 0);
    }

    private check(): void {
      if (!this.exported) throw new Error('EBADF: bad file descriptor, read');
    }

    readSync(): BinaryValue {
      log.record(`onoff.readSync(${this.gpio})`);
      this.check();
      return board.levels.get(this.gpio) ?? 0;
    }

    writeSync(value: BinaryValue): void {
      log.record(`onoff.writeSync(${this.gpio},${value})`);
      this.check();
      board.levels.set(this.gpio, value);
    }

    watch(callback: (err: Error | null | undefined, value: BinaryValue) => void): void {
      log.record(`onoff.watch(${this.gpio})`);
      board.watch(this.gpio, callback);
    }

    unwatchAll(): void {
      log.record(`onoff.unwatchAll(${this.gpio})`);
      board.unwatch(this.gpio);
    }

    unexport(): void {
      log.record(`onoff.unexport(${this.gpio})`);
      // onoff's unexport stops watching first, then closes the value file.
      board.unwatch(this.gpio);
      this.exported = false;
    }
  }
  return { Gpio };
}
