import { strict as assert } from 'node:assert';
import path from 'node:path';
import { loadConfig } from '../../src/config/config';
import { openHardware, type HardwareDeps } from '../../src/motors';
import { safeState } from '../../src/process/safe-state';
import { CarService } from '../../src/service';
import { logged, memoryLogger } from '../fakes/hardware';
import { pigpioLibraryAt } from '../fakes/pigpio';
import { FakeSysfs, type FakePi, type FakeSysfsOptions } from '../fakes/sysfs';
import { waitUntil } from '../support/wait';

const RP1 = '1f00098000.pwm';
const BCM2711 = 'fe20c000.pwm';

/**
 * The whole car on `gpio: "kernel"` above the sysfs boundary: config -> openHardware (on a fake
 * Pi 5 or Pi 4 tree) -> service -> drivers -> kernel board -> the fake kernel. What reaches the
 * PWM attribute files and the pins, per command, at start-up and at shutdown, is asserted.
 */
describe('carbot on the kernel board (fake sysfs)', () => {
  let sysfs: FakeSysfs | undefined;
  let service: CarService | undefined;
  afterEach(async () => {
    await service?.shutdown('test over');
    service = undefined;
    sysfs?.close();
    sysfs = undefined;
  });

  function tree(pi: FakePi, options?: FakeSysfsOptions): FakeSysfs {
    sysfs = new FakeSysfs(pi, options);
    return sysfs;
  }

  /** The board runs as nobody in the gpio group on the fake tree; the model comes from the tree's device tree. */
  function deps(s: FakeSysfs): HardwareDeps {
    return {
      sysfsRoot: s.root,
      modelPath: path.join(s.root, 'firmware', 'devicetree', 'base', 'model'),
      requireModule: s.requireModule,
      files: s.files,
    };
  }

  async function boot(s: FakeSysfs, argv: string[], extra: HardwareDeps = {}) {
    const config = loadConfig({
      argv: ['--gpio', 'kernel', '--mqtt-url', 'mqtt://127.0.0.1:1', '--tele-period', '0', '--reverse-delay-ms', '50', ...argv],
      env: {},
      exists: () => false,
    });
    const { log, lines } = memoryLogger();
    const hardware = await openHardware(config, log, { deps: { ...deps(s), ...extra } });
    service = new CarService({ config, log, motors: hardware.motors, limits: hardware.limits });
    // Not started: no broker here; commands take the path the remote page's do.
    return { service, lines, config };
  }

  /** The PWM writes since the last call, as "pwm0/duty_cycle 500000" (chip prefix and "ok" dropped). */
  const writes = (s: FakeSysfs, chip: string) =>
    s.takeWrites().map((w) => w.replace(`class/pwm/${chip}/`, '').replace(/ ok$/, ''));
  const levels = (s: FakeSysfs, pins: number[]) => pins.map((p) => s.pin(p)?.level);
  /** A motor released at shutdown: its stop (duty 0; pulses off for a servo), then its channel closed: duty 0, disabled, unexported. */
  const released = (c: number) => [`pwm${c}/duty_cycle 0`, `pwm${c}/duty_cycle 0`, `pwm${c}/enable 0`, `unexport ${c}`];

  it('an L298N car on a Pi 5: ENA/ENB on RP1 PWM0 channels 0 and 1 at 1 kHz, IN1–IN4 through onoff; per command, at start and at shutdown', async () => {
    const s = tree('pi5');
    const car = await boot(s, []);
    // Start-up: exported, 1 ms period, enabled at duty 0; direction pins low (coast).
    assert.deepEqual(writes(s, 'pwmchip2'), ['export 0', 'pwm0/period 1000000', 'pwm0/enable 1', 'export 1', 'pwm1/period 1000000', 'pwm1/enable 1']);
    assert.deepEqual(s.channel(RP1, 0).output, { periodNs: 1_000_000, dutyNs: 0 });
    assert.deepEqual(s.channel(RP1, 1).output, { periodNs: 1_000_000, dutyNs: 0 });
    assert.deepEqual(levels(s, [5, 6, 20, 21]), [0, 0, 0, 0]);
    await logged();
    assert.ok(car.lines.some((l) => /^info: boards: gpio: kernel sysfs under .* on Raspberry Pi 5 Model B Rev 1\.0 .*all outputs stopped$/.test(l)), car.lines.join('\n'));

    car.service.command('forward', 'test');
    assert.deepEqual(writes(s, 'pwmchip2'), ['pwm0/duty_cycle 500000', 'pwm1/duty_cycle 500000']);
    assert.deepEqual(levels(s, [5, 6, 20, 21]), [1, 0, 1, 0]);

    car.service.command('faster', 'test');
    assert.deepEqual(writes(s, 'pwmchip2'), ['pwm0/duty_cycle 600000', 'pwm1/duty_cycle 600000']);

    // Reversing: both at zero and coasting for reverseDelayMs, then the other way.
    car.service.command('backward', 'test');
    assert.deepEqual(writes(s, 'pwmchip2'), ['pwm0/duty_cycle 0', 'pwm1/duty_cycle 0']);
    assert.deepEqual(levels(s, [5, 6, 20, 21]), [0, 0, 0, 0]);
    await waitUntil(() => car.service.state().motion === 'backward', () => String(car.service.state().motion));
    assert.deepEqual(writes(s, 'pwmchip2'), ['pwm0/duty_cycle 600000', 'pwm1/duty_cycle 600000']);
    assert.deepEqual(levels(s, [5, 6, 20, 21]), [0, 1, 0, 1]);
    assert.deepEqual(s.channel(RP1, 0).output, { periodNs: 1_000_000, dutyNs: 600_000 });

    car.service.command('stop', 'test');
    assert.deepEqual(writes(s, 'pwmchip2'), ['pwm0/duty_cycle 0', 'pwm1/duty_cycle 0']);
    assert.deepEqual(levels(s, [5, 6, 20, 21]), [0, 0, 0, 0]);

    car.service.command('forward', 'test');
    writes(s, 'pwmchip2');
    await car.service.shutdown('SIGTERM');
    service = undefined;
    // Shutdown: every direction pin low and given back, each channel as released() says.
    assert.deepEqual(writes(s, 'pwmchip2'), [...released(0), ...released(1)]);
    assert.equal(s.channel(RP1, 0).output, 'low');
    assert.equal(s.channel(RP1, 1).exported, false);
    assert.deepEqual(levels(s, [5, 6, 20, 21]), [0, 0, 0, 0]);
    assert.ok([5, 6, 20, 21].every((p) => !s.exported(p)));
  });

  it('a TB6612 car on a Pi 4: PWMA/PWMB on the BCM2711 channels, braking stop, STBY raised once both motors are stopped and dropped at shutdown', async () => {
    const s = tree('pi4');
    const motors = [
      { name: 'left', driver: 'hbridge', pwm: 12, in1: 5, in2: 6, standby: 22, brake: true, pwmFrequency: 20000 },
      { name: 'right', driver: 'hbridge', pwm: 13, in1: 20, in2: 21, standby: 22, brake: true, pwmFrequency: 20000 },
    ];
    const car = await boot(s, ['--motors', JSON.stringify(motors)]);
    // Start-up: braked (IN1 = IN2 = high, PWM full), standby high only after that.
    assert.deepEqual(writes(s, 'pwmchip0'), [
      'export 0',
      'pwm0/period 50000',
      'pwm0/enable 1',
      'pwm0/duty_cycle 50000',
      'export 1',
      'pwm1/period 50000',
      'pwm1/enable 1',
      'pwm1/duty_cycle 50000',
    ]);
    assert.deepEqual(levels(s, [5, 6, 20, 21, 22]), [1, 1, 1, 1, 1]);

    car.service.command('forward', 'test');
    assert.deepEqual(writes(s, 'pwmchip0'), ['pwm0/duty_cycle 0', 'pwm0/duty_cycle 25000', 'pwm1/duty_cycle 0', 'pwm1/duty_cycle 25000']);
    assert.deepEqual(levels(s, [5, 6, 20, 21, 22]), [1, 0, 1, 0, 1]);
    assert.deepEqual(s.channel(BCM2711, 1).output, { periodNs: 50_000, dutyNs: 25_000 });

    car.service.command('stop', 'test');
    assert.deepEqual(writes(s, 'pwmchip0'), ['pwm0/duty_cycle 0', 'pwm0/duty_cycle 50000', 'pwm1/duty_cycle 0', 'pwm1/duty_cycle 50000']);
    assert.deepEqual(levels(s, [5, 6, 20, 21]), [1, 1, 1, 1]);

    await car.service.shutdown('SIGTERM');
    service = undefined;
    assert.equal(s.channel(BCM2711, 0).output, 'low');
    assert.equal(s.channel(BCM2711, 1).output, 'low');
    assert.deepEqual(levels(s, [5, 6, 20, 21, 22]), [0, 0, 0, 0, 0]);
  });

  it('a servo car on a Pi 5 on hardware PWM (GPIO 18/19, RP1 channels 2/3): neutral at start, ServoKit pulses per command, pulses off at shutdown', async () => {
    const s = tree('pi5');
    const motors = [
      { name: 'left', driver: 'servo', pin: 18, invert: true },
      { name: 'right', driver: 'servo', pin: 19 },
    ];
    const car = await boot(s, ['--motors', JSON.stringify(motors)]);
    assert.deepEqual(writes(s, 'pwmchip2'), [
      'export 2',
      'pwm2/period 20000000',
      'pwm2/enable 1',
      'pwm2/duty_cycle 1500000',
      'export 3',
      'pwm3/period 20000000',
      'pwm3/enable 1',
      'pwm3/duty_cycle 1500000',
    ]);

    car.service.command('forward', 'test');
    assert.deepEqual(writes(s, 'pwmchip2'), ['pwm2/duty_cycle 1125000', 'pwm3/duty_cycle 1875000']);
    assert.deepEqual(s.channel(RP1, 3).output, { periodNs: 20_000_000, dutyNs: 1_875_000 });

    car.service.command('+', 'test');
    assert.deepEqual(writes(s, 'pwmchip2'), ['pwm2/duty_cycle 1050000', 'pwm3/duty_cycle 1950000']);

    car.service.command('stop', 'test');
    assert.deepEqual(writes(s, 'pwmchip2'), ['pwm2/duty_cycle 1500000', 'pwm3/duty_cycle 1500000']);

    await car.service.shutdown('SIGTERM');
    service = undefined;
    assert.deepEqual(writes(s, 'pwmchip2'), [...released(2), ...released(3)]);
    assert.equal(s.channel(RP1, 2).output, 'low');
    assert.equal(s.channel(RP1, 3).output, 'low');
  });

  it('a limit switch through the kernel board: its edge stops the car on the PWM channels', async () => {
    const s = tree('pi5');
    // Wired to ground with config.txt's pull-up: the pin reads 1 while the switch is open.
    s.setInput(17, 1);
    const car = await boot(s, ['--limits', '{"forward":{"pin":17,"debounceMs":20}}']);
    await logged();
    assert.ok(car.lines.some((l) => l.includes('"gpio=17=ip,pu"')), car.lines.join('\n'));
    car.service.command('forward', 'test');
    assert.deepEqual(s.channel(RP1, 0).output, { periodNs: 1_000_000, dutyNs: 500_000 });
    s.takeWrites();
    s.setInput(17, 0);
    await waitUntil(() => car.service.state().reason === 'limit', () => JSON.stringify(car.service.state()));
    assert.deepEqual(writes(s, 'pwmchip2'), ['pwm0/duty_cycle 0', 'pwm1/duty_cycle 0']);
    assert.deepEqual(levels(s, [5, 6, 20, 21]), [0, 0, 0, 0]);
  });

  it('safe-state after a carbot killed while driving: takes over the exported channels and stops everything', async () => {
    const s = tree('pi5');
    await s.leaveDefaultCarDriving();
    assert.deepEqual(s.channel(RP1, 1).output, { periodNs: 1_000_000, dutyNs: 700_000 });
    assert.deepEqual(levels(s, [5, 6, 20, 21]), [1, undefined, 1, undefined]);

    const config = loadConfig({ argv: ['--gpio', 'kernel'], env: {}, exists: () => false });
    const { log, lines } = memoryLogger();
    await safeState(config, log, deps(s));
    const takenOver = (c: number) => [`export ${c} EBUSY`, `pwm${c}/enable 0`, `pwm${c}/duty_cycle 0`, `pwm${c}/enable 1`];
    assert.deepEqual(writes(s, 'pwmchip2'), [...takenOver(0), ...takenOver(1), ...released(0), ...released(1)]);
    assert.equal(s.channel(RP1, 0).output, 'low');
    assert.equal(s.channel(RP1, 1).output, 'low');
    assert.deepEqual(levels(s, [5, 6, 20, 21]), [0, 0, 0, 0]);
    await logged();
    assert.ok(lines.includes('info: safe state: 2 of 2 motors stopped and released (kernel)'), lines.join('\n'));
  });

  it('gpio auto on a Pi 4 without the pigpio C library (trixie): the kernel board, with a log line saying why', async () => {
    const s = tree('pi4');
    const pigpioLibrary = pigpioLibraryAt(path.dirname(s.root), false);
    const car = await boot(s, ['--gpio', 'auto'], { pigpioLibrary });
    await logged();
    assert.ok(
      car.lines.includes(
        'info: gpio auto: kernel PWM rather than pigpio on this Raspberry Pi 4 Model B Rev 1.4, as the pigpio C library (libpigpio.so) is not installed: ' +
          `not in ${pigpioLibrary.libraryDirs?.[0]} nor in the linker's cache; the PWM pins need their dtoverlay line in config.txt (docs/boards-kernel.md)`,
      ),
      car.lines.join('\n'),
    );
    car.service.command('forward', 'test');
    assert.deepEqual(s.channel(BCM2711, 0).output, { periodNs: 1_000_000, dutyNs: 500_000 });
    assert.deepEqual(levels(s, [5, 6, 20, 21]), [1, 0, 1, 0]);
  });

  for (const compatible of [true, false]) {
    it(`a Compute Module 4S is a BCM2711: its PWM at fe20c000.pwm (${compatible ? 'from the device tree\'s compatible' : 'no compatible: from the model string'})`, async () => {
      const s = tree('cm4s', { compatible });
      const car = await boot(s, []);
      await logged();
      assert.ok(
        car.lines.some((l) => l.includes("on Raspberry Pi Compute Module 4S Rev 1.0 (PWM: the Raspberry Pi 4's BCM2711, fe20c000.pwm)")),
        car.lines.join('\n'),
      );
      car.service.command('forward', 'test');
      assert.deepEqual(s.channel(BCM2711, 1).output, { periodNs: 1_000_000, dutyNs: 500_000 });
    });
  }

  it('sysfs GPIO on a slow boot: waits on a timer for udev to hand gpioN/ to the gpio group instead of blaming the group membership', async () => {
    // onoff's loop of 10 000 openSync tries ends before udev's chgrp (fivdi/onoff#131).
    const s = tree('pi4', { gpioUdevDelayMs: 300 });
    const car = await boot(s, []);
    assert.deepEqual(levels(s, [5, 6, 20, 21]), [0, 0, 0, 0]);
    car.service.command('forward', 'test');
    assert.deepEqual(levels(s, [5, 6, 20, 21]), [1, 0, 1, 0]);
  });

  it('sysfs GPIO that never becomes writable: after the wait, the gpio group message', async () => {
    const s = tree('pi4', { gpioUdevDelayMs: 60_000 });
    await assert.rejects(
      boot(s, [], { exportWaitMs: 200 }),
      (err: Error) => {
        assert.match(
          err.message,
          /^motors\[0\] "left": cannot open GPIO 5 \(sysfs gpio517\): EACCES: permission denied, open '.*gpio517\/direction'; still so after waiting 200 ms for udev to hand it to the gpio group; add the user carbot runs as to the gpio group/,
        );
        return true;
      },
    );
  });
});
