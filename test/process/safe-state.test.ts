import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../src/config/config';
import { boardsNeeded, configTxtNeeded, safeState } from '../../src/process/safe-state';
import { fakeHardware, logged, memoryLogger } from '../fakes/hardware';
import { pigpioLibraryAt } from '../fakes/pigpio';

/**
 * `carbot safe-state`, as the unit's ExecStopPost= runs it after carbot is gone: every output
 * the configuration names is driven to stop and released, whatever the dead carbot left.
 */
describe('carbot safe-state and carbot boards', () => {
  let dir: string;
  let modelPath: string;
  const board = (model: string | undefined) => {
    if (model === undefined) fs.rmSync(modelPath, { force: true });
    else fs.writeFileSync(modelPath, `${model}\0`);
  };
  const config = (...argv: string[]) => loadConfig({ argv, env: {}, exists: () => false });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carbot-safe-'));
    modelPath = path.join(dir, 'model');
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function deps(hw: ReturnType<typeof fakeHardware>) {
    return {
      requireModule: hw.requireModule,
      modelPath,
      pigpioLibrary: pigpioLibraryAt(dir, true),
      getuid: () => 0,
      lockFile: path.join(dir, 'pigpio.pid'),
      gpioBase: 0,
      signalTarget: new EventEmitter(),
    };
  }

  it('on pigpio: opens every pin in its stop state, coasts, releases and terminates pigpio', async () => {
    board('Raspberry Pi 4 Model B Rev 1.4');
    const hw = fakeHardware();
    const { log, lines } = memoryLogger();
    await safeState(config('--motors', '[{"name":"left","driver":"hbridge","pwm":12,"in1":5,"in2":6,"brake":true}]'), log, deps(hw));
    const calls = hw.calls.take();
    assert.deepEqual(calls.slice(calls.indexOf('onoff.Gpio(5,low)')), [
      'onoff.Gpio(5,low)',
      'onoff.Gpio(6,low)',
      'pigpio.Gpio(12,{mode:OUTPUT})',
      'pigpio.pwmWrite(12,0)',
      'pigpio.pwmFrequency(12,1000)',
      'pigpio.pwmRange(12,1000)',
      // The configured stop is a brake...
      'onoff.writeSync(5,1)',
      'onoff.writeSync(6,1)',
      'pigpio.pwmWrite(12,1000)',
      // ...and released, nothing is left high.
      'pigpio.pwmWrite(12,0)',
      'onoff.writeSync(5,0)',
      'onoff.writeSync(6,0)',
      'onoff.unexport(5)',
      'onoff.unexport(6)',
      'pigpio.terminate()',
    ]);
    await logged();
    assert.ok(lines.includes('info: safe state: 1 of 1 motor stopped and released (pigpio)'), lines.join('\n'));
  });

  it('a pin that cannot be opened is skipped with a warning; the other motors are still stopped; it never throws', async () => {
    board('Raspberry Pi 4 Model B Rev 1.4');
    const hw = fakeHardware();
    hw.calls.failOn('onoff.Gpio(5,low)', Object.assign(new Error('EBUSY: resource busy or locked, write'), { code: 'EBUSY' }));
    const { log, lines } = memoryLogger();
    await safeState(config(), log, deps(hw));
    const calls = hw.calls.take();
    assert.ok(calls.includes('pigpio.pwmWrite(13,0)') && calls.includes('onoff.unexport(21)'), calls.join('\n'));
    assert.equal(calls.at(-1), 'pigpio.terminate()');
    await logged();
    assert.ok(lines.some((l) => /^warn: motors\[0\] "left": cannot open GPIO 5: EBUSY/.test(l)), lines.join('\n'));
    assert.ok(lines.includes('warn: safe state: 1 of 2 motors stopped and released (pigpio)'), lines.join('\n'));
  });

  it('a board that cannot be had at all (pigpio not initialising) is a warning, not a failure', async () => {
    board('Raspberry Pi 4 Model B Rev 1.4');
    const hw = fakeHardware({ initError: new Error('pigpio error -1 in gpioInitialise') });
    const { log, lines } = memoryLogger();
    await safeState(config(), log, deps(hw));
    await logged();
    assert.ok(lines.some((l) => l.startsWith('warn: pigpio could not initialise')), lines.join('\n'));
  });

  it('boards: what the configuration drives on this machine, so the installer can pick the unit', () => {
    const host = { modelPath, pigpioLibrary: pigpioLibraryAt(dir, true) };
    board('Raspberry Pi 4 Model B Rev 1.4');
    assert.deepEqual(boardsNeeded(config(), host), ['pigpio']);
    assert.deepEqual(boardsNeeded(config('--motors', 'adafruit-servo-hat'), host), ['pca9685']);
    assert.deepEqual(boardsNeeded(config('--motors', 'adafruit-servo-hat', '--limits', '{"forward":{"pin":23}}'), host), ['kernel', 'pca9685']);
    assert.deepEqual(boardsNeeded(config('--gpio', 'kernel'), host), ['kernel']);
    board('Raspberry Pi 5 Model B Rev 1.0');
    assert.deepEqual(boardsNeeded(config(), host), ['kernel']);
    assert.deepEqual(boardsNeeded(config('--gpio', 'pigpio'), host), ['pigpio']);
    board(undefined);
    assert.deepEqual(boardsNeeded(config(), host), ['sim']);
    assert.deepEqual(boardsNeeded(config('--gpio', 'sim', '--motors', 'adafruit-servo-hat'), host), ['sim']);
  });

  it('boards on a Pi 4 without the pigpio C library (trixie): kernel, so the installer picks the unit without root', () => {
    const host = { modelPath, pigpioLibrary: pigpioLibraryAt(dir, false) };
    board('Raspberry Pi 4 Model B Rev 1.4');
    assert.deepEqual(boardsNeeded(config(), host), ['kernel']);
    assert.deepEqual(boardsNeeded(config('--gpio', 'pigpio'), host), ['pigpio']);
  });

  it('config-txt: the lines the kernel board needs for the configured PWM pins, none for pigpio or a HAT', () => {
    const without = { modelPath, pigpioLibrary: pigpioLibraryAt(dir, false) };
    board('Raspberry Pi 4 Model B Rev 1.4');
    assert.deepEqual(configTxtNeeded(config(), without), ['dtoverlay=pwm-2chan,pin=12,func=4,pin2=13,func2=4', 'dtparam=audio=off']);
    const servos = JSON.stringify([
      { name: 'left', driver: 'servo', pin: 18 },
      { name: 'right', driver: 'servo', pin: 19 },
    ]);
    assert.deepEqual(configTxtNeeded(config('--motors', servos), without), ['dtoverlay=pwm-2chan,pin=18,func=2,pin2=19,func2=2', 'dtparam=audio=off']);
    const mixed = JSON.stringify([
      { name: 'left', driver: 'hbridge', pwm: 12, in1: 5, in2: 6 },
      { name: 'right', driver: 'hbridge', pwm: 19, in1: 20, in2: 21 },
      { name: 'pan', driver: 'servo', pin: 17 },
    ]);
    assert.deepEqual(configTxtNeeded(config('--motors', mixed), without), [
      'dtoverlay=pwm-2chan,pin=12,func=4,pin2=19,func2=2',
      'dtoverlay=pwm-gpio,gpio=17',
      'dtparam=audio=off',
    ]);
    assert.deepEqual(configTxtNeeded(config(), { modelPath, pigpioLibrary: pigpioLibraryAt(dir, true) }), [], 'pigpio needs no overlay');
    assert.deepEqual(configTxtNeeded(config('--motors', 'adafruit-servo-hat'), without), [], 'a PCA9685 car');
    board('Raspberry Pi 5 Model B Rev 1.0');
    assert.deepEqual(configTxtNeeded(config(), without), ['dtoverlay=pwm-2chan,pin=12,func=4,pin2=13,func2=4'], 'a Pi 5 has no analogue audio on them');
  });
});
