import assert from 'node:assert/strict';
import { loadConfig, type Config } from '../../src/config/config';
import { jog, JogRefused, type JogOptions } from '../../src/doctor/index';
import { fakeRequire } from '../fakes/call-log';
import { memoryLogger } from '../fakes/hardware';
import { FakeHost } from '../fakes/host';
import { busWithChips, createFakeI2cBus, MemoryStore } from '../fakes/i2c-bus';
import { FakeSysfs } from '../fakes/sysfs';
import { ServoKitModel } from '../support/servokit';

/**
 * `carbot jog <motor>` on the fakes: what reached the pins while the motor ran (forward at
 * 20 %) and after (stopped, released), and the refusals.
 */

const RP1 = '1f00098000.pwm';

describe('carbot jog', () => {
  let sysfs: FakeSysfs | undefined;
  let host: FakeHost | undefined;
  afterEach(() => {
    sysfs?.close();
    host?.close();
    sysfs = undefined;
    host = undefined;
  });

  function pi5(): { s: FakeSysfs; h: FakeHost } {
    sysfs = new FakeSysfs('pi5');
    host = new FakeHost(sysfs).osRelease('trixie');
    return { s: sysfs, h: host };
  }

  function config(...argv: string[]): Config {
    return loadConfig({ argv: ['--no-config', ...argv], env: {} });
  }

  async function run(cfg: Config, motor: string | undefined, options: Partial<JogOptions> = {}) {
    const printed: string[] = [];
    const { log } = memoryLogger();
    const s = sysfs;
    await jog(cfg, motor, log, {
      roots: (host as FakeHost).roots,
      ownPid: 1,
      durationMs: 50,
      deps: s ? { files: s.files, requireModule: s.requireModule, userName: 'carbot' } : undefined,
      print: (line) => printed.push(line),
      ...options,
    });
    return printed;
  }

  it('drives one H-bridge motor forward at 20 % on the kernel board, then stops and releases it; the other motor is left alone', async () => {
    const { s } = pi5();
    let during: unknown;
    const printed = await run(config(), 'left', {
      whileRunning: () => {
        during = { pwm: s.channel(RP1, 0).output, in1: s.pin(5)?.level, in2: s.pin(6)?.level };
      },
    });
    assert.deepEqual(during, { pwm: { periodNs: 1_000_000, dutyNs: 200_000 }, in1: 1, in2: 0 });
    assert.deepEqual(printed, [
      'jog: left forward at 20 % for 0.05 s: PWM 20 % on GPIO 12, in1 GPIO 5 high, in2 GPIO 6 low (kernel)',
      'jog: left stopped',
      'If the car moved backward, set "invert": true on motor "left" (or swap its two motor wires), then run carbot jog left again.',
    ]);
    const after = s.channel(RP1, 0);
    assert.equal(after.output, 'low');
    assert.equal(after.exported, false);
    assert.equal(s.pin(5)?.level, 0);
    assert.equal(s.pin(6)?.level, 0);
    // The right motor (GPIO 13 = channel 1, IN3/IN4 on 20/21) was never touched.
    assert.equal(s.channel(RP1, 1).exported, false);
    assert.ok(!s.writes().some((w) => /pwm1\//.test(w)), s.writes().join('\n'));
    assert.equal(s.pin(20), undefined);
    // Forward, then duty 0, then given back.
    const duties = s.writes().filter((w) => /pwm0\/duty_cycle/.test(w)).map((w) => w.split(' ')[1]);
    assert.deepEqual(duties.filter((d) => d !== '0'), ['200000']);
    const afterForward = duties.slice(duties.indexOf('200000') + 1);
    assert.ok(afterForward.length > 0 && afterForward.every((d) => d === '0'), duties.join(' '));
  });

  it('an inverted motor: forward is in2 high, and the hint says to set invert back', async () => {
    const { s } = pi5();
    const motors = JSON.stringify([{ name: 'left', driver: 'hbridge', pwm: 12, in1: 5, in2: 6, invert: true }]);
    let during: unknown;
    const printed = await run(config('--motors', motors), 'left', { whileRunning: () => void (during = [s.pin(5)?.level, s.pin(6)?.level]) });
    assert.deepEqual(during, [0, 1]);
    assert.equal(printed[0], 'jog: left forward at 20 % for 0.05 s: PWM 20 % on GPIO 12, in2 GPIO 6 high, in1 GPIO 5 low (inverted) (kernel)');
    assert.match(printed[2], /set "invert": false on motor "left"/);
  });

  it("a servo on a PCA9685 HAT: 20 % forward's pulse, then the pulses off", async () => {
    host = new FakeHost().osRelease('trixie');
    const i2c = createFakeI2cBus(new MemoryStore({ buses: { '1': busWithChips(0x40) } }));
    let pulse: number | undefined;
    const printed = await run(config('--motors', 'adafruit-servo-hat'), 'right', {
      deps: { requireModule: fakeRequire({ 'i2c-bus': () => i2c }) },
      whileRunning: () => void (pulse = i2c.chip(1, 0x40).channels[1].off),
    });
    // The original car's HAT: ServoKit's counts for throttle 0.2 (test/support/servokit.ts).
    const servoKit = new ServoKitModel();
    servoKit.throttle(1, 0.2);
    assert.equal(pulse, servoKit.channels.get(1)?.off);
    assert.equal(printed[0], 'jog: right forward at 20 % for 0.05 s: ServoKit throttle 0.20 on PCA9685 channel 1 (pca9685)');
    assert.deepEqual(i2c.chip(1, 0x40).channels.map((c) => c.output), Array(16).fill('low'));
  });

  it('Ctrl-C stops the motor at once', async () => {
    const { s } = pi5();
    const printed = await run(config(), 'left', { durationMs: 600_000, interrupted: Promise.resolve() });
    assert.deepEqual(printed.slice(1, 2), ['jog: left stopped']);
    assert.deepEqual([s.channel(RP1, 0).output, s.pin(5)?.level], ['low', 0]);
  });

  it('refuses while carbot runs on this machine, touching no pin', async () => {
    const { s, h } = pi5();
    h.process(977, 'node', ['/usr/bin/node', '--enable-source-maps', '/opt/carbot/dist/cli.js']);
    await assert.rejects(run(config(), 'left'), (err: unknown) => {
      assert.ok(err instanceof JogRefused);
      assert.equal(err.exitCode, 75);
      assert.equal(
        err.message,
        'carbot is running (pid 977: /usr/bin/node --enable-source-maps /opt/carbot/dist/cli.js) and holds the motors\' outputs; ' +
          'stop it first (sudo systemctl stop carbot), jog, then start it again (sudo systemctl start carbot)',
      );
      return true;
    });
    assert.deepEqual(s.writes(), []);
    assert.equal(s.pin(5), undefined);
  });

  it('an unknown motor, or none: the motors there are, exit 64', async () => {
    const { s } = pi5();
    for (const [name, message] of [
      ['front', 'no motor named "front"; the motors are: left, right (e.g. carbot jog left)'],
      [undefined, 'jog needs a motor name; the motors are: left, right (e.g. carbot jog left)'],
    ] as const) {
      await assert.rejects(run(config(), name), (err: unknown) => err instanceof JogRefused && err.exitCode === 64 && err.message === message);
    }
    assert.deepEqual(s.writes(), []);
  });
});
