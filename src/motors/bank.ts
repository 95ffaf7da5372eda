import type { Logger } from '../process/log';
import { BoardError, type Board, type BoardName, type DigitalOutput } from '../boards/types';
import type { DriverMotor } from './driver';
import { HBridgeMotor } from './hbridge';
import { ServoMotor } from './servo';
import type { Backend, MotorBank, MotorConfig } from './types';
import { SimMotor } from '../boards/sim-motor';

/** A write to a motor's outputs failed. The other motors have been stopped. */
export class MotorFaultError extends Error {
  override readonly name = 'MotorFaultError';
  /** Errors from stopping the motors after the fault, if any stop failed too. */
  stopErrors: Error[] = [];
  constructor(
    readonly motor: string,
    cause: unknown,
  ) {
    super(`motor "${motor}": ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}


/** The boards a car's motors sit on, by the name a motor's `board` setting gives. */
export type Boards = Partial<Record<BoardName, Board>>;

export interface BoardMotorBank extends MotorBank {
  readonly boards: Boards;
}

class Bank implements BoardMotorBank {
  readonly names: readonly string[];
  private readonly byName: Map<string, DriverMotor>;
  private closing: Promise<void> | undefined;

  constructor(
    readonly backend: Backend,
    private readonly motors: readonly DriverMotor[],
    private readonly standby: readonly DigitalOutput[],
    readonly boards: Boards,
    private readonly log: Logger,
  ) {
    this.names = motors.map((m) => m.name);
    this.byName = new Map(motors.map((m) => [m.name, m]));
  }

  /** Motors missing from `outputs` are stopped, as in the sim bank. */
  write(outputs: Readonly<Record<string, number>>): void {
    if (this.closing) throw new Error('motors: write after close');
    for (const name of Object.keys(outputs)) {
      if (!this.byName.has(name)) throw new Error(`motors: no motor named "${name}" (have ${this.names.join(', ')})`);
    }
    for (const motor of this.motors) {
      try {
        motor.set(outputs[motor.name] ?? 0);
      } catch (err) {
        const fault = new MotorFaultError(motor.name, err);
        fault.stopErrors = this.stopAll();
        throw fault;
      }
    }
  }

  stopAll(): Error[] {
    if (this.closing) return [];
    const errors: Error[] = [];
    for (const motor of this.motors) {
      try {
        motor.stop();
      } catch (err) {
        errors.push(new MotorFaultError(motor.name, err));
      }
    }
    return errors;
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    for (const message of release(this.motors, this.standby, this.boards)) {
      this.log.warn(`motors: releasing failed: ${message}`);
    }
  }
}

/** Coasts and frees every motor, drops standby, closes the boards; returns what failed. */
function release(motors: readonly DriverMotor[], standby: readonly DigitalOutput[], boards: Boards): string[] {
  const errors: string[] = [];
  const attempt = (what: string, action: () => void) => {
    try {
      action();
    } catch (err) {
      errors.push(`${what}: ${(err as Error).message}`);
    }
  };
  for (const motor of motors) {
    for (const err of motor.release()) errors.push(`motor "${motor.name}": ${err.message}`);
  }
  for (const output of standby) attempt('standby', () => output.write(0));
  for (const output of standby) attempt('standby', () => output.close());
  for (const board of Object.values(boards)) {
    for (const err of board.close()) errors.push(`${board.kind}: ${err.message}`);
  }
  return errors;
}

export interface OpenBankOptions {
  /** What the start-up log and STATE call the motors' hardware. */
  backend: Backend;
  /**
   * `carbot safe-state`: an output that cannot be opened is logged and skipped rather than
   * failing the whole car, so every output that exists is driven to stop.
   */
  tolerant?: boolean;
}

function boardFor(boards: Boards, config: { board?: BoardName; name: string }): Board {
  const name = config.board ?? 'gpio';
  const board = boards[name];
  if (!board) throw new Error(`its ${name} board is not open`);
  return board;
}

/**
 * Opens every motor on its board, each driven to its stop state as it opens. A TB6612's
 * standby pin (shared by its two motors) is held low until every motor is stopped, then
 * raised. If a motor cannot be opened, what is already open is released, the boards are
 * closed, and a BoardError names the motor (unless `tolerant`).
 */
export async function openMotorBank(
  motors: readonly MotorConfig[],
  boards: Boards,
  log: Logger,
  options: OpenBankOptions,
): Promise<BoardMotorBank> {
  const standbyPins = new Map<string, { board: Board; pin: number }>();
  for (const m of motors) {
    if (m.driver === 'hbridge' && m.standby !== undefined) {
      standbyPins.set(`${m.board}:${m.standby}`, { board: boardFor(boards, m), pin: m.standby });
    }
  }
  const standby: DigitalOutput[] = [];
  const opened: DriverMotor[] = [];
  let opening = 'standby';
  const idleError = (name: string) => (err: Error) => log.warn(`motor "${name}": switching the pulses off failed: ${err.message}`);
  const steps: [string, () => Promise<void>][] = [
    ...[...standbyPins.values()].map(({ board, pin }): [string, () => Promise<void>] => [
      `standby pin ${pin}`,
      async () => void standby.push(await board.openOutput(pin, 0)),
    ]),
    ...motors.map((config, i): [string, () => Promise<void>] => [
      `motors[${i}] "${config.name}"`,
      async () => {
        let motor: DriverMotor;
        if (config.driver === 'hbridge') motor = await HBridgeMotor.open(config, boardFor(boards, config));
        else if (config.driver === 'servo') motor = await ServoMotor.open(config, boardFor(boards, config), idleError(config.name));
        else motor = new SimMotor(config.name);
        opened.push(motor);
        log.debug(`motor ${motor.name}: ${motor.description}, stopped`);
      },
    ]),
    ['standby', async () => standby.forEach((output) => output.write(1))],
  ];
  for (const [what, step] of steps) {
    opening = what;
    try {
      await step();
    } catch (err) {
      if (options.tolerant) {
        log.warn(`${opening}: ${(err as Error).message}`);
        continue;
      }
      release(opened, standby, boards);
      throw new BoardError('pin-unavailable', `${opening}: ${(err as Error).message}`, { cause: err });
    }
  }
  return new Bank(options.backend, opened, standby, boards, log);
}
