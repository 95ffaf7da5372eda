import assert from 'node:assert/strict';
import {
  frequencyOf,
  frequencyProblem,
  openPca9685Board,
  periodUsOf,
  prescaleFor,
  stopPca9685,
  MAX_FREQUENCY_HZ,
  MIN_FREQUENCY_HZ,
  type Pca9685Options,
} from '../../src/boards/pca9685';
import { BoardError, type Board } from '../../src/boards/types';
import { fakeRequire } from '../fakes/call-log';
import { busWithChips, createFakeI2cBus, MemoryStore, type FakeI2c } from '../fakes/i2c-bus';
import { ServoKitModel } from '../support/servokit';

/** The original car's board: ServoKit's defaults. */
const SERVO_HAT: Pca9685Options = { bus: 1, address: 0x40, frequencyHz: 50 };
const MOTOR_HAT: Pca9685Options = { bus: 1, address: 0x60, frequencyHz: 1600 };

function world(...addresses: number[]): FakeI2c {
  return createFakeI2cBus(new MemoryStore({ buses: { '1': busWithChips(...addresses) } }));
}

const deps = (i2c: FakeI2c) => ({ requireModule: fakeRequire({ 'i2c-bus': () => i2c }), userName: 'carbot' });

async function rejection(promise: Promise<unknown>): Promise<BoardError> {
  const err = await promise.then(
    () => assert.fail('expected a BoardError'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof BoardError, `expected a BoardError, got ${String(err)}`);
  return err;
}

/** Half a count: what 12-bit steps can come closest to a pulse width. */
const halfCountUs = (prescale: number) => periodUsOf(prescale) / 4096 / 2;

describe('pca9685 board', () => {
  const open: Board[] = [];
  const openBoard = async (i2c: FakeI2c, options = SERVO_HAT) => {
    const board = await openPca9685Board(options, deps(i2c));
    open.push(board);
    return board;
  };
  afterEach(() => {
    for (const board of open.splice(0)) board.close();
  });

  describe('prescale and frequency', () => {
    it('follows the data sheet: 200 Hz is its example 30 (0x1E), servos at 50 Hz get 121, the motor HAT’s 1600 Hz gets 3', () => {
      assert.equal(prescaleFor(200), 30);
      assert.equal(prescaleFor(50), 121);
      assert.equal(prescaleFor(1600), 3);
      assert.equal(frequencyOf(121).toFixed(2), '50.03');
      assert.equal(frequencyOf(3).toFixed(1), '1525.9');
    });

    it(`accepts ${MIN_FREQUENCY_HZ}–${MAX_FREQUENCY_HZ} Hz, the range whose prescale is 3–255, and says why for others`, () => {
      assert.equal(prescaleFor(MIN_FREQUENCY_HZ), 253);
      assert.equal(prescaleFor(MAX_FREQUENCY_HZ), 3);
      assert.equal(prescaleFor(MAX_FREQUENCY_HZ + 1), 2);
      assert.ok(prescaleFor(MIN_FREQUENCY_HZ - 1) > 255);
      for (const ok of [MIN_FREQUENCY_HZ, 50, 1600, MAX_FREQUENCY_HZ]) assert.equal(frequencyProblem(ok), undefined);
      assert.match(frequencyProblem(1744) ?? '', /1744 Hz is out of a PCA9685's range.*24–1743 Hz/);
      assert.match(frequencyProblem(10) ?? '', /10 Hz is out of/);
      assert.match(frequencyProblem('50') ?? '', /must be a frequency in Hz from 24 to 1743, got "50"/);
    });
  });

  describe('opening', () => {
    it('initialises a chip from power-on as the data sheet asks: all off, asleep for PRE_SCALE, awake with auto-increment', async () => {
      const i2c = world(0x40);
      const board = await openBoard(i2c);
      const chip = i2c.chip(1, 0x40);
      assert.equal(chip.prescale, 121, 'PRE_SCALE taken (written while asleep)');
      assert.deepEqual(chip.ignored, []);
      assert.deepEqual(chip.violations, []);
      assert.equal(chip.awake, true);
      assert.equal(chip.autoIncrement, true);
      assert.equal(chip.totemPole, true);
      assert.equal(chip.restartPending, false);
      assert.ok(chip.channels.every((c) => c.output === 'low' && c.fullOff));
      assert.equal(board.kind, 'pca9685');
      assert.equal(board.description, 'PCA9685 at 0x40 on /dev/i2c-1, 50 Hz');
      // Read-only first (0x40 may be a sensor), then every channel off before anything else is written.
      assert.deepEqual(i2c.log.slice(0, 3), ['1/0x40 read 0x00 = 0x11', '1/0x40 read 0xfe = 0x1e', '1/0x40 write 0xfd [0x10]']);
    });

    it('takes over a chip another program left awake and driving: off first, then the new prescale', async () => {
      const i2c = world(0x40);
      const other = i2c.openSync(1);
      other.writeByteSync(0x40, 0x00, 0x20); // awake, auto-increment: PRE_SCALE now locked
      other.writeI2cBlockSync(0x40, 0x06, 4, Buffer.from([0, 0, 0x00, 0x08])); // channel 0 at half
      other.writeI2cBlockSync(0x40, 0x0a, 4, Buffer.from([0, 0x10, 0, 0])); // channel 1 full on
      other.closeSync();
      assert.equal(i2c.chip(1, 0x40).channels[0].duty, 0.5);

      await openBoard(i2c, { ...MOTOR_HAT, address: 0x40 });
      const chip = i2c.chip(1, 0x40);
      assert.equal(chip.prescale, 3);
      assert.deepEqual(chip.ignored, []);
      assert.ok(chip.channels.every((c) => c.output === 'low'));
      assert.equal(chip.restartPending, false, 'an orderly shutdown before sleep leaves no restart pending');
    });

    it('restarts a chip that was put to sleep with channels running, at least 500 µs after waking it', async () => {
      const i2c = world(0x40);
      const other = i2c.openSync(1);
      other.writeByteSync(0x40, 0x00, 0x20);
      other.writeI2cBlockSync(0x40, 0x06, 4, Buffer.from([0, 0, 0x00, 0x04]));
      other.writeByteSync(0x40, 0x00, 0x30); // sleep while channel 0 runs: RESTART set
      other.closeSync();
      assert.equal(i2c.chip(1, 0x40).restartPending, true);

      await openBoard(i2c);
      const chip = i2c.chip(1, 0x40);
      assert.equal(chip.restartPending, false);
      assert.deepEqual(chip.violations, []);
      assert.ok(i2c.log.includes('1/0x40 write 0x00 [0xa0]'), `restart written:\n${i2c.log.join('\n')}`);
    });

    it('refuses a chip that does not keep the prescaler, as something other than a PCA9685 would', async () => {
      // A chip whose MODE1 never takes SLEEP, so its PRE_SCALE stays locked at the reset value.
      const fake = world(0x40);
      const original = fake.openSync.bind(fake);
      fake.openSync = (n) => {
        const bus = original(n);
        const write = bus.writeByteSync.bind(bus);
        bus.writeByteSync = (a, c, b) => write(a, c, c === 0x00 ? b & ~0x10 : b);
        return bus;
      };
      const err = await rejection(openPca9685Board(SERVO_HAT, deps(fake)));
      assert.equal(err.problem, 'not-a-pca9685');
      assert.match(err.message, /did not keep the prescaler it was given \(wrote 121, read back 30\).*i2cdetect -y 1/);
      assert.equal(fake.openDescriptors(), 0, 'the bus is closed again');
    });
  });

  describe('errors, one actionable message each', () => {
    it('no /dev/i2c-1: how to enable I2C', async () => {
      const i2c = createFakeI2cBus(new MemoryStore({ buses: {} }));
      const err = await rejection(openPca9685Board(SERVO_HAT, deps(i2c)));
      assert.equal(err.problem, 'no-bus');
      assert.match(err.message, /^\/dev\/i2c-1 does not exist/);
      assert.match(err.message, /dtparam=i2c_arm=on.*\/boot\/firmware\/config\.txt.*raspi-config.*reboot/);
      assert.equal((err.cause as NodeJS.ErrnoException).code, 'ENOENT');
    });

    it('no permission: the i2c group', async () => {
      const i2c = world(0x40);
      i2c.change((w) => (w.buses['1'].permitted = false));
      const err = await rejection(openPca9685Board(SERVO_HAT, deps(i2c)));
      assert.equal(err.problem, 'permission');
      assert.match(err.message, /no permission to open \/dev\/i2c-1 as user carbot \(EACCES\).*sudo usermod -aG i2c carbot/);
    });

    for (const nak of ['EREMOTEIO', 'ENXIO'] as const) {
      it(`nothing at the address (${nak}): wiring, power, jumpers, i2cdetect`, async () => {
        const i2c = world(0x60);
        i2c.change((w) => (w.buses['1'].nak = nak));
        const err = await rejection(openPca9685Board(SERVO_HAT, deps(i2c)));
        assert.equal(err.problem, 'no-answer');
        assert.match(err.message, new RegExp(`^nothing answers at address 0x40 on /dev/i2c-1 \\(${nak}`));
        assert.match(err.message, /powered.*SDA\/SCL.*A0–A5.*"i2cdetect -y 1"/);
        assert.equal(i2c.openDescriptors(), 0);
      });
    }

    it('an address a kernel driver holds (EBUSY): the dtoverlay to remove', async () => {
      const i2c = world(0x40);
      i2c.change((w) => (w.buses['1'].claimed = [0x40]));
      const err = await rejection(openPca9685Board(SERVO_HAT, deps(i2c)));
      assert.equal(err.problem, 'address-busy');
      assert.match(err.message, /held by a kernel driver.*dtoverlay/);
    });

    it('i2c-bus not installed, or its addon not built', async () => {
      const missing = await rejection(openPca9685Board(SERVO_HAT, { requireModule: fakeRequire({}) }));
      assert.equal(missing.problem, 'module-missing');
      assert.match(missing.message, /npm ci/);
      const unbuilt = await rejection(
        openPca9685Board(SERVO_HAT, {
          requireModule: () => {
            throw new Error('Could not locate the bindings file. Tried:\n → .../build/Release/i2c.node');
          },
        }),
      );
      assert.equal(unbuilt.problem, 'addon-missing');
      assert.match(unbuilt.message, /Could not locate the bindings file\. Tried:\)?.*npm rebuild i2c-bus/);
    });

    it('bad options are refused together before the bus is touched', async () => {
      const i2c = world(0x40);
      const err = await rejection(openPca9685Board({ bus: -1, address: 0x20, frequencyHz: 5000 }, deps(i2c)));
      assert.equal(err.problem, 'bad-options');
      assert.match(err.message, /bus must be.*; address must be a PCA9685 address from 64 to 119.*; frequency 5000 Hz is out/);
      assert.deepEqual(i2c.log, []);
    });

    it('a chip that stops answering while driving: the write throws the same message', async () => {
      const i2c = world(0x40);
      const board = await openBoard(i2c);
      const servo = await board.openPulses(0);
      i2c.change((w) => delete w.buses['1'].chips['64']);
      assert.throws(() => servo.setPulse(1500), (e: unknown) => e instanceof BoardError && e.problem === 'no-answer');
    });
  });

  describe('servo pulses', () => {
    it('without servoKitCompatible, throttle t gives 1500 + 750·t µs true to half a count, at the data sheet’s prescale 121', async () => {
      const i2c = world(0x40);
      const board = await openBoard(i2c);
      const servo = await board.openPulses(0);
      assert.equal(servo.setThrottle, undefined);
      const { prescale } = i2c.chip(1, 0x40);
      assert.equal(prescale, 121);
      for (const t of [-1, -0.5, -0.25, 0, 0.25, 0.5, 1]) {
        const us = 1500 + 750 * t;
        servo.setPulse(us);
        const channel = i2c.chip(1, 0x40).channels[0];
        assert.ok(Math.abs(channel.pulseUs - us) <= halfCountUs(prescale), `${us} µs became ${channel.pulseUs}`);
      }
    });

    it('servoKitCompatible: PRE_SCALE 122 and, for every throttle carbot.py could send, the very LEDn words ServoKit wrote', async () => {
      const i2c = world(0x40);
      const board = await openBoard(i2c, { ...SERVO_HAT, servoKitCompatible: true });
      const servo = await board.openPulses(0);
      assert.ok(servo.setThrottle);
      const kit = new ServoKitModel();
      const chip = () => i2c.chip(1, 0x40);
      assert.equal(chip().prescale, kit.prescale);
      assert.equal(chip().prescale, 122);
      assert.equal(board.description, 'PCA9685 at 0x40 on /dev/i2c-1, 50 Hz as ServoKit sets it (prescale 122: really 49.6 Hz)');
      for (let tenths = -10; tenths <= 10; tenths++) {
        const t = tenths / 10;
        servo.setThrottle(t, 750, 2250);
        kit.throttle(0, t);
        const { on, off, fullOn } = chip().channels[0];
        assert.deepEqual({ on: on | (fullOn ? 0x1000 : 0), off }, kit.channels.get(0), `throttle ${t}`);
      }
      // What the servo sees: ServoKit's neutral count 307 at the chip's real 49.6 Hz is 1510 µs, not 1500.
      servo.setThrottle(0, 750, 2250);
      assert.equal(chip().channels[0].off, 307);
      assert.equal(chip().channels[0].pulseUs.toFixed(0), '1510');
      assert.throws(() => servo.setThrottle?.(1.5, 750, 2250), RangeError);
      assert.equal(chip().channels[0].off, 307, 'a refused throttle changes nothing');
    });

    it('0 µs switches the pulses off; a pulse of a whole period or more is refused and changes nothing', async () => {
      const i2c = world(0x40);
      const board = await openBoard(i2c);
      const servo = await board.openPulses(3);
      servo.setPulse(1500);
      assert.throws(() => servo.setPulse(20000), RangeError);
      assert.throws(() => servo.setPulse(Number.NaN), RangeError);
      assert.equal(i2c.chip(1, 0x40).channels[3].off, 307);
      servo.setPulse(0);
      assert.equal(i2c.chip(1, 0x40).channels[3].output, 'low');
    });

    it('is refused on a board too fast for servo pulses', async () => {
      const i2c = world(0x60);
      const board = await openBoard(i2c, MOTOR_HAT);
      const err = await rejection(board.openPulses(0));
      assert.equal(err.problem, 'too-fast-for-servos');
      assert.match(err.message, /period of 655 µs, shorter than a servo pulse can be \(2500 µs\).*at most 400 Hz/);
    });
  });

  describe('PWM and digital outputs', () => {
    it('duty 0..1 becomes 12-bit counts: 0 full off, 1 full on, otherwise ON = 0 and OFF = round(duty · 4096)', async () => {
      const i2c = world(0x60);
      const board = await openBoard(i2c, MOTOR_HAT);
      const pwm = await board.openPwm(8, 1600);
      const seen = (duty: number) => {
        pwm.setDuty(duty);
        const c = i2c.chip(1, 0x60).channels[8];
        return [c.on, c.off, c.fullOn, c.fullOff, c.output];
      };
      assert.deepEqual(seen(0.5), [0, 2048, false, false, 'pwm']);
      assert.deepEqual(seen(0.25), [0, 1024, false, false, 'pwm']);
      assert.deepEqual(seen(1), [0, 0, true, false, 'high']);
      assert.deepEqual(seen(0), [0, 0, false, true, 'low']);
      assert.deepEqual(seen(0.0001), [0, 0, false, true, 'low'], 'never ON = OFF: a duty under half a count is full off');
      assert.deepEqual(seen(0.99995), [0, 0, true, false, 'high']);
      assert.equal(i2c.chip(1, 0x60).channels[8].pulseUs, periodUsOf(3));
      pwm.setDuty(0.5);
      assert.throws(() => pwm.setDuty(1.5), RangeError);
      assert.equal(i2c.chip(1, 0x60).channels[8].duty, 0.5, 'a refused duty changes nothing');
    });

    it('one frequency for the chip: a channel at a frequency with another prescale is refused, naming both', async () => {
      const i2c = world(0x40);
      const board = await openBoard(i2c);
      const err = await rejection(board.openPwm(0, 1600));
      assert.equal(err.problem, 'frequency-conflict');
      assert.match(err.message, /channel 0 asks for 1600 Hz \(prescale 3\), but the PCA9685 at 0x40 on \/dev\/i2c-1 runs at 50 Hz \(prescale 121\): its 16 channels share one frequency/);
      await board.openPwm(0, 50);
      const hat = await openBoard(world(0x60), MOTOR_HAT);
      await hat.openPwm(8, 1526); // what 1600 Hz really is: the same prescale
    });

    it('digital outputs are full on and full off (a TB6612’s IN1/IN2 on a motor HAT)', async () => {
      const i2c = world(0x60);
      const board = await openBoard(i2c, MOTOR_HAT);
      const in1 = await board.openOutput(9, 1);
      const in2 = await board.openOutput(10, 0);
      const levels = () => [9, 10].map((ch) => i2c.chip(1, 0x60).channels[ch].output);
      assert.deepEqual(levels(), ['high', 'low']);
      in1.write(0);
      in2.write(1);
      assert.deepEqual(levels(), ['low', 'high']);
      in2.close();
      assert.deepEqual(levels(), ['low', 'low']);
    });

    it('has no inputs, refuses a channel twice or out of 0–15', async () => {
      const board = await openBoard(world(0x40));
      assert.equal((await rejection(board.openInput(4, 'up'))).problem, 'no-inputs');
      await board.openPulses(15);
      const twice = await rejection(board.openOutput(15, 0));
      assert.equal(twice.problem, 'channel-in-use');
      assert.match(twice.message, /channel 15 of .* is already used as servo pulses/);
      assert.equal((await rejection(board.openPulses(16))).problem, 'bad-channel');
    });
  });

  describe('closing', () => {
    it('a channel closes to full off and can be opened again', async () => {
      const i2c = world(0x40);
      const board = await openBoard(i2c);
      const servo = await board.openPulses(1);
      servo.setPulse(1875);
      servo.close();
      servo.close();
      assert.equal(i2c.chip(1, 0x40).channels[1].output, 'low');
      assert.throws(() => servo.setPulse(1500), BoardError);
      await board.openPulses(1);
    });

    it('the board closes to every channel full off through ALL_LED, the chip asleep, the bus closed', async () => {
      const i2c = world(0x40);
      const board = await openPca9685Board(SERVO_HAT, deps(i2c));
      const left = await board.openPulses(0);
      const right = await board.openPulses(1);
      left.setPulse(1125);
      right.setPulse(1875);
      const from = i2c.log.length;
      assert.deepEqual(board.close(), []);
      assert.deepEqual(i2c.log.slice(from), ['1/0x40 write 0xfd [0x10]', '1/0x40 write 0x00 [0x31]', '1 close']);
      const chip = i2c.chip(1, 0x40);
      assert.ok(chip.channels.every((c) => c.output === 'low'));
      assert.equal(chip.awake, false);
      assert.equal(chip.restartPending, false);
      assert.equal(i2c.openDescriptors(), 0);
      assert.deepEqual(board.close(), [], 'a second close does nothing');
      assert.throws(() => left.setPulse(1500), BoardError);
    });

    it('returns what failed instead of throwing, and still closes the bus', async () => {
      const i2c = world(0x40);
      const board = await openPca9685Board(SERVO_HAT, deps(i2c));
      i2c.change((w) => delete w.buses['1'].chips['64']);
      const errors = board.close();
      assert.equal(errors.length, 2);
      assert.ok(errors.every((e) => e instanceof BoardError && e.problem === 'no-answer'));
      assert.equal(i2c.openDescriptors(), 0);
    });

    it('stopPca9685 brings a chip a dead process left driving to all off and asleep, without initialising it', async () => {
      const i2c = world(0x40);
      const board = await openPca9685Board(SERVO_HAT, deps(i2c)); // never closed: the process "died"
      (await board.openPulses(0)).setPulse(1875);
      assert.deepEqual(stopPca9685({ bus: 1, address: 0x40 }, deps(i2c)), []);
      const chip = i2c.chip(1, 0x40);
      assert.ok(chip.channels.every((c) => c.output === 'low'));
      assert.equal(chip.awake, false);
      assert.equal(chip.prescale, 121);
      const missing = stopPca9685({ bus: 2, address: 0x40 }, deps(i2c));
      assert.equal(missing.length, 2);
      assert.equal((missing[0] as BoardError).problem, 'no-bus');
    });
  });
});
