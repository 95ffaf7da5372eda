/**
 * The benchmark's simulated car: the simulator opened as the car's board, as carbot opens it
 * (openHardware with `gpio: "sim"`), its track on the bench's virtual clock, the switches and
 * encoder on it opened as on a car. What the service takes, and the track for the bench's
 * hooks (`jam`, the true position).
 */
import type { Config } from '../src/config/config';
import type { Logger } from '../src/process/log';
import type { SimClock, SimTrack } from '../src/boards/sim-track';
import { openHardware } from '../src/motors';
import { openTrackHardware, type TrackHardware } from '../src/sensors/track-hardware';
import type { MotorBank } from '../src/motors/types';

export async function openSimCar(config: Config, log: Logger, clock: SimClock): Promise<TrackHardware & { motors: MotorBank; sim: SimTrack }> {
  if (config.gpio !== 'sim' || !config.track.sim) throw new Error('the bench car needs --gpio sim and --track-sim');
  const hardware = await openHardware(config, log, { clock });
  const track = await openTrackHardware(config, hardware, log, clock);
  return { motors: hardware.motors, ...track, sim: track.sim as SimTrack };
}
