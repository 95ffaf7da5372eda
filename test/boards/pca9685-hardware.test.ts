import assert from 'node:assert/strict';
import { loadConfig } from '../../src/config/config';
import { periodUsOf } from '../../src/boards/pca9685';
import { presetMotors, PRESETS, type PresetName } from '../../src/boards/presets';
import { openHardware, type Hardware } from '../../src/motors';
import { safeState } from '../../src/process/safe-state';
import { fakeRequire } from '../fakes/call-log';
import { logged, memoryLogger } from '../fakes/hardware';
import { busWithChips, createFakeI2cBus, MemoryStore, type ChannelReport, type ChipState, type FakeI2c } from '../fakes/i2c-bus';
import { ServoKitModel } from '../support/servokit';

/**
 * The PCA9685 cars end to end: configuration → openHardware → drivers → board → the fake
 * chip's registers, asserting what each channel carries for each command.
 */

const SERVO_HAT = PRESETS['adafruit-servo-hat'].pca9685;
const halfCount = periodUsOf(121) / 4096 / 2;

/** LEDn_OFF counts ServoKit wrote for these throttles on channels 0, 1, ... */
function servoKitCounts(...throttles: number[]): number[] {
  const kit = new ServoKitModel();
  return throttles.map((t, ch) => {
    kit.throttle(ch, t);
    return kit.channels.get(ch)?.off ?? -1;
  });
}

function configFor(preset: PresetName, ...argv: string[]) {
  const { address } = PRESETS[preset].pca9685;
  const motors = preset === 'adafruit-servo-hat' ? preset : JSON.stringify(presetMotors(preset));
  return loadConfig({ argv: ['--motors', motors, '--pca9685-address', String(address), ...argv], env: {}, exists: () => false });
}

describe('PCA9685 cars through openHardware', () => {
  let i2c: FakeI2c;
  const opened: Hardware[] = [];
  const deps = () => ({ requireModule: fakeRequire({ 'i2c-bus': () => i2c }) });
  const open = async (config: ReturnType<typeof configFor>) => {
    const { log, lines } = memoryLogger();
    const hardware = await openHardware(config, log, { deps: deps() });
    opened.push(hardware);
    return { hardware, lines };
  };
  const channels = (address: number): ChannelReport[] => i2c.chip(1, address).channels;
  const pulses = (address: number, ...chs: number[]) => chs.map((ch) => channels(address)[ch].pulseUs);
  const counts = (address: number, ...chs: number[]) => chs.map((ch) => channels(address)[ch].off);
  const assertPulses = (actual: number[], expected: number[], what: string) =>
    actual.forEach((us, i) => assert.ok(Math.abs(us - expected[i]) <= halfCount, `${what}: ${actual.join(', ')} µs, expected ${expected.join(', ')}`));

  beforeEach(() => {
    i2c = createFakeI2cBus(new MemoryStore({ buses: { '1': busWithChips(0x40, 0x60) } }));
  });
  afterEach(async () => {
    for (const hardware of opened.splice(0)) await hardware.motors.close();
  });

  describe('the original car (adafruit-servo-hat: left mirrored on channel 0, right on 1)', () => {
    it('starts stopped: ServoKit’s neutral count on both servos at its PRE_SCALE 122, every other channel off, and says which board', async () => {
      const { lines } = await open(configFor('adafruit-servo-hat'));
      assert.deepEqual(counts(0x40, 0, 1), servoKitCounts(0, 0));
      assert.ok(channels(0x40).slice(2).every((c) => c.output === 'low'));
      const chip = i2c.chip(1, 0x40);
      assert.equal(chip.prescale, 122);
      assert.deepEqual([chip.ignored, chip.violations], [[], []]);
      await logged();
      assert.ok(
        lines.includes(
          'info: boards: pca9685: PCA9685 at 0x40 on /dev/i2c-1, 50 Hz as ServoKit sets it (prescale 122: really 49.6 Hz) (motors left, right), all outputs stopped',
        ),
        lines.join('\n'),
      );
    });

    it('forward at 50 %: ServoKit’s throttle −0.5 on the mirrored left servo, 0.5 on the right; backward the other way; stop neutral', async () => {
      const { hardware } = await open(configFor('adafruit-servo-hat'));
      hardware.motors.write({ left: 0.5, right: 0.5 });
      assert.deepEqual(counts(0x40, 0, 1), servoKitCounts(-0.5, 0.5), 'forward 50 %');
      hardware.motors.write({ left: -0.5, right: -0.5 });
      assert.deepEqual(counts(0x40, 0, 1), servoKitCounts(0.5, -0.5), 'backward 50 %');
      hardware.motors.write({ left: 1, right: -1 });
      assert.deepEqual(counts(0x40, 0, 1), servoKitCounts(-1, -1), 'spinning at full speed');
      hardware.motors.write({ left: 0, right: 0 });
      assert.deepEqual(counts(0x40, 0, 1), servoKitCounts(0, 0), 'stopped');
    });

    it('without ServoKit’s arithmetic (pca9685.servoKitCompatible false) the same HAT gets pulses true to the µs at prescale 121', async () => {
      const { hardware } = await open(configFor('adafruit-servo-hat', '--no-pca9685-servo-kit-compatible'));
      assert.equal(i2c.chip(1, 0x40).prescale, 121);
      assertPulses(pulses(0x40, 0, 1), [1500, 1500], 'at start');
      hardware.motors.write({ left: 0.5, right: 0.5 });
      assertPulses(pulses(0x40, 0, 1), [1125, 1875], 'forward 50 %');
    });

    it('shuts down to every channel off, the chip asleep and the bus closed', async () => {
      const { hardware } = await open(configFor('adafruit-servo-hat'));
      hardware.motors.write({ left: 0.5, right: 0.5 });
      await hardware.motors.close();
      const chip = i2c.chip(1, 0x40);
      assert.ok(chip.channels.every((c) => c.output === 'low'));
      assert.equal(chip.awake, false);
      assert.equal(i2c.openDescriptors(), 0);
    });

    it('a HAT that is not there stops the start with the message that says what to check', async () => {
      i2c.change((w) => delete w.buses['1'].chips['64']);
      const { log } = memoryLogger();
      await assert.rejects(openHardware(configFor('adafruit-servo-hat'), log, { deps: deps() }), /nothing answers at address 0x40 on \/dev\/i2c-1/);
      assert.equal(i2c.openDescriptors(), 0);
    });

    it('safe-state after carbot died driving: every channel off and the chip asleep', async () => {
      const config = configFor('adafruit-servo-hat');
      const { log } = memoryLogger();
      const dead = await openHardware(config, log, { deps: deps() });
      dead.motors.write({ left: 0.5, right: 0.5 }); // ...and the process is killed: nothing closes it
      assert.deepEqual(counts(0x40, 0, 1), servoKitCounts(-0.5, 0.5), 'left behind');
      const after = memoryLogger();
      await safeState(config, after.log, deps());
      const chip = i2c.chip(1, 0x40);
      assert.ok(chip.channels.every((c) => c.output === 'low'), JSON.stringify(chip.channels.slice(0, 2)));
      assert.equal(chip.awake, false);
      await logged();
      assert.ok(after.lines.includes('info: safe state: 2 of 2 motors stopped and released (pca9685)'), after.lines.join('\n'));
    });
  });

  describe('safe-state on a chip that cannot be initialised (the boot unit, after a reboot that left the HAT driving)', () => {
    /** The car left driving by a carbot that died, as after a kernel panic with the HAT's power kept. */
    async function leftDriving() {
      const config = configFor('adafruit-servo-hat');
      const dead = await openHardware(config, memoryLogger().log, { deps: deps() });
      dead.motors.write({ left: 0.5, right: 0.5 });
      assert.ok(channels(0x40).slice(0, 2).every((c) => c.output === 'pwm'));
      i2c.log.length = 0;
      return config;
    }
    const faults = (f: NonNullable<ChipState['faults']>) => i2c.change((w) => (w.buses['1'].chips['64'].faults = f));

    it('the chip NAKs its first tries: ALL_LED full-off, retried until it answers, every channel off, and it says so', async () => {
      const config = await leftDriving();
      faults({ nak: 3 });
      const held = i2c.openDescriptors(); // the dead carbot's, which nobody closed
      const { log, lines } = memoryLogger();
      await safeState(config, log, deps());
      const chip = i2c.chip(1, 0x40);
      assert.ok(chip.channels.every((c) => c.fullOff && c.output === 'low'), JSON.stringify(chip.channels.slice(0, 2)));
      assert.equal(chip.awake, false);
      // The probe's read is NAKed, then two ALL_LED writes; the third is taken.
      assert.deepEqual(i2c.log.slice(0, 4), ['1/0x40 NAK (fault)', '1 close', '1/0x40 NAK (fault)', '1 close']);
      assert.equal(i2c.log.filter((l) => l === '1/0x40 write 0xfd [0x10]').length, 2, i2c.log.join('\n'));
      assert.equal(i2c.openDescriptors(), held, 'every bus safe-state opened is closed');
      await logged();
      assert.ok(lines.some((l) => /^warn: nothing answers at address 0x40 on \/dev\/i2c-1/.test(l)), lines.join('\n'));
      assert.ok(
        lines.includes(
          'warn: safe state: the PCA9685 at 0x40 on /dev/i2c-1 could not be initialised, so every channel was switched off through ALL_LED instead (attempt 3 of 5)',
        ),
        lines.join('\n'),
      );
      assert.ok(lines.includes('warn: safe state: 0 of 2 motors stopped and released (pca9685)'), lines.join('\n'));
    });

    it('the prescale does not read back: ALL_LED full-off at once, every channel off, and it says so', async () => {
      const config = await leftDriving();
      faults({ prescaleReadBack: 0x1e });
      const { log, lines } = memoryLogger();
      await safeState(config, log, deps());
      const chip = i2c.chip(1, 0x40);
      assert.ok(chip.channels.every((c) => c.fullOff && c.output === 'low'), JSON.stringify(chip.channels.slice(0, 2)));
      assert.equal(chip.awake, false);
      await logged();
      assert.ok(lines.some((l) => /^warn: the chip at 0x40 on \/dev\/i2c-1 did not keep the prescaler it was given \(wrote 122, read back 30\)/.test(l)), lines.join('\n'));
      assert.ok(lines.some((l) => l.endsWith('switched off through ALL_LED instead (attempt 1 of 5)')), lines.join('\n'));
    });

    it('a chip that never answers: five tries ~100 ms apart, then an error that says the channels may still be driving', async () => {
      const config = await leftDriving();
      faults({ nak: 100 });
      const { log, lines } = memoryLogger();
      await safeState(config, log, deps());
      assert.equal(i2c.log.filter((l) => l === '1/0x40 NAK (fault)').length, 1 + 5);
      assert.ok(channels(0x40).slice(0, 2).every((c) => c.output === 'pwm'), 'nothing reached the chip');
      await logged();
      assert.ok(
        lines.some((l) => l.startsWith('error: safe state: the PCA9685 at 0x40 on /dev/i2c-1 could not be initialised, and ALL_LED full-off failed 5 times 100 ms apart: its channels may still be driving')),
        lines.join('\n'),
      );
    });

    it('another kind of chip at 0x40 (PRE_SCALE reads under 3): probed read-only, nothing written to it, not even ALL_LED', async () => {
      i2c.change((w) => (w.buses['1'].chips['64'].registers[0xfe] = 0));
      const { log, lines } = memoryLogger();
      await safeState(configFor('adafruit-servo-hat'), log, deps());
      assert.deepEqual(i2c.log, ['1/0x40 read 0x00 = 0x11', '1/0x40 read 0xfe = 0x00', '1 close']);
      await logged();
      assert.ok(lines.some((l) => /^warn: the chip at 0x40 on \/dev\/i2c-1 is not a PCA9685: its register 0xfe reads 0/.test(l)), lines.join('\n'));
      assert.ok(!lines.some((l) => l.includes('ALL_LED')), lines.join('\n'));
    });
  });

  const hats = [
    {
      preset: 'adafruit-motor-hat' as const,
      address: 0x60,
      prescale: 3,
      // MotorKit: motor1 = (8, 9, 10), motor2 = (13, 11, 12) as (PWM, forward input, backward input).
      left: { pwm: 8, forward: 9, backward: 10 },
      right: { pwm: 13, forward: 11, backward: 12 },
    },
    {
      preset: 'waveshare-motor-hat' as const,
      address: 0x40,
      prescale: 121,
      // Waveshare's MotorDriver.py: forward = AIN1 (1) low, AIN2 (2) high; BIN1 (3) low, BIN2 (4) high.
      left: { pwm: 0, forward: 2, backward: 1 },
      right: { pwm: 5, forward: 4, backward: 3 },
    },
  ];

  for (const hat of hats) {
    describe(`${hat.preset} (left = ${hat.preset.startsWith('adafruit') ? 'M1' : 'A'}, right = ${hat.preset.startsWith('adafruit') ? 'M2' : 'B'})`, () => {
      /** [PWM duty, forward input, backward input] of each motor. */
      const seen = () =>
        [hat.left, hat.right].map((m) => {
          const c = channels(hat.address);
          return [c[m.pwm].duty, c[m.forward].output, c[m.backward].output];
        });

      it(`opens the chip at ${PRESETS[hat.preset].pca9685.frequencyHz} Hz with every motor coasting`, async () => {
        await open(configFor(hat.preset));
        const chip = i2c.chip(1, hat.address);
        assert.equal(chip.prescale, hat.prescale);
        assert.deepEqual([chip.ignored, chip.violations], [[], []]);
        assert.ok(chip.channels.every((c) => c.output === 'low'));
      });

      it('forward and backward at 50 %: PWM duty on the PWM channel, the direction channels as the vendor drives them', async () => {
        const { hardware } = await open(configFor(hat.preset));
        hardware.motors.write({ left: 0.5, right: 0.5 });
        assert.deepEqual(seen(), [
          [0.5, 'high', 'low'],
          [0.5, 'high', 'low'],
        ]);
        hardware.motors.write({ left: -0.5, right: 0.25 });
        assert.deepEqual(seen(), [
          [0.5, 'low', 'high'],
          [0.25, 'high', 'low'],
        ]);
        hardware.motors.write({ left: 1, right: -1 });
        assert.deepEqual(seen(), [
          [1, 'high', 'low'],
          [1, 'low', 'high'],
        ]);
        hardware.motors.write({ left: 0, right: 0 });
        assert.deepEqual(seen(), [
          [0, 'low', 'low'],
          [0, 'low', 'low'],
        ]);
      });

      it('brakes (both inputs high, PWM full on) when the motors are configured to', async () => {
        const motors = presetMotors(hat.preset).map((m) => ({ ...m, brake: true }));
        const config = loadConfig({
          argv: ['--motors', JSON.stringify(motors), '--pca9685-address', String(hat.address)],
          env: {},
          exists: () => false,
        });
        const { hardware } = await open(config);
        hardware.motors.write({ left: 0.5, right: 0.5 });
        hardware.motors.write({ left: 0, right: 0 });
        assert.deepEqual(seen(), [
          [1, 'high', 'high'],
          [1, 'high', 'high'],
        ]);
      });

      it('shuts down to every channel off, the chip asleep and the bus closed', async () => {
        const { hardware } = await open(configFor(hat.preset));
        hardware.motors.write({ left: 0.5, right: -0.5 });
        await hardware.motors.close();
        const chip = i2c.chip(1, hat.address);
        assert.ok(chip.channels.every((c) => c.output === 'low'));
        assert.equal(chip.awake, false);
        assert.equal(i2c.openDescriptors(), 0);
      });
    });
  }

  it('every preset names its address and frequency, and validates as a configuration', () => {
    for (const preset of Object.keys(PRESETS) as PresetName[]) {
      const config = configFor(preset);
      assert.equal(config.pca9685.address, PRESETS[preset].pca9685.address, preset);
      assert.equal(config.pca9685.frequencyHz, PRESETS[preset].pca9685.frequencyHz, preset);
      assert.deepEqual(
        config.motors.map((m) => m.name),
        ['left', 'right'],
      );
    }
    assert.deepEqual(SERVO_HAT, { address: 0x40, frequencyHz: 50, servoKitCompatible: true });
  });
});
