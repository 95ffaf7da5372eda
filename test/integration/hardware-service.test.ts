import { strict as assert } from 'node:assert';
import { EventEmitter } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sinon from 'sinon';
import { loadConfig } from '../../src/config/config';
import { openHardware, type Hardware } from '../../src/motors';
import { CarService } from '../../src/service';
import { fakeHardware, logged, memoryLogger } from '../fakes/hardware';
import { pigpioLibraryAt } from '../fakes/pigpio';

/**
 * The whole car above the library boundary: config -> openHardware (backend selection on a
 * fake Pi) -> service -> drivers -> fake pigpio/onoff. What reaches the "pins" is asserted.
 */
describe('carbot on a (faked) Raspberry Pi', () => {
  let clock: sinon.SinonFakeTimers;
  let service: CarService | undefined;
  const piDir = mkdtempSync(join(tmpdir(), 'carbot-pi-'));
  const modelPath = join(piDir, 'model');
  const pigpioLibrary = pigpioLibraryAt(piDir, true);
  writeFileSync(modelPath, 'Raspberry Pi 4 Model B Rev 1.4\0');

  beforeEach(() => {
    clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'performance', 'Date'] });
  });
  afterEach(async () => {
    clock.restore();
    await service?.shutdown('test over');
    service = undefined;
  });

  async function boot(argv: string[], failOn?: RegExp, levels: [number, 0 | 1][] = []) {
    const hw = fakeHardware();
    for (const [pin, level] of levels) hw.board.levels.set(pin, level);
    const config = loadConfig({
      argv: ['--gpio', 'auto', '--mqtt-url', 'mqtt://127.0.0.1:1', '--tele-period', '0', ...argv],
      env: {},
    });
    const { log, lines } = memoryLogger();
    const hardware: Hardware = await openHardware(config, log, {
      deps: {
        requireModule: hw.requireModule,
        modelPath,
        pigpioLibrary,
        getuid: () => 0,
        lockFile: join(tmpdir(), 'no-such-pigpio.pid'),
        gpioBase: 0,
        signalTarget: new EventEmitter(),
      },
    });
    if (failOn) hw.calls.failOn(failOn);
    service = new CarService({ config, log, motors: hardware.motors, limits: hardware.limits });
    // Not started: no broker here, commands go through the same path the remote page uses.
    return { ...hw, service, lines, hardware };
  }

  it('opens in the safe state, then drives, reverses through zero after the delay, and stops', async () => {
    const car = await boot(['--reverse-delay-ms', '300']);
    const opened = car.calls.take();
    assert.ok(opened.includes('pigpio.pwmWrite(12,0)') && opened.includes('pigpio.pwmWrite(13,0)'));
    assert.ok(opened.indexOf('pigpio.initialize()') < opened.indexOf('pigpio.pwmWrite(12,0)'));

    car.service.command('forward', 'test');
    assert.deepEqual(car.calls.take(), [
      'onoff.writeSync(5,1)',
      'pigpio.pwmWrite(12,500)',
      'onoff.writeSync(20,1)',
      'pigpio.pwmWrite(13,500)',
    ]);

    car.service.command('faster', 'test');
    assert.deepEqual(car.calls.take(), ['pigpio.pwmWrite(12,600)', 'pigpio.pwmWrite(13,600)']);

    car.service.command('backward', 'test');
    assert.deepEqual(car.calls.take(), [
      'pigpio.pwmWrite(12,0)',
      'onoff.writeSync(5,0)',
      'pigpio.pwmWrite(13,0)',
      'onoff.writeSync(20,0)',
    ]);
    clock.tick(299);
    assert.deepEqual(car.calls.take(), [], 'nothing moves during the reversal delay');
    clock.tick(1);
    assert.deepEqual(car.calls.take(), [
      'onoff.writeSync(6,1)',
      'pigpio.pwmWrite(12,600)',
      'onoff.writeSync(21,1)',
      'pigpio.pwmWrite(13,600)',
    ]);

    car.service.command('stop', 'test');
    assert.deepEqual(car.calls.take(), [
      'pigpio.pwmWrite(12,0)',
      'onoff.writeSync(6,0)',
      'pigpio.pwmWrite(13,0)',
      'onoff.writeSync(21,0)',
    ]);
  });

  it('a limit switch closing ahead stops the car, refuses motion toward it, shows in STATE', async () => {
    // Wired to ground with a pull-up (activeLow): the pin reads 1 while the switch is open.
    const car = await boot(['--limits', '{"forward":{"pin":17,"debounceMs":20}}'], undefined, [[17, 1]]);
    car.service.command('f', 'test');
    car.calls.take();
    car.board.edge(17, 0);
    clock.tick(20);
    assert.deepEqual(car.calls.take().filter((c) => c.startsWith('pigpio.pwmWrite')), ['pigpio.pwmWrite(12,0)', 'pigpio.pwmWrite(13,0)']);
    assert.equal(car.service.state().reason, 'limit');
    assert.deepEqual(car.service.state().limits, { forward: 'closed' });
    assert.deepEqual(car.service.command('forward', 'test'), {
      move: 'forward',
      motion: 'stopped',
      speed: 50,
      error: 'forward limit switch is closed',
    });
    assert.deepEqual(car.calls.take(), []);
    assert.equal(car.service.command('backward', 'test').motion, 'reversing');
    clock.tick(250);
    assert.equal(car.service.state().motion, 'backward');
  });

  it('a GPIO write that fails stops every motor, reports it in STATE and asks to exit', async () => {
    const car = await boot([], /pwmWrite\(13,500\)/);
    const fatal = new Promise<Error>((resolve) => car.service.once('fatal', resolve));
    car.service.command('forward', 'test');
    const err = await fatal;
    assert.match(err.message, /motor write failed: motor "right"/);
    const calls = car.calls.take();
    assert.ok(calls.lastIndexOf('pigpio.pwmWrite(12,0)') > calls.indexOf('pigpio.pwmWrite(12,500)'), calls.join('\n'));
    const state = car.service.state();
    assert.equal(state.motion, 'stopped');
    assert.match(String(state.error), /motor "right"/);
    await logged();
    assert.ok(car.lines.some((l) => /^error: motor write failed: motor "right".*all motors stopped/.test(l)), car.lines.join('\n'));
  });

  it('a write that fails gets an error RESULT, and STATE shows a motor that could not be stopped where it is', async () => {
    // The right motor's write fails, and so does stopping the left one, already at 0.5.
    const car = await boot([], /pwmWrite\(13,500\)|pwmWrite\(12,0\)/);
    const fatal = new Promise<Error>((resolve) => car.service.once('fatal', resolve));
    const answer = car.service.command('forward', 'test');
    assert.equal(answer.motion, 'stopped');
    assert.match(String(answer.error), /^motor write failed: motor "right"/);
    await fatal;
    assert.deepEqual(car.service.state().motors, { left: 0.5, right: 0 });
  });

  it('shutdown coasts every motor, unexports the pins and terminates pigpio', async () => {
    const car = await boot([]);
    car.service.command('forward', 'test');
    car.calls.take();
    await car.service.shutdown('SIGTERM');
    service = undefined;
    const calls = car.calls.take();
    assert.ok(calls.includes('pigpio.pwmWrite(12,0)'));
    assert.ok(calls.includes('onoff.unexport(5)'));
    assert.equal(calls.at(-1), 'pigpio.terminate()');
  });
});
