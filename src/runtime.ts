/**
 * What the service's process needs beyond the command line, in one module that `carbot` (the
 * service) loads when it starts and the other verbs never load. The build bundles it into one
 * file, dist/runtime.js (scripts/bundle.js).
 */
export { monitorEventLoop } from './loop-monitor';
export { openHardware } from './motors';
export { SimMotorBank } from './motors/sim';
export { CarService, systemClock } from './service';
export { openTrackHardware } from './track-hardware';
export { createNotifier, statusText } from './systemd';
