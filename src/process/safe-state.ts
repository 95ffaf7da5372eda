/**
 * `carbot safe-state` and `carbot boards`: what the unit runs after carbot has gone, however it
 * went (SIGKILL, the OOM killer, a watchdog abort), and what the installer asks to pick the unit.
 */
import type { Config } from '../config/config';
import type { Logger } from './log';
import { configTxtLines } from '../boards/kernel';
import { readPiBoardAt, systemRoot } from '../boards/pi';
import { LIBRARY_DIRS, MODEL_PATH, pigpioLibraryProblem, resolveBackend, type HostDeps } from '../boards/pigpio';
import { boardNeeds, openHardware, type HardwareDeps } from '../motors';

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
/** The board and libraries of the system at CARBOT_SYSTEM_ROOT (install.sh --root), else of this one. */
export function systemHost(env: NodeJS.ProcessEnv = process.env): Pick<HostDeps, 'modelPath' | 'pigpioLibrary'> {
  const root = systemRoot(env);
  if (!root) return {};
  return {
    modelPath: `${root}${MODEL_PATH}`,
    pigpioLibrary: { libraryDirs: LIBRARY_DIRS.map((dir) => `${root}${dir}`), ldCache: `${root}/etc/ld.so.cache` },
  };
}

/**
 * `carbot config-txt`: the lines /boot/firmware/config.txt needs for the configured header PWM
 * pins when the kernel board drives them on this board (none for pigpio, sim or a PCA9685).
 */
export function configTxtNeeded(config: Config, host: Pick<HostDeps, 'modelPath' | 'pigpioLibrary'> = {}): string[] {
  if (!boardsNeeded(config, host).includes('kernel')) return [];
  const own = new Set(Object.keys(config.pwmChannels ?? {}).map(Number));
  const pins = config.motors
    .filter((m) => m.driver !== 'sim' && (m.board ?? 'gpio') === 'gpio')
    .map((m) => (m.driver === 'hbridge' ? m.pwm : m.driver === 'servo' ? m.pin : undefined))
    .filter((pin): pin is number => pin !== undefined && !own.has(pin));
  return configTxtLines(pins, readPiBoardAt(host.modelPath ?? MODEL_PATH).soc);
}

export function boardsNeeded(
  config: Config,
  host: Pick<HostDeps, 'modelPath' | 'pigpioLibrary'> & { pigpioProblem?: () => string | undefined } = {},
): string[] {
  const needs = boardNeeds(config);
  const boards: string[] = [];
  if (config.gpio === 'sim') return ['sim'];
  if (needs.header) {
    const modelPath = host.modelPath ?? MODEL_PATH;
    const chosen = resolveBackend(config.gpio, readPiBoardAt(modelPath), { pwm: needs.headerPwm }, () =>
      host.pigpioProblem ? host.pigpioProblem() : pigpioLibraryProblem(host.pigpioLibrary),
    );
    boards.push(chosen.backend);
  }
  if (needs.pca9685) boards.push('pca9685');
  return boards;
}
