import path from 'node:path';
import type { Config } from '../config/config';
import type { Logger } from '../process/log';
import { PigpioBoard, selectBackend, type PigpioBoardDeps } from '../boards/pigpio';
import type { KernelBoardDeps } from '../boards/kernel';
import type { PiBoard } from '../boards/pi';
import type { Pca9685Deps } from '../boards/pca9685';
import type { Board } from '../boards/types';
import { openMotorBank, type Boards } from './bank';
import { openLimitSwitches } from '../sensors/limits';
import type { Simulation } from '../boards/sim';
import type { SimClock, SimPins } from '../boards/sim-track';
import type { Backend, LimitsConfig, LimitSwitches, MotorBank } from './types';

/**
 * The wiring of the car's hardware: which boards the configuration needs, opened in the safe
 * state, with the motors and limit switches on them. Boards are loaded only when a motor
 * names them, so a servo-HAT car never loads pigpio and a laptop loads no native module.
 */

export interface Hardware {
  motors: MotorBank;
  limits?: LimitSwitches;
  /**
   * Only on the simulator (boards/sim.ts): what the shell reads of the simulated car, its
   * true position on the simulated track (`sim.track`) and the write trace (`recordWrites`).
   */
  sim?: Simulation;
}

/** The library boundary (board model file, require of pigpio/onoff/i2c-bus, sysfs): tests fake it here. */
export interface HardwareDeps extends PigpioBoardDeps, Omit<KernelBoardDeps, 'log'>, Pca9685Deps {
  /** Where sysfs is (default CARBOT_SYSFS_ROOT, else /sys): tests point it at a fake tree. */
  sysfsRoot?: string;
}

export interface OpenOptions {
  /** Keep a timestamp of every write (the benchmark's actuation latency). */
  recordWrites?: boolean;
  deps?: HardwareDeps;
  /** `carbot safe-state`: skip what cannot be opened, stop everything that can. */
  tolerant?: boolean;
  /** The timers of the simulated track (`track.sim` on the simulator): the service's clock, or a virtual one. */
  clock?: SimClock;
}

/** Where the simulated switches sit when the config names none (any free pins would do). */
const SIM_SWITCH_PINS = { backward: 23, forward: 24 } as const;

/**
 * The simulator as the car's board: its motors, and with `track.sim` the simulated track
 * behind it, whose end switches are opened as a car's are (limits.ts).
 */
async function openSimHardware(config: Config, log: Logger, options: OpenOptions): Promise<Hardware> {
  const { openSimBoard, realClock } = require('../boards/sim') as typeof import('../boards/sim');
  const names = config.motors.map((m) => m.name);
  const { track } = config;
  const limits: LimitsConfig = {
    backward: config.limits.backward ?? { pin: SIM_SWITCH_PINS.backward, activeLow: true, debounceMs: 0 },
    forward: config.limits.forward ?? { pin: SIM_SWITCH_PINS.forward, activeLow: true, debounceMs: 0 },
  };
  const pins: SimPins = {
    switches: {
      backward: { pin: limits.backward!.pin, activeLow: limits.backward!.activeLow },
      forward: { pin: limits.forward!.pin, activeLow: limits.forward!.activeLow },
    },
    encoder: track.encoder?.pin,
  };
  const board = openSimBoard(
    {
      motors: names,
      track: track.sim ? { options: track.sim, pins, clock: options.clock ?? realClock } : undefined,
      recordWrites: options.recordWrites,
    },
    log,
  );
  log.info(`GPIO backend: sim (motors ${names.join(', ')})`);
  const sim = board.track;
  if (!sim) {
    if (Object.keys(config.limits).length > 0) log.warn('limit switches are configured but ignored with simulated motors');
    return { motors: board.motors, sim: board };
  }
  try {
    const switches = await openLimitSwitches(limits, board, log);
    const o = sim.options;
    log.info(
      `sim track: ${o.lengthM} m, switches on pins ${pins.switches.backward?.pin} (backward end) and ${pins.switches.forward?.pin} (forward end)` +
        `${track.encoder ? `, encoder on pin ${track.encoder.pin} (${o.edgesPerMetre} edges/m)` : ''}, car at ${o.start} of the track, speed ${Math.round(sim.runFactor * 1000) / 10}% of nominal this run` +
        (track.speedTable ? '' : "; goto uses the simulated track's nominal speed table until a calibrate learns this run's"),
    );
    return { motors: board.motors, limits: switches, sim: board };
  } catch (err) {
    await board.motors.close();
    throw err;
  }
}

/** What the configuration asks of the boards. */
export function boardNeeds(config: Pick<Config, 'motors' | 'limits'>) {
  const real = config.motors.filter((m) => m.driver !== 'sim');
  const onHeader = real.filter((m) => (m.board ?? 'gpio') === 'gpio');
  return {
    header: onHeader.length > 0 || Object.keys(config.limits).length > 0,
    headerPwm: onHeader.length > 0,
    pca9685: real.some((m) => m.board === 'pca9685'),
  };
}


/*
 * Loaded only when used: a car without the board never loads its code or native module. The
 * ids are literal so that the bundler (scripts/bundle.js) finds them.
 */

async function openHeaderBoard(
  backend: 'pigpio' | 'kernel',
  board: PiBoard,
  config: Config,
  deps: HardwareDeps,
  log: Logger,
): Promise<Board> {
  if (backend === 'pigpio') return new PigpioBoard(board.model, deps);
  const { openKernelBoard } = require('../boards/kernel') as typeof import('../boards/kernel');
  return openKernelBoard(
    { sysfsRoot: deps.sysfsRoot ?? process.env.CARBOT_SYSFS_ROOT ?? '/sys', pwmChannels: config.pwmChannels, board },
    { ...deps, log },
  );
}

async function openPca9685(config: Config, deps: HardwareDeps): Promise<Board> {
  const { openPca9685Board } = require('../boards/pca9685') as typeof import('../boards/pca9685');
  return openPca9685Board(config.pca9685, deps);
}

/**
 * safe-state's fallback when the PCA9685 could not be initialised: every channel off through
 * ALL_LED, retried a few times ~100 ms apart (a HAT still powering up at boot), and said so.
 */
async function pca9685AllOff(config: Config, deps: HardwareDeps, log: Logger, cause: unknown): Promise<void> {
  const { allOffMayHelp, switchAllOff, ALL_OFF_ATTEMPTS, ALL_OFF_INTERVAL_MS } = require('../boards/pca9685') as typeof import('../boards/pca9685');
  if (!allOffMayHelp(cause)) return;
  const chip = `the PCA9685 at 0x${config.pca9685.address.toString(16)} on /dev/i2c-${config.pca9685.bus}`;
  const { attempt, errors } = await switchAllOff(config.pca9685, deps);
  if (attempt === undefined) {
    log.error(
      `safe state: ${chip} could not be initialised, and ALL_LED full-off failed ${ALL_OFF_ATTEMPTS} times ` +
        `${ALL_OFF_INTERVAL_MS} ms apart: its channels may still be driving (${errors.map((e) => e.message).join('; ')})`,
    );
    return;
  }
  log.warn(
    `safe state: ${chip} could not be initialised, so every channel was switched off through ALL_LED instead ` +
      `(attempt ${attempt} of ${ALL_OFF_ATTEMPTS})`,
  );
  for (const err of errors) log.warn(`pca9685: ${err.message}`);
}

/**
 * Chooses the boards, opens the motors and puts them in the safe state (stopped) before
 * anything else runs. On real hardware a problem is an error (BoardError) that says how to
 * fix it — never a silent fallback to simulated motors.
 */
export async function openHardware(config: Config, log: Logger, options: OpenOptions = {}): Promise<Hardware> {
  const given = options.deps ?? {};
  // The board is read from the device tree of the sysfs the kernel board uses (on a Pi,
  // /proc/device-tree is /sys/firmware/devicetree/base), so a fake tree answers both.
  const sysfsRoot = given.sysfsRoot ?? process.env.CARBOT_SYSFS_ROOT;
  const deps: HardwareDeps = {
    ...given,
    modelPath: given.modelPath ?? (sysfsRoot ? path.join(sysfsRoot, 'firmware', 'devicetree', 'base', 'model') : undefined),
  };
  const needs = boardNeeds(config);
  const names = config.motors.map((m) => m.name);
  let header: { backend: Backend; model: string | undefined; board: PiBoard } | undefined;
  if (config.gpio === 'sim') header = { backend: 'sim', model: undefined, board: {} };
  else if (needs.header) {
    const selection = selectBackend(config.gpio, deps, { pwm: needs.headerPwm });
    if (selection.warning) log.warn(selection.warning);
    if (selection.reason) log.info(selection.reason);
    header = selection;
  }

  if (header?.backend === 'sim') return openSimHardware(config, log, options);

  const boards: Boards = {};
  const closeBoards = () => {
    for (const board of Object.values(boards)) for (const err of board.close()) log.warn(`${board.kind}: ${err.message}`);
  };
  const attempt = async (what: () => Promise<void>) => {
    try {
      await what();
    } catch (err) {
      if (!options.tolerant) {
        closeBoards();
        throw err;
      }
      log.warn((err as Error).message);
    }
  };
  await attempt(async () => {
    if (header) boards.gpio = await openHeaderBoard(header.backend as 'pigpio' | 'kernel', header.board, config, deps, log);
  });
  await attempt(async () => {
    if (!needs.pca9685) return;
    try {
      boards.pca9685 = await openPca9685(config, deps);
    } catch (err) {
      if (!options.tolerant) throw err;
      log.warn((err as Error).message);
      await pca9685AllOff(config, deps, log, err);
    }
  });
  const backend: Backend = boards.gpio?.kind ?? (boards.pca9685 || needs.pca9685 ? 'pca9685' : 'sim');
  const motors = await openMotorBank(config.motors, boards, log, { backend, tolerant: options.tolerant });
  if (boards.gpio?.kind === 'pigpio') {
    log.info(`GPIO backend: pigpio on ${header?.model} (motors ${names.join(', ')}), all outputs stopped`);
  } else {
    const described = Object.entries(boards).map(([name, board]) => `${name}: ${board.description}`);
    log.info(`boards: ${described.join('; ') || 'none'} (motors ${names.join(', ')}), all outputs stopped`);
  }
  if (Object.keys(config.limits).length === 0 || !boards.gpio) return { motors };
  try {
    const limits = await openLimitSwitches(config.limits, boards.gpio, log);
    return { motors, limits };
  } catch (err) {
    await motors.close();
    if (!options.tolerant) throw err;
    log.warn((err as Error).message);
    return { motors };
  }
}
