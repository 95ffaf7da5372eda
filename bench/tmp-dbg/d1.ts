import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config';
import { createLogger } from '../../src/log';
import { SimMotorBank } from '../../src/motors/sim';
import { CarService } from '../../src/service';
import { openSimTrack } from '../../src/track-hardware';
import { VirtualClock } from '../../test/support/virtual-clock';
async function main() {
  const clock = new VirtualClock(0);
  const enc = process.argv[2] === 'enc';
  const argv = ['--gpio','sim','--mqtt-url','mqtt://127.0.0.1:1','--tele-period','0','--track-sim', JSON.stringify({seed: 5, jitter: 0, noise: 0, start: 0.5})];
  if (enc) argv.push('--track-encoder','{"pin":17}');
  const config = loadConfig({ argv, env: {}, exists: () => false });
  const lines: string[] = [];
  const log = createLogger({ level: 'info', format: 'text', stream: new Writable({ write: (c, _e, d) => { lines.push(String(c).trim()); d(); } }), env: {} });
  const motors = new SimMotorBank(config.motors.map((m) => m.name), log);
  const hw = await openSimTrack(config, motors, log, clock);
  const service = new CarService({ config, log, motors, ...hw, clock });
  const idle = () => service.state().task === undefined && service.state().motion === 'stopped';
  const show = (w: string) => { const s = service.state(); console.log(w, clock.now().toFixed(0), JSON.stringify({p: s.position, sim: s.simPosition, t: s.target, task: s.task, m: s.motion, r: s.reason})); };
  console.log(service.command('home','x')); clock.runUntil(idle, 120000); show('home');
  console.log(service.command('calibrate','x')); clock.runUntil(idle, 900000); show('cal');
  for (const t of [0.3, 0.8, 0.5, 0.1, 0.9]) { console.log(service.command(JSON.stringify({goto:t}),'x')); clock.runUntil(idle, 60000); show('goto '+t); }
  await service.shutdown('x');
  await new Promise(r=>setTimeout(r,50));
  console.log(lines.join('\n'));
}
main();
