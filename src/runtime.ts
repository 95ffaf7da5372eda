/**
 * What the service's process needs beyond the command line, in one module that `carbot` (the
 * service) loads when it starts and the other verbs never load. The build bundles it into one
 * file, dist/runtime.js (scripts/bundle.js).
 */
export { monitorEventLoop } from './process/loop-monitor';
export { openHardware } from './motors';
export { CarService, systemClock } from './service';
export { MqttFront } from './mqtt/front';
export { openTrackHardware } from './sensors/track-hardware';
export { createNotifier, statusText } from './process/systemd';
