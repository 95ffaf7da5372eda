import type { CarService } from '../src/service';
import type { VirtualClock } from '../test/support/virtual-clock';

/**
 * Commands to a CarService on a virtual clock, each run until the car is idle again: for the
 * track benchmarks (bench/track.ts, bench/track-patrol.ts). `service` is asked each time, so a
 * benchmark that restarts carbot hands in the new one.
 */
export function virtualRunner(service: () => CarService, clock: VirtualClock): { idle: () => boolean; run: (command: string, limitMs: number) => void } {
  const idle = (): boolean => service().state().task === undefined && service().state().motion === 'stopped';
  const run = (command: string, limitMs: number): void => {
    const result = service().command(command, 'bench');
    if (result.error) throw new Error(`${command}: ${String(result.error)}`);
    if (!clock.runUntil(idle, limitMs)) throw new Error(`${command} did not finish in ${limitMs / 1000} s`);
  };
  return { idle, run };
}
