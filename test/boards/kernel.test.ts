import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { socFromModel } from '../../src/boards/pi';
import { hardwarePwmPins, openKernelBoard, type KernelBoardDeps, type KernelBoardOptions, type SysfsFiles } from '../../src/boards/kernel';
import { BoardError } from '../../src/boards/types';
import { logged, memoryLogger } from '../fakes/hardware';
import { requireRoot } from '../support/privilege';
import { FakeSysfs, type FakePi, type FakeSysfsOptions } from '../fakes/sysfs';
import { CLI_PATH, REPO_ROOT, spawnProcess, type TrackedProcess } from '../support/process';
import { waitUntil } from '../support/wait';

const RP1 = '1f00098000.pwm';
const FAN = '1f0009c000.pwm';
const BCM2711 = 'fe20c000.pwm';

describe('kernel board (sysfs PWM and onoff) on a fake sysfs', () => {
  let sysfs: FakeSysfs | undefined;
  afterEach(() => {
    sysfs?.close();
    sysfs = undefined;
  });

  function fake(pi: FakePi, options: FakeSysfsOptions = {}): FakeSysfs {
    sysfs = new FakeSysfs(pi, options);
    return sysfs;
  }

  /** The board on the fake's tree, as nobody in the gpio group; `refused` collects every write the tree refused. */
  function board(s: FakeSysfs, options: Partial<KernelBoardOptions> = {}, deps: KernelBoardDeps = {}) {
    const { log, lines } = memoryLogger();
    const refused: string[] = [];
    const files: SysfsFiles = {
      ...s.files,
      write: (file, value) => {
        try {
          s.files.write(file, value);
        } catch (err) {
          refused.push(`${path.relative(s.root, file)} ${value} ${(err as NodeJS.ErrnoException).code}`);
          throw err;
        }
      },
    };
    const b = openKernelBoard({ sysfsRoot: s.root, ...options }, { files, requireModule: s.requireModule, log, userName: 'carbot', ...deps });
    return { board: b, lines, refused };
  }

  async function rejectsWith(promise: Promise<unknown>, problem: string, message: RegExp): Promise<void> {
    await assert.rejects(promise, (err: unknown) => {
      assert.ok(err instanceof BoardError, `expected a BoardError, got ${String(err)}`);
      assert.equal(err.problem, problem);
      assert.match(err.message, message);
      return true;
    });
  }

  describe('Raspberry Pi 5: RP1 PWM0', () => {
    it('finds the chip by its device, not its number: GPIO 12, 13, 18, 19 are channels 0–3 of pwmchip2, the fan chip is left alone', async () => {
      const s = fake('pi5');
      const { board: b } = board(s);
      assert.match(b.description, /Raspberry Pi 5 Model B.*1f00098000\.pwm/);
      const outputs = [];
      for (const pin of [12, 13, 18, 19]) outputs.push(await b.openPwm(pin, 1000));
      outputs.forEach((output, channel) => output.setDuty(0.1 * (channel + 1)));
      for (const channel of [0, 1, 2, 3]) {
        assert.deepEqual(s.channel(RP1, channel).output, { periodNs: 1_000_000, dutyNs: 100_000 * (channel + 1) });
      }
      assert.equal(s.chipName(RP1), 'pwmchip2');
      assert.ok(s.writes().every((w) => w.startsWith('class/pwm/pwmchip2/')));
      for (const channel of [0, 1, 2, 3]) assert.equal(s.channel(FAN, channel).exported, false);
      assert.deepEqual(b.close().map((e) => e.message), []);
    });

    it('waits for pwmN/ to appear and for udev to hand it to the gpio group, never writing before it may', async () => {
      const s = fake('pi5', { exportDelayMs: 40, udevDelayMs: 120 });
      const { board: b, refused } = board(s);
      const opening = b.openPwm(12, 1000);
      await waitUntil(() => s.channel(RP1, 0).exported, () => 'no export');
      // As the kernel leaves it: the channel is exported, but its files are not the group's yet.
      await waitUntil(() => s.attribute(RP1, 0, 'period') !== undefined, () => 'pwm0/ never appeared');
      assert.throws(() => s.files.write(path.join(s.root, 'class/pwm/pwmchip2/pwm0/period'), '1000000'), { code: 'EACCES' });
      const pwm = await opening;
      pwm.setDuty(0.5);
      assert.deepEqual(refused, []);
      assert.equal(fs.statSync(path.join(s.root, 'class/pwm/pwmchip2/pwm0/duty_cycle')).gid, s.gpioGid);
      assert.deepEqual(s.channel(RP1, 0).output, { periodNs: 1_000_000, dutyNs: 500_000 });
      pwm.close();
    });

    it('writes a fresh channel in the order the kernel takes: period before enable (duty and enable are refused while the period is 0)', async () => {
      const s = fake('pi5');
      const { board: b, refused } = board(s);
      const pwm = await b.openPwm(12, 20_000);
      assert.deepEqual(s.takeWrites(), [
        'class/pwm/pwmchip2/export 0 ok',
        'class/pwm/pwmchip2/pwm0/period 50000 ok',
        'class/pwm/pwmchip2/pwm0/enable 1 ok',
      ]);
      assert.deepEqual(refused, []);
      assert.deepEqual(s.channel(RP1, 0), { exported: true, period: 50_000, dutyCycle: 0, enabled: true, polarity: 'normal', output: { periodNs: 50_000, dutyNs: 0 } });
      pwm.close();
    });

    it('the fake refuses what the kernel refuses, so a wrong order fails', async () => {
      const s = fake('pi5');
      const chip = path.join(s.root, 'class/pwm/pwmchip2');
      const write = (file: string, value: string) => s.files.write(path.join(chip, file), value);
      write('export', '0');
      assert.throws(() => write('export', '0'), { code: 'EBUSY' }, 'a second export');
      assert.throws(() => write('export', '4'), { code: 'ENODEV' }, 'a channel >= npwm');
      assert.throws(() => s.files.write(path.join(s.root, 'class/pwm/pwmchip0/export'), '3'), { code: 'EBUSY' }, 'the fan holds RP1 PWM1 channel 3');
      await s.settled();
      assert.throws(() => write('pwm0/duty_cycle', '0'), { code: 'EINVAL' }, 'duty before any period');
      assert.throws(() => write('pwm0/enable', '1'), { code: 'EINVAL' }, 'enable before any period');
      write('pwm0/period', '1000000');
      assert.throws(() => write('pwm0/duty_cycle', '1000001'), { code: 'EINVAL' }, 'duty above the period');
      write('pwm0/duty_cycle', '600000');
      assert.throws(() => write('pwm0/period', '500000'), { code: 'EINVAL' }, 'a period below the duty');
      write('pwm0/enable', '1');
      write('pwm0/period', '2000000'); // RP1 takes a new period on an enabled channel
      assert.throws(() => write('pwm0/enable', '2'), { code: 'EINVAL' });
      assert.throws(() => write('pwm0/polarity', 'backwards'), { code: 'EINVAL' });
      assert.throws(() => write('pwm0/period', 'fast'), { code: 'EINVAL' });
      assert.equal(s.attribute(RP1, 0, 'period'), '2000000');
      assert.equal(s.attribute(RP1, 0, 'duty_cycle'), '600000');
      assert.deepEqual(s.channel(RP1, 0).output, { periodNs: 2_000_000, dutyNs: 600_000 });
      write('unexport', '0');
      assert.throws(() => write('unexport', '0'), { code: 'ENODEV' }, 'unexport of a channel not exported');
      assert.throws(() => write('pwm0/duty_cycle', '0'), { code: /^(ENODEV|ENOENT)$/ }, 'a write after unexport');
      await waitUntil(() => s.attribute(RP1, 0, 'period') === undefined, () => 'pwm0/ was not removed');
      assert.throws(() => write('pwm0/duty_cycle', '0'), { code: 'ENOENT' });
      assert.equal(s.channel(RP1, 0).output, 'low');
    });

    it("takes over a dead carbot's channel (export is EBUSY): disable, duty 0, the new period, enable — and says so", async () => {
      const s = fake('pi5');
      await s.leaveRunning(RP1, 0, 1_000_000, 700_000);
      const { board: b, lines, refused } = board(s);
      const pwm = await b.openPwm(12, 500);
      assert.deepEqual(s.takeWrites(), [
        'class/pwm/pwmchip2/export 0 EBUSY',
        'class/pwm/pwmchip2/pwm0/enable 0 ok',
        'class/pwm/pwmchip2/pwm0/duty_cycle 0 ok',
        'class/pwm/pwmchip2/pwm0/period 2000000 ok',
        'class/pwm/pwmchip2/pwm0/enable 1 ok',
      ]);
      assert.deepEqual(refused, ['class/pwm/pwmchip2/export 0 EBUSY']);
      await logged();
      assert.ok(lines.some((l) => /^warn: GPIO 12: PWM channel 0 of pwmchip2 \(1f00098000\.pwm\) was already exported/.test(l)), lines.join('\n'));
      pwm.setDuty(0.25);
      assert.deepEqual(s.channel(RP1, 0).output, { periodNs: 2_000_000, dutyNs: 500_000 });
      pwm.close();
    });

    it('setDuty writes duty_cycle in ns of the period, clamped to 0..1', async () => {
      const s = fake('pi5');
      const { board: b } = board(s);
      const pwm = await b.openPwm(13, 1000);
      const seen: (string | undefined)[] = [];
      for (const fraction of [0.5, 1, 1.5, 0.333, -1, 0]) {
        pwm.setDuty(fraction);
        seen.push(s.attribute(RP1, 1, 'duty_cycle'));
      }
      assert.deepEqual(seen, ['500000', '1000000', '1000000', '333000', '0', '0']);
      pwm.close();
    });

    it('servo pulses: 50 Hz (period 20 000 000 ns), a pulse of n µs is n·1000 ns, 0 is no pulse, and one longer than the period is refused', async () => {
      const s = fake('pi5');
      const { board: b } = board(s);
      const pulses = await b.openPulses(18);
      assert.deepEqual(s.channel(RP1, 2), { exported: true, period: 20_000_000, dutyCycle: 0, enabled: true, polarity: 'normal', output: { periodNs: 20_000_000, dutyNs: 0 } });
      pulses.setPulse(1500);
      assert.equal(s.attribute(RP1, 2, 'duty_cycle'), '1500000');
      pulses.setPulse(1875.4);
      assert.equal(s.attribute(RP1, 2, 'duty_cycle'), '1875400');
      assert.throws(() => pulses.setPulse(25_000), RangeError);
      assert.equal(s.attribute(RP1, 2, 'duty_cycle'), '1875400');
      pulses.setPulse(0);
      assert.equal(s.attribute(RP1, 2, 'duty_cycle'), '0');
      pulses.close();
    });

    it('close: duty 0, disabled, unexported; the pin then carries nothing, and the board closes what is left open', async () => {
      const s = fake('pi5');
      const { board: b } = board(s);
      const pwm = await b.openPwm(12, 1000);
      await b.openPwm(19, 1000);
      pwm.setDuty(0.8);
      s.takeWrites();
      pwm.close();
      pwm.close();
      assert.deepEqual(s.takeWrites(), [
        'class/pwm/pwmchip2/pwm0/duty_cycle 0 ok',
        'class/pwm/pwmchip2/pwm0/enable 0 ok',
        'class/pwm/pwmchip2/unexport 0 ok',
      ]);
      assert.equal(s.channel(RP1, 0).output, 'low');
      assert.equal(s.channel(RP1, 0).exported, false);
      assert.deepEqual(b.close(), []);
      assert.deepEqual(s.takeWrites(), [
        'class/pwm/pwmchip2/pwm3/duty_cycle 0 ok',
        'class/pwm/pwmchip2/pwm3/enable 0 ok',
        'class/pwm/pwmchip2/unexport 3 ok',
      ]);
      assert.equal(s.channel(RP1, 3).exported, false);
    });

    it('board.close() returns what failed instead of throwing', async () => {
      const s = fake('pi5');
      const { board: b } = board(s);
      await b.openPwm(12, 1000);
      // Someone else unexports the channel under carbot's feet.
      s.files.write(path.join(s.root, 'class/pwm/pwmchip2/unexport'), '0');
      const errors = b.close();
      assert.equal(errors.length, 1);
      assert.match(errors[0].message, /^GPIO 12: closing .*pwmchip2\/pwm0: .*duty_cycle.*(ENODEV|ENOENT).*unexport.*ENODEV/);
    });

    it('no PWM chip (the overlay is not loaded): the message gives the config.txt line for the pin and its pair', async () => {
      const s = fake('pi5', { overlay: false });
      const { board: b } = board(s);
      await rejectsWith(b.openPwm(12, 1000), 'pwm-no-chip', /dtoverlay=pwm-2chan,pin=12,func=4,pin2=13,func2=4" to \/boot\/firmware\/config\.txt and reboot/);
      await rejectsWith(b.openPulses(19), 'pwm-no-chip', /"dtoverlay=pwm-2chan,pin=18,func=2,pin2=19,func2=2"/);
      assert.deepEqual(s.writes(), []);
    });

    it('a pin without hardware PWM: the message names the pins that have it and the pwm-gpio way', async () => {
      const s = fake('pi5');
      const { board: b } = board(s);
      await rejectsWith(b.openPwm(5, 1000), 'pwm-not-a-pwm-pin', /^GPIO 5 has no hardware PWM on the Raspberry Pi 5's RP1 \(PWM0\) \(GPIO 12, 13, 18, 19 do\).*dtoverlay=pwm-gpio,gpio=5.*pwmChannels/);
      assert.deepEqual(s.writes(), []);
    });

    it('no permission after the wait (no udev rule): the channel is given back and the message says which group to join', async () => {
      const s = fake('pi5', { udev: false });
      const { board: b } = board(s, {}, { exportWaitMs: 150 });
      await rejectsWith(
        b.openPwm(12, 1000),
        'pwm-permission',
        /^GPIO 12: no permission to write .*pwmchip2\/pwm0\/period after waiting 150 ms for udev to hand it to the gpio group\. .*sudo usermod -aG gpio carbot .*99-com\.rules/,
      );
      assert.deepEqual(s.writes(), ['class/pwm/pwmchip2/export 0 ok', 'class/pwm/pwmchip2/unexport 0 ok']);
    });

    it('a read-only sysfs (a systemd unit without ReadWritePaths) is named as such, without waiting', async () => {
      const s = fake('pi5');
      const readOnly = Object.assign(new Error('EROFS: read-only file system, open'), { code: 'EROFS' });
      const files: SysfsFiles = { ...s.files, write: () => { throw readOnly; }, writeBlocked: () => 'EROFS' };
      const b = openKernelBoard({ sysfsRoot: s.root }, { files });
      await rejectsWith(b.openPwm(12, 1000), 'pwm-read-only', /^GPIO 12: .*pwmchip2\/export is on a read-only file system\. .*ReadWritePaths=-\/sys\/class\/pwm -\/sys\/devices\/platform/);
    });

    it('a channel held by a kernel driver (export busy, nothing appears) is named as such', async () => {
      const s = fake('pi5');
      const { board: b } = board(s, { pwmChannels: { 17: { chip: FAN, channel: 3 } } }, { exportWaitMs: 100 });
      await rejectsWith(b.openPwm(17, 25_000), 'pwm-busy', /^GPIO 17: channel 3 of pwmchip0 \(1f0009c000\.pwm\) is held by a kernel driver/);
    });

    it('a channel number beyond npwm is refused before any export', async () => {
      const s = fake('pi5');
      const { board: b } = board(s, { pwmChannels: { 17: { chip: 'pwmchip2', channel: 4 } } });
      await rejectsWith(b.openPwm(17, 1000), 'pwm-no-channel', /^GPIO 17: pwmchip2 \(1f00098000\.pwm\) has 4 channels \(npwm\), so there is no channel 4; use 0–3\.$/);
      assert.deepEqual(s.writes(), []);
    });

    it('the override names chip and channel for any pin: a pwm-gpio software PWM by device or by pwmchipN', async () => {
      const softPwm = { number: 3, devicePath: 'devices/platform/pwm_gpio@17', npwm: 1, driver: 'pwm-gpio' as const };
      const s = fake('pi5', { extraChips: [softPwm] });
      const { board: b } = board(s, { pwmChannels: { 17: { chip: 'pwm_gpio@17', channel: 0 }, 12: { chip: 'pwmchip3', channel: 0 } } });
      const servo = await b.openPulses(17);
      servo.setPulse(1500);
      assert.deepEqual(s.channel('pwm_gpio@17', 0).output, { periodNs: 20_000_000, dutyNs: 1_500_000 });
      // GPIO 12's own RP1 channel is not used when the override names another.
      await rejectsWith(b.openPwm(12, 1000), 'pwm-shared-channel', /^GPIO 12 and GPIO 17 are both channel 0 of pwmchip3/);
      await rejectsWith(
        board(s, { pwmChannels: { 22: { chip: 'pwm_gpio@22', channel: 0 } } }).board.openPwm(22, 50),
        'pwm-no-chip',
        /^GPIO 22: no PWM chip "pwm_gpio@22" in .*class\/pwm \(there: pwmchip0 \(1f0009c000\.pwm\), pwmchip2 \(1f00098000\.pwm\), pwmchip3 \(pwm_gpio@17\)\)/,
      );
      servo.close();
      assert.equal(s.channel('pwm_gpio@17', 0).exported, false);
    });

    it('digital outputs through onoff at the header chip\'s base (571 on a Pi 5), kept as written after close', async () => {
      const s = fake('pi5');
      const { board: b } = board(s);
      const out = await b.openOutput(5, 1);
      assert.equal(s.gpioNumber(5), 576);
      assert.deepEqual(s.pin(5), { direction: 'out', level: 1 });
      out.write(0);
      assert.deepEqual(s.pin(5), { direction: 'out', level: 0 });
      out.write(1);
      out.close();
      assert.equal(s.exported(5), false);
      assert.deepEqual(s.pin(5), { direction: 'out', level: 1 });
    });

    it('inputs: edges reach the watcher; sysfs cannot set pulls, so a hint with the config.txt line is logged once per pin', async () => {
      const s = fake('pi5');
      const { board: b, lines } = board(s);
      const input = await b.openInput(23, 'up');
      const again = await b.openInput(24, 'down');
      again.close();
      (await b.openInput(24, 'down')).close();
      await logged();
      const hints = lines.filter((l) => /cannot set pull resistors/.test(l));
      assert.equal(hints.length, 2, lines.join('\n'));
      assert.match(hints[0], /^info: GPIO 23: .*"gpio=23=ip,pu" to \/boot\/firmware\/config\.txt, or fit an external resistor$/);
      assert.match(hints[1], /"gpio=24=ip,pd"/);
      let edges = 0;
      input.watch(() => (edges += 1));
      s.setInput(23, 1);
      await waitUntil(() => edges === 1, () => `edges: ${edges}`);
      assert.equal(input.read(), 1);
      s.setInput(23, 0);
      await waitUntil(() => edges === 2, () => `edges: ${edges}`);
      assert.equal(input.read(), 0);
      input.close();
      assert.equal(s.exported(23), false);
    });
  });

  describe('Raspberry Pi 4: BCM2711 PWM (two channels)', () => {
    it('GPIO 12 and 13 are channels 0 and 1 of fe20c000.pwm; 18 and 19 the same two', async () => {
      const s = fake('pi4');
      const { board: b } = board(s);
      const left = await b.openPwm(12, 1000);
      const right = await b.openPwm(19, 1000);
      left.setDuty(0.3);
      right.setDuty(0.6);
      assert.deepEqual(s.channel(BCM2711, 0).output, { periodNs: 1_000_000, dutyNs: 300_000 });
      assert.deepEqual(s.channel(BCM2711, 1).output, { periodNs: 1_000_000, dutyNs: 600_000 });
      assert.deepEqual(b.close(), []);
    });

    it('two pins on one channel (12 and 18) is an error that says which pins pair', async () => {
      const s = fake('pi4');
      const { board: b } = board(s);
      const first = await b.openPwm(12, 1000);
      await rejectsWith(b.openPwm(18, 1000), 'pwm-shared-channel', /^GPIO 18 and GPIO 12 are both channel 0 of pwmchip0 \(fe20c000\.pwm\) .*GPIO 12 or 18 with GPIO 13 or 19\.$/);
      first.close();
      // Also while the first is still waiting for udev.
      const [left, right] = await Promise.allSettled([b.openPwm(13, 1000), b.openPwm(19, 1000)]);
      assert.equal(left.status, 'fulfilled');
      assert.ok(right.status === 'rejected' && /^GPIO 19 and GPIO 13 are both channel 1/.test((right.reason as Error).message));
    });

    it('no chip: the Pi 4 line', async () => {
      const s = fake('pi4', { overlay: false });
      const { board: b } = board(s);
      await rejectsWith(b.openPwm(13, 1000), 'pwm-no-chip', /BCM2711 \(fe20c000\.pwm\) is not enabled.*"dtoverlay=pwm-2chan,pin=12,func=4,pin2=13,func2=4"/);
    });

    it('a channel a program unexported while enabled reads enable=1 but is off; the open writes 0 then 1, so it runs again', async () => {
      const s = fake('pi4');
      const chip = path.join(s.root, 'class/pwm/pwmchip0');
      s.files.write(path.join(chip, 'export'), '1');
      await s.settled();
      s.files.write(path.join(chip, 'pwm1/period'), '1000000');
      s.files.write(path.join(chip, 'pwm1/duty_cycle'), '400000');
      s.files.write(path.join(chip, 'pwm1/enable'), '1');
      s.files.write(path.join(chip, 'unexport'), '1');
      assert.deepEqual(s.channel(BCM2711, 1), { exported: false, period: 1_000_000, dutyCycle: 400_000, enabled: true, polarity: 'normal', output: 'low' });
      s.takeWrites();
      const { board: b } = board(s);
      const pwm = await b.openPwm(13, 1000);
      assert.deepEqual(s.takeWrites(), [
        'class/pwm/pwmchip0/export 1 ok',
        'class/pwm/pwmchip0/pwm1/enable 0 ok',
        'class/pwm/pwmchip0/pwm1/duty_cycle 0 ok',
        'class/pwm/pwmchip0/pwm1/enable 1 ok',
      ]);
      pwm.setDuty(0.5);
      assert.deepEqual(s.channel(BCM2711, 1).output, { periodNs: 1_000_000, dutyNs: 500_000 });
      pwm.close();
    });

    it('a frequency the BCM2711 cannot make (period under 2 cycles of its 10 MHz clock) is refused with a message', async () => {
      const s = fake('pi4');
      const { board: b } = board(s);
      await rejectsWith(b.openPwm(12, 10_000_000), 'pwm-frequency', /^GPIO 12: fe20c000\.pwm refuses a period of 100 ns \(10000000 Hz\); choose a lower PWM frequency\.$/);
      assert.equal(s.channel(BCM2711, 0).exported, false);
    });

    it('onoff pins at base 512', async () => {
      const s = fake('pi4');
      const { board: b } = board(s);
      (await b.openOutput(6, 0)).close();
      assert.equal(s.gpioNumber(6), 518);
      assert.deepEqual(s.pin(6), { direction: 'out', level: 0 });
    });
  });

  describe('hardwarePwmPins', () => {
    it('per board: the pins, their channels, and the chip once the overlay is loaded', () => {
      const pi5 = fake('pi5');
      assert.deepEqual(hardwarePwmPins(pi5.root), [
        { pin: 12, device: RP1, channel: 0, chip: 'pwmchip2' },
        { pin: 13, device: RP1, channel: 1, chip: 'pwmchip2' },
        { pin: 18, device: RP1, channel: 2, chip: 'pwmchip2' },
        { pin: 19, device: RP1, channel: 3, chip: 'pwmchip2' },
      ]);
      pi5.close();
      const pi4 = fake('pi4', { overlay: false });
      assert.deepEqual(hardwarePwmPins(pi4.root), [
        { pin: 12, device: BCM2711, channel: 0 },
        { pin: 13, device: BCM2711, channel: 1 },
        { pin: 18, device: BCM2711, channel: 0 },
        { pin: 19, device: BCM2711, channel: 1 },
      ]);
      pi4.close();
      const pi3 = fake('pi3');
      assert.deepEqual(
        hardwarePwmPins(pi3.root).map((p) => `${p.pin}:${p.device}/${p.channel}@${p.chip}`),
        ['12:3f20c000.pwm/0@pwmchip0', '13:3f20c000.pwm/1@pwmchip0', '18:3f20c000.pwm/0@pwmchip0', '19:3f20c000.pwm/1@pwmchip0'],
      );
      // An unknown board: whichever known block the tree shows.
      assert.equal(hardwarePwmPins(pi3.root, {}).length, 4);
      assert.deepEqual(hardwarePwmPins(pi3.root, { soc: socFromModel('Raspberry Pi Zero W Rev 1.1') }).map((p) => p.device), Array(4).fill('2020c000.pwm'));
      assert.deepEqual(hardwarePwmPins(path.join(pi3.root, 'nowhere'), { model: 'Some Other Board' }), []);
    });
  });

  describe('as an unprivileged user in a child process (compiled board, real file permissions)', () => {
    const FIXTURE = path.join(REPO_ROOT, 'test', 'fixtures', 'kernel-board.js');

    function child(s: FakeSysfs, env: Record<string, string> = {}): TrackedProcess {
      return spawnProcess(process.execPath, ['--require', FakeSysfs.preload, FIXTURE], { CARBOT_SYSFS_ROOT: s.root, ...env }, {
        uid: s.user.uid,
        gid: s.user.gid,
        stdin: true,
      });
    }

    async function send(p: TrackedProcess, command: object): Promise<string> {
      const from = p.lines.length;
      p.child.stdin?.write(`${JSON.stringify(command)}\n`);
      return p.waitForLine(/^(ok|error)/, 15_000, from);
    }

    before(function () {
      // Starting a process as another user needs root, as the tests run here and in CI.
      requireRoot(this, 'the kernel board in a child process as nobody');
      assert.ok(fs.existsSync(path.join(REPO_ROOT, 'dist', 'boards', 'kernel.js')), 'run npm run build first');
    });

    it('as nobody in the gpio group: waits for udev, drives PWM and a pin; after SIGKILL both keep going, and the next one takes over and stops them', async () => {
      const s = fake('pi5', { udevDelayMs: 80 });
      const first = child(s);
      await first.waitForLine(/^uid 65534 gid /, 15_000);
      assert.equal(await send(first, { op: 'pwm', pin: 12, hz: 1000 }), 'ok');
      assert.equal(await send(first, { op: 'duty', pin: 12, value: 0.75 }), 'ok');
      assert.equal(await send(first, { op: 'output', pin: 5, level: 1 }), 'ok');
      assert.deepEqual(s.channel(RP1, 0).output, { periodNs: 1_000_000, dutyNs: 750_000 });
      // The files carbot wrote are root's, handed to the group by udev, not created by the child.
      const duty = fs.statSync(path.join(s.root, 'class/pwm/pwmchip2/pwm0/duty_cycle'));
      assert.deepEqual([duty.uid, duty.gid, duty.mode & 0o777], [0, s.gpioGid, 0o664]);
      await first.kill('SIGKILL');
      assert.deepEqual(s.channel(RP1, 0).output, { periodNs: 1_000_000, dutyNs: 750_000 }, 'SIGKILL leaves the PWM running');
      assert.deepEqual(s.pin(5), { direction: 'out', level: 1 });

      s.takeWrites();
      const second = child(s);
      assert.equal(await send(second, { op: 'pwm', pin: 12, hz: 1000 }), 'ok');
      await second.waitForLine(/^log warn GPIO 12: PWM channel 0 of pwmchip2 \(1f00098000\.pwm\) was already exported/);
      assert.equal(await send(second, { op: 'output', pin: 5, level: 0 }), 'ok');
      assert.deepEqual(s.channel(RP1, 0).output, { periodNs: 1_000_000, dutyNs: 0 });
      assert.deepEqual(s.pin(5), { direction: 'out', level: 0 });
      assert.equal(await send(second, { op: 'close' }), 'ok');
      assert.deepEqual(await second.exited, { code: 0, signal: null });
      assert.deepEqual(s.writes(), [
        'class/pwm/pwmchip2/export 0 EBUSY',
        'class/pwm/pwmchip2/pwm0/enable 0 ok',
        'class/pwm/pwmchip2/pwm0/duty_cycle 0 ok',
        'class/pwm/pwmchip2/pwm0/enable 1 ok',
        'class/pwm/pwmchip2/pwm0/duty_cycle 0 ok',
        'class/pwm/pwmchip2/pwm0/enable 0 ok',
        'class/pwm/pwmchip2/unexport 0 ok',
      ]);
      assert.equal(s.channel(RP1, 0).output, 'low');
      assert.equal(s.exported(5), false);
    });

    it('the compiled carbot safe-state, as nobody through the preload, stops what a SIGKILLed carbot left running', async () => {
      const s = fake('pi5');
      await s.leaveDefaultCarDriving();
      const p = spawnProcess(process.execPath, ['--require', FakeSysfs.preload, CLI_PATH, 'safe-state', '--gpio', 'kernel'], { CARBOT_SYSFS_ROOT: s.root }, s.user);
      assert.deepEqual(await p.exited, { code: 0, signal: null }, p.output());
      assert.match(p.output(), /safe state: 2 of 2 motors stopped and released \(kernel\)/);
      assert.equal(s.channel(RP1, 0).output, 'low');
      assert.equal(s.channel(RP1, 1).output, 'low');
      assert.deepEqual([5, 6, 20, 21].map((pin) => s.pin(pin)?.level), [0, 0, 0, 0]);
      assert.deepEqual(s.writes().filter((w) => /export/.test(w)), [
        'class/pwm/pwmchip2/export 0 EBUSY',
        'class/pwm/pwmchip2/export 1 EBUSY',
        'class/pwm/pwmchip2/unexport 0 ok',
        'class/pwm/pwmchip2/unexport 1 ok',
      ]);
    });

    it('without the udev rule the operating system refuses the write, and the message says which group to join', async () => {
      const s = fake('pi4', { udev: false });
      const p = child(s, { EXPORT_WAIT_MS: '200' });
      const answer = await send(p, { op: 'pulses', pin: 18 });
      assert.match(answer, /^error GPIO 18: no permission to write .*pwmchip0\/pwm0\/period after waiting 200 ms .*sudo usermod -aG gpio nobody /);
      assert.equal(await send(p, { op: 'close' }), 'ok');
      await p.exited;
      assert.equal(s.channel(BCM2711, 0).exported, false);
    });
  });
});
