import type { Board, DigitalInput, Level } from '../boards/types';
import type { Logger } from '../process/log';
import type { LimitSwitchConfig, LimitsConfig, LimitSwitches, TrackEnd } from '../motors/types';

/**
 * End-of-track switches on a board's inputs with edge interrupts (onoff under pigpio and the
 * kernel board; pigpio also sets the pull resistor to match the wiring, which sysfs cannot).
 *
 * The debounce is carbot's own rather than onoff's `debounceTimeout` (lodash.debounce inside
 * onoff): every edge restarts a `debounceMs` timer and, when the pin has been quiet that
 * long, its level is read and reported if it changed. A bounce that ends where it started is
 * never reported, and the behaviour is visible to tests through the ordinary timer functions.
 */

interface Watched {
  end: TrackEnd;
  config: LimitSwitchConfig;
  gpio: DigitalInput;
  timer: NodeJS.Timeout | undefined;
}

class Switches implements LimitSwitches {
  readonly closed: Partial<Record<TrackEnd, boolean>> = {};
  private readonly listeners: ((end: TrackEnd, closed: boolean) => void)[] = [];
  private readonly watched: Watched[] = [];
  private closing: Promise<void> | undefined;

  constructor(private readonly log: Logger | undefined) {}

  add(end: TrackEnd, config: LimitSwitchConfig, gpio: DigitalInput): void {
    const w: Watched = { end, config, gpio, timer: undefined };
    this.watched.push(w);
    this.closed[end] = this.isClosed(config, gpio.read());
    gpio.watch((err) => {
      if (err) {
        this.log?.warn(`limit switch ${end} (GPIO ${config.pin}): ${err.message}`);
        return;
      }
      if (config.debounceMs === 0) return this.settle(w);
      clearTimeout(w.timer);
      w.timer = setTimeout(() => this.settle(w), config.debounceMs);
    });
  }

  onChange(listener: (end: TrackEnd, closed: boolean) => void): void {
    this.listeners.push(listener);
  }

  close(): Promise<void> {
    this.closing ??= this.release();
    return this.closing;
  }

  private isClosed(config: LimitSwitchConfig, value: Level): boolean {
    return config.activeLow ? value === 0 : value === 1;
  }

  private settle(w: Watched): void {
    w.timer = undefined;
    if (this.closing) return;
    const closed = this.isClosed(w.config, w.gpio.read());
    if (closed === this.closed[w.end]) return;
    this.closed[w.end] = closed;
    this.log?.debug(`limit switch ${w.end} ${closed ? 'closed' : 'open'}`);
    for (const listener of this.listeners) listener(w.end, closed);
  }

  private async release(): Promise<void> {
    for (const w of this.watched) {
      clearTimeout(w.timer);
      try {
        w.gpio.close();
      } catch (err) {
        this.log?.warn(`limit switch ${w.end} (GPIO ${w.config.pin}): releasing failed: ${(err as Error).message}`);
      }
    }
  }
}

/** `board`: anything that opens inputs, a real board or the simulated track (sim-track.ts). */
export async function openLimitSwitches(cfg: LimitsConfig, board: Pick<Board, 'openInput'>, log?: Logger): Promise<LimitSwitches> {
  const switches = new Switches(log);
  const ends = (['forward', 'backward'] as const).filter((end) => cfg[end] !== undefined);
  try {
    for (const end of ends) {
      const config = cfg[end] as LimitSwitchConfig;
      let gpio: DigitalInput;
      try {
        gpio = await board.openInput(config.pin, config.activeLow ? 'up' : 'down');
      } catch (err) {
        throw new Error(`limits.${end}: ${(err as Error).message}`, { cause: err });
      }
      switches.add(end, config, gpio);
    }
  } catch (err) {
    void switches.close();
    throw err;
  }
  return switches;
}
