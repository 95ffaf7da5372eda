import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import sinon from 'sinon';
import { openMotorBank, MotorFaultError, type BoardMotorBank } from '../../src/motors/bank';
import { DEFAULT_MOTORS } from '../../src/config/motor-config';
import { findGpioBase } from '../../src/boards/onoff';
import { GpioError, PigpioBoard, type PigpioBoardDeps } from '../../src/boards/pigpio';
import type { HBridgeMotorConfig, MotorConfig, ServoMotorConfig } from '../../src/motors/types';
import { fakeHardware, logged, memoryLogger } from '../fakes/hardware';

const L298N: MotorConfig[] = DEFAULT_MOTORS.map((m) => ({ ...m }));

/** The motors on pigpio, as openHardware opens them on a Pi 4. */
async function openOnPigpio(motors: readonly MotorConfig[], log: ReturnType<typeof memoryLogger>['log'], deps: PigpioBoardDeps) {
  const board = new PigpioBoard('Raspberry Pi 4 Model B Rev 1.4', deps);
  return openMotorBank(motors, { gpio: board }, log, { backend: 'pigpio' });
}

async function open(motors: readonly MotorConfig[], hw = fakeHardware()) {
  const { log, lines } = memoryLogger();
  const bank = await openOnPigpio(motors, log, {
    requireModule: hw.requireModule,
    gpioBase: 0,
    signalTarget: new EventEmitter(),
  });
  return { ...hw, bank, lines };
}

describe('pigpio motor bank', () => {
  let bank: BoardMotorBank | undefined;
  afterEach(async () => {
    await bank?.close();
    bank = undefined;
  });

  describe('H-bridge (L298N defaults)', () => {
    it('drives every output to stop as it opens, before anything else can write', async () => {
      const hw = await open(L298N);
      bank = hw.bank;
      assert.deepEqual(hw.calls.take(), [
        'pigpio.configureInterfaces(DISABLE_FIFO_IF|DISABLE_SOCK_IF|DISABLE_ALERT)',
        'pigpio.configureClock(5,CLOCK_PCM)',
        'pigpio.initialize()',
        'onoff.Gpio(5,low)',
        'onoff.Gpio(6,low)',
        'pigpio.Gpio(12,{mode:OUTPUT})',
        'pigpio.pwmWrite(12,0)',
        'pigpio.pwmFrequency(12,1000)',
        'pigpio.pwmRange(12,1000)',
        'onoff.Gpio(20,low)',
        'onoff.Gpio(21,low)',
        'pigpio.Gpio(13,{mode:OUTPUT})',
        'pigpio.pwmWrite(13,0)',
        'pigpio.pwmFrequency(13,1000)',
        'pigpio.pwmRange(13,1000)',
      ]);
      assert.equal(hw.bank.backend, 'pigpio');
      assert.deepEqual(hw.bank.names, ['left', 'right']);
    });

    it('logs each motor it opened', async () => {
      const hw = await open(L298N);
      bank = hw.bank;
      await logged();
      assert.deepEqual(hw.lines, [
        'debug: motor left: hbridge pwm 12 in1 5 in2 6, 1000 Hz, coast, stopped',
        'debug: motor right: hbridge pwm 13 in1 20 in2 21, 1000 Hz, coast, stopped',
      ]);
    });

    it('forward: IN1 high, then the duty', async () => {
      const hw = await open(L298N);
      bank = hw.bank;
      hw.calls.take();
      hw.bank.write({ left: 0.6, right: 0.6 });
      assert.deepEqual(hw.calls.take(), [
        'onoff.writeSync(5,1)',
        'pigpio.pwmWrite(12,600)',
        'onoff.writeSync(20,1)',
        'pigpio.pwmWrite(13,600)',
      ]);
    });

    it('backward: IN2 high, then the duty', async () => {
      const hw = await open(L298N);
      bank = hw.bank;
      hw.calls.take();
      hw.bank.write({ left: -0.4, right: -0.4 });
      assert.deepEqual(hw.calls.take(), [
        'onoff.writeSync(6,1)',
        'pigpio.pwmWrite(12,400)',
        'onoff.writeSync(21,1)',
        'pigpio.pwmWrite(13,400)',
      ]);
    });

    it('faster and slower while moving change only the duty', async () => {
      const hw = await open(L298N);
      bank = hw.bank;
      hw.bank.write({ left: 0.6, right: 0.6 });
      hw.calls.take();
      hw.bank.write({ left: 0.7, right: 0.7 });
      hw.bank.write({ left: 0.5, right: 0.5 });
      assert.deepEqual(hw.calls.take(), [
        'pigpio.pwmWrite(12,700)',
        'pigpio.pwmWrite(13,700)',
        'pigpio.pwmWrite(12,500)',
        'pigpio.pwmWrite(13,500)',
      ]);
    });

    it('a reversal (stop, then backward) flips the direction pins only at duty 0', async () => {
      const hw = await open(L298N);
      bank = hw.bank;
      hw.bank.write({ left: 0.6, right: 0.6 });
      hw.calls.take();
      hw.bank.write({ left: 0, right: 0 });
      hw.bank.write({ left: -0.6, right: -0.6 });
      assert.deepEqual(hw.calls.take(), [
        'pigpio.pwmWrite(12,0)',
        'onoff.writeSync(5,0)',
        'pigpio.pwmWrite(13,0)',
        'onoff.writeSync(20,0)',
        'onoff.writeSync(6,1)',
        'pigpio.pwmWrite(12,600)',
        'onoff.writeSync(21,1)',
        'pigpio.pwmWrite(13,600)',
      ]);
    });

    it('a direct forward-to-backward write still zeroes the duty first and lowers before it raises', async () => {
      const hw = await open(L298N);
      bank = hw.bank;
      hw.bank.write({ left: 0.6, right: 0.6 });
      hw.calls.take();
      hw.bank.write({ left: -0.6, right: -0.6 });
      assert.deepEqual(hw.calls.take(), [
        'pigpio.pwmWrite(12,0)',
        'onoff.writeSync(5,0)',
        'onoff.writeSync(6,1)',
        'pigpio.pwmWrite(12,600)',
        'pigpio.pwmWrite(13,0)',
        'onoff.writeSync(20,0)',
        'onoff.writeSync(21,1)',
        'pigpio.pwmWrite(13,600)',
      ]);
    });

    it('stop with coast: duty 0, both inputs low', async () => {
      const hw = await open(L298N);
      bank = hw.bank;
      hw.bank.write({ left: 0.6, right: -0.6 });
      hw.calls.take();
      hw.bank.write({ left: 0, right: 0 });
      assert.deepEqual(hw.calls.take(), [
        'pigpio.pwmWrite(12,0)',
        'onoff.writeSync(5,0)',
        'pigpio.pwmWrite(13,0)',
        'onoff.writeSync(21,0)',
      ]);
    });

    it('stopAll writes every pin of the stop, whatever the motors were doing', async () => {
      const hw = await open(L298N);
      bank = hw.bank;
      hw.calls.take();
      assert.deepEqual(hw.bank.stopAll(), []);
      assert.deepEqual(hw.calls.take(), [
        'pigpio.pwmWrite(12,0)',
        'onoff.writeSync(5,0)',
        'onoff.writeSync(6,0)',
        'pigpio.pwmWrite(13,0)',
        'onoff.writeSync(20,0)',
        'onoff.writeSync(21,0)',
      ]);
    });

    it('a motor missing from a write is stopped', async () => {
      const hw = await open(L298N);
      bank = hw.bank;
      hw.bank.write({ left: 0.5, right: 0.5 });
      hw.calls.take();
      hw.bank.write({ left: 0.5 });
      assert.deepEqual(hw.calls.take(), ['pigpio.pwmWrite(13,0)', 'onoff.writeSync(20,0)']);
    });

    it('an inverted motor turns the other way for the same output', async () => {
      const hw = await open([L298N[0], { ...L298N[1], invert: true }]);
      bank = hw.bank;
      hw.calls.take();
      hw.bank.write({ left: 0.6, right: 0.6 });
      assert.deepEqual(hw.calls.take(), [
        'onoff.writeSync(5,1)',
        'pigpio.pwmWrite(12,600)',
        'onoff.writeSync(21,1)',
        'pigpio.pwmWrite(13,600)',
      ]);
    });

    it('shutdown coasts every motor, gives the pins back, then terminates pigpio; twice is once', async () => {
      const hw = await open(L298N);
      hw.bank.write({ left: 0.6, right: 0.6 });
      hw.calls.take();
      await hw.bank.close();
      await hw.bank.close();
      assert.deepEqual(hw.calls.take(), [
        'pigpio.pwmWrite(12,0)',
        'onoff.writeSync(5,0)',
        'onoff.writeSync(6,0)',
        'onoff.unexport(5)',
        'onoff.unexport(6)',
        'pigpio.pwmWrite(13,0)',
        'onoff.writeSync(20,0)',
        'onoff.writeSync(21,0)',
        'onoff.unexport(20)',
        'onoff.unexport(21)',
        'pigpio.terminate()',
      ]);
      assert.throws(() => hw.bank.write({ left: 0.5 }), /write after close/);
      assert.deepEqual(hw.bank.stopAll(), []);
      assert.deepEqual(hw.calls.take(), []);
    });

    it('property: direction pins only change at duty 0, and the pins always match the output', async () => {
      const config: HBridgeMotorConfig = { ...(L298N[0] as HBridgeMotorConfig) };
      await fc.assert(
        fc.asyncProperty(
          fc.boolean(),
          fc.boolean(),
          fc.array(fc.oneof(fc.constant(0), fc.double({ min: -1, max: 1, noNaN: true })), { maxLength: 30 }),
          async (brake, invert, outputs) => {
            const hw = await open([{ ...config, brake, invert }]);
            const level = { 5: 0, 6: 0 } as Record<number, number>;
            let duty = 0;
            const replay = (calls: string[]) => {
              for (const call of calls) {
                const pwm = /^pigpio\.pwmWrite\(12,(\d+)\)$/.exec(call);
                const pin = /^onoff\.writeSync\((5|6),(0|1)\)$/.exec(call);
                if (pwm) duty = Number(pwm[1]);
                if (pin) {
                  assert.equal(duty, 0, `${call} while the duty is ${duty}`);
                  level[Number(pin[1])] = Number(pin[2]);
                }
              }
            };
            replay(hw.calls.take());
            for (const output of outputs) {
              hw.bank.write({ left: output });
              replay(hw.calls.take());
              const v = invert ? -output : output;
              if (v === 0) {
                assert.deepEqual([level[5], level[6], duty], brake ? [1, 1, 1000] : [0, 0, 0]);
              } else {
                assert.deepEqual([level[5], level[6]], v > 0 ? [1, 0] : [0, 1]);
                assert.equal(duty, Math.round(Math.abs(v) * 1000));
              }
            }
            await hw.bank.close();
          },
        ),
      );
    });
  });

  describe('H-bridge with brake', () => {
    const braked: MotorConfig[] = [{ ...(L298N[0] as HBridgeMotorConfig), brake: true }];

    it('opens braked: inputs high with the enable pin fully on, which is how an L298N brakes', async () => {
      const hw = await open(braked);
      bank = hw.bank;
      assert.deepEqual(hw.calls.take().slice(3), [
        'onoff.Gpio(5,low)',
        'onoff.Gpio(6,low)',
        'pigpio.Gpio(12,{mode:OUTPUT})',
        'pigpio.pwmWrite(12,0)',
        'pigpio.pwmFrequency(12,1000)',
        'pigpio.pwmRange(12,1000)',
        'onoff.writeSync(5,1)',
        'onoff.writeSync(6,1)',
        'pigpio.pwmWrite(12,1000)',
      ]);
    });

    it('leaves the brake at duty 0 to drive, and brakes again on stop', async () => {
      const hw = await open(braked);
      bank = hw.bank;
      hw.calls.take();
      hw.bank.write({ left: 0.6 });
      hw.bank.write({ left: 0 });
      assert.deepEqual(hw.calls.take(), [
        'pigpio.pwmWrite(12,0)',
        'onoff.writeSync(6,0)',
        'pigpio.pwmWrite(12,600)',
        'pigpio.pwmWrite(12,0)',
        'onoff.writeSync(6,1)',
        'pigpio.pwmWrite(12,1000)',
      ]);
    });

    it('coasts at shutdown, so no pin is left high once the pins are released', async () => {
      const hw = await open(braked);
      hw.calls.take();
      await hw.bank.close();
      assert.deepEqual(hw.calls.take(), [
        'pigpio.pwmWrite(12,0)',
        'onoff.writeSync(5,0)',
        'onoff.writeSync(6,0)',
        'onoff.unexport(5)',
        'onoff.unexport(6)',
        'pigpio.terminate()',
      ]);
    });
  });

  describe('TB6612 with standby', () => {
    const tb6612: MotorConfig[] = [
      { name: 'left', driver: 'hbridge', board: 'gpio', pwm: 12, in1: 5, in2: 6, standby: 25, brake: false, pwmFrequency: 1000, invert: false },
      { name: 'right', driver: 'hbridge', board: 'gpio', pwm: 13, in1: 20, in2: 21, standby: 25, brake: false, pwmFrequency: 1000, invert: false },
    ];

    it('holds the shared standby pin low until both motors are stopped, then raises it', async () => {
      const hw = await open(tb6612);
      bank = hw.bank;
      assert.deepEqual(hw.calls.take().slice(3), [
        'onoff.Gpio(25,low)',
        'onoff.Gpio(5,low)',
        'onoff.Gpio(6,low)',
        'pigpio.Gpio(12,{mode:OUTPUT})',
        'pigpio.pwmWrite(12,0)',
        'pigpio.pwmFrequency(12,1000)',
        'pigpio.pwmRange(12,1000)',
        'onoff.Gpio(20,low)',
        'onoff.Gpio(21,low)',
        'pigpio.Gpio(13,{mode:OUTPUT})',
        'pigpio.pwmWrite(13,0)',
        'pigpio.pwmFrequency(13,1000)',
        'pigpio.pwmRange(13,1000)',
        'onoff.writeSync(25,1)',
      ]);
    });

    it('drops standby at shutdown, after both motors coast', async () => {
      const hw = await open(tb6612);
      hw.calls.take();
      await hw.bank.close();
      assert.deepEqual(hw.calls.take(), [
        'pigpio.pwmWrite(12,0)',
        'onoff.writeSync(5,0)',
        'onoff.writeSync(6,0)',
        'onoff.unexport(5)',
        'onoff.unexport(6)',
        'pigpio.pwmWrite(13,0)',
        'onoff.writeSync(20,0)',
        'onoff.writeSync(21,0)',
        'onoff.unexport(20)',
        'onoff.unexport(21)',
        'onoff.writeSync(25,0)',
        'onoff.unexport(25)',
        'pigpio.terminate()',
      ]);
    });
  });

  describe('continuous-rotation servos', () => {
    const servos: ServoMotorConfig[] = [
      { name: 'left', driver: 'servo', board: 'gpio', pin: 18, neutralUs: 1500, spanUs: 500, trimUs: 0, invert: false, idleOffS: 0 },
      { name: 'right', driver: 'servo', board: 'gpio', pin: 19, neutralUs: 1500, spanUs: 400, trimUs: -20, invert: true, idleOffS: 0 },
    ];

    it('open with the pulses off', async () => {
      const hw = await open(servos);
      bank = hw.bank;
      assert.deepEqual(hw.calls.take().slice(3), [
        'pigpio.Gpio(18,{mode:OUTPUT})',
        'pigpio.servoWrite(18,0)',
        'pigpio.Gpio(19,{mode:OUTPUT})',
        'pigpio.servoWrite(19,0)',
      ]);
    });

    it('pulse = neutral + trim ± span × output; the mirrored one goes the other way; stop turns the pulses off', async () => {
      const hw = await open(servos);
      bank = hw.bank;
      hw.calls.take();
      hw.bank.write({ left: 0.5, right: 0.5 });
      hw.bank.write({ left: 1, right: 1 });
      hw.bank.write({ left: -1, right: -1 });
      hw.bank.write({ left: 0, right: 0 });
      assert.deepEqual(hw.calls.take(), [
        'pigpio.servoWrite(18,1750)',
        'pigpio.servoWrite(19,1280)',
        'pigpio.servoWrite(18,2000)',
        'pigpio.servoWrite(19,1080)',
        'pigpio.servoWrite(18,1000)',
        'pigpio.servoWrite(19,1880)',
        'pigpio.servoWrite(18,0)',
        'pigpio.servoWrite(19,0)',
      ]);
    });

    it('shutdown turns the pulses off and terminates pigpio', async () => {
      const hw = await open(servos);
      hw.bank.write({ left: 0.5, right: 0.5 });
      hw.calls.take();
      await hw.bank.close();
      assert.deepEqual(hw.calls.take(), ['pigpio.servoWrite(18,0)', 'pigpio.servoWrite(19,0)', 'pigpio.terminate()']);
    });
  });

  describe('servos stopping with a neutral pulse (the default)', () => {
    const servo: ServoMotorConfig = { name: 'left', driver: 'servo', board: 'gpio', pin: 18, neutralUs: 1500, spanUs: 750, trimUs: 10, invert: false };

    it('open and stop on neutral + trim, since many continuous servos keep turning when pulses just stop', async () => {
      const hw = await open([servo]);
      bank = hw.bank;
      hw.bank.write({ left: 0.5 });
      hw.bank.write({ left: 0 });
      hw.bank.write({ left: 0 });
      assert.deepEqual(hw.calls.take().slice(3), [
        'pigpio.Gpio(18,{mode:OUTPUT})',
        'pigpio.servoWrite(18,1510)',
        'pigpio.servoWrite(18,1885)',
        'pigpio.servoWrite(18,1510)',
      ]);
    });

    it('with idleOffS the pulses go off after that long stopped, and the next move brings them back', async () => {
      const clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
      try {
        const hw = await open([{ ...servo, idleOffS: 2 }]);
        bank = hw.bank;
        hw.calls.take();
        clock.tick(1999);
        assert.deepEqual(hw.calls.take(), []);
        clock.tick(1);
        assert.deepEqual(hw.calls.take(), ['pigpio.servoWrite(18,0)']);
        hw.bank.write({ left: 0 });
        assert.deepEqual(hw.calls.take(), [], 'a stop while idled off writes nothing');
        hw.bank.write({ left: -1 });
        hw.bank.write({ left: 0 });
        clock.tick(1000);
        hw.bank.write({ left: 1 });
        clock.tick(5000);
        assert.deepEqual(hw.calls.take(), ['pigpio.servoWrite(18,760)', 'pigpio.servoWrite(18,1510)', 'pigpio.servoWrite(18,2260)']);
        await hw.bank.close();
        clock.tick(5000);
        assert.deepEqual(hw.calls.take(), ['pigpio.servoWrite(18,0)', 'pigpio.terminate()']);
      } finally {
        clock.restore();
      }
    });
  });

  describe('faults', () => {
    it('a write that throws stops the other motors and the error names the motor', async () => {
      const hw = await open(L298N);
      bank = hw.bank;
      hw.calls.failOn('pigpio.pwmWrite(13,600)', new Error('pigpio error -1 in gpioPWM'), 1);
      hw.calls.take();
      assert.throws(
        () => hw.bank.write({ left: 0.6, right: 0.6 }),
        (err: unknown) => {
          assert.ok(err instanceof MotorFaultError);
          assert.equal(err.motor, 'right');
          assert.equal(err.message, 'motor "right": pigpio error -1 in gpioPWM');
          assert.deepEqual(err.stopErrors, []);
          return true;
        },
      );
      assert.deepEqual(hw.calls.take(), [
        'onoff.writeSync(5,1)',
        'pigpio.pwmWrite(12,600)',
        'onoff.writeSync(20,1)',
        'pigpio.pwmWrite(13,600)',
        'pigpio.pwmWrite(12,0)',
        'onoff.writeSync(5,0)',
        'onoff.writeSync(6,0)',
        'pigpio.pwmWrite(13,0)',
        'onoff.writeSync(20,0)',
        'onoff.writeSync(21,0)',
      ]);
    });

    it('reports the stops that failed too, after trying every motor', async () => {
      const hw = await open(L298N);
      bank = hw.bank;
      hw.calls.failOn('onoff.writeSync(5,1)', new Error('EIO: i/o error, write'));
      hw.calls.failOn('onoff.writeSync(5,0)', new Error('EIO: i/o error, write'));
      hw.calls.take();
      assert.throws(
        () => hw.bank.write({ left: 0.6, right: 0.6 }),
        (err: unknown) => {
          assert.ok(err instanceof MotorFaultError);
          assert.equal(err.message, 'motor "left": EIO: i/o error, write');
          assert.deepEqual(
            err.stopErrors.map((e) => e.message),
            ['motor "left": EIO: i/o error, write'],
          );
          return true;
        },
      );
      assert.deepEqual(hw.calls.take(), [
        'onoff.writeSync(5,1)',
        'pigpio.pwmWrite(12,0)',
        'onoff.writeSync(5,0)',
        'pigpio.pwmWrite(13,0)',
        'onoff.writeSync(20,0)',
        'onoff.writeSync(21,0)',
      ]);
    });

    it('after a failed write the next one rewrites every pin of that motor', async () => {
      const hw = await open(L298N);
      bank = hw.bank;
      hw.calls.failOn('onoff.writeSync(20,1)', new Error('EIO: i/o error, write'), 1);
      assert.throws(() => hw.bank.write({ left: 0.6, right: 0.6 }), MotorFaultError);
      hw.calls.take();
      hw.bank.write({ left: 0, right: 0.6 });
      assert.deepEqual(hw.calls.take(), ['onoff.writeSync(20,1)', 'pigpio.pwmWrite(13,600)']);
    });

    it('an output that is not a number is a fault of that motor, not a pin write', async () => {
      const hw = await open(L298N);
      bank = hw.bank;
      hw.calls.take();
      assert.throws(() => hw.bank.write({ left: Number.NaN }), /^MotorFaultError: motor "left": output must be a number from -1 to 1, got NaN$/);
      assert.deepEqual(hw.calls.take(), [
        'pigpio.pwmWrite(12,0)',
        'onoff.writeSync(5,0)',
        'onoff.writeSync(6,0)',
        'pigpio.pwmWrite(13,0)',
        'onoff.writeSync(20,0)',
        'onoff.writeSync(21,0)',
      ]);
    });

    it('a write naming an unknown motor is refused before any pin moves', async () => {
      const hw = await open(L298N);
      bank = hw.bank;
      hw.calls.take();
      assert.throws(() => hw.bank.write({ middle: 1 }), /no motor named "middle" \(have left, right\)/);
      assert.deepEqual(hw.calls.take(), []);
    });

    it('a pin that cannot be opened: the motors already open are released, pigpio terminated, the error names the motor', async () => {
      const hw = fakeHardware();
      const busy = Object.assign(new Error('EBUSY: resource busy or locked, write'), { code: 'EBUSY' });
      hw.calls.failOn('onoff.Gpio(20,low)', busy);
      await assert.rejects(
        open(L298N, hw),
        (err: unknown) => {
          assert.ok(err instanceof GpioError);
          assert.equal(err.problem, 'pin-unavailable');
          assert.equal(
            err.message,
            'motors[1] "right": cannot open GPIO 20: EBUSY: resource busy or locked, write; ' +
              'another driver or program holds it (a dtoverlay in config.txt, or a second carbot)',
          );
          return true;
        },
      );
      assert.deepEqual(hw.calls.take().slice(-7), [
        'onoff.Gpio(20,low)',
        'pigpio.pwmWrite(12,0)',
        'onoff.writeSync(5,0)',
        'onoff.writeSync(6,0)',
        'onoff.unexport(5)',
        'onoff.unexport(6)',
        'pigpio.terminate()',
      ]);
    });
  });

  describe('mixed and renumbered', () => {
    it('a sim motor among real ones only remembers its output', async () => {
      const hw = await open([L298N[0], { name: 'spare', driver: 'sim', invert: false }]);
      bank = hw.bank;
      hw.calls.take();
      hw.bank.write({ left: 0.3, spare: 0.3 });
      assert.deepEqual(hw.calls.take(), ['onoff.writeSync(5,1)', 'pigpio.pwmWrite(12,300)']);
    });

    it('uses the sysfs numbers of the header chip on kernels that no longer start them at 0', async () => {
      const sysfs = fs.mkdtempSync(path.join(os.tmpdir(), 'carbot-sysfs-'));
      try {
        for (const [chip, label] of [['gpiochip504', 'raspberrypi-exp-gpio'], ['gpiochip512', 'pinctrl-bcm2711']]) {
          fs.mkdirSync(path.join(sysfs, chip));
          fs.writeFileSync(path.join(sysfs, chip, 'label'), `${label}\n`);
          fs.writeFileSync(path.join(sysfs, chip, 'base'), `${chip.slice(8)}\n`);
        }
        assert.equal(findGpioBase(sysfs), 512);
        const hw = fakeHardware();
        const { log } = memoryLogger();
        bank = await openOnPigpio([L298N[0]], log, {
          requireModule: hw.requireModule,
          sysfsGpioDir: sysfs,
          signalTarget: new EventEmitter(),
        });
        assert.deepEqual(hw.calls.take().slice(3, 6), ['onoff.Gpio(517,low)', 'onoff.Gpio(518,low)', 'pigpio.Gpio(12,{mode:OUTPUT})']);
      } finally {
        fs.rmSync(sysfs, { recursive: true, force: true });
      }
      assert.equal(findGpioBase(path.join(sysfs, 'gone')), 0);
    });
  });
});
