/**
 * Says when the event loop was blocked: every command, pin write, watchdog ping and stop
 * waits for it, so a stall is a car that does not answer. Node's own histogram does the
 * measuring (a libuv timer in C++, no JavaScript per sample); once a second carbot reads its
 * longest delay and resets it.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import type { Logger } from './log';

export interface LoopMonitorOptions {
  /** Stalls longer than this are logged (default 100 ms). */
  thresholdMs?: number;
  /** How often the histogram is read (default 1 s). */
  checkMs?: number;
  /** After the first stall, the others in this window are summed up in one line (default 10 s). */
  windowMs?: number;
}

export interface LoopMonitor {
  close(): void;
}

/** Histogram resolution: a stall is seen to within this, at the cost of 50 timer wake-ups a second in C++. */
const RESOLUTION_MS = 20;

export function monitorEventLoop(log: Pick<Logger, 'warn'>, options: LoopMonitorOptions = {}): LoopMonitor {
  const thresholdMs = options.thresholdMs ?? 100;
  const windowMs = options.windowMs ?? 10_000;
  const histogram: IntervalHistogram = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
  histogram.enable();
  let windowEndsAt = 0;
  let more = 0;
  let longest = 0;

  const summarise = (): void => {
    if (more > 0) {
      log.warn(`event loop blocked ${more} more time${more === 1 ? '' : 's'} over ${thresholdMs} ms in the last ${Math.round(windowMs / 1000)} s, longest ${longest} ms`);
    }
    more = 0;
    longest = 0;
  };

  const check = setInterval(() => {
    // The histogram's samples include the timer's own period.
    const blockedMs = Math.round(histogram.max / 1e6 - RESOLUTION_MS);
    histogram.reset();
    const now = Date.now();
    if (now >= windowEndsAt) summarise();
    if (blockedMs <= thresholdMs) return;
    if (now >= windowEndsAt) {
      log.warn(`event loop blocked for ${blockedMs} ms (commands, pin writes and watchdog pings waited)`);
      windowEndsAt = now + windowMs;
    } else {
      more++;
      longest = Math.max(longest, blockedMs);
    }
  }, options.checkMs ?? 1000);
  check.unref();

  return {
    close() {
      clearInterval(check);
      histogram.disable();
      summarise();
    },
  };
}
