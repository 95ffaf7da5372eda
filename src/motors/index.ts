import type { Config } from '../config';
import type { Logger } from '../log';
import { openGpioMotorBank, type GpioBankDeps } from './gpio-bank';
import { openLimitSwitches } from './limits';
import { selectBackend } from './pigpio';
import { SimMotorBank } from './sim';
import type { LimitSwitches, MotorBank } from './types';

export interface Hardware {
  motors: MotorBank;
  limits?: LimitSwitches;
}

export interface OpenOptions {
  /** Keep a timestamp of every write (the benchmark's actuation latency). */
  recordWrites?: boolean;
  /** The library boundary (board model file, require of pigpio/onoff, sysfs): tests fake it here. */
  deps?: GpioBankDeps;
}

/**
 * Chooses the backend, opens the motors and puts them in the safe state (stopped) before
 * anything else runs. On a Raspberry Pi a GPIO problem is an error (GpioError) that says how
 * to fix it — never a silent fallback to simulated motors.
 */
export async function openHardware(config: Config, log: Logger, options: OpenOptions = {}): Promise<Hardware> {
  const deps = options.deps ?? {};
  const selection = selectBackend(config.gpio, deps);
  if (selection.warning) log.warn(selection.warning);
  const names = config.motors.map((m) => m.name);

  if (selection.backend === 'sim') {
    const motors = new SimMotorBank(names, log, options.recordWrites);
    log.info(`GPIO backend: sim (motors ${names.join(', ')})`);
    if (Object.keys(config.limits).length > 0) log.warn('limit switches are configured but ignored with simulated motors');
    return { motors };
  }

  const motors = openGpioMotorBank(config.motors, log, deps);
  log.info(`GPIO backend: pigpio on ${selection.model} (motors ${names.join(', ')}), all outputs stopped`);
  if (Object.keys(config.limits).length === 0) return { motors };
  try {
    const limits = openLimitSwitches(config.limits, { ...deps, log, pigpio: motors.pigpio });
    return { motors, limits };
  } catch (err) {
    await motors.close();
    throw err;
  }
}
