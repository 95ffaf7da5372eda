/**
 * Says when the event loop was blocked: every command, pin write, watchdog ping and stop
 * waits for it, so a stall is a car that does not answer. A timer ticks every TICK_MS and
 * notes how late it ran; a stall shows as one late tick, to within TICK_MS. (Node's
 * monitorEventLoopDelay would do the same in C++, but its histogram costs a megabyte of RSS.)
 *
 * It ticks only while something happens: while `busy()` (the car moves) and for AWAKE_MS after
 * the last wake() (a command, a message); then it stops, so that a parked carbot does not wake
 * 50 times a second for nothing (a Pi Zero on a battery pays for every wake-up). The next
 * command wakes it again.
 */
import { performance } from 'node:perf_hooks';

export interface LoopMonitorOptions {
  /** Stalls longer than this are logged (default 100 ms). */
  thresholdMs?: number;
  /** After the first stall, the others in this window are summed up in one line (default 10 s). */
  windowMs?: number;
  /** Whether something is under way (the car moving): the monitor keeps ticking while it is. */
  busy?: () => boolean;
  /** How long it ticks after the last wake() once nothing is busy (default AWAKE_MS). */
  awakeMs?: number;
}

export interface LoopMonitor {
  /** Something happened (a command arrived): tick for the next awakeMs at least. */
  wake(): void;
  /** Whether the timer runs now. */
  readonly ticking: boolean;
  close(): void;
}

const TICK_MS = 20;
export const AWAKE_MS = 10_000;

export function monitorEventLoop(log: { warn(message: string): unknown }, options: LoopMonitorOptions = {}): LoopMonitor {
  const thresholdMs = options.thresholdMs ?? 100;
  const windowMs = options.windowMs ?? 10_000;
  const awakeMs = options.awakeMs ?? AWAKE_MS;
  const busy = options.busy ?? (() => false);
  let windowEndsAt = 0;
  let more = 0;
  let longest = 0;
  let wokenAt = performance.now();
  let due = 0;
  let tick: NodeJS.Timeout | undefined;

  const summarise = (): void => {
    if (more > 0) {
      log.warn(`event loop blocked ${more} more time${more === 1 ? '' : 's'} over ${thresholdMs} ms in the last ${Math.round(windowMs / 1000)} s, longest ${longest} ms`);
    }
    more = 0;
    longest = 0;
  };

  const onTick = (): void => {
    const now = performance.now();
    const blockedMs = Math.round(now - due);
    due = now + TICK_MS;
    if (now >= windowEndsAt && more > 0) summarise();
    if (blockedMs > thresholdMs) {
      if (now >= windowEndsAt) {
        log.warn(`event loop blocked for ${blockedMs} ms (commands, pin writes and watchdog pings waited)`);
        windowEndsAt = now + windowMs;
      } else {
        more++;
        longest = Math.max(longest, blockedMs);
      }
    }
    if (now - wokenAt > awakeMs && !busy()) sleep();
  };

  const start = (): void => {
    due = performance.now() + TICK_MS;
    tick = setInterval(onTick, TICK_MS);
    tick.unref();
  };

  const sleep = (): void => {
    clearInterval(tick);
    tick = undefined;
    summarise();
  };

  start();

  return {
    wake() {
      wokenAt = performance.now();
      if (!tick) start();
    },
    get ticking() {
      return tick !== undefined;
    },
    close() {
      clearInterval(tick);
      tick = undefined;
      summarise();
    },
  };
}
