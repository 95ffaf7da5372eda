import type { Clock } from '../../src/service';

/**
 * Time that passes only when asked: the service, the simulated track and the encoder run on
 * it as on the real clock, an hour of driving takes a second. Each timer fires late by up to
 * `latenessMs` (uniform), as Node's timers do on a busy Pi, so the figures are not those of a
 * perfect scheduler.
 */
export class VirtualClock implements Clock {
  private time = 0;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; seq: number; fn: () => void }>();

  constructor(
    private readonly latenessMs = 0,
    private readonly random: () => number = Math.random,
  ) {}

  now(): number {
    return this.time;
  }

  setTimeout(fn: () => void, ms: number): NodeJS.Timeout {
    const id = ++this.seq;
    this.timers.set(id, { at: this.time + Math.max(0, ms) + this.latenessMs * this.random(), seq: id, fn });
    return id as unknown as NodeJS.Timeout;
  }

  clearTimeout(t: NodeJS.Timeout | undefined): void {
    if (t !== undefined) this.timers.delete(t as unknown as number);
  }

  /** Runs timers in time order until `done()` holds after one, or `limitMs` of virtual time pass. */
  runUntil(done: () => boolean, limitMs: number): boolean {
    const end = this.time + limitMs;
    while (!done()) {
      let next: [number, { at: number; seq: number; fn: () => void }] | undefined;
      for (const entry of this.timers) {
        if (!next || entry[1].at < next[1].at || (entry[1].at === next[1].at && entry[1].seq < next[1].seq)) next = entry;
      }
      if (!next || next[1].at > end) {
        this.time = Math.max(this.time, end);
        return done();
      }
      this.timers.delete(next[0]);
      this.time = Math.max(this.time, next[1].at);
      next[1].fn();
    }
    return true;
  }
}
