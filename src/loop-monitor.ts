/**
 * Says when the event loop was blocked: every command, pin write, watchdog ping and stop
 * waits for it, so a stall is a car that does not answer. A timer ticks every TICK_MS and
 * notes how late it ran; a stall shows as one late tick, to within TICK_MS. (Node's
 * monitorEventLoopDelay would do the same in C++, but its histogram costs a megabyte of RSS.)
 */
import { performance } from 'node:perf_hooks';

export interface LoopMonitorOptions {
  /** Stalls longer than this are logged (default 100 ms). */
  thresholdMs?: number;
  /** After the first stall, the others in this window are summed up in one line (default 10 s). */
  windowMs?: number;
}

export interface LoopMonitor {
  close(): void;
}

const TICK_MS = 20;

export function monitorEventLoop(log: { warn(message: string): unknown }, options: LoopMonitorOptions = {}): LoopMonitor {
  const thresholdMs = options.thresholdMs ?? 100;
  const windowMs = options.windowMs ?? 10_000;
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

  let due = performance.now() + TICK_MS;
  const tick = setInterval(() => {
    const now = performance.now();
    const blockedMs = Math.round(now - due);
    due = now + TICK_MS;
    if (now >= windowEndsAt && more > 0) summarise();
    if (blockedMs <= thresholdMs) return;
    if (now >= windowEndsAt) {
      log.warn(`event loop blocked for ${blockedMs} ms (commands, pin writes and watchdog pings waited)`);
      windowEndsAt = now + windowMs;
    } else {
      more++;
      longest = Math.max(longest, blockedMs);
    }
  }, TICK_MS);
  tick.unref();

  return {
    close() {
      clearInterval(tick);
      summarise();
    },
  };
}
