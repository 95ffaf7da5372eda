import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sinon from 'sinon';
import {
  GpioError,
  loadPigpio,
  rearmSignalListeners,
  selectBackend,
  type GpioProblem,
  type HostDeps,
} from '../../src/boards/pigpio';
import { CallLog, fakeRequire } from '../fakes/call-log';
import { fakeHardware } from '../fakes/hardware';
import { createFakePigpio, pigpioLibraryAt, printMissingAddonBanner } from '../fakes/pigpio';

const PI4 = 'Raspberry Pi 4 Model B Rev 1.4';
const PI5 = 'Raspberry Pi 5 Model B Rev 1.0';

function gpioError(problem: GpioProblem, message: string | RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof GpioError, `expected a GpioError, got ${String(err)}`);
    assert.equal(err.problem, problem);
    if (typeof message === 'string') assert.equal(err.message, message);
    else assert.match(err.message, message);
    return true;
  };
}

describe('GPIO backend selection and pigpio loading', () => {
  let dir: string;
  let host: HostDeps & { modelPath: string; lockFile: string };

  /** The device tree writes the model NUL-terminated. */
  function board(model: string | undefined): void {
    if (model === undefined) fs.rmSync(host.modelPath, { force: true });
    else fs.writeFileSync(host.modelPath, `${model}\0`);
  }

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carbot-host-'));
    host = {
      modelPath: path.join(dir, 'model'),
      lockFile: path.join(dir, 'pigpio.pid'),
      getuid: () => 0,
      processAlive: () => false,
      processName: () => undefined,
      pigpioLibrary: pigpioLibraryAt(dir, true),
    };
  });
  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The choice without the board read and auto's reason (asserted on their own below). */
  const chosen = ({ backend, model, warning }: ReturnType<typeof selectBackend>) => ({ backend, model, ...(warning ? { warning } : {}) });

  describe('selectBackend', () => {
    it('auto off a Raspberry Pi is sim, with a warning saying why', () => {
      board(undefined);
      assert.deepEqual(chosen(selectBackend('auto', host)), {
        backend: 'sim',
        model: undefined,
        warning: `not a Raspberry Pi (${host.modelPath} is missing): using simulated motors; set gpio to "pigpio" or "kernel" to insist on real ones`,
      });
      board('Radxa ROCK 5B');
      assert.equal(
        selectBackend('auto', host).warning,
        'not a Raspberry Pi (the board is "Radxa ROCK 5B"): using simulated motors; set gpio to "pigpio" or "kernel" to insist on real ones',
      );
    });

    it('auto on a Raspberry Pi 4 is pigpio', () => {
      board(PI4);
      assert.deepEqual(chosen(selectBackend('auto', host)), { backend: 'pigpio', model: PI4 });
    });

    it('auto on a Pi 4 without the pigpio C library (trixie) is the kernel\'s PWM, and says why', () => {
      board(PI4);
      host.pigpioLibrary = pigpioLibraryAt(dir, false);
      host.getuid = () => 1000;
      const selection = selectBackend('auto', host);
      assert.equal(selection.backend, 'kernel');
      assert.equal(
        selection.reason,
        `gpio auto: kernel PWM rather than pigpio on this ${PI4}, as the pigpio C library (libpigpio.so) is not installed: ` +
          `not in ${host.pigpioLibrary.libraryDirs?.[0]} nor in the linker's cache; the PWM pins need their dtoverlay line in config.txt (docs/boards-kernel.md)`,
      );
    });

    it('auto on a Pi 4 whose pigpio addon was built empty (no pigpiod at npm ci) is the kernel\'s PWM too', () => {
      board(PI4);
      const without = pigpioLibraryAt(dir, false);
      host.pigpioLibrary = { ...pigpioLibraryAt(dir, true), addon: without.addon };
      const selection = selectBackend('auto', host);
      assert.equal(selection.backend, 'kernel');
      assert.match(selection.reason ?? '', /addon .*pigpio-empty\.node was built without the C library .*npm rebuild pigpio/);
    });

    it('auto on a Pi 4 with the C library says it picked pigpio and why', () => {
      board(PI4);
      assert.equal(selectBackend('auto', host).reason, `gpio auto: pigpio on this ${PI4}, whose pigpio C library is installed`);
    });

    it('sim is sim everywhere, without looking at pigpio', () => {
      board(PI5);
      host.getuid = () => 1000;
      assert.deepEqual(chosen(selectBackend('sim', host)), { backend: 'sim', model: PI5 });
    });

    it('pigpio off a Raspberry Pi is an error, not a fallback', () => {
      board(undefined);
      assert.throws(
        () => selectBackend('pigpio', host),
        gpioError(
          'not-a-pi',
          `gpio is "pigpio" but this is not a Raspberry Pi (${host.modelPath} is missing). Set gpio to "auto" or "sim" to run with simulated motors.`,
        ),
      );
    });

    for (const model of [PI5, 'Raspberry Pi 500 Rev 1.0', 'Raspberry Pi Compute Module 5 Rev 1.0']) {
      it(`auto on a ${model} is the kernel's PWM (pigpio cannot drive the RP1), without asking for root`, () => {
        board(model);
        host.getuid = () => 1000;
        assert.deepEqual(chosen(selectBackend('auto', host)), { backend: 'kernel', model });
      });

      it(`pigpio on a ${model} is refused with the reason and what to use instead`, () => {
        board(model);
        assert.throws(
          () => selectBackend('pigpio', host),
          gpioError(
            'pi5',
            `this is a ${model}: the pigpio C library does not support the Raspberry Pi 5 family ` +
              '(its GPIO sit on the RP1 chip; see github.com/joan2937/pigpio/issues/589). ' +
              'Set gpio to "kernel" (or "auto", which picks it on a Pi 5) to drive the motors through the kernel\'s PWM, ' +
              'or "sim" to run without them.',
          ),
        );
      });
    }

    it('auto on a Pi 4 whose header carries only plain pins (motors on a PCA9685) needs no pigpio and no root', () => {
      board(PI4);
      host.getuid = () => 1000;
      assert.deepEqual(chosen(selectBackend('auto', host, { pwm: false })), { backend: 'kernel', model: PI4 });
    });

    it('kernel is the kernel anywhere, even off a Pi (any Linux board with /sys/class/pwm)', () => {
      board('Radxa ROCK 5B');
      assert.deepEqual(chosen(selectBackend('kernel', host)), { backend: 'kernel', model: 'Radxa ROCK 5B' });
    });

    it('not root on a Pi: says pigpio needs root and how to get it', () => {
      board(PI4);
      host.getuid = () => 1000;
      assert.throws(
        () => selectBackend('auto', host),
        gpioError(
          'not-root',
          'pigpio needs root: it drives the pins through /dev/mem and DMA (carbot runs as uid 1000). ' +
            'Run carbot as root (the carbot-pigpio.service unit does; from a shell use sudo), ' +
            'set gpio to "kernel" to drive the pins through the kernel\'s PWM without root, or set gpio to "sim" to run without motors.',
        ),
      );
    });

    it('the pigpiod daemon holding the lock: names it and says how to stop it', () => {
      board(PI4);
      fs.writeFileSync(host.lockFile, '612\n');
      host.processAlive = (pid) => pid === 612;
      host.processName = (pid) => (pid === 612 ? 'pigpiod' : undefined);
      assert.throws(
        () => selectBackend('pigpio', host),
        gpioError(
          'pigpiod-running',
          `pigpiod (pid 612) holds pigpio's lock ${host.lockFile}; only one process can use pigpio at a time. ` +
            'Stop and disable the pigpio daemon: sudo systemctl disable --now pigpiod',
        ),
      );
    });

    it('a stale lock left by a dead process is no obstacle (pigpio removes it itself)', () => {
      board(PI4);
      fs.writeFileSync(host.lockFile, '612\n');
      assert.equal(selectBackend('auto', host).backend, 'pigpio');
    });
  });

  describe('loadPigpio', () => {
    it('turns off pigpio\'s network, pipe and alert sampling, sets the 5 µs clock, then initialises, and only then re-arms the signal listeners', () => {
      const hw = fakeHardware();
      const proc = new EventEmitter();
      const shutdown = sinon.spy();
      proc.on('SIGTERM', shutdown);
      proc.on('newListener', (event: string) => hw.calls.record(`process.on(${event})`));
      loadPigpio({ ...host, requireModule: hw.requireModule, signalTarget: proc });
      assert.deepEqual(hw.calls.take(), [
        'pigpio.configureInterfaces(DISABLE_FIFO_IF|DISABLE_SOCK_IF|DISABLE_ALERT)',
        'pigpio.configureClock(5,CLOCK_PCM)',
        'pigpio.initialize()',
        'process.on(SIGTERM)',
      ]);
      proc.emit('SIGTERM');
      sinon.assert.calledOnce(shutdown);
    });

    it('is loaded lazily: the motor modules are loaded, pigpio and onoff are not', () => {
      require('../../src/motors/bank');
      require('../../src/sensors/limits');
      require('../../src/motors');
      const loaded = Object.keys(require.cache).filter((f) => /[\\/]node_modules[\\/](pigpio|onoff)[\\/]/.test(f));
      assert.deepEqual(loaded, []);
    });

    it('the npm module missing: says to run npm install', () => {
      assert.throws(
        () => loadPigpio({ ...host, requireModule: fakeRequire({}), signalTarget: new EventEmitter() }),
        gpioError(
          'module-missing',
          `the pigpio npm module is not installed (Cannot find module 'pigpio'). Run "npm install" in carbot's directory.`,
        ),
      );
    });

    it('the native addon not built: gives its load error instead of pigpio\'s banner, and the fix', () => {
      const warn = sinon.stub(console, 'warn');
      try {
        const pigpio = createFakePigpio(new CallLog(), { withoutAddon: true });
        const requireModule = fakeRequire({
          pigpio: () => {
            printMissingAddonBanner("Error: Module did not self-register: '/opt/carbot/node_modules/pigpio/build/Release/pigpio.node'.");
            return pigpio;
          },
        });
        assert.throws(
          () => loadPigpio({ ...host, requireModule, signalTarget: new EventEmitter() }),
          gpioError(
            'addon-missing',
            "pigpio's native addon cannot be used (Error: Module did not self-register: " +
              "'/opt/carbot/node_modules/pigpio/build/Release/pigpio.node'.). " +
              'Install the pigpio C library with "sudo apt install pigpio", ' +
              'then rebuild the addon, which npm builds only when pigpiod is on the PATH at install time.',
          ),
        );
        sinon.assert.notCalled(warn);
      } finally {
        warn.restore();
      }
    });

    it('the C library gone after the build: the same advice, with the loader\'s message', () => {
      const requireModule = fakeRequire({
        pigpio: () => {
          throw new Error('libpigpio.so.1: cannot open shared object file: No such file or directory');
        },
      });
      assert.throws(
        () => loadPigpio({ ...host, requireModule, signalTarget: new EventEmitter() }),
        gpioError('addon-missing', /^pigpio's native addon cannot be used \(libpigpio\.so\.1: cannot open shared object file.*sudo apt install pigpio/),
      );
    });

    it('initialise failing: names the usual causes and points at pigpio\'s own message', () => {
      board(PI4);
      const hw = fakeHardware({ initError: new Error('pigpio error -1 in gpioInitialise') });
      assert.throws(
        () => loadPigpio({ ...host, requireModule: hw.requireModule, signalTarget: new EventEmitter() }),
        gpioError(
          'init-failed',
          'pigpio could not initialise (pigpio error -1 in gpioInitialise); the pigpio C library printed the reason on stderr just before. ' +
            `Usual causes: not running as root, the pigpiod daemon or another pigpio program running (see ${host.lockFile}), ` +
            'or a board pigpio does not support.',
        ),
      );
    });

    it('initialise failing because pigpiod took the lock meanwhile: says so', () => {
      board(PI4);
      const hw = fakeHardware({ initError: new Error('pigpio error -1 in gpioInitialise') });
      fs.writeFileSync(host.lockFile, '700\n');
      host.processAlive = () => true;
      host.processName = () => 'pigpiod';
      assert.throws(
        () => loadPigpio({ ...host, requireModule: hw.requireModule, signalTarget: new EventEmitter() }),
        gpioError('pigpiod-running', /^pigpiod \(pid 700\) holds pigpio's lock/),
      );
    });
  });

  describe('rearmSignalListeners', () => {
    it('re-adds every signal listener, once-listeners staying once', () => {
      const proc = new EventEmitter();
      const events: string[] = [];
      const onTerm = sinon.spy();
      const onInt = sinon.spy();
      proc.on('SIGTERM', onTerm);
      proc.once('SIGINT', onInt);
      proc.on('message', () => undefined);
      proc.on('removeListener', (e: string) => events.push(`-${e}`));
      proc.on('newListener', (e: string) => events.push(`+${e}`));
      assert.deepEqual(rearmSignalListeners(proc).sort(), ['SIGINT', 'SIGTERM']);
      assert.deepEqual(events.sort(), ['+SIGINT', '+SIGTERM', '-SIGINT', '-SIGTERM']);
      proc.emit('SIGINT');
      proc.emit('SIGINT');
      proc.emit('SIGTERM');
      sinon.assert.calledOnce(onInt);
      sinon.assert.calledOnce(onTerm);
    });
  });
});
