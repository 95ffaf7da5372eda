/**
 * `carbot safe-state` and `carbot boards`: what the unit runs after carbot has gone, however it
 * went (SIGKILL, the OOM killer, a watchdog abort), and what the installer asks to pick the unit.
 */
import type { Config } from './config';
import type { Logger } from './log';
import { isRaspberryPi, isRp1Board, readBoardModel, MODEL_PATH } from './boards/pigpio';
import { boardNeeds, openHardware, type HardwareDeps } from './motors';

/**
 * Drives every configured output to stop from the same configuration: each output is opened
 * (which writes its stop state), then released (PWM duty 0 and disabled, direction pins low,
 * servo pulses off, a PCA9685's channels all off through ALL_LED). What cannot be opened —
 * a missing chip, a pin another program holds — is logged and skipped, so everything that
 * does exist is stopped; a PCA9685 that cannot be initialised still gets ALL_LED full-off,
 * retried a few times (openHardware's tolerant mode). Never throws: the unit's ExecStopPost
 * must not fail the stop. carbot-safe-state.service runs it at boot too.
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
export function boardsNeeded(config: Config, modelPath = MODEL_PATH): string[] {
  const needs = boardNeeds(config);
  const boards: string[] = [];
  if (config.gpio === 'sim') return ['sim'];
  if (needs.header) {
    const model = readBoardModel(modelPath);
    if (config.gpio === 'pigpio' || config.gpio === 'kernel') boards.push(config.gpio);
    else if (!isRaspberryPi(model)) boards.push('sim');
    else boards.push(isRp1Board(model) || !needs.headerPwm ? 'kernel' : 'pigpio');
  }
  if (needs.pca9685) boards.push('pca9685');
  return boards;
}
