import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type * as RealI2cBus from 'i2c-bus';
import type { I2cBus, I2cBusModule } from '../../src/boards/pca9685';
import { removeOnExit } from '../support/cleanup';
import { REPO_ROOT, spawnProcess } from '../support/process';
import {
  busWithChips,
  createFakeI2cBus,
  FileStore,
  MemoryStore,
  reportChip,
  writeStateFile,
  type FakeI2c,
} from '../fakes/i2c-bus';

/**
 * The fake i2c-bus and its PCA9685 are what every PCA9685 test stands on, so they are held
 * to the real module (same argument checks, same errors) and to the data sheet's rules.
 */

// carbot's view of i2c-bus asks for nothing the real module's types lack.
const realTypesFit = (real: typeof RealI2cBus): I2cBusModule => real;
void realTypesFit;

function world(): FakeI2c {
  return createFakeI2cBus(new MemoryStore({ buses: { '1': busWithChips(0x40) } }));
}

/** Another program drove channel 0, then put the chip to sleep without stopping it: RESTART is set. */
function sleepWhileRunning(bus: I2cBus): void {
  bus.writeByteSync(0x40, 0x00, 0x21);
  bus.writeI2cBlockSync(0x40, 0x06, 4, Buffer.from([0, 0, 0x00, 0x04]));
  bus.writeByteSync(0x40, 0x00, 0x31);
}

function thrown(fn: () => unknown): NodeJS.ErrnoException {
  try {
    fn();
  } catch (err) {
    return err as NodeJS.ErrnoException;
  }
  return assert.fail('expected an error');
}

const errorShape = (e: NodeJS.ErrnoException) => ({ message: e.message, code: e.code, errno: e.errno, syscall: e.syscall, path: e.path });

describe('fake i2c-bus', () => {
  describe('against the real module', () => {
    const real = require('i2c-bus') as typeof RealI2cBus;

    it('refuses the same bad arguments with the same messages', () => {
      const fake = world();
      const cases: [string, (m: I2cBusModule) => unknown][] = [
        ['bus number', (m) => m.openSync(-1)],
        ['address', (m) => m.openSync(4242).readByteSync(0x80, 0)],
        ['command', (m) => m.openSync(4242).writeByteSync(0x40, 256, 0)],
        ['byte', (m) => m.openSync(4242).writeByteSync(0x40, 0, 256)],
        ['block length', (m) => m.openSync(4242).writeI2cBlockSync(0x40, 6, 33, Buffer.alloc(33))],
        ['short buffer', (m) => m.openSync(4242).writeI2cBlockSync(0x40, 6, 4, Buffer.alloc(2))],
      ];
      for (const [what, call] of cases) {
        assert.equal(thrown(() => call(fake)).message, thrown(() => call(real)).message, what);
      }
    });

    it('fails on a missing /dev/i2c-N with the same error, at the first transfer', () => {
      const fake = createFakeI2cBus(new MemoryStore({ buses: {} }));
      const realBus = real.openSync(4242);
      const fakeBus = fake.openSync(4242);
      assert.deepEqual(
        errorShape(thrown(() => fakeBus.writeByteSync(0x40, 0, 0))),
        errorShape(thrown(() => realBus.writeByteSync(0x40, 0, 0))),
      );
      realBus.closeSync();
    });

    it('gives a NAK the native addon’s error shape', () => {
      const fake = world();
      const err = thrown(() => fake.openSync(1).writeByteSync(0x41, 0, 0));
      assert.deepEqual(errorShape(err), {
        message: 'EREMOTEIO, Remote I/O error',
        code: 'EREMOTEIO',
        errno: 121,
        syscall: 'writeByteSync',
        path: undefined,
      });
    });
  });

  describe('PCA9685 model (NXP data sheet)', () => {
    it('comes out of reset asleep at PRE_SCALE 0x1E with every channel full off', () => {
      const chip = world().chip(1, 0x40);
      assert.equal(chip.awake, false);
      assert.equal(chip.prescale, 0x1e);
      assert.equal(chip.autoIncrement, false);
      assert.equal(chip.totemPole, true);
      assert.ok(chip.channels.every((c) => c.fullOff && !c.fullOn && c.output === 'low'));
    });

    it('ignores PRE_SCALE while awake, takes it asleep, and forces at least 3', () => {
      const i2c = world();
      const bus = i2c.openSync(1);
      bus.writeByteSync(0x40, 0xfe, 121);
      assert.equal(i2c.chip(1, 0x40).prescale, 121, 'asleep after reset: taken');
      bus.writeByteSync(0x40, 0x00, 0x01);
      bus.writeByteSync(0x40, 0xfe, 3);
      assert.equal(i2c.chip(1, 0x40).prescale, 121);
      assert.deepEqual(i2c.chip(1, 0x40).ignored, ['PRE_SCALE = 3 while awake']);
      bus.writeByteSync(0x40, 0x00, 0x11);
      bus.writeByteSync(0x40, 0xfe, 1);
      assert.equal(i2c.chip(1, 0x40).prescale, 3);
    });

    it('puts every byte of a block into one register without auto-increment, and walks the registers with it', () => {
      const i2c = world();
      const bus = i2c.openSync(1);
      bus.writeI2cBlockSync(0x40, 0x06, 4, Buffer.from([0, 0, 0x00, 0x08]));
      let c = i2c.chip(1, 0x40).channels[0];
      assert.deepEqual([c.on, c.off, c.fullOff], [0x08, 0, true], 'all four bytes landed in LED0_ON_L: the last one stays');
      bus.writeByteSync(0x40, 0x00, 0x20);
      bus.writeI2cBlockSync(0x40, 0x06, 4, Buffer.from([0, 0, 0x00, 0x08]));
      c = i2c.chip(1, 0x40).channels[0];
      assert.deepEqual([c.on, c.off, c.fullOff, c.duty], [0, 0x800, false, 0.5]);
      // Past LED15_OFF_H (0x45) the pointer goes to MODE1.
      bus.writeI2cBlockSync(0x40, 0x45, 2, Buffer.from([0x00, 0x01]));
      assert.equal(i2c.chip(1, 0x40).autoIncrement, false, 'the second byte landed in MODE1');
      assert.equal(i2c.chip(1, 0x40).channels[15].fullOff, false);
    });

    it('loads ALL_LED into every channel, reads it as zero, and lets full off win over full on', () => {
      const i2c = world();
      const bus = i2c.openSync(1);
      bus.writeByteSync(0x40, 0x00, 0x21);
      bus.writeByteSync(0x40, 0xfb, 0x10);
      assert.ok(i2c.chip(1, 0x40).channels.every((c) => c.fullOn && c.fullOff && c.output === 'low'));
      bus.writeByteSync(0x40, 0xfd, 0x00);
      assert.ok(i2c.chip(1, 0x40).channels.every((c) => c.output === 'high'));
      assert.equal(bus.readByteSync(0x40, 0xfb), 0);
      bus.writeByteSync(0x40, 0xfd, 0xff);
      assert.equal(i2c.chip(1, 0x40).channels[7].off, 0xf00, 'bits 7:5 of an _H register are not writable');
    });

    it('does not acknowledge reserved registers, and lists a TestMode write as forbidden', () => {
      const i2c = world();
      const bus = i2c.openSync(1);
      assert.equal(thrown(() => bus.writeByteSync(0x40, 0x46, 0)).code, 'EREMOTEIO');
      assert.equal(thrown(() => bus.readByteSync(0x40, 0xf9)).code, 'EREMOTEIO');
      bus.writeByteSync(0x40, 0xff, 1);
      assert.deepEqual(i2c.chip(1, 0x40).violations, ['TestMode (0xff) written with 0x01']);
    });

    it('restart: sleeping with a channel running sets RESTART; a restart sooner than 500 µs after waking is a violation', () => {
      let ms = 0;
      const i2c = createFakeI2cBus(new MemoryStore({ buses: { '1': busWithChips(0x40) } }), { clock: () => ms });
      const bus = i2c.openSync(1);
      sleepWhileRunning(bus);
      assert.equal(i2c.chip(1, 0x40).restartPending, true);
      bus.writeByteSync(0x40, 0x00, 0x21);
      ms += 0.499;
      bus.writeByteSync(0x40, 0x00, 0xa1);
      assert.equal(i2c.chip(1, 0x40).restartPending, false);
      assert.deepEqual(i2c.chip(1, 0x40).violations, ['MODE1.RESTART written less than 500 µs after SLEEP was cleared']);

      // 500 µs after waking is soon enough.
      sleepWhileRunning(bus);
      bus.writeByteSync(0x40, 0x00, 0x21);
      ms += 0.5;
      bus.writeByteSync(0x40, 0x00, 0xa1);
      assert.equal(i2c.chip(1, 0x40).restartPending, false);
      assert.equal(i2c.chip(1, 0x40).violations.length, 1);

      // After an orderly shutdown (ALL_LED_OFF_H full off) sleeping leaves no restart pending.
      bus.writeByteSync(0x40, 0xfd, 0x10);
      bus.writeByteSync(0x40, 0x00, 0x31);
      assert.equal(i2c.chip(1, 0x40).restartPending, false);
    });

    it('a LEDn write clears a pending restart (MODE2.OCH = 0)', () => {
      const i2c = world();
      const bus = i2c.openSync(1);
      sleepWhileRunning(bus);
      bus.writeByteSync(0x40, 0xfd, 0x10);
      assert.equal(i2c.chip(1, 0x40).restartPending, true, 'ALL_LED alone does not clear it in the model');
      bus.writeByteSync(0x40, 0x09, 0x10);
      assert.equal(i2c.chip(1, 0x40).restartPending, false);
    });

    it('reports pulse widths from the current prescale', () => {
      const i2c = world();
      const bus = i2c.openSync(1);
      bus.writeByteSync(0x40, 0xfe, 121);
      bus.writeByteSync(0x40, 0x00, 0x21);
      bus.writeI2cBlockSync(0x40, 0x0a, 4, Buffer.from([0, 0, 307 & 0xff, 307 >> 8]));
      assert.equal(i2c.chip(1, 0x40).channels[1].pulseUs.toFixed(1), '1498.2');
      assert.equal(i2c.chip(1, 0x40).periodUs.toFixed(2), '19988.48');
    });
  });

  describe('faults a test injects (the bus or the HAT, not the chip)', () => {
    it('nak: the next N transactions are not acknowledged, as for a missing chip, then the chip answers; the count survives a FileStore', () => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'carbot-i2c-fault-'));
      const remove = removeOnExit(dir);
      try {
        const file = writeStateFile(dir, { buses: { '1': { ...busWithChips(0x40), nak: 'ENXIO' } } });
        const i2c = createFakeI2cBus(new FileStore(file));
        i2c.change((w) => (w.buses['1'].chips['64'].faults = { nak: 2 }));
        const bus = i2c.openSync(1);
        for (let i = 0; i < 2; i++) {
          const err = thrown(() => bus.writeByteSync(0x40, 0xfd, 0x10));
          assert.equal(err.code, 'ENXIO');
          assert.equal(err.syscall, 'writeByteSync');
          // Another process sees the count where this one left it.
          assert.equal(createFakeI2cBus(new FileStore(file)).world().buses['1'].chips['64'].faults?.nak, 1 - i);
        }
        assert.equal(bus.readByteSync(0x40, 0x00), 0x11);
        assert.deepEqual(i2c.log, ['1/0x40 NAK (fault)', '1/0x40 NAK (fault)', '1/0x40 read 0x00 = 0x11']);
        bus.closeSync();
      } finally {
        remove();
      }
    });

    it('prescaleReadBack: PRE_SCALE reads as before until it is written, then as the fault says, while the chip uses what was written', () => {
      const i2c = world();
      i2c.change((w) => (w.buses['1'].chips['64'].faults = { prescaleReadBack: 0x1e }));
      const bus = i2c.openSync(1);
      assert.equal(bus.readByteSync(0x40, 0xfe), 0x1e);
      bus.writeByteSync(0x40, 0xfe, 121);
      assert.equal(bus.readByteSync(0x40, 0xfe), 0x1e);
      assert.equal(i2c.chip(1, 0x40).prescale, 121);
      bus.closeSync();
    });
  });

  describe('shared with a child process', () => {
    let dir: string;
    let removeDir: () => void;
    beforeEach(() => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'carbot-i2c-'));
      removeDir = removeOnExit(dir);
    });
    afterEach(() => removeDir());

    it('the preload gives compiled code the fake, and the chip keeps what a SIGKILLed process left', async () => {
      const file = writeStateFile(dir, { buses: { '1': busWithChips(0x40) } });
      const preload = path.join(REPO_ROOT, 'test', 'fakes', 'i2c-bus-preload.js');
      const board = path.join(REPO_ROOT, 'dist', 'boards', 'pca9685.js');
      const drive = `
        const { openPca9685Board } = require(${JSON.stringify(board)});
        openPca9685Board({ bus: 1, address: 0x40, frequencyHz: 50 }).then(async (board) => {
          (await board.openPulses(0)).setPulse(1125);
          (await board.openPulses(1)).setPulse(1875);
          console.log('driving');
          setInterval(() => {}, 1000);
        });`;
      const env = { CARBOT_FAKE_I2C_STATE: file };
      const car = spawnProcess(process.execPath, ['--require', preload, '-e', drive], env);
      await car.waitForLine(/driving/, 15000);
      assert.equal((await car.kill('SIGKILL')).signal, 'SIGKILL');

      let chip = reportChip(new FileStore(file).load().buses['1'].chips['64']);
      assert.equal(chip.awake, true);
      assert.deepEqual(
        chip.channels.slice(0, 2).map((c) => Math.round(c.pulseUs)),
        [1127, 1874],
        'what the dead process left on the servos',
      );

      const stop = `
        const { stopPca9685 } = require(${JSON.stringify(board)});
        console.log(JSON.stringify(stopPca9685({ bus: 1, address: 0x40 }).map((e) => e.message)));`;
      const safe = spawnProcess(process.execPath, ['--require', preload, '-e', stop], env);
      assert.equal((await safe.exited).code, 0, safe.output());
      assert.equal(safe.stdout.at(-1), '[]');
      chip = reportChip(new FileStore(file).load().buses['1'].chips['64']);
      assert.ok(chip.channels.every((c) => c.output === 'low'));
      assert.equal(chip.awake, false);
    });

    it('a preload without CARBOT_FAKE_I2C_STATE says so instead of reaching for real hardware', async () => {
      const preload = path.join(REPO_ROOT, 'test', 'fakes', 'i2c-bus-preload.js');
      const proc = spawnProcess(process.execPath, ['--require', preload, '-e', 'require("i2c-bus")']);
      assert.equal((await proc.exited).code, 1);
      assert.match(proc.output(), /CARBOT_FAKE_I2C_STATE must name the fake I2C state file/);
    });
  });
});
