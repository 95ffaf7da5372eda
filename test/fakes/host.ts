import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { HostRoots } from '../../src/doctor/host';
import { removeOnExit } from '../support/cleanup';
import type { FakeSysfs } from './sysfs';

/**
 * The rest of a machine's file system, as `carbot doctor` reads it, in a temporary folder
 * (what CARBOT_SYSTEM_ROOT points at): /etc/os-release (os-release(5)), /etc/passwd and
 * /etc/group (passwd(5), group(5)), the firmware's config.txt in /boot/firmware (bookworm
 * and later) or /boot, /dev/i2c-N (i2c-dev), /proc/<pid>/{comm,cmdline} (proc(5): cmdline is
 * the arguments separated and ended by NULs), /proc/device-tree (a link to
 * /sys/firmware/devicetree/base, here the fake sysfs's), pigpio's lock file
 * /var/run/pigpio.pid, libpigpio.so.1 where Debian's package puts it, and the installed unit.
 */
export class FakeHost {
  readonly root: string;
  private readonly remove: () => void;

  constructor(readonly sysfs?: FakeSysfs) {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'carbot-host-'));
    this.remove = removeOnExit(this.root);
    // Readable by the unprivileged user the process tests run carbot as (mkdtemp makes it 0700).
    fs.chmodSync(this.root, 0o755);
    for (const dir of ['etc', 'proc', 'dev', 'boot/firmware', 'var/run', 'usr/lib/aarch64-linux-gnu']) {
      fs.mkdirSync(path.join(this.root, dir), { recursive: true });
    }
    if (sysfs) fs.symlinkSync(path.join(sysfs.root, 'firmware', 'devicetree', 'base'), path.join(this.root, 'proc', 'device-tree'));
    this.passwd(['root:x:0:0:root:/root:/bin/bash']);
    this.groups(['root:x:0:']);
  }

  get roots(): HostRoots {
    const under = (dir: string) => path.join(this.root, dir);
    return { root: this.root, sys: this.sysfs?.root ?? under('sys'), proc: under('proc'), dev: under('dev'), boot: under('boot'), etc: under('etc') };
  }

  /** What the child process gets: CARBOT_SYSTEM_ROOT, and CARBOT_SYSFS_ROOT for the fake sysfs. */
  get env(): Record<string, string> {
    return { CARBOT_SYSTEM_ROOT: this.root, ...(this.sysfs ? { CARBOT_SYSFS_ROOT: this.sysfs.root } : {}) };
  }

  write(file: string, text: string): this {
    const full = path.join(this.root, file);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    fs.writeFileSync(full, text);
    return this;
  }

  /** Raspberry Pi OS's /etc/os-release for a Debian release. */
  osRelease(codename: 'trixie' | 'bookworm' | 'bullseye'): this {
    const version = { trixie: 13, bookworm: 12, bullseye: 11 }[codename];
    return this.write(
      'etc/os-release',
      `PRETTY_NAME="Debian GNU/Linux ${version} (${codename})"\nNAME="Debian GNU/Linux"\nVERSION_ID="${version}"\n` +
        `VERSION="${version} (${codename})"\nVERSION_CODENAME=${codename}\nID=debian\n`,
    );
  }

  passwd(lines: string[]): this {
    return this.write('etc/passwd', `${lines.join('\n')}\n`);
  }

  groups(lines: string[]): this {
    return this.write('etc/group', `${lines.join('\n')}\n`);
  }

  /** The user carbot with scripts/install.sh's groups, as `members` of gpio and i2c lists it. */
  carbotUser(inGroups: ('gpio' | 'i2c')[] = ['gpio', 'i2c']): this {
    this.passwd(['root:x:0:0:root:/root:/bin/bash', 'carbot:x:995:995:carbot service:/nonexistent:/usr/sbin/nologin']);
    return this.groups([
      'root:x:0:',
      `gpio:x:997:${inGroups.includes('gpio') ? 'pi,carbot' : 'pi'}`,
      `i2c:x:998:${inGroups.includes('i2c') ? 'pi,carbot' : 'pi'}`,
      'carbot:x:995:',
    ]);
  }

  configTxt(text: string, where: 'boot/firmware' | 'boot' = 'boot/firmware'): this {
    return this.write(`${where}/config.txt`, text);
  }

  /** /dev/i2c-N, as the i2c-dev module makes it once config.txt enables the bus. */
  i2cDevice(bus = 1): this {
    return this.write(`dev/i2c-${bus}`, '');
  }

  process(pid: number, comm: string, argv: string[]): this {
    this.write(`proc/${pid}/comm`, `${comm}\n`);
    return this.write(`proc/${pid}/cmdline`, argv.map((a) => `${a}\0`).join(''));
  }

  pigpioLock(pid: number): this {
    return this.write('var/run/pigpio.pid', `${pid}\n`);
  }

  /** Debian's libpigpio1 package: /usr/lib/aarch64-linux-gnu/libpigpio.so.1. */
  pigpioLibrary(): this {
    return this.write('usr/lib/aarch64-linux-gnu/libpigpio.so.1', '');
  }

  /** An installed unit: the repository's own file, as scripts/install.sh copies it. */
  installUnit(variant: 'carbot.service' | 'carbot-pigpio.service'): this {
    return this.write('etc/systemd/system/carbot.service', fs.readFileSync(path.join(__dirname, '..', '..', variant), 'utf8'));
  }

  close(): void {
    this.remove();
  }
}

/** Raspberry Pi OS trixie's stock config.txt (the lines that matter here), plus `extra`. */
export function stockConfigTxt(...extra: string[]): string {
  return [
    '# For more options and information see',
    '# http://rptl.io/configtxt',
    '# Uncomment some or all of these to enable the optional hardware interfaces',
    '#dtparam=i2c_arm=on',
    '#dtparam=i2s=on',
    '#dtparam=spi=on',
    '# Enable audio (loads snd_bcm2835)',
    'dtparam=audio=on',
    'camera_auto_detect=1',
    'display_auto_detect=1',
    'auto_initramfs=1',
    'dtoverlay=vc4-kms-v3d',
    'max_framebuffers=2',
    'disable_fw_kms_setup=1',
    'arm_64bit=1',
    'disable_overscan=1',
    'arm_boost=1',
    '[cm4]',
    'otg_mode=1',
    '[all]',
    ...extra,
    '',
  ].join('\n');
}
