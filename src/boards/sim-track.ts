import type { DigitalInput, Level } from './types';
import type { TrackEnd } from '../motors/types';

/**
 * The simulated car's physical track (docs/track.md), so homing, goto and patrol run on a laptop
 * and in tests. It takes the simulated motors' outputs and moves a car along a track of fixed
 * length, and it drives the pins a real car has there: a limit switch at each end and,
 * optionally, a wheel encoder. carbot reads those pins through the same code as on a car
 * (limits.ts, encoder.ts), so nothing above this file can tell it from hardware.
 *
 * The physics, chosen to be what defeats a naive dead reckoning:
 * - speed is not linear in duty: nothing below a dead band (static friction), then a curve
 *   that saturates toward `topSpeed` (back-EMF against the supply);
 * - backward is `asymmetry` slower than forward (gears and brushes are not symmetric);
 * - the car lags its output with a first-order time constant `lagMs` (inertia, motor
 *   inductance), so it runs on after a stop;
 * - each run of the simulation draws a speed factor within ±`noise` (a car is not its
 *   datasheet: battery, wear, load), which a calibration learns; each movement from rest draws
 *   a further ±`jitter` (slip, the battery sagging), which nothing without an encoder can know;
 * - a limit switch closes at each end and the car can run on past it by `overtravelM` before it
 *   meets the end stop;
 * - with `bounceMs`, a switch chatters when it closes and opens: its contacts bounce, a few
 *   open-close flips at random within that many milliseconds (mechanical switches settle in
 *   about 1-6 ms, J. Ganssle, "A Guide to Debouncing");
 * - with `jamAt`, an obstacle sits at that fraction of the track: the car cannot pass it (it
 *   stops there and its encoder stops counting) until `jam(undefined)` clears it.
 *
 * Positions are metres from the backward end; a positive output drives toward the forward end.
 */

export interface SimTrackOptions {
  lengthM: number;
  /** Metres per second at full duty in the forward direction, before noise. */
  topSpeed: number;
  /** Duty (0..1) below which the car does not move. */
  deadBand: number;
  /** How strongly the speed saturates toward full duty (0 = linear above the dead band). */
  saturation: number;
  /** Backward is this fraction slower than forward. */
  asymmetry: number;
  /** First-order time constant of the car's speed behind its output. */
  lagMs: number;
  /** ± fraction of speed, drawn once per run. */
  noise: number;
  /** ± fraction of speed, drawn each time the car sets off from rest. */
  jitter: number;
  /** Where the car stands at the start, a fraction of the length from the backward end. */
  start: number;
  /** How far past a closed switch the car can go before the end stop. */
  overtravelM: number;
  /** Encoder edges per metre of travel (both edges of each slot or magnet). */
  edgesPerMetre: number;
  /** An obstacle at this fraction of the track from the backward end, which the car cannot pass. */
  jamAt?: number;
  /** A switch's contacts bounce for up to this long when it closes or opens (0 = clean). */
  bounceMs: number;
  /** Seed of the noise, for a reproducible run; random when absent. */
  seed?: number;
}

export const SIM_TRACK_DEFAULTS: SimTrackOptions = {
  lengthM: 2,
  topSpeed: 0.3,
  deadBand: 0.15,
  saturation: 2,
  asymmetry: 0.04,
  lagMs: 80,
  noise: 0.05,
  jitter: 0.01,
  start: 0.5,
  overtravelM: 0.02,
  edgesPerMetre: 200,
  bounceMs: 0,
};

/** Nominal speed of the simulated car at `duty` (-1..1), m/s: its physics without the run's noise and jitter. */
export function nominalSimSpeed(o: SimTrackOptions, duty: number): number {
  const d = Math.abs(duty);
  if (d <= o.deadBand) return 0;
  const z = Math.min(1, (d - o.deadBand) / (1 - o.deadBand));
  const shape = o.saturation > 0 ? (1 - Math.exp(-o.saturation * z)) / (1 - Math.exp(-o.saturation)) : z;
  return (duty > 0 ? 1 : -(1 - o.asymmetry)) * o.topSpeed * shape;
}

/**
 * The speed table the simulated track ships for its own motors, so that `goto` works on it
 * at once (`npm start`, then home, then goto): its nominal speeds, percent -> track lengths
 * per second, per direction, at every 10 % above the dead band and just above it. What a
 * calibration learns on top is this run's ±`noise`.
 */
export function simSpeedTable(options: Partial<SimTrackOptions>): { forward: { duty: number; speed: number }[]; backward: { duty: number; speed: number }[] } {
  const o = { ...SIM_TRACK_DEFAULTS, ...options };
  const first = Math.floor(o.deadBand * 100) + 1;
  const percents = [...new Set([first, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100])].filter((p) => p >= first && p <= 100).sort((a, b) => a - b);
  const table = (sign: 1 | -1) => percents.map((p) => ({ duty: p / 100, speed: Math.abs(nominalSimSpeed(o, (sign * p) / 100)) / o.lengthM }));
  return { forward: table(1), backward: table(-1) };
}

/** The timers the simulation runs on: the service's clock, or a virtual one in the benchmark. */
export interface SimClock {
  now(): number;
  setTimeout(fn: () => void, ms: number): NodeJS.Timeout;
  clearTimeout(t: NodeJS.Timeout | undefined): void;
}

/** What sits on which pin: the same numbers and wiring a config gives real parts. */
export interface SimPins {
  switches: Partial<Record<TrackEnd, { pin: number; activeLow: boolean }>>;
  encoder?: number;
}

interface Physics {
  x: number;
  v: number;
}

/** Small, seedable and good enough for noise (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Time steps of the integration and of the search for the next pin change. */
const STEP_MS = 1;
const HORIZON_MS = 50;
const REST = 1e-5;

export class SimTrack {
  readonly options: SimTrackOptions;
  /** The speed factor of this run (1 ± noise). */
  readonly runFactor: number;
  private readonly rand: () => number;
  private state: Physics;
  private at: number;
  private duty = 0;
  private moveFactor = 1;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  /** The obstacle (metres from the backward end) and the side of it the car is on. */
  private jamX: number | undefined;
  private jamSide: 1 | -1 = -1;
  /** When the car last came up against the obstacle, while it stays there. */
  private jamHitAt: number | undefined;
  /** Switch pins bouncing: the times their reported level flips, ascending. */
  private readonly chatter = new Map<number, number[]>();
  /** Each watched pin's physical level when the simulation last woke. */
  private readonly physical = new Map<number, Level | undefined>();
  private bounceTimer: NodeJS.Timeout | undefined;
  private readonly watchers = new Map<number, ((err: Error | undefined) => void)[]>();
  /** The level each watched pin had when its watchers were last told. */
  private readonly reported = new Map<number, Level>();

  constructor(
    options: Partial<SimTrackOptions>,
    private readonly pins: SimPins,
    private readonly clock: SimClock,
  ) {
    this.options = { ...SIM_TRACK_DEFAULTS, ...options };
    this.rand = seededRandom(this.options.seed ?? Math.floor(Math.random() * 2 ** 32));
    this.runFactor = 1 + this.options.noise * (2 * this.rand() - 1);
    this.state = { x: this.options.start * this.options.lengthM, v: 0 };
    this.at = clock.now();
    if (this.options.jamAt !== undefined) this.placeJam(this.options.jamAt);
  }

  /**
   * Puts an obstacle at `at` (a fraction of the track from the backward end), or clears it
   * with undefined: the runtime hook for tests and the benchmark (`track.sim.jamAt` places one
   * at start).
   */
  jam(at: number | undefined): void {
    this.catchUp();
    this.placeJam(at);
    this.plan();
  }

  /** When the car came up against the obstacle, if it is against it now. */
  jammedSince(): number | undefined {
    this.catchUp();
    return this.jamHitAt;
  }

  private placeJam(at: number | undefined): void {
    this.jamX = at === undefined ? undefined : at * this.options.lengthM;
    this.jamSide = this.jamX !== undefined && this.state.x > this.jamX ? 1 : -1;
    this.jamHitAt = undefined;
  }

  /** The table this track ships for its own motors (simSpeedTable): goto works before any calibrate. */
  nominalSpeedTable(): { forward: { duty: number; speed: number }[]; backward: { duty: number; speed: number }[] } {
    return simSpeedTable(this.options);
  }

  /** The car's true place, metres from the backward end. */
  position(): number {
    this.catchUp();
    return this.state.x;
  }

  /** The car's true speed, metres per second (positive toward the forward end). */
  speed(): number {
    this.catchUp();
    return this.state.v;
  }

  /** The motors' outputs changed (the sim motor bank calls this on every write). */
  setOutputs(outputs: Readonly<Record<string, number>>): void {
    if (this.closed) return;
    this.catchUp();
    const values = Object.values(outputs);
    const duty = values.length > 0 ? values.reduce((a, b) => a + b, 0) / values.length : 0;
    if (duty !== 0 && this.duty === 0 && Math.abs(this.state.v) < REST) {
      this.moveFactor = 1 + this.options.jitter * (2 * this.rand() - 1);
    }
    this.duty = duty;
    this.plan();
  }

  /** A pin of the simulated car, as a board would hand it out. */
  openInput(pin: number): DigitalInput {
    if (this.levelOf(pin) === undefined) throw new Error(`sim track: nothing is wired to pin ${pin}`);
    return {
      read: () => {
        this.catchUp();
        return this.levelOf(pin) as Level;
      },
      watch: (callback) => {
        this.catchUp();
        this.reported.set(pin, this.levelOf(pin) as Level);
        this.physical.set(pin, this.levelAt(pin, this.state));
        this.watchers.set(pin, [...(this.watchers.get(pin) ?? []), callback]);
      },
      close: () => {
        this.watchers.delete(pin);
      },
    };
  }

  close(): void {
    this.closed = true;
    this.clock.clearTimeout(this.timer);
    this.clock.clearTimeout(this.bounceTimer);
    this.timer = undefined;
    this.bounceTimer = undefined;
  }

  /** Velocity the car tends to at the current duty. */
  private targetSpeed(): number {
    return nominalSimSpeed(this.options, this.duty) * this.runFactor * this.moveFactor;
  }

  /** The state `ms` later at the current duty: the lag's closed form, in steps, held by the end stops. */
  private evolve(from: Physics, ms: number, onJam?: (afterMs: number) => void): Physics {
    const o = this.options;
    const jam = this.jamX;
    const vt = this.targetSpeed();
    const tau = Math.max(o.lagMs, 1e-3) / 1000;
    let { x, v } = from;
    for (let left = ms; left > 0; left -= STEP_MS) {
      const dt = Math.min(STEP_MS, left) / 1000;
      const decay = Math.exp(-dt / tau);
      x += vt * dt + (v - vt) * tau * (1 - decay);
      v = vt + (v - vt) * decay;
      const [low, high] = [-o.overtravelM, o.lengthM + o.overtravelM];
      if (x <= low || x >= high) {
        x = Math.min(high, Math.max(low, x));
        // Pressed against the end stop: it moves again only when driven away.
        if ((x <= low && vt <= 0) || (x >= high && vt >= 0)) v = 0;
      }
      if (jam !== undefined && (this.jamSide < 0 ? x >= jam : x <= jam)) {
        if (x !== jam) onJam?.(ms - left + STEP_MS);
        // Against the obstacle: it moves again only when driven away.
        x = jam;
        if (this.jamSide < 0 ? vt >= 0 : vt <= 0) v = 0;
      }
    }
    return { x, v };
  }

  private levelAt(pin: number, p: Physics): Level | undefined {
    for (const end of ['backward', 'forward'] as const) {
      const sw = this.pins.switches[end];
      if (sw?.pin !== pin) continue;
      const closed = end === 'backward' ? p.x <= 0 : p.x >= this.options.lengthM;
      return (closed !== sw.activeLow ? 1 : 0) as Level;
    }
    if (this.pins.encoder === pin) return (Math.floor(p.x * this.options.edgesPerMetre) & 1) as Level;
    return undefined;
  }

  /** The level a pin reads now: its physical level, flipped while its contacts bounce. */
  private levelOf(pin: number): Level | undefined {
    const level = this.levelAt(pin, this.state);
    const flips = this.chatter.get(pin);
    if (level === undefined || !flips) return level;
    const now = this.clock.now();
    const flipped = flips.filter((t) => t <= now).length % 2 === 1;
    return (flipped ? 1 - level : level) as Level;
  }

  private catchUp(): void {
    const now = this.clock.now();
    if (now > this.at) {
      const from = this.at;
      const wasAt = this.jamX !== undefined && this.state.x === this.jamX;
      let hit: number | undefined;
      // A car at rest stays where it is however long it stands: hours are not stepped through.
      if (!this.atRest(this.state)) this.state = this.evolve(this.state, now - this.at, (afterMs) => (hit ??= from + afterMs));
      this.at = now;
      const isAt = this.jamX !== undefined && this.state.x === this.jamX;
      if (!isAt) this.jamHitAt = undefined;
      else if (!wasAt || this.jamHitAt === undefined) this.jamHitAt = hit ?? this.jamHitAt ?? now;
    }
  }

  /** A switch changed: its contacts bounce, an even number of flips within `bounceMs`. */
  private bounce(pin: number): void {
    const ms = this.options.bounceMs;
    if (ms <= 0 || pin === this.pins.encoder) return;
    const now = this.clock.now();
    const count = 2 * (1 + Math.floor(this.rand() * 3));
    const flips = Array.from({ length: count }, () => now + this.rand() * ms).sort((a, b) => a - b);
    this.chatter.set(pin, flips);
    this.planBounce();
  }

  private planBounce(): void {
    this.clock.clearTimeout(this.bounceTimer);
    this.bounceTimer = undefined;
    const now = this.clock.now();
    for (const [pin, flips] of this.chatter) if (flips.every((t) => t <= now)) this.chatter.delete(pin);
    const next = Math.min(...[...this.chatter.values()].flatMap((flips) => flips.filter((t) => t > now)));
    if (this.closed || !Number.isFinite(next)) return;
    this.bounceTimer = this.clock.setTimeout(() => {
      this.bounceTimer = undefined;
      this.catchUp();
      this.tell();
      this.planBounce();
    }, Math.max(0, next - now));
  }

  /** Tells the watchers of every pin whose level changed since they were last told. */
  private tell(): void {
    for (const [pin, callbacks] of this.watchers) {
      const level = this.levelOf(pin) as Level;
      if (level === this.reported.get(pin)) continue;
      this.reported.set(pin, level);
      for (const callback of callbacks) callback(undefined);
    }
  }

  private atRest(p: Physics): boolean {
    return Math.abs(p.v) < REST && this.targetSpeed() === 0;
  }

  private pinsDiffer(a: Physics, b: Physics): boolean {
    for (const pin of this.watchers.keys()) if (this.levelAt(pin, a) !== this.levelAt(pin, b)) return true;
    return false;
  }

  /** One timer for the next moment a watched pin changes, found by stepping ahead and bisecting. */
  private plan(): void {
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    if (this.closed || this.atRest(this.state)) return;
    let wait = HORIZON_MS;
    let before = this.state;
    for (let t = STEP_MS; t <= HORIZON_MS; t += STEP_MS) {
      const after = this.evolve(before, STEP_MS);
      if (this.pinsDiffer(before, after)) {
        let [lo, hi] = [t - STEP_MS, t];
        for (let i = 0; i < 12; i++) {
          const mid = (lo + hi) / 2;
          if (this.pinsDiffer(before, this.evolve(before, mid - (t - STEP_MS)))) hi = mid;
          else lo = mid;
        }
        wait = hi;
        break;
      }
      before = after;
    }
    this.timer = this.clock.setTimeout(() => this.wake(), wait);
  }

  private wake(): void {
    this.timer = undefined;
    this.catchUp();
    for (const pin of this.watchers.keys()) {
      const level = this.levelAt(pin, this.state);
      if (this.physical.has(pin) && level !== this.physical.get(pin)) this.bounce(pin);
      this.physical.set(pin, level);
    }
    this.tell();
    this.plan();
  }
}
