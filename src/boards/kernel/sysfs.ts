/**
 * The kernel board's access to sysfs: the file operations, the pwmchips under /sys/class/pwm,
 * the board the device tree describes, and the header pins with hardware PWM. Part of ../kernel.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { readPiBoard, type PiBoard } from '../pi';
import { BLOCKS, pwmBlockForSoc } from './blocks';

export const errno = (err: unknown): string | undefined => (err as NodeJS.ErrnoException | undefined)?.code;

/** The file operations the board does in sysfs: node:fs, or a fake tree's rules in tests. */
export interface SysfsFiles {
  read(file: string): string;
  write(file: string, value: string): void;
  list(dir: string): string[];
  realpath(file: string): string;
  /** Why this process may not write the file now (ENOENT, EACCES, EROFS...), or undefined when it may. */
  writeBlocked(file: string): string | undefined;
}

export const nodeSysfsFiles: SysfsFiles = {
  read: (file) => fs.readFileSync(file, 'utf8'),
  write: (file, value) => fs.writeFileSync(file, value),
  list: (dir) => fs.readdirSync(dir),
  realpath: (file) => fs.realpathSync(file),
  writeBlocked: (file) => {
    try {
      fs.accessSync(file, fs.constants.W_OK);
      return undefined;
    } catch (err) {
      return errno(err) ?? 'EACCES';
    }
  },
};

/** A pwmchip in /sys/class/pwm. */
export interface PwmChip {
  /** e.g. "pwmchip2" */
  readonly name: string;
  /** The platform device it belongs to, e.g. "1f00098000.pwm". */
  readonly device: string;
  readonly npwm: number;
}

/** Every pwmchip under `<sysfsRoot>/class/pwm`, with the device each belongs to. */
export function listPwmChips(sysfsRoot: string, files: SysfsFiles = nodeSysfsFiles): PwmChip[] {
  const dir = path.join(sysfsRoot, 'class', 'pwm');
  let names: string[];
  try {
    names = files.list(dir).filter((name) => /^pwmchip\d+$/.test(name));
  } catch {
    return [];
  }
  const chips: PwmChip[] = [];
  for (const name of names.sort((a, b) => Number(a.slice(7)) - Number(b.slice(7)))) {
    try {
      const device = path.basename(files.realpath(path.join(dir, name, 'device')));
      const npwm = Number.parseInt(files.read(path.join(dir, name, 'npwm')), 10);
      chips.push({ name, device, npwm });
    } catch {
      // A chip whose attributes cannot be read is not one carbot can use.
    }
  }
  return chips;
}

/** The board as the device tree under the sysfs root describes it (/proc/device-tree is a link to it). */
export function readBoard(sysfsRoot: string, files: SysfsFiles = nodeSysfsFiles): PiBoard {
  return readPiBoard(path.join(sysfsRoot, 'firmware', 'devicetree', 'base'), (file) => files.read(file));
}

/** A header pin with hardware PWM, and the pwmchip serving it when the overlay is loaded. */
export interface HardwarePwmPin {
  pin: number;
  device: string;
  channel: number;
  /** e.g. "pwmchip2"; undefined until config.txt loads the PWM overlay. */
  chip?: string;
}

/**
 * Which header pins have hardware PWM on this board (for config validation and the docs):
 * the block of the board's SoC, or, for a board carbot does not know, of whichever known
 * block the sysfs tree shows.
 */
export function hardwarePwmPins(sysfsRoot: string, board?: PiBoard, files: SysfsFiles = nodeSysfsFiles): HardwarePwmPin[] {
  const chips = listPwmChips(sysfsRoot, files);
  const block = pwmBlockForSoc((board ?? readBoard(sysfsRoot, files)).soc) ?? BLOCKS.find((b) => chips.some((c) => c.device === b.device));
  if (!block) return [];
  const chip = chips.find((c) => c.device === block.device)?.name;
  return Object.entries(block.channels)
    .map(([pin, channel]) => ({ pin: Number(pin), device: block.device, channel, ...(chip ? { chip } : {}) }))
    .sort((a, b) => a.pin - b.pin);
}
