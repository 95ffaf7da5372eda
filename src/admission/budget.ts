/**
 * How many commands one client may send: a token bucket, refilled at `perSecond` and holding
 * two seconds' worth, so a burst of taps passes and a flood does not. A command over the
 * budget costs a clock read and a comparison, never a parse, a pin write or a publish; a
 * stop is let through whatever the budget says (the caller checks that, only when over).
 */
import { performance } from 'node:perf_hooks';

const NOT_STOPS_KEPT = 4;
const NOT_STOP_MAX_BYTES = 64;

/**
 * The last few payloads found not to be a stop: a flood repeats a handful of messages, so a
 * flood of the same few costs a comparison each, not a parse (a payload is a stop or not by
 * its bytes alone, or by its text alone for a page's).
 */
export class NotStops {
  private readonly known: (Buffer | string)[] = [];

  /** True when `payload` is one of the last few found not to be a stop. */
  has(payload: Buffer | string): boolean {
    if (payload.length > NOT_STOP_MAX_BYTES) return false;
    if (typeof payload === 'string') return this.known.includes(payload);
    for (const known of this.known) if (typeof known !== 'string' && known.equals(payload)) return true;
    return false;
  }

  /** Notes a payload found not to be a stop. */
  add(payload: Buffer | string): void {
    if (payload.length > NOT_STOP_MAX_BYTES) return;
    if (this.known.unshift(typeof payload === 'string' ? payload : Buffer.from(payload)) > NOT_STOPS_KEPT) this.known.pop();
  }
}

export class CommandBudget {
  private tokens: number;
  private at: number;
  private readonly capacity: number;
  /** True from the first command refused until one is let through again. */
  private refusing = false;

  constructor(
    /** 0 = no limit. */
    readonly perSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.capacity = perSecond * 2;
    this.tokens = this.capacity;
    this.at = now();
  }

  /** True once the budget has refilled completely: it is then as good as a new one. */
  get full(): boolean {
    if (this.perSecond === 0) return true;
    return this.tokens + ((this.now() - this.at) * this.perSecond) / 1000 >= this.capacity;
  }

  /**
   * 'ok' within the budget; 'first' for the first command over it (worth one answer and one
   * log line); 'over' for every one after that until the budget has room again.
   */
  take(): 'ok' | 'first' | 'over' {
    if (this.perSecond === 0) return 'ok';
    const now = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((now - this.at) * this.perSecond) / 1000);
    this.at = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      this.refusing = false;
      return 'ok';
    }
    if (this.refusing) return 'over';
    this.refusing = true;
    return 'first';
  }
}

/** Messages over the budget in one second, as a multiple of `commandsPerSecond`, that make a flood. */
export const FLOOD_FACTOR = 10;

/**
 * A flood of the move topic: more than FLOOD_FACTOR × `perSecond` messages over the budget
 * within a second. The broker delivers the topic in order and drops what does not fit its
 * queue for carbot, so in a flood that outruns carbot (a slow Pi, a fast publisher) a stop on
 * that topic can wait seconds or be lost with the rest. The caller stops the car when a flood
 * begins and obeys only stops there while it lasts: until a whole second has gone by below
 * the limit.
 */
export class FloodGuard {
  private windowStart = -Infinity;
  private count = 0;
  private heldUntil = -Infinity;

  constructor(
    /** 0 = no limit, no guard. */
    readonly perSecond: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  get limit(): number {
    return this.perSecond * FLOOD_FACTOR;
  }

  /** Counts one message over the budget; true for the one that begins a flood. */
  over(): boolean {
    if (this.perSecond === 0) return false;
    const now = this.now();
    if (now - this.windowStart >= 1000) {
      this.windowStart = now;
      this.count = 0;
    }
    if (++this.count <= this.limit) return false;
    const begins = now >= this.heldUntil;
    // This window, and a whole second after it.
    this.heldUntil = this.windowStart + 2000;
    return begins;
  }

  /** Whether a flood is under way. */
  get flooded(): boolean {
    return this.perSecond !== 0 && this.now() < this.heldUntil;
  }
}

/** Per-address budgets for wrong credentials live this long without a failure, then are forgotten. */
const FORGET_ADDRESS_MS = 60_000;

/**
 * Wrong passwords, slowed per address: `perMinute` failures (10 at once), then the address
 * gets 429 without its credentials even being looked at, so guessing runs at that rate
 * however fast the guesses come. IPv6 clients count per /64, the block one home gets.
 * At most `maxAddresses` are remembered; past that the one that failed longest ago goes.
 */
export class FailureBudget {
  private readonly byAddress = new Map<string, { tokens: number; at: number }>();

  constructor(
    private readonly perMinute = 30,
    private readonly burst = 10,
    private readonly maxAddresses = 1024,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** True while the address has used up its failures. */
  blocked(address: string): boolean {
    const entry = this.byAddress.get(addressKey(address));
    return entry !== undefined && this.refill(entry) < 1;
  }

  failed(address: string): void {
    const key = addressKey(address);
    let entry = this.byAddress.get(key);
    if (entry === undefined) {
      if (this.byAddress.size >= this.maxAddresses) this.byAddress.delete(this.byAddress.keys().next().value as string);
      entry = { tokens: this.burst, at: this.now() };
    }
    // Re-inserted so that the Map's order stays oldest failure first.
    this.byAddress.delete(key);
    entry.tokens = Math.max(0, this.refill(entry) - 1);
    this.byAddress.set(key, entry);
    if (this.byAddress.size > 1) this.forget();
  }

  private refill(entry: { tokens: number; at: number }): number {
    const now = this.now();
    entry.tokens = Math.min(this.burst, entry.tokens + ((now - entry.at) * this.perMinute) / 60_000);
    entry.at = now;
    return entry.tokens;
  }

  /** Drops the oldest entry if it has been quiet long enough: the map shrinks as it grows. */
  private forget(): void {
    const [key, entry] = this.byAddress.entries().next().value as [string, { tokens: number; at: number }];
    if (this.now() - entry.at > FORGET_ADDRESS_MS) this.byAddress.delete(key);
  }
}

/** An IPv4 address as it is; an IPv6 one by its first four groups (its /64). */
export function addressKey(address: string): string {
  if (!address.includes(':')) return address;
  const [head, tail = ''] = address.split('::');
  const groups = head.split(':').filter(Boolean);
  // `a:b::c` expands to fill eight groups; only the first four matter.
  const missing = 8 - groups.length - tail.split(':').filter(Boolean).length;
  const full = [...groups, ...Array<string>(Math.max(0, missing)).fill('0'), ...tail.split(':').filter(Boolean)];
  return `${full.slice(0, 4).join(':')}::/64`;
}
