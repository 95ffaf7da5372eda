import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { I2cBus, I2cBusModule } from '../../src/boards/pca9685';

/**
 * A fake of the i2c-bus npm module (fivdi/i2c-bus 5.x) holding I2C buses and register-level
 * PCA9685 chips, for the functions carbot's pca9685 board uses: openSync, and a Bus's
 * readByteSync, writeByteSync, writeI2cBlockSync and closeSync.
 *
 * Like the real module (i2c-bus.js): arguments are checked with the same messages; openSync
 * opens nothing, and the first access to an address opens /dev/i2c-N (a missing bus or a
 * missing permission is Node's fs error: `ENOENT: no such file or directory, open
 * '/dev/i2c-1'`), then sets the address with the I2C_SLAVE ioctl (EBUSY when a kernel driver
 * holds it); a transfer nobody acknowledges fails with the native addon's error shape
 * (`EREMOTEIO, Remote I/O error`, errno 121, syscall `writeByteSync`). Both Raspberry Pi I2C
 * controllers return EREMOTEIO for a NAK (i2c-bcm2835: `msg_err & BCM2835_I2C_S_ERR`; the
 * Pi 5's i2c-designware: `DW_IC_TX_ABRT_NOACK`); other adapters follow the kernel's
 * Documentation/i2c/fault-codes.rst and return ENXIO, which a bus can be set to.
 *
 * The chip follows the NXP PCA9685 product data sheet (Rev. 4, 16 April 2015):
 * - register map and reset values, Table 4/5/6/7: MODE1 = 0x11 (SLEEP, ALLCALL), MODE2 =
 *   0x04 (OUTDRV), SUBADR1–3 = 0xE2/0xE4/0xE8, ALLCALLADR = 0xE0, LEDn_OFF_H = 0x10 (every
 *   channel full off), PRE_SCALE = 0x1E (200 Hz); bits 7:5 of every _H register read 0;
 * - "Writes to PRE_SCALE register are blocked when SLEEP bit is logic 0" (Table 4 note 1),
 *   and "the hardware forces a minimum value ... at 3" (§7.3.5): a write while awake is
 *   ignored (and listed in `ignored`);
 * - auto-increment (MODE1.AI): the control register advances after each byte, past 69
 *   (LED15_OFF_H) to 0, and from 250 to 254, then to 0; without AI every byte of a block
 *   lands in the same register, as on the chip;
 * - ALL_LED_ON/OFF (0xFA–0xFD) load the same byte into all 16 channels and read zero (§7.3.4);
 * - full on (LEDn_ON_H bit 4) and full off (LEDn_OFF_H bit 4); full off wins (§7.3.3);
 * - "reserved addresses will not be acknowledged" (0x46–0xF9): a NAK; TestMode (0xFF)
 *   "may cause unpredictable results": listed in `violations`;
 * - restart (§7.3.1.1): setting SLEEP while a channel runs sets RESTART, after an orderly
 *   shutdown (every channel full off) it clears it; channels wait for RESTART to be written
 *   with 1, which must come at least 500 µs after SLEEP was cleared (else a violation);
 *   writing a LEDn register clears it too (OCH = 0: at the STOP). The model reads "any PWM
 *   register" strictly, as LEDn registers, so ALL_LED writes alone do not clear it.
 * - EXTCLK is sticky; writing 0 to RESTART does nothing.
 *
 * The whole world (buses, chips) is plain data kept by a store: in memory for a test, or in
 * a JSON file (FileStore) that a child process writes on every transaction, so a test can
 * read what each channel carries after the process was killed.
 */

/** Linux errno values (asm-generic/errno.h); Node's os.constants.errno does not list EREMOTEIO. */
const ERRNO = { EREMOTEIO: 121, ENXIO: 6, EBUSY: 16 } as const;

export interface ChipState {
  registers: number[];
  /** When SLEEP was last cleared (ms, comparable across processes); undefined while asleep. */
  wokeAt?: number;
  /** Writes the chip ignored, e.g. "PRE_SCALE = 121 while awake". */
  ignored: string[];
  /** Writes the data sheet forbids. */
  violations: string[];
  /** Faults a test injects: not the chip's rules but the bus's or the HAT's (see ChipFaults). */
  faults?: ChipFaults;
}

/**
 * What goes wrong around a good chip. `nak`: the chip acknowledges none of its next N
 * transactions (a HAT whose supply is still coming up at boot, a loose SDA wire), which the
 * adapter reports as for a missing chip. `prescaleReadBack`: once PRE_SCALE has been written,
 * reads of it return this value (two devices answering at one address, whose open-drain
 * outputs AND the bits on SDA; a write that did not take).
 */
export interface ChipFaults {
  nak?: number;
  prescaleReadBack?: number;
  /** Set by the fake when PRE_SCALE is written while prescaleReadBack is set. */
  prescaleWritten?: boolean;
}

export interface BusState {
  /** /dev/i2c-N exists (false: ENOENT). */
  exists: boolean;
  /** The process may open /dev/i2c-N (false: EACCES). */
  permitted: boolean;
  /** What the adapter returns for a transfer nobody acknowledges. */
  nak: 'EREMOTEIO' | 'ENXIO';
  /** Addresses a kernel driver holds (I2C_SLAVE gives EBUSY). */
  claimed: number[];
  /** Chips by 7-bit address. */
  chips: Record<string, ChipState>;
}

export interface WorldState {
  buses: Record<string, BusState>;
}

export interface Store {
  load(): WorldState;
  save(world: WorldState): void;
}

export class MemoryStore implements Store {
  constructor(private world: WorldState = { buses: {} }) {}
  load(): WorldState {
    return this.world;
  }
  save(world: WorldState): void {
    this.world = world;
  }
}

/** The world in a JSON file, written whole (through a rename) after every transaction. */
export class FileStore implements Store {
  constructor(readonly file: string) {}
  load(): WorldState {
    return JSON.parse(fs.readFileSync(this.file, 'utf8')) as WorldState;
  }
  save(world: WorldState): void {
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify(world));
    fs.renameSync(tmp, this.file);
  }
}

// ---- the chip ----------------------------------------------------------------------------

const MODE1 = 0x00;
const MODE2 = 0x01;
const LED0 = 0x06;
const LED15_OFF_H = 0x45;
const ALL_LED_ON_L = 0xfa;
const ALL_LED_OFF_H = 0xfd;
const PRE_SCALE = 0xfe;
const TEST_MODE = 0xff;
const RESTART = 0x80;
const EXTCLK = 0x40;
const AI = 0x20;
const SLEEP = 0x10;
const OCH = 0x08;
const FULL = 0x10;
const CHANNELS = 16;
const STEPS = 4096;
const OSCILLATOR_HZ = 25_000_000;
const RESTART_AFTER_MS = 0.5;

/** Wall-clock ms with µs resolution, comparable between processes sharing a state file. */
const wallClock = (): number => performance.timeOrigin + performance.now();
const hex = (n: number): string => `0x${n.toString(16).padStart(2, '0')}`;

/** A PCA9685 as it comes out of power-on reset. */
export function powerOnChip(): ChipState {
  const registers = new Array<number>(256).fill(0);
  registers[MODE1] = 0x11;
  registers[MODE2] = 0x04;
  registers[0x02] = 0xe2;
  registers[0x03] = 0xe4;
  registers[0x04] = 0xe8;
  registers[0x05] = 0xe0;
  for (let ch = 0; ch < CHANNELS; ch++) registers[LED0 + 4 * ch + 3] = FULL;
  registers[PRE_SCALE] = 0x1e;
  return { registers, ignored: [], violations: [] };
}

const isReserved = (reg: number): boolean => reg > LED15_OFF_H && reg < ALL_LED_ON_L;
const isLed = (reg: number): boolean => reg >= LED0 && reg <= LED15_OFF_H;
/** High registers (LEDn_ON_H, LEDn_OFF_H, ALL_LED_*_H) keep bits 4:0 only. */
const isHigh = (reg: number): boolean => (isLed(reg) || (reg >= ALL_LED_ON_L && reg <= ALL_LED_OFF_H)) && (reg - LED0) % 2 === 1;

/** The control register after a byte, with auto-increment (Table 4 remark). */
function advance(reg: number): number {
  if (reg === LED15_OFF_H || reg >= PRE_SCALE) return MODE1;
  return reg + 1;
}

function channelRunning(chip: ChipState, ch: number): boolean {
  const r = chip.registers;
  const base = LED0 + 4 * ch;
  if (r[base + 3] & FULL) return false;
  if (r[base + 1] & FULL) return true;
  return ((r[base + 1] & 0x0f) << 8 | r[base]) !== ((r[base + 3] & 0x0f) << 8 | r[base + 2]);
}

/** One register write as the chip takes it. */
function writeRegister(chip: ChipState, reg: number, value: number, now: number): void {
  const r = chip.registers;
  if (reg === MODE1) {
    const old = r[MODE1];
    let next = (value & ~(RESTART | EXTCLK)) | (old & (RESTART | EXTCLK)) | (value & EXTCLK);
    if (value & RESTART && old & RESTART) {
      if (old & SLEEP || chip.wokeAt === undefined || now - chip.wokeAt < RESTART_AFTER_MS) {
        chip.violations.push('MODE1.RESTART written less than 500 µs after SLEEP was cleared');
      }
      next &= ~RESTART;
    }
    if (!(old & SLEEP) && next & SLEEP) {
      const running = Array.from({ length: CHANNELS }, (_, ch) => channelRunning(chip, ch)).some(Boolean);
      next = running ? next | RESTART : next & ~RESTART;
      chip.wokeAt = undefined;
    } else if (old & SLEEP && !(next & SLEEP)) {
      chip.wokeAt = now;
    }
    r[MODE1] = next;
  } else if (reg === MODE2) {
    r[MODE2] = value & 0x1f;
  } else if (reg >= ALL_LED_ON_L && reg <= ALL_LED_OFF_H) {
    const offset = reg - ALL_LED_ON_L;
    for (let ch = 0; ch < CHANNELS; ch++) r[LED0 + 4 * ch + offset] = isHigh(reg) ? value & 0x1f : value;
  } else if (reg === PRE_SCALE) {
    if (chip.faults?.prescaleReadBack !== undefined) chip.faults.prescaleWritten = true;
    if (r[MODE1] & SLEEP) r[PRE_SCALE] = Math.max(3, value);
    else chip.ignored.push(`PRE_SCALE = ${value} while awake`);
  } else {
    if (reg === TEST_MODE) chip.violations.push(`TestMode (0xff) written with ${hex(value)}`);
    r[reg] = isHigh(reg) ? value & 0x1f : value;
  }
}

/** A write transaction: the control register, then data bytes; STOP at the end. */
function chipWrite(chip: ChipState, command: number, data: readonly number[], now: number): void {
  const ai = (chip.registers[MODE1] & AI) !== 0;
  let reg = command;
  const touched = new Set<number>();
  for (const byte of data) {
    writeRegister(chip, reg, byte, now);
    if (isLed(reg)) touched.add(reg);
    if (ai) reg = advance(reg);
  }
  // §7.3.1.1: OCH = 0 (change on STOP): any LEDn write then STOP clears RESTART; OCH = 1: all four of a channel.
  const och = (chip.registers[MODE2] & OCH) !== 0;
  const clears = och
    ? Array.from({ length: CHANNELS }, (_, ch) => [0, 1, 2, 3].every((i) => touched.has(LED0 + 4 * ch + i))).some(Boolean)
    : touched.size > 0;
  if (clears) chip.registers[MODE1] &= ~RESTART;
}

function chipRead(chip: ChipState, command: number): number {
  if (command === PRE_SCALE && chip.faults?.prescaleWritten && chip.faults.prescaleReadBack !== undefined) return chip.faults.prescaleReadBack;
  return command >= ALL_LED_ON_L && command <= ALL_LED_OFF_H ? 0 : chip.registers[command];
}

// ---- what the chip drives ----------------------------------------------------------------

export interface ChannelReport {
  channel: number;
  /** LEDn_ON and LEDn_OFF counts (0–4095). */
  on: number;
  off: number;
  fullOn: boolean;
  fullOff: boolean;
  /** Fraction of each period the output is high, from the registers (full off wins). */
  duty: number;
  /** High time per period in µs at the current prescale; 0 when the output is low. */
  pulseUs: number;
  /** What the pin does: always low, always high, or pulses. */
  output: 'low' | 'high' | 'pwm';
}

export interface ChipReport {
  awake: boolean;
  /** RESTART is set: channels wait for a restart. */
  restartPending: boolean;
  autoIncrement: boolean;
  /** MODE2.OUTDRV: totem pole (true) or open drain. */
  totemPole: boolean;
  prescale: number;
  frequencyHz: number;
  periodUs: number;
  channels: ChannelReport[];
  ignored: string[];
  violations: string[];
}

export function reportChip(chip: ChipState): ChipReport {
  const r = chip.registers;
  const prescale = r[PRE_SCALE];
  const periodUs = ((prescale + 1) * STEPS * 1e6) / OSCILLATOR_HZ;
  const channels = Array.from({ length: CHANNELS }, (_, channel): ChannelReport => {
    const base = LED0 + 4 * channel;
    const on = ((r[base + 1] & 0x0f) << 8) | r[base];
    const off = ((r[base + 3] & 0x0f) << 8) | r[base + 2];
    const fullOn = (r[base + 1] & FULL) !== 0;
    const fullOff = (r[base + 3] & FULL) !== 0;
    let duty: number;
    if (fullOff) duty = 0;
    else if (fullOn) duty = 1;
    else duty = (((off - on) % STEPS) + STEPS) % STEPS / STEPS;
    const output = duty === 0 ? 'low' : duty === 1 ? 'high' : 'pwm';
    return { channel, on, off, fullOn, fullOff, duty, pulseUs: duty * periodUs, output };
  });
  return {
    awake: (r[MODE1] & SLEEP) === 0,
    restartPending: (r[MODE1] & RESTART) !== 0,
    autoIncrement: (r[MODE1] & AI) !== 0,
    totemPole: (r[MODE2] & 0x04) !== 0,
    prescale,
    frequencyHz: OSCILLATOR_HZ / (STEPS * (prescale + 1)),
    periodUs,
    channels,
    ignored: [...chip.ignored],
    violations: [...chip.violations],
  };
}

// ---- the module ----------------------------------------------------------------------------

function fsError(code: 'ENOENT' | 'EACCES', file: string): NodeJS.ErrnoException {
  const text = code === 'ENOENT' ? 'no such file or directory' : 'permission denied';
  const err = new Error(`${code}: ${text}, open '${file}'`) as NodeJS.ErrnoException;
  Object.assign(err, { errno: -os.constants.errno[code], code, syscall: 'open', path: file });
  return err;
}

/** The shape of the native addon's errors: Nan::ErrnoException(errno, "writeByteSync", ""). */
function addonError(code: 'EREMOTEIO' | 'ENXIO' | 'EBUSY', syscall: string): NodeJS.ErrnoException {
  const text = { EREMOTEIO: 'Remote I/O error', ENXIO: 'No such device or address', EBUSY: 'Device or resource busy' }[code];
  const err = new Error(`${code}, ${text}`) as NodeJS.ErrnoException;
  Object.assign(err, { errno: ERRNO[code], code, syscall });
  return err;
}

// Argument checks as in i2c-bus.js.
function check(ok: boolean, message: string): void {
  if (!ok) throw new Error(message);
}
const isInt = (v: unknown, min: number, max: number): boolean => Number.isInteger(v) && (v as number) >= min && (v as number) <= max;

export interface FakeI2c extends I2cBusModule {
  /** The world as the store holds it now. */
  world(): WorldState;
  /** Changes the world (adds a bus or chip, breaks permissions) and saves it. */
  change(edit: (world: WorldState) => void): void;
  /** What the chip at `address` on bus `bus` drives. */
  chip(bus: number, address: number): ChipReport;
  /** Every transaction, e.g. "1/0x40 write 0xfd [0x10]", "1/0x40 read 0x00 = 0x11", "1 close". */
  readonly log: string[];
  /** Descriptors of /dev/i2c-N open now (one per bus and address, as i2c-bus keeps them). */
  openDescriptors(): number;
}

/** A bus with a PCA9685 in power-on state at each address. */
export function busWithChips(...addresses: number[]): BusState {
  return {
    exists: true,
    permitted: true,
    nak: 'EREMOTEIO',
    claimed: [],
    chips: Object.fromEntries(addresses.map((a) => [String(a), powerOnChip()])),
  };
}

export interface FakeI2cOptions {
  /** The chip's clock in ms (default: the wall clock), for the 500 µs restart rule. */
  clock?: () => number;
}

export function createFakeI2cBus(store: Store = new MemoryStore(), options: FakeI2cOptions = {}): FakeI2c {
  const clock = options.clock ?? wallClock;
  const log: string[] = [];
  let descriptors = 0;

  const transaction = <T>(busNumber: number, address: number, syscall: string, opened: Set<number>, act: (chip: ChipState) => T): T => {
    const world = store.load();
    const bus = world.buses[String(busNumber)];
    const file = `/dev/i2c-${busNumber}`;
    if (!opened.has(address)) {
      if (!bus?.exists) throw fsError('ENOENT', file);
      if (!bus.permitted) throw fsError('EACCES', file);
      opened.add(address);
      descriptors += 1;
      if (bus.claimed.includes(address)) throw addonError('EBUSY', 'setAddrSync');
    }
    if (!bus?.exists) throw addonError('ENXIO', syscall);
    const chip = bus.chips[String(address)];
    if (!chip) throw addonError(bus.nak, syscall);
    try {
      if (chip.faults?.nak) {
        chip.faults.nak -= 1;
        log.push(`${busNumber}/${hex(address)} NAK (fault)`);
        throw addonError(bus.nak, syscall);
      }
      return act(chip);
    } finally {
      store.save(world);
    }
  };

  class Bus implements I2cBus {
    private readonly opened = new Set<number>();
    constructor(private readonly busNumber: number) {}

    private where(address: number): string {
      return `${this.busNumber}/${hex(address)}`;
    }

    readByteSync(address: number, command: number): number {
      check(isInt(address, 0, 0x7f), `Invalid I2C address ${address}`);
      check(isInt(command, 0, 0xff), `Invalid I2C command ${command}`);
      return this.access(address, command, 'readByteSync', (chip) => {
        const value = chipRead(chip, command);
        log.push(`${this.where(address)} read ${hex(command)} = ${hex(value)}`);
        return value;
      });
    }

    writeByteSync(address: number, command: number, byte: number): this {
      check(isInt(address, 0, 0x7f), `Invalid I2C address ${address}`);
      check(isInt(command, 0, 0xff), `Invalid I2C command ${command}`);
      check(isInt(byte, 0, 0xff), `Invalid byte ${byte}`);
      this.access(address, command, 'writeByteSync', (chip) => {
        log.push(`${this.where(address)} write ${hex(command)} [${hex(byte)}]`);
        chipWrite(chip, command, [byte], clock());
      });
      return this;
    }

    writeI2cBlockSync(address: number, command: number, length: number, buffer: Buffer): this {
      check(isInt(address, 0, 0x7f), `Invalid I2C address ${address}`);
      check(isInt(command, 0, 0xff), `Invalid I2C command ${command}`);
      check(isInt(length, 0, 32), `Invalid buffer length ${length}`);
      check(Buffer.isBuffer(buffer), `Invalid buffer ${String(buffer)}`);
      check(buffer.length >= length, `Buffer must contain at least ${length} bytes`);
      const data = [...buffer.subarray(0, length)];
      this.access(address, command, 'writeI2cBlockSync', (chip) => {
        log.push(`${this.where(address)} write ${hex(command)} [${data.map(hex).join(' ')}]`);
        chipWrite(chip, command, data, clock());
      });
      return this;
    }

    closeSync(): void {
      descriptors -= this.opened.size;
      this.opened.clear();
      log.push(`${this.busNumber} close`);
    }

    private access<T>(address: number, command: number, syscall: string, act: (chip: ChipState) => T): T {
      return transaction(this.busNumber, address, syscall, this.opened, (chip) => {
        // The chip does not acknowledge a reserved control register (Table 4).
        if (isReserved(command)) {
          log.push(`${this.where(address)} NAK ${hex(command)}`);
          throw addonError('EREMOTEIO', syscall);
        }
        return act(chip);
      });
    }
  }

  return {
    openSync(busNumber: number): I2cBus {
      check(Number.isInteger(busNumber) && busNumber >= 0, `Invalid I2C bus number ${busNumber}`);
      return new Bus(busNumber);
    },
    world: () => store.load(),
    change(edit) {
      const world = store.load();
      edit(world);
      store.save(world);
    },
    chip(bus, address) {
      const chip = store.load().buses[String(bus)]?.chips[String(address)];
      if (!chip) throw new Error(`no fake chip at ${hex(address)} on bus ${bus}`);
      return reportChip(chip);
    },
    log,
    openDescriptors: () => descriptors,
  };
}

/** A state file for a child process's fake (see i2c-bus-preload.js), holding `world`. */
export function writeStateFile(dir: string, world: WorldState): string {
  const file = path.join(dir, 'i2c-state.json');
  new FileStore(file).save(world);
  return file;
}
