import type { Logger } from '../log';
import { HBridgeMotor } from './hbridge';
import { openPins, type OnoffDeps, type OnoffGpio, type Pins } from '../boards/onoff';
import { GpioError, loadPigpio, type LoadPigpioOptions, type PigpioModule } from './pigpio';
import { ServoMotor } from './servo';
import type { MotorBank, MotorConfig, Motor } from './types';

/** A motor on real pins, as the bank drives it. */
export interface DriverMotor extends Motor {
  /** e.g. "hbridge pwm 12 in1 5 in2 6, 1000 Hz, coast", for logs. */
  readonly description: string;
  /** Writes every pin of the stop state, whatever the motor is believed to be doing. */
  stop(): void;
  /** Stops (always coasting) and gives its pins back; returns what failed instead of throwing. */
  release(): Error[];
}

/** A write to a motor's pins failed. The other motors have been stopped. */
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

/** A `driver: "sim"` motor on a car that otherwise has real ones: it only remembers. */
class SimDriverMotor implements DriverMotor {
  readonly description = 'sim';
  output = 0;
  constructor(readonly name: string) {}
  set(output: number): void {
    this.output = output;
  }
  stop(): void {
    this.output = 0;
  }
  release(): Error[] {
    this.output = 0;
    return [];
  }
}

export interface GpioBankDeps extends LoadPigpioOptions, OnoffDeps {
  /** An already loaded and initialised pigpio; loaded with loadPigpio(deps) when absent. */
  pigpio?: PigpioModule;
}

export interface GpioMotorBank extends MotorBank {
  /** The initialised pigpio, for the limit switches' pull resistors. */
  readonly pigpio: PigpioModule;
}

class GpioBank implements GpioMotorBank {
  readonly backend = 'pigpio' as const;
  readonly names: readonly string[];
  private readonly byName: Map<string, DriverMotor>;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly motors: readonly DriverMotor[],
    private readonly standby: readonly OnoffGpio[],
    readonly pigpio: PigpioModule,
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
    for (const message of release(this.motors, this.standby, this.pigpio)) {
      this.log.warn(`motors: releasing failed: ${message}`);
    }
  }
}

/** Coasts and frees every motor, drops standby, terminates pigpio; returns what failed. */
function release(motors: readonly DriverMotor[], standby: readonly OnoffGpio[], pigpio: PigpioModule): string[] {
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
  for (const gpio of standby) attempt('standby', () => gpio.writeSync(0));
  for (const gpio of standby) attempt('standby', () => gpio.unexport());
  attempt('pigpio terminate', () => pigpio.terminate());
  return errors;
}

/**
 * Opens every motor on pigpio (and onoff for H-bridge direction pins), each driven to its
 * stop state as it opens. A TB6612's standby pin (shared by its two motors) is held low
 * until every motor is stopped, then raised. If a motor cannot be opened, what is already
 * open is released, pigpio is terminated, and a GpioError names the motor.
 */
export function openGpioMotorBank(motors: readonly MotorConfig[], log: Logger, deps: GpioBankDeps = {}): GpioMotorBank {
  const pigpio = deps.pigpio ?? loadPigpio(deps);
  let pins: Pins | undefined;
  const standbyPins = [
    ...new Set(motors.flatMap((m) => (m.driver === 'hbridge' && m.standby !== undefined ? [m.standby] : []))),
  ];
  const standby: OnoffGpio[] = [];
  const opened: DriverMotor[] = [];
  let opening = 'standby';
  try {
    for (const pin of standbyPins) {
      opening = `standby pin ${pin}`;
      standby.push((pins ??= openPins(deps)).output(pin, 0));
    }
    for (const [i, config] of motors.entries()) {
      opening = `motors[${i}] "${config.name}"`;
      let motor: DriverMotor;
      if (config.driver === 'hbridge') motor = new HBridgeMotor(config, pigpio, (pins ??= openPins(deps)));
      else if (config.driver === 'servo') motor = new ServoMotor(config, pigpio);
      else motor = new SimDriverMotor(config.name);
      opened.push(motor);
      log.debug(`motor ${motor.name}: ${motor.description}, stopped`);
    }
    opening = 'standby';
    for (const gpio of standby) gpio.writeSync(1);
  } catch (err) {
    release(opened, standby, pigpio);
    throw new GpioError('pin-unavailable', `${opening}: ${(err as Error).message}`, { cause: err });
  }
  return new GpioBank(opened, standby, pigpio, log);
}
