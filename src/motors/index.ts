import type { Config } from '../config';
import type { Logger } from '../log';
import { SimMotorBank } from './sim';
import type { LimitSwitches, MotorBank } from './types';

export interface Hardware {
  motors: MotorBank;
  limits?: LimitSwitches;
}

export interface OpenOptions {
  /** Keep a timestamp of every write (the benchmark's actuation latency). */
  recordWrites?: boolean;
}

/** Opens the motors and puts them in the safe state (stopped) before anything else runs. */
export async function openHardware(config: Config, log: Logger, options: OpenOptions = {}): Promise<Hardware> {
  const names = config.motors.map((m) => m.name);
  const motors = new SimMotorBank(names, log, options.recordWrites);
  motors.stopAll();
  log.info(`GPIO backend: sim (motors ${names.join(', ')})`);
  return { motors };
}
