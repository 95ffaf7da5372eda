import fs from 'node:fs';
import path from 'node:path';
import type { Config } from '../config/config';
import { configTxtLines, hardwarePwmPins, listPwmChips, OVERLAY_FUNC } from '../boards/kernel';
import { findGpioBase } from '../boards/onoff';
import { explain, loadI2cBus, REGISTER, frequencyOf } from '../boards/pca9685';
import { PIGPIO_LOCK_FILE, resolveBackend } from '../boards/pigpio';
import { isRaspberryPi, isRp1, readPiBoardAt, type PiBoard } from '../boards/pi';
import type { RequireModule } from '../boards/types';
import { boardsNeeded } from '../process/safe-state';
import { boardNeeds } from '../motors';
import {
  exists,
  findConfigTxt,
  findUser,
  listProcesses,
  modelPath,
  readGroups,
  readOsRelease,
  readText,
  runningCarbots,
  type HostProcess,
  type HostRoots,
} from './host';

/**
 * The checks of `carbot doctor`, in the order a maker meets the problems on a first boot:
 * the system, the board and its devices, config.txt, permissions, other programs on the pins,
 * the PCA9685, the broker, another carbot. Each gives lines of what it found and, for what
 * must be fixed, the exact fix. Nothing here writes to the hardware.
 */

export type Mark = 'pass' | 'fail' | 'info';

export interface CheckLine {
  mark: Mark;
  text: string;
  /** What to do, for a failure. */
  fix?: string;
}

const pass = (text: string): CheckLine => ({ mark: 'pass', text });
const fail = (text: string, fix: string): CheckLine => ({ mark: 'fail', text, fix });
const info = (text: string): CheckLine => ({ mark: 'info', text });

export const SUPPORTED_NODE_MAJORS = [20, 22, 24];
export const SUPPORTED_RELEASES = ['trixie', 'bookworm'];

export interface DoctorOptions {
  roots: HostRoots;
  /** process.versions.node by default. */
  nodeVersion?: string;
  /** Node's require by default; tests hand out the fake i2c-bus. */
  requireModule?: RequireModule;
  /** Where pigpio's native addon is, undefined when it was not built. */
  pigpioAddon?: () => string | undefined;
  /** This process, left out of "carbot is running". */
  ownPid?: number;
  /** How long the broker may take to accept the connection; default 3000 ms. */
  brokerTimeoutMs?: number;
  /** How long to wait for a retained LWT after subscribing; default 1000 ms. */
  lwtWaitMs?: number;
}

/** What every check needs, read once. */
export interface Facts {
  config: Config;
  options: DoctorOptions;
  roots: HostRoots;
  model: string | undefined;
  /** The board as its device tree says (src/boards/pi.ts): the SoC from `compatible`. */
  board: PiBoard;
  /** Why pigpio cannot run here (no C library, or an addon built without it), as `gpio: auto` weighs it. */
  pigpioProblem: string | undefined;
  isPi: boolean;
  boards: string[];
  /** BCM pins carrying PWM or servo pulses on the header. */
  pwmPins: number[];
  /** BCM pins used as plain outputs or inputs on the header (H-bridge inputs, standby, switches). */
  plainPins: number[];
  configTxt: { path: string; lines: string[]; commented: string[] } | undefined;
  carbots: HostProcess[];
}

export function gatherFacts(config: Config, options: DoctorOptions): Facts {
  const { roots } = options;
  const modelFile = modelPath(roots);
  const board = readPiBoardAt(modelFile);
  const model = board.model;
  const pigpioProblem = !findPigpioLibrary(roots)
    ? 'the pigpio C library (libpigpio.so) is not installed'
    : !(options.pigpioAddon ?? defaultPigpioAddon)()
      ? "pigpio's addon was built without the C library"
      : undefined;
  const pwmPins = new Set<number>();
  const plainPins = new Set<number>();
  for (const m of config.motors) {
    if (m.driver === 'sim' || (m.board ?? 'gpio') !== 'gpio') continue;
    if (m.driver === 'hbridge') {
      pwmPins.add(m.pwm);
      for (const pin of [m.in1, m.in2, m.standby]) if (pin !== undefined) plainPins.add(pin);
    } else pwmPins.add(m.pin);
  }
  for (const limit of Object.values(config.limits)) if (limit) plainPins.add(limit.pin);
  const found = findConfigTxt(roots);
  const configTxt = found && {
    path: found.path,
    lines: found.text.split('\n').map((l) => l.replace(/#.*$/, '').trim()).filter(Boolean),
    commented: found.text.split('\n').filter((l) => /^\s*#/.test(l)).map((l) => l.replace(/^\s*#+\s*/, '').trim()),
  };
  return {
    config,
    options,
    roots,
    model,
    board,
    pigpioProblem,
    isPi: isRaspberryPi(board),
    boards: config.gpio === 'sim' ? ['sim'] : boardsNeeded(config, { modelPath: modelFile, pigpioProblem: () => pigpioProblem }),
    pwmPins: [...pwmPins].sort((a, b) => a - b),
    plainPins: [...plainPins].sort((a, b) => a - b),
    configTxt,
    carbots: runningCarbots(roots, options.ownPid),
  };
}

const list = (pins: number[]) => pins.map((p) => `GPIO ${p}`).join(', ');
const hex = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;
const configTxtName = (f: Facts) => f.configTxt?.path ?? '/boot/firmware/config.txt';
const header = (f: Facts) => f.boards.includes('kernel') || f.boards.includes('pigpio');

// ---- the system ------------------------------------------------------------------------------

export function checkSystem(f: Facts): CheckLine[] {
  const release = readOsRelease(f.roots);
  const lines: CheckLine[] = [];
  const name = release?.pretty ?? `no ${path.join(f.roots.etc, 'os-release')}`;
  if (release?.codename === 'trixie') lines.push(pass(`OS: ${name}`));
  else if (release?.codename === 'bookworm') lines.push(pass(`OS: ${name} (supported; trixie is the current Raspberry Pi OS)`));
  else if (f.isPi) {
    lines.push(
      fail(
        `OS: ${name}: carbot supports Raspberry Pi OS trixie and bookworm`,
        'flash Raspberry Pi OS (trixie, 64-bit) with Raspberry Pi Imager, then follow docs/install.md',
      ),
    );
  } else lines.push(info(`OS: ${name} (not Raspberry Pi OS)`));

  const version = f.options.nodeVersion ?? process.versions.node;
  const major = Number.parseInt(version, 10);
  if (SUPPORTED_NODE_MAJORS.includes(major)) lines.push(pass(`Node.js ${version}`));
  else {
    lines.push(
      fail(
        `Node.js ${version}: carbot supports Node ${SUPPORTED_NODE_MAJORS.join(', ')}`,
        release?.codename === 'trixie'
          ? 'sudo apt-get install nodejs (trixie has Node 20), then sudo scripts/install.sh again'
          : 'install Node 24 (LTS) or 22 (docs/install.md), then sudo scripts/install.sh again',
      ),
    );
  }
  return lines;
}

// ---- the board and its devices ---------------------------------------------------------------

/** Why these boards: what the service itself says when it chooses (resolveBackend), where it chooses. */
function whyBoards(f: Facts): string {
  const { config } = f;
  const needs = boardNeeds(config);
  if (config.gpio !== 'auto') return `gpio "${config.gpio}"`;
  if (!needs.header) return f.boards.includes('pca9685') ? 'no motor or switch on the header' : 'gpio auto';
  if (!f.isPi) return 'gpio auto, off a Raspberry Pi';
  return resolveBackend('auto', f.board, { pwm: needs.headerPwm }, () => f.pigpioProblem).reason ?? 'gpio auto';
}

export function checkBoard(f: Facts): CheckLine[] {
  const seen = f.model === undefined ? `${modelPath(f.roots)} is missing` : `the board is "${f.model}"`;
  const drives = `motors on: ${f.boards.join(', ')} (${whyBoards(f)})`;
  if (!f.isPi) {
    if (f.boards.includes('pigpio')) {
      return [fail(`board: not a Raspberry Pi (${seen}), but gpio is "pigpio"`, 'set gpio to "auto" (simulated motors here) or "sim"')];
    }
    const what = f.boards.includes('sim') ? 'simulated motors here; the Raspberry Pi checks are skipped' : 'the checks for them follow';
    return [info(`board: not a Raspberry Pi (${seen}); ${drives}: ${what}`)];
  }
  if (f.boards.includes('pigpio') && isRp1(f.board)) {
    return [
      fail(
        `board: ${f.model}; ${drives}: the pigpio C library does not support the Pi 5 family`,
        'set gpio to "kernel" (or "auto", which picks it on a Pi 5); see docs/boards-kernel.md',
      ),
    ];
  }
  return [pass(`board: ${f.model}; ${drives}`)];
}

/** The pins of a pwm-2chan or pwm overlay line (defaults from /boot/firmware/overlays/README: pin 18, pin2 19). */
function overlayPins(line: string): number[] {
  const m = /^dtoverlay=(pwm-2chan|pwm)(?:,(.*))?$/.exec(line);
  if (!m) return [];
  const params = new Map((m[2] ?? '').split(',').filter(Boolean).map((p) => p.split('=') as [string, string]));
  const pin = Number(params.get('pin') ?? 18);
  return m[1] === 'pwm' ? [pin] : [pin, Number(params.get('pin2') ?? 19)];
}

/** The value config.txt's dtparam lines leave a parameter at (the last one wins); `dtparam=x` alone is on. */
function dtparam(lines: string[], names: string[]): string | undefined {
  let value: string | undefined;
  for (const line of lines) {
    if (!line.startsWith('dtparam=')) continue;
    for (const part of line.slice('dtparam='.length).split(',')) {
      const [key, v] = part.split('=');
      if (names.includes(key.trim())) value = (v ?? 'on').trim();
    }
  }
  return value;
}
const isOn = (value: string | undefined) => value !== undefined && /^(on|true|yes|1)$/i.test(value);

/** Header PWM pins the board's own table serves (not the ones pwmChannels names), so config.txt must route them. */
function overlayNeeds(f: Facts): number[] {
  if (!f.boards.includes('kernel')) return [];
  return f.pwmPins.filter((pin) => !f.config.pwmChannels?.[pin] && OVERLAY_FUNC[pin] !== undefined);
}

/** The pwm-2chan lines that route `pins`, two at a time, as install.sh prints them (`carbot config-txt`). */
function overlayLinesFor(pins: number[]): string[] {
  // The audio line is a check of its own (checkConfigTxt).
  return configTxtLines(pins, undefined);
}

function routedPins(f: Facts): Set<number> {
  return new Set((f.configTxt?.lines ?? []).flatMap(overlayPins));
}

export function checkDevices(f: Facts): CheckLine[] {
  const lines: CheckLine[] = [];
  if (f.boards.includes('kernel')) lines.push(...kernelDevices(f));
  if (f.boards.includes('pigpio')) lines.push(...pigpioLibrary(f));
  if (f.boards.includes('pca9685')) {
    const dev = path.join(f.roots.dev, `i2c-${f.config.pca9685.bus}`);
    const shown = `/dev/i2c-${f.config.pca9685.bus}`;
    if (exists(dev)) lines.push(pass(`I2C: ${shown} exists`));
    else if (f.isPi && isOn(dtparam(f.configTxt?.lines ?? [], ['i2c_arm', 'i2c']))) {
      lines.push(fail(`I2C: no ${shown}, though config.txt enables I2C`, 'reboot; if it stays missing, add "i2c-dev" to /etc/modules and reboot'));
    } else {
      lines.push(
        fail(
          `I2C: no ${shown}`,
          f.isPi
            ? `add "dtparam=i2c_arm=on" to ${configTxtName(f)} (or: sudo raspi-config nonint do_i2c 0) and reboot`
            : `enable this board's I2C; "ls /dev/i2c-*" shows the buses there are: set pca9685.bus to the right one`,
        ),
      );
    }
  }
  return lines;
}

function kernelDevices(f: Facts): CheckLine[] {
  const lines: CheckLine[] = [];
  const classDir = path.join(f.roots.sys, 'class', 'pwm');
  const chips = listPwmChips(f.roots.sys);
  const table = hardwarePwmPins(f.roots.sys, f.board);
  const served: string[] = [];
  const missing = new Map<string, number[]>();
  for (const pin of f.pwmPins) {
    const choice = f.config.pwmChannels?.[pin];
    if (choice) {
      const chip = chips.find((c) => c.name === choice.chip || c.device === choice.chip);
      if (!chip) {
        lines.push(fail(`kernel PWM: no chip "${choice.chip}" (pwmChannels for GPIO ${pin}) in ${classDir}`, `check its overlay in ${configTxtName(f)}, reboot, and name the chip "ls -l ${classDir}" shows`));
      } else if (choice.channel >= chip.npwm) {
        lines.push(fail(`kernel PWM: ${chip.name} has ${chip.npwm} channels, pwmChannels gives GPIO ${pin} channel ${choice.channel}`, `use channel 0–${chip.npwm - 1}`));
      } else served.push(`GPIO ${pin} = ${chip.name} channel ${choice.channel}`);
      continue;
    }
    const entry = table.find((e) => e.pin === pin);
    if (!entry) {
      lines.push(
        fail(
          `kernel PWM: GPIO ${pin} has no hardware PWM${table.length ? '' : ` (carbot does not know the PWM of ${f.model ? `"${f.model}"` : 'this board'})`}`,
          table.length
            ? `move it to ${list(table.map((e) => e.pin))}, or use dtoverlay=pwm-gpio and pwmChannels (docs/boards-kernel.md)`
            : `name its chip and channel in pwmChannels ("ls -l ${classDir}" shows the chips)`,
        ),
      );
    } else if (entry.chip === undefined) missing.set(entry.device, [...(missing.get(entry.device) ?? []), pin]);
    else served.push(`GPIO ${pin} = ${entry.chip} channel ${entry.channel}`);
  }
  for (const [device, pins] of missing) {
    const routed = routedPins(f);
    const fix = pins.every((p) => routed.has(p))
      ? `${configTxtName(f)} routes them already: reboot`
      : `add "${overlayLinesFor(pins).join('" and "')}" to ${configTxtName(f)} and reboot`;
    lines.push(fail(`kernel PWM: no pwmchip in ${classDir} belongs to ${device}, the PWM of ${list(pins)}`, fix));
  }
  if (served.length > 0) lines.push(pass(`kernel PWM: ${served.join(', ')}`));
  if (f.plainPins.length > 0) {
    const gpioDir = path.join(f.roots.sys, 'class', 'gpio');
    if (exists(gpioDir)) lines.push(pass(`sysfs GPIO: ${gpioDir}, BCM pin 0 is gpio${findGpioBase(gpioDir)} (for ${list(f.plainPins)})`));
    else lines.push(fail(`sysfs GPIO: no ${gpioDir} (needed for ${list(f.plainPins)})`, 'use a kernel with CONFIG_GPIO_SYSFS, as Raspberry Pi OS has'));
  }
  return lines;
}

/** libpigpio.so.1 where Debian's package (multiarch) or pigpio's own `make install` puts it. */
export function findPigpioLibrary(roots: HostRoots): string | undefined {
  const dirs = [path.join(roots.root, 'usr', 'local', 'lib'), path.join(roots.root, 'usr', 'lib')];
  try {
    const lib = path.join(roots.root, 'usr', 'lib');
    dirs.push(...fs.readdirSync(lib).filter((d) => d.endsWith('-linux-gnu') || d.endsWith('-linux-gnueabihf')).map((d) => path.join(lib, d)));
  } catch {
    // No /usr/lib: no library.
  }
  for (const dir of dirs) {
    try {
      const file = fs.readdirSync(dir).find((name) => /^libpigpio\.so/.test(name));
      if (file) return path.join(dir, file);
    } catch {
      // Not there.
    }
  }
  return undefined;
}

/** pigpio's addon, which npm builds only when pigpiod is on the PATH at install time. */
export function defaultPigpioAddon(): string | undefined {
  try {
    const file = path.join(path.dirname(require.resolve('pigpio/package.json')), 'build', 'Release', 'pigpio.node');
    return fs.existsSync(file) ? file : undefined;
  } catch {
    return undefined;
  }
}

function pigpioLibrary(f: Facts): CheckLine[] {
  const library = findPigpioLibrary(f.roots);
  if (!library) {
    const kernel = overlayLinesFor(f.pwmPins.filter((p) => OVERLAY_FUNC[p] !== undefined));
    return [
      fail(
        'pigpio: the pigpio C library is not installed (Raspberry Pi OS trixie has no pigpio package)',
        `set "gpio": "kernel" (the kernel's PWM, no root)${kernel.length ? ` and add "${kernel.join('" and "')}" to ${configTxtName(f)}, reboot` : ''}, ` +
          'then sudo scripts/install.sh; on bookworm: sudo apt-get install pigpio, then sudo scripts/install.sh',
      ),
    ];
  }
  const addon = (f.options.pigpioAddon ?? defaultPigpioAddon)();
  if (!addon) {
    return [fail(`pigpio: C library ${library}, but pigpio's addon is not built`, 'sudo scripts/install.sh (npm builds the addon when pigpiod is on the PATH)')];
  }
  return [pass(`pigpio: C library ${library}, addon built`)];
}

// ---- config.txt ------------------------------------------------------------------------------

export function checkConfigTxt(f: Facts): CheckLine[] {
  const pwm = overlayNeeds(f);
  const i2c = f.boards.includes('pca9685');
  if (!f.isPi) return [info('config.txt: not a Raspberry Pi, skipped')];
  if (!f.configTxt) {
    if (pwm.length === 0 && !i2c) return [info('config.txt: not found, and this configuration needs nothing in it')];
    return [fail(`config.txt: neither ${path.join(f.roots.boot, 'firmware', 'config.txt')} nor ${path.join(f.roots.boot, 'config.txt')} exists`, 'mount the boot partition (it is /boot/firmware on Raspberry Pi OS)')];
  }
  const { path: file, lines: active, commented } = f.configTxt;
  const lines: CheckLine[] = [];
  if (i2c) {
    if (isOn(dtparam(active, ['i2c_arm', 'i2c']))) lines.push(pass(`config.txt: I2C on (dtparam=i2c_arm=on in ${file})`));
    else {
      const wasCommented = commented.some((l) => /^dtparam=i2c_arm=on$/.test(l));
      lines.push(
        fail(
          `config.txt: I2C is off in ${file}`,
          `${wasCommented ? 'uncomment' : 'add'} "dtparam=i2c_arm=on" (or: sudo raspi-config nonint do_i2c 0) and reboot`,
        ),
      );
    }
  }
  if (pwm.length > 0) {
    const routed = routedPins(f);
    const unrouted = pwm.filter((p) => !routed.has(p));
    if (unrouted.length === 0) lines.push(pass(`config.txt: PWM overlay for ${list(pwm)} in ${file}`));
    else lines.push(fail(`config.txt: no PWM overlay for ${list(unrouted)} in ${file}`, `add "${overlayLinesFor(unrouted).join('" and "')}" and reboot`));
    if (!isRp1(f.board) && isOn(dtparam(active, ['audio']))) {
      lines.push(fail(`config.txt: dtparam=audio=on gives both PWM channels to the headphone jack`, `change it to "dtparam=audio=off" in ${file} and reboot`));
    }
  }
  if (lines.length === 0) lines.push(pass(`config.txt: nothing needed for this configuration (${file})`));
  return lines;
}

// ---- the service's user ----------------------------------------------------------------------

export function checkUser(f: Facts): CheckLine[] {
  const groupsNeeded = [...(f.boards.includes('kernel') ? ['gpio'] : []), ...(f.boards.includes('pca9685') ? ['i2c'] : [])];
  if (!header(f) && !f.boards.includes('pca9685')) return [info('service user: simulated motors need no permissions')];
  const unitFile = path.join(f.roots.etc, 'systemd', 'system', 'carbot.service');
  const unit = readText(unitFile);
  const user = unit !== undefined ? (/^User=(.+)$/m.exec(unit)?.[1].trim() ?? 'root') : f.boards.includes('pigpio') ? 'root' : 'carbot';
  const supplementary = unit !== undefined ? (/^SupplementaryGroups=(.*)$/m.exec(unit)?.[1].trim().split(/\s+/) ?? []) : [];
  const which = unit !== undefined ? `the installed carbot.service runs as ${user}` : `carbot.service is not installed yet; scripts/install.sh runs it as ${user}`;
  if (f.boards.includes('pigpio') && user !== 'root') {
    return [fail(`service user: ${which}, but pigpio needs root`, 'sudo scripts/install.sh (it installs carbot-pigpio.service, which runs as root)')];
  }
  if (user === 'root') return [pass(`service user: ${which}: no groups needed`)];
  const account = findUser(f.roots, user);
  if (!account) return [fail(`service user: ${which}, but there is no user ${user}`, 'sudo scripts/install.sh (it creates the user carbot in the groups gpio and i2c)')];
  const groups = readGroups(f.roots);
  const absent = groupsNeeded.filter((g) => !groups.has(g));
  if (absent.length > 0) {
    return [fail(`service user: no group ${absent.join(', ')} on this system`, `sudo scripts/install.sh (it creates them; docs/boards-kernel.md has the udev rule other systems need)`)];
  }
  const outside = groupsNeeded.filter((g) => {
    const group = groups.get(g);
    return !(group && (group.gid === account.gid || group.members.includes(user) || supplementary.includes(g)));
  });
  if (outside.length > 0) {
    return [fail(`service user: ${which}, not in ${outside.join(', ')}`, `sudo usermod -aG ${outside.join(',')} ${user}, then sudo systemctl restart carbot`)];
  }
  return [pass(`service user: ${which}${groupsNeeded.length ? `, in ${groupsNeeded.join(', ')}` : ''}`)];
}

// ---- other programs on the pins --------------------------------------------------------------

export function checkHolders(f: Facts): CheckLine[] {
  if (!header(f) && !f.boards.includes('pca9685')) return [info('pins: simulated motors, nothing to hold')];
  const lines: CheckLine[] = [];
  const carbotPids = new Set(f.carbots.map((p) => p.pid));
  if (header(f)) {
    const processes = listProcesses(f.roots);
    for (const daemon of processes.filter((p) => p.comm === 'pigpiod')) {
      lines.push(fail(`pins: pigpiod (pid ${daemon.pid}) is running and takes the GPIO for itself`, 'sudo systemctl disable --now pigpiod'));
    }
    const lockFile = path.join(f.roots.root, PIGPIO_LOCK_FILE);
    const pid = Number.parseInt(readText(lockFile) ?? '', 10);
    const holder = processes.find((p) => p.pid === pid);
    if (holder && holder.comm !== 'pigpiod' && !carbotPids.has(pid) && pid !== (f.options.ownPid ?? process.pid)) {
      lines.push(fail(`pins: ${holder.comm} (pid ${pid}) holds pigpio's lock ${PIGPIO_LOCK_FILE}`, `stop that program (kill ${pid}), it drives the pins through pigpio`));
    }
  }
  if (f.carbots.length > 0) {
    const [first] = f.carbots;
    lines.push(info(`pins: held by the carbot running here (pid ${first.pid}: ${first.argv.join(' ')}), as they should be while it runs`));
  }
  if (lines.length === 0) lines.push(pass(`pins: free (${header(f) ? 'no pigpiod, no pigpio lock held, ' : ''}no carbot running)`));
  return lines;
}

/** A board's message as what is wrong and what to do: its first sentence (or clause), then the rest. */
function splitMessage(message: string): [string, string] {
  const sentence = message.indexOf('. ');
  if (sentence > 0) return [message.slice(0, sentence), message.slice(sentence + 2)];
  const clause = message.indexOf(': ');
  return clause > 0 ? [message.slice(0, clause), message.slice(clause + 2)] : [message, 'see docs/boards-pca9685.md'];
}

// ---- the PCA9685 -----------------------------------------------------------------------------

/** MODE1 and PRE_SCALE read, nothing written: the chip keeps whatever it was doing. */
export function checkPca9685(f: Facts): CheckLine[] {
  if (!f.boards.includes('pca9685')) return [];
  const { bus: busNumber, address } = f.config.pca9685;
  const where = `PCA9685 at ${hex(address)} on /dev/i2c-${busNumber}`;
  if (!exists(path.join(f.roots.dev, `i2c-${busNumber}`))) return [info(`${where}: not probed, the bus is missing (above)`)];
  const options = { ...f.config.pca9685 };
  let i2c;
  try {
    i2c = loadI2cBus(f.options.requireModule ?? ((id: string) => require(id) as unknown));
  } catch (err) {
    return [fail(...splitMessage((err as Error).message))];
  }
  let mode1: number;
  let prescale: number;
  let bus;
  try {
    bus = i2c.openSync(busNumber);
    mode1 = bus.readByteSync(address, REGISTER.MODE1);
    prescale = bus.readByteSync(address, REGISTER.PRE_SCALE);
  } catch (err) {
    return [fail(...splitMessage(explain(err, options, {}, 'reading MODE1 and PRE_SCALE').message))];
  } finally {
    try {
      bus?.closeSync();
    } catch {
      // A read error is the one worth reporting.
    }
  }
  if (prescale < 3) {
    return [fail(`${where}: PRE_SCALE reads ${prescale}, which a PCA9685 never holds (it forces at least 3)`, `check pca9685.address against "i2cdetect -y ${busNumber}"`)];
  }
  const state = mode1 & 0x10 ? 'asleep' : 'awake';
  return [pass(`${where} answers: MODE1 ${hex(mode1)} (${state}), PRE_SCALE ${prescale} (${frequencyOf(prescale).toFixed(0)} Hz); read only`)];
}
