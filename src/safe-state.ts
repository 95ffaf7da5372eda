/**
 * `carbot safe-state` and `carbot boards`: what the unit runs after carbot has gone, however it
 * went (SIGKILL, the OOM killer, a watchdog abort), and what the installer asks to pick the unit.
 */
import type { Config } from './config';
import type { Logger } from './log';
import { readPiBoardAt } from './boards/pi';
import { MODEL_PATH, pigpioLibraryProblem, resolveBackend, type HostDeps } from './boards/pigpio';
import { boardNeeds, openHardware, type HardwareDeps } from './motors';

/**
 * Drives every configured output to stop from the same configuration: each output is opened
 * (which writes its stop state), then released (PWM duty 0 and disabled, direction pins low,
 * servo pulses off, a PCA9685's channels all off through ALL_LED). What cannot be opened —
 * a missing chip, a pin another program holds — is logged and skipped, so everything that
 * does exist is stopped. Never throws: the unit's ExecStopPost must not fail the stop.
 */
export async function safeState(config: Config, log: Logger, deps?: HardwareDeps): Promise<void> {
  try {
    const hardware = await openHardware(config, log, { tolerant: true, deps });
    await hardware.limits?.close();
    await hardware.motors.close();
    const reached = hardware.motors.names.length;
    const all = config.motors.length;
    const line = `safe state: ${reached} of ${all} motor${all === 1 ? '' : 's'} stopped and released (${hardware.motors.backend})`;
    if (reached === all) log.info(line);
    else log.warn(line);
  } catch (err) {
    log.warn(`safe state: ${(err as Error).message}`);
  }
}

/**
 * The boards the configuration drives on this machine, one a line: `pigpio`, `kernel`,
 * `pca9685` or `sim`. Only pigpio needs root; the installer picks the unit by it.
 */
export function boardsNeeded(config: Config, host: Pick<HostDeps, 'modelPath' | 'pigpioLibrary'> = {}): string[] {
  const needs = boardNeeds(config);
  const boards: string[] = [];
  if (config.gpio === 'sim') return ['sim'];
  if (needs.header) {
    const modelPath = host.modelPath ?? MODEL_PATH;
    const chosen = resolveBackend(config.gpio, readPiBoardAt(modelPath), { pwm: needs.headerPwm }, () =>
      pigpioLibraryProblem(host.pigpioLibrary),
    );
    boards.push(chosen.backend);
  }
  if (needs.pca9685) boards.push('pca9685');
  return boards;
}
