import fs from 'node:fs';
import path from 'node:path';

/**
 * Which Raspberry Pi this is, read once and the same way for every part of carbot (choosing
 * the backend, `carbot boards`, the kernel board's PWM block, pigpio's checks).
 *
 * The SoC comes from the device tree's root `compatible`: a NUL-separated list, most specific
 * first, that on a Raspberry Pi ends in the SoC (raspberrypi/linux arch/arm/boot/dts/broadcom:
 * bcm2712-rpi-5-b.dts "raspberrypi,5-model-b", "brcm,bcm2712"; bcm2711-rpi-4-b.dts,
 * bcm2711-rpi-400.dts, bcm2711-rpi-cm4.dts and bcm2711-rpi-cm4s.dts "…", "brcm,bcm2711";
 * bcm2710-*.dts (Pi 3, Zero 2, CM3) "…", "brcm,bcm2837"; bcm2709-rpi-2-b.dts "…",
 * "brcm,bcm2836"; bcm2708-*.dts (Pi 1, Zero, CM1) "…", "brcm,bcm2835"). The model string
 * ("Raspberry Pi Compute Module 4S Rev 1.0") is only a fallback for a tree without
 * `compatible`: model names do not follow one pattern.
 */

/** /proc/device-tree is a link to /sys/firmware/devicetree/base. */
export const DEVICE_TREE_DIR = '/proc/device-tree';
export const MODEL_PATH = `${DEVICE_TREE_DIR}/model`;

export type Soc = 'bcm2712' | 'bcm2711' | 'bcm2837' | 'bcm2836' | 'bcm2835';

export interface PiBoard {
  /** The model string, e.g. "Raspberry Pi 4 Model B Rev 1.4"; undefined when the tree has none. */
  model?: string;
  /** The SoC; undefined off a Raspberry Pi. */
  soc?: Soc;
  /** Where the SoC was read from. */
  socFrom?: 'compatible' | 'model';
}

const SOC_COMPATIBLE = /^brcm,(bcm2712|bcm2711|bcm2837|bcm2836|bcm2835)$/;

/** The SoC named in a device tree's `compatible` (NUL-separated, most specific first). */
export function socFromCompatible(text: string | undefined): Soc | undefined {
  if (text === undefined) return undefined;
  for (const entry of text.split('\0')) {
    const m = SOC_COMPATIBLE.exec(entry.trim());
    if (m) return m[1] as Soc;
  }
  return undefined;
}

/** The SoC a Raspberry Pi model string implies; undefined for anything not a Raspberry Pi. */
export function socFromModel(model: string | undefined): Soc | undefined {
  if (model === undefined || !model.startsWith('Raspberry Pi')) return undefined;
  // Pi 5, Pi 500, Compute Module 5.
  if (/^Raspberry Pi (?:Compute Module )?5\d*S?\b/.test(model)) return 'bcm2712';
  // Pi 4, Pi 400, Compute Module 4 and 4S.
  if (/^Raspberry Pi (?:Compute Module )?4\d*S?\b/.test(model)) return 'bcm2711';
  // Pi 3, Compute Module 3 (and 3+), Zero 2.
  if (/^Raspberry Pi (?:Compute Module )?3\b|^Raspberry Pi Zero 2\b/.test(model)) return 'bcm2837';
  // The Pi 2 v1.2 has a BCM2837; its PWM sits where the BCM2836's does.
  if (/^Raspberry Pi 2\b/.test(model)) return 'bcm2836';
  return 'bcm2835';
}

const text = (read: (file: string) => string, file: string): string | undefined => {
  try {
    return read(file);
  } catch {
    return undefined;
  }
};

/**
 * The board as the device tree in `dir` describes it (/proc/device-tree, or a fake tree's
 * `firmware/devicetree/base`): `compatible` first, the model string as the fallback.
 */
export function readPiBoard(dir: string = DEVICE_TREE_DIR, read: (file: string) => string = (f) => fs.readFileSync(f, 'utf8')): PiBoard {
  const model = text(read, path.join(dir, 'model'))?.replace(/\0+$/, '').trim() || undefined;
  const fromCompatible = socFromCompatible(text(read, path.join(dir, 'compatible')));
  if (fromCompatible) return { model, soc: fromCompatible, socFrom: 'compatible' };
  const fromModel = socFromModel(model);
  return fromModel ? { model, soc: fromModel, socFrom: 'model' } : { model };
}

/** The board beside a model file (its directory is the device tree). */
export function readPiBoardAt(modelPath: string = MODEL_PATH): PiBoard {
  return readPiBoard(path.dirname(modelPath));
}

/**
 * The root of the system whose board is asked about: `/`, or the tree `install.sh --root`
 * fills (CARBOT_SYSTEM_ROOT), whose proc/device-tree and library directories then answer
 * `carbot boards` and `carbot config-txt`.
 */
export function systemRoot(env: NodeJS.ProcessEnv = process.env): string {
  return (env.CARBOT_SYSTEM_ROOT ?? '').replace(/\/+$/, '');
}

export function isRaspberryPi(board: PiBoard): boolean {
  return board.soc !== undefined;
}

/** Pi 5, Pi 500 and Compute Module 5 put their GPIO on the RP1 chip, which pigpio cannot drive. */
export function isRp1(board: PiBoard): boolean {
  return board.soc === 'bcm2712';
}

/** For messages: the model string, else the SoC, else "an unknown board". */
export function describeBoard(board: PiBoard): string {
  return board.model ?? (board.soc ? `a board with a ${board.soc.toUpperCase()}` : 'an unknown board');
}
