/**
 * What the track model reads besides the motors: the end switches and the wheel encoder. On a
 * car they are pins of the header board; on the simulator with `track.sim` they are the pins
 * of the simulated track behind the sim board, opened through the same code (limits.ts,
 * encoder.ts): openHardware opens the switches with the board, the encoder is opened here.
 */
import type { Config } from '../config/config';
import type { Logger } from '../process/log';
import type { Hardware } from '../motors';
import type { BoardMotorBank } from '../motors/bank';
import { openEncoder, type Encoder } from './encoder';
import type { SimClock, SimTrack } from '../boards/sim-track';
import type { LimitSwitches } from '../motors/types';

export interface TrackHardware {
  limits?: LimitSwitches;
  encoder?: Encoder;
  /** The simulated track (the simulator's `hardware.sim.track`): STATE shows the car's true position. */
  sim?: SimTrack;
}

export async function openTrackHardware(config: Config, hardware: Hardware, log: Logger, clock: SimClock): Promise<TrackHardware> {
  const { track } = config;
  const sim = hardware.sim?.track;
  if (hardware.sim && !sim) return { limits: hardware.limits };
  if (!hardware.sim && track.sim) log.warn('track.sim is ignored: the motors are real');
  if (!track.encoder) return { limits: hardware.limits, sim };
  const board = (hardware.motors as Partial<BoardMotorBank>).boards?.gpio;
  if (!board) throw new Error('track.encoder: its pin is on the header, which this configuration does not open (no gpio motor or limit switch)');
  const encoder = await openEncoder(track.encoder, board, log, () => clock.now());
  if (!sim) log.info(`encoder on pin ${track.encoder.pin}${track.encoder.edgesPerMetre ? `, ${track.encoder.edgesPerMetre} edges per metre` : ', scale from calibration'}`);
  return { limits: hardware.limits, encoder, sim };
}
