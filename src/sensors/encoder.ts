import { performance } from 'node:perf_hooks';
import type { Board, DigitalInput, Level, Pull } from '../boards/types';
import type { Logger } from '../process/log';

/**
 * A wheel encoder on one input: a hall sensor under magnets on the wheel, or a slotted disc in
 * an optical fork. Every change of level is one edge, a fixed distance of travel; the encoder
 * has one channel, so which way the car went is the track model's business (the direction it
 * was driven).
 *
 * The board calls back on every edge it sees (onoff: an epoll wakeup on the sysfs value file;
 * pigpio: an alert). An edge counts when the level differs from the last counted one — a
 * bounce that ends where it started never counts, and several edges folded into one wakeup
 * count once, as the kernel reports them — and not within `debounceMs` of the last counted
 * edge, where a contact or a slow slot edge chatters. The kernel's sysfs GPIO interface reports
 * "the value changed" rather than each edge, so rates above what the event loop keeps up with
 * (a few hundred edges a second) lose edges: choose the slots or magnets for that.
 */

export interface EncoderConfig {
  pin: number;
  /** Edges per metre of travel, when known; else a calibration counts them per track length. */
  edgesPerMetre?: number;
  debounceMs: number;
  /** Pull resistor where the board can set one: `up` for an open-collector hall sensor. */
  pull: Pull;
}

export interface Encoder {
  /** Edges counted since it opened. */
  readonly edges: number;
  /** Called on every counted edge. */
  onEdge(listener: () => void): void;
  close(): Promise<void>;
}

class EdgeCounter implements Encoder {
  edges = 0;
  private lastLevel: Level;
  private lastAt = -Infinity;
  private readonly listeners: (() => void)[] = [];
  private closed = false;
  private warned = false;

  constructor(
    private readonly config: EncoderConfig,
    private readonly input: DigitalInput,
    private readonly log: Logger | undefined,
    private readonly now: () => number,
  ) {
    this.lastLevel = input.read();
    input.watch((err) => this.changed(err));
  }

  onEdge(listener: () => void): void {
    this.listeners.push(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    try {
      this.input.close();
    } catch (err) {
      this.log?.warn(`encoder (pin ${this.config.pin}): releasing failed: ${(err as Error).message}`);
    }
  }

  private changed(err: Error | undefined): void {
    if (this.closed) return;
    if (err) {
      // Said once: an interrupt that keeps failing would otherwise flood the journal.
      if (!this.warned) this.log?.warn(`encoder (pin ${this.config.pin}): ${err.message}`);
      this.warned = true;
      return;
    }
    const level = this.input.read();
    if (level === this.lastLevel) return;
    const at = this.now();
    if (at - this.lastAt < this.config.debounceMs) return;
    this.lastLevel = level;
    this.lastAt = at;
    this.edges++;
    for (const listener of this.listeners) listener();
  }
}

/** Opens the encoder's pin on a board (or on the simulated track) and starts counting. */
export async function openEncoder(
  config: EncoderConfig,
  board: Pick<Board, 'openInput'>,
  log?: Logger,
  now: () => number = () => performance.now(),
): Promise<Encoder> {
  let input: DigitalInput;
  try {
    input = await board.openInput(config.pin, config.pull);
  } catch (err) {
    throw new Error(`track.encoder: ${(err as Error).message}`, { cause: err });
  }
  return new EdgeCounter(config, input, log, now);
}
