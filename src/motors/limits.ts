import type { Logger } from '../log';
import { openPins, type BinaryValue, type OnoffDeps, type OnoffGpio } from '../boards/onoff';
import type { PigpioModule } from './pigpio';
import type { LimitSwitchConfig, LimitsConfig, LimitSwitches, TrackEnd } from './types';

/**
 * End-of-track switches on onoff inputs with edge interrupts.
 *
 * The debounce is carbot's own rather than onoff's `debounceTimeout` (lodash.debounce inside
 * onoff): every edge restarts a `debounceMs` timer and, when the pin has been quiet that
 * long, its level is read and reported if it changed. A bounce that ends where it started is
 * never reported, and the behaviour is visible to tests through the ordinary timer functions.
 */

export interface LimitSwitchDeps extends OnoffDeps {
  log?: Logger;
  /**
   * When given, the pin's pull resistor is set to match the wiring (pull-up for activeLow),
   * which sysfs cannot do; without it, the wiring needs its own resistor.
   */
  pigpio?: PigpioModule;
}

interface Watched {
  end: TrackEnd;
  config: LimitSwitchConfig;
  gpio: OnoffGpio;
  timer: NodeJS.Timeout | undefined;
}

class Switches implements LimitSwitches {
  readonly closed: Partial<Record<TrackEnd, boolean>> = {};
  private readonly listeners: ((end: TrackEnd, closed: boolean) => void)[] = [];
  private readonly watched: Watched[] = [];
  private closing: Promise<void> | undefined;

  constructor(private readonly log: Logger | undefined) {}

  add(end: TrackEnd, config: LimitSwitchConfig, gpio: OnoffGpio): void {
    const w: Watched = { end, config, gpio, timer: undefined };
    this.watched.push(w);
    this.closed[end] = this.isClosed(config, gpio.readSync());
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

  private isClosed(config: LimitSwitchConfig, value: BinaryValue): boolean {
    return config.activeLow ? value === 0 : value === 1;
  }

  private settle(w: Watched): void {
    w.timer = undefined;
    if (this.closing) return;
    const closed = this.isClosed(w.config, w.gpio.readSync());
    if (closed === this.closed[w.end]) return;
    this.closed[w.end] = closed;
    this.log?.debug(`limit switch ${w.end} ${closed ? 'closed' : 'open'}`);
    for (const listener of this.listeners) listener(w.end, closed);
  }

  private async release(): Promise<void> {
    for (const w of this.watched) {
      clearTimeout(w.timer);
      try {
        w.gpio.unexport();
      } catch (err) {
        this.log?.warn(`limit switch ${w.end} (GPIO ${w.config.pin}): releasing failed: ${(err as Error).message}`);
      }
    }
  }
}

export function openLimitSwitches(cfg: LimitsConfig, deps: LimitSwitchDeps = {}): LimitSwitches {
  const switches = new Switches(deps.log);
  const ends = (['forward', 'backward'] as const).filter((end) => cfg[end] !== undefined);
  if (ends.length === 0) return switches;
  const pins = openPins(deps);
  try {
    for (const end of ends) {
      const config = cfg[end] as LimitSwitchConfig;
      if (deps.pigpio) {
        const { Gpio } = deps.pigpio;
        new Gpio(config.pin, { mode: Gpio.INPUT, pullUpDown: config.activeLow ? Gpio.PUD_UP : Gpio.PUD_DOWN });
      }
      let gpio: OnoffGpio;
      try {
        gpio = pins.input(config.pin);
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
