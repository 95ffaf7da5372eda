import type { Logger } from '../process/log';
import type { BoardMotorBank } from '../motors/bank';
import type { Board, DigitalInput, DigitalOutput, Level, PulseOutput, PwmOutput } from './types';
import { SimMotor } from './sim-motor';
import { SimTrack, type SimClock, type SimPins, type SimTrackOptions } from './sim-track';

export { SimMotor };

/**
 * The simulator as a board: for laptops, demos and tests. openHardware opens it as it opens
 * pigpio, kernel or a PCA9685 (`gpio: "sim"`, or `auto` off a Pi), as the car's header board:
 *
 * - its motors exist only in memory: each takes its signed output as a real driver does, and
 *   the bank (`motors`) writes them all at once, as the Pi's bank writes its drivers;
 * - with `track.sim`, the simulated track (sim-track.ts) sits behind it: what the motors were
 *   given moves the car, and the track's end switches and wheel encoder are this board's
 *   inputs, opened through the same code as on a car (limits.ts, encoder.ts);
 * - plain outputs, PWM and pulses it keeps in memory, drive nothing.
 *
 * What the shell reads of the simulation (the car's true position, the write trace of the
 * benchmark) it gets through `Simulation`, which openHardware returns as `hardware.sim`: only
 * a simulated car has it, and nothing outside this file asks which class a board is.
 */

/** A write to the simulated motors, kept when the benchmark traces (`recordWrites`). */
export interface SimWrite {
  /** process.hrtime.bigint() of the write. */
  at: bigint;
  /** When the command that caused it arrived, as `received` was then. */
  received?: bigint;
  outputs: Record<string, number>;
}

/** What a simulated car offers beyond a board: openHardware's `hardware.sim`. */
export interface Simulation {
  /** What each motor was last given, by name (0 once stopped). */
  readonly outputs: Readonly<Record<string, number>>;
  /** Calls `listener` with the outputs after every write and stop. */
  onWrite(listener: (outputs: Readonly<Record<string, number>>) => void): void;
  /** The simulated track (`track.sim`): the car's true position, its switches and encoder. */
  readonly track?: SimTrack;
  /** Every write with a high-resolution timestamp, when opened with `recordWrites`. */
  readonly writes: readonly SimWrite[];
  /** When the command being handled arrived (process.hrtime.bigint()), set by whoever traces. */
  received?: bigint;
}

/** The sim board's bank: every motor of the car, written at once. */
export interface SimMotors extends BoardMotorBank {
  readonly backend: 'sim';
  /** What each motor was last given, by name. */
  readonly outputs: Readonly<Record<string, number>>;
  /** Calls `listener` with the outputs after every write and stop. */
  onWrite(listener: (outputs: Readonly<Record<string, number>>) => void): void;
}

export interface SimBoardOptions {
  /** The car's motors, by name. */
  motors: readonly string[];
  /** The simulated track behind the board, and the pins its switches and encoder sit on. */
  track?: { options: Partial<SimTrackOptions>; pins: SimPins; clock: SimClock };
  /** Keep a timestamp of every write (the benchmark's actuation latency). */
  recordWrites?: boolean;
}

/** Timers of the process, for a simulated track when no clock is given. */
export const realClock: SimClock = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => clearTimeout(t),
};

class SimBoard implements Board, Simulation {
  readonly kind = 'sim' as const;
  readonly description: string;
  readonly outputs: Record<string, number>;
  readonly writes: SimWrite[] = [];
  received?: bigint;
  readonly track?: SimTrack;
  readonly motors: SimMotors;
  /** Who else sees the outputs: the simulated track moves its car by them. */
  private readonly listeners: ((outputs: Readonly<Record<string, number>>) => void)[] = [];
  /** What the outputs opened on the board were last set to, by pin: in memory only. */
  readonly levels = new Map<number, number>();

  constructor(
    options: SimBoardOptions,
    private readonly log: Logger,
  ) {
    this.outputs = Object.fromEntries(options.motors.map((n) => [n, 0]));
    if (options.track) {
      const { track } = options;
      const sim = new SimTrack(track.options, track.pins, track.clock);
      this.track = sim;
      this.listeners.push((outputs) => sim.setOutputs(outputs));
    }
    this.description = this.track ? `simulated car on a ${this.track.options.lengthM} m track` : 'simulated motors';
    this.motors = new SimBank(this, options.motors.map((name) => new SimMotor(name)), Boolean(options.recordWrites));
  }

  /** The bank wrote every motor: trace it, log it, move the car. */
  wrote(motors: readonly SimMotor[], record: boolean): void {
    for (const motor of motors) this.outputs[motor.name] = motor.output;
    if (record) this.writes.push({ at: process.hrtime.bigint(), received: this.received, outputs: { ...this.outputs } });
    if (this.log.isLevelEnabled('debug')) this.log.debug(`sim motors: ${motors.map((m) => `${m.name} ${m.output.toFixed(2)}`).join(', ')}`);
    this.tell();
  }

  /** The bank stopped every motor. */
  stopped(motors: readonly SimMotor[]): void {
    for (const motor of motors) this.outputs[motor.name] = motor.output;
    this.tell();
  }

  onWrite(listener: (outputs: Readonly<Record<string, number>>) => void): void {
    this.listeners.push(listener);
  }

  private tell(): void {
    for (const listener of this.listeners) listener(this.outputs);
  }

  async openPwm(pin: number): Promise<PwmOutput> {
    this.levels.set(pin, 0);
    return { setDuty: (fraction) => void this.levels.set(pin, fraction), close: () => void this.levels.delete(pin) };
  }

  async openPulses(pin: number): Promise<PulseOutput> {
    this.levels.set(pin, 0);
    return { setPulse: (us) => void this.levels.set(pin, us), close: () => void this.levels.delete(pin) };
  }

  async openOutput(pin: number, initial: Level): Promise<DigitalOutput> {
    this.levels.set(pin, initial);
    return { write: (level) => void this.levels.set(pin, level), close: () => void this.levels.delete(pin) };
  }

  /** The simulated track's switches and encoder; nothing else is wired to the simulated car. */
  async openInput(pin: number): Promise<DigitalInput> {
    if (!this.track) throw new Error(`sim: nothing is wired to pin ${pin} (no simulated track: track.sim)`);
    return this.track.openInput(pin);
  }

  close(): Error[] {
    this.track?.close();
    return [];
  }
}

class SimBank implements SimMotors {
  readonly backend = 'sim' as const;
  readonly names: readonly string[];
  readonly boards: { gpio: SimBoard };
  private closed = false;

  constructor(
    private readonly board: SimBoard,
    private readonly motors: readonly SimMotor[],
    private readonly record: boolean,
  ) {
    this.names = motors.map((m) => m.name);
    this.boards = { gpio: board };
  }

  get outputs(): Readonly<Record<string, number>> {
    return this.board.outputs;
  }

  onWrite(listener: (outputs: Readonly<Record<string, number>>) => void): void {
    this.board.onWrite(listener);
  }

  /** Motors missing from `outputs` are stopped, as on the Pi's bank. */
  write(outputs: Readonly<Record<string, number>>): void {
    if (this.closed) throw new Error('sim motors: write after close');
    for (const motor of this.motors) motor.set(outputs[motor.name] ?? 0);
    this.board.wrote(this.motors, this.record);
  }

  stopAll(): Error[] {
    for (const motor of this.motors) motor.stop();
    this.board.stopped(this.motors);
    return [];
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.stopAll();
    this.closed = true;
    for (const motor of this.motors) motor.release();
    this.board.close();
  }
}

/**
 * Opens the simulator as a board, with the track behind it when `options.track` says where
 * its switches and encoder are. Synchronous: nothing is waited for (openHardware opens it as
 * the car's board; a test or the benchmark may open one directly).
 */
export function openSimBoard(options: SimBoardOptions, log: Logger): Board & Simulation & { readonly motors: SimMotors } {
  return new SimBoard(options, log);
}
