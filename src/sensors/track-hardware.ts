/**
 * What the track model reads besides the motors: the end switches and the wheel encoder. On a
 * car they are pins of the header board; with simulated motors and `track.sim` they are the
 * pins of the simulated track, opened through the same code (limits.ts, encoder.ts).
 */
import type { Config } from '../config/config';
import type { Logger } from '../process/log';
import type { Hardware } from '../motors';
import type { BoardMotorBank } from '../motors/bank';
import { openEncoder, type Encoder } from './encoder';
import { openLimitSwitches } from './limits';
import { SimMotorBank } from '../boards/sim';
import { SimTrack, type SimClock, type SimPins } from '../boards/sim-track';
import type { LimitsConfig, LimitSwitches } from '../motors/types';

export interface TrackHardware {
  limits?: LimitSwitches;
  encoder?: Encoder;
  sim?: SimTrack;
}

/** Where the simulated switches sit when the config names none (any free pins would do). */
export const SIM_SWITCH_PINS = { backward: 23, forward: 24 } as const;

export async function openTrackHardware(config: Config, hardware: Hardware, log: Logger, clock: SimClock): Promise<TrackHardware> {
  const { track } = config;
  if (hardware.motors instanceof SimMotorBank) {
    if (!track.sim) return { limits: hardware.limits };
    return openSimTrack(config, hardware.motors, log, clock);
  }
  if (track.sim) log.warn('track.sim is ignored: the motors are real');
  if (!track.encoder) return { limits: hardware.limits };
  const board = (hardware.motors as Partial<BoardMotorBank>).boards?.gpio;
  if (!board) throw new Error('track.encoder: its pin is on the header, which this configuration does not open (no gpio motor or limit switch)');
  const encoder = await openEncoder(track.encoder, board, log, () => clock.now());
  log.info(`encoder on pin ${track.encoder.pin}${track.encoder.edgesPerMetre ? `, ${track.encoder.edgesPerMetre} edges per metre` : ', scale from calibration'}`);
  return { limits: hardware.limits, encoder };
}

/** The simulated track under simulated motors, its switches and encoder opened as real ones are. */
export async function openSimTrack(config: Config, motors: SimMotorBank, log: Logger, clock: SimClock): Promise<Required<Pick<TrackHardware, 'limits' | 'sim'>> & TrackHardware> {
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
  const sim = new SimTrack(track.sim ?? {}, pins, clock);
  motors.onWrite((outputs) => sim.setOutputs(outputs));
  const board = { openInput: async (pin: number) => sim.openInput(pin) };
  try {
    const switches = await openLimitSwitches(limits, board, log);
    const encoder = track.encoder ? await openEncoder(track.encoder, board, log, () => clock.now()) : undefined;
    const o = sim.options;
    log.info(
      `sim track: ${o.lengthM} m, switches on pins ${pins.switches.backward?.pin} (backward end) and ${pins.switches.forward?.pin} (forward end)` +
        `${encoder ? `, encoder on pin ${track.encoder?.pin} (${o.edgesPerMetre} edges/m)` : ''}, car at ${o.start} of the track, speed ${Math.round(sim.runFactor * 1000) / 10}% of nominal this run` +
        (track.speedTable ? '' : "; goto uses the simulated track's nominal speed table until a calibrate learns this run's"),
    );
    return { limits: switches, encoder, sim };
  } catch (err) {
    sim.close();
    throw err;
  }
}
