import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { loadConfig, type Config } from '../../src/config/config';
import {
  checkBoard,
  checkConfigTxt,
  checkDevices,
  checkHolders,
  checkPca9685,
  checkSystem,
  checkUser,
  gatherFacts,
  type CheckLine,
  type DoctorOptions,
} from '../../src/doctor/checks';
import { renderLine } from '../../src/doctor/index';
import { fakeRequire } from '../fakes/call-log';
import { FakeHost, stockConfigTxt } from '../fakes/host';
import { busWithChips, createFakeI2cBus, MemoryStore, type FakeI2c } from '../fakes/i2c-bus';
import { FakeSysfs, type FakePi, type FakeSysfsOptions } from '../fakes/sysfs';

/**
 * Each check of `carbot doctor` against the fakes (fake sysfs, fake i2c-bus, a temporary /etc,
 * /boot, /dev and /proc), passing and failing: the lines as the user reads them.
 */

const PI5_OVERLAY = 'dtoverlay=pwm-2chan,pin=12,func=4,pin2=13,func2=4';
const SERVO_HAT = ['--motors', 'adafruit-servo-hat'];

describe('carbot doctor: each check on a fake machine', () => {
  let sysfs: FakeSysfs | undefined;
  let host: FakeHost;
  afterEach(() => {
    sysfs?.close();
    sysfs = undefined;
    host.close();
  });

  /** A fake Pi (or, without `pi`, a machine that is not one) with trixie. */
  function machine(pi?: FakePi, options: FakeSysfsOptions = {}): FakeHost {
    sysfs?.close();
    host?.close();
    sysfs = pi ? new FakeSysfs(pi, options) : undefined;
    host = new FakeHost(sysfs).osRelease('trixie');
    return host;
  }

  function config(...argv: string[]): Config {
    return loadConfig({ argv: ['--no-config', ...argv], env: {} });
  }

  function facts(cfg: Config, options: Partial<DoctorOptions> = {}) {
    return gatherFacts(cfg, { roots: host.roots, nodeVersion: '24.11.1', ownPid: 1, pigpioAddon: () => '/fake/pigpio.node', ...options });
  }

  /** The lines, with the temporary roots shown as the paths they stand for. */
  function shown(lines: CheckLine[]): string[] {
    return lines.map((l) => renderLine(l).split(host.root).join('').split(sysfs?.root ?? '\0').join('/sys'));
  }

  describe('the system', () => {
    it('passes trixie and bookworm with Node 20, 22 and 24', () => {
      machine('pi5');
      for (const node of ['20.19.2', '22.21.0', '24.11.1']) {
        assert.deepEqual(shown(checkSystem(facts(config(), { nodeVersion: node }))), [
          '✓ OS: Debian GNU/Linux 13 (trixie)',
          `✓ Node.js ${node}`,
        ]);
      }
      host.osRelease('bookworm');
      assert.deepEqual(shown(checkSystem(facts(config())))[0], '✓ OS: Debian GNU/Linux 12 (bookworm) (supported; trixie is the current Raspberry Pi OS)');
    });

    it('fails an older release on a Pi, and a Node carbot does not support, with what to install', () => {
      machine('pi4');
      host.osRelease('bullseye');
      assert.deepEqual(shown(checkSystem(facts(config(), { nodeVersion: '18.19.0' }))), [
        '✗ OS: Debian GNU/Linux 11 (bullseye): carbot supports Raspberry Pi OS trixie and bookworm → flash Raspberry Pi OS (trixie, 64-bit) with Raspberry Pi Imager, then follow docs/install.md',
        '✗ Node.js 18.19.0: carbot supports Node 20, 22, 24 → install Node 24 (LTS) or 22 (docs/install.md), then sudo scripts/install.sh again',
      ]);
      host.osRelease('trixie');
      assert.match(shown(checkSystem(facts(config(), { nodeVersion: '18.19.0' })))[1], /→ sudo apt-get install nodejs \(trixie has Node 20\)/);
    });

    it('off a Pi, names the OS without failing it', () => {
      machine();
      host.write('etc/os-release', 'PRETTY_NAME="Ubuntu 24.04.3 LTS"\nVERSION_CODENAME=noble\nID=ubuntu\n');
      assert.deepEqual(shown(checkSystem(facts(config())))[0], '– OS: Ubuntu 24.04.3 LTS (not Raspberry Pi OS)');
    });
  });

  describe('the board the configuration implies', () => {
    it('gpio auto: the kernel board on a Pi 5, pigpio on a Pi 4 with its C library, the kernel board without, simulated motors off a Pi', () => {
      machine('pi5');
      assert.deepEqual(shown(checkBoard(facts(config()))), [
        "✓ board: Raspberry Pi 5 Model B Rev 1.0; motors on: kernel (gpio auto: kernel, as this is a Raspberry Pi 5 Model B Rev 1.0 (RP1), which pigpio cannot drive)",
      ]);
      machine('pi4');
      assert.deepEqual(shown(checkBoard(facts(config()))), [
        '✓ board: Raspberry Pi 4 Model B Rev 1.4; motors on: kernel (gpio auto: kernel PWM rather than pigpio on this Raspberry Pi 4 Model B Rev 1.4, as the pigpio C library (libpigpio.so) is not installed; the PWM pins need their dtoverlay line in config.txt (docs/boards-kernel.md))',
      ]);
      host.pigpioLibrary();
      assert.deepEqual(shown(checkBoard(facts(config()))), [
        '✓ board: Raspberry Pi 4 Model B Rev 1.4; motors on: pigpio (gpio auto: pigpio on this Raspberry Pi 4 Model B Rev 1.4, whose pigpio C library is installed)',
      ]);
      assert.deepEqual(shown(checkBoard(facts(config(), { pigpioAddon: () => undefined }))), [
        "✓ board: Raspberry Pi 4 Model B Rev 1.4; motors on: kernel (gpio auto: kernel PWM rather than pigpio on this Raspberry Pi 4 Model B Rev 1.4, as pigpio's addon was built without the C library; the PWM pins need their dtoverlay line in config.txt (docs/boards-kernel.md))",
      ]);
      machine();
      assert.deepEqual(shown(checkBoard(facts(config()))), [
        '– board: not a Raspberry Pi (/proc/device-tree/model is missing); motors on: sim (gpio auto, off a Raspberry Pi): simulated motors here; the Raspberry Pi checks are skipped',
      ]);
    });

    it('fails pigpio on a Pi 5 and off a Pi', () => {
      machine('pi5');
      assert.deepEqual(shown(checkBoard(facts(config('--gpio', 'pigpio')))), [
        '✗ board: Raspberry Pi 5 Model B Rev 1.0; motors on: pigpio (gpio "pigpio"): the pigpio C library does not support the Pi 5 family → set gpio to "kernel" (or "auto", which picks it on a Pi 5); see docs/boards-kernel.md',
      ]);
      machine();
      assert.deepEqual(shown(checkBoard(facts(config('--gpio', 'pigpio')))), [
        '✗ board: not a Raspberry Pi (/proc/device-tree/model is missing), but gpio is "pigpio" → set gpio to "auto" (simulated motors here) or "sim"',
      ]);
    });
  });

  describe('the devices', () => {
    it('kernel board: the RP1 PWM chip serves the pins, sysfs GPIO has its base', () => {
      machine('pi5');
      assert.deepEqual(shown(checkDevices(facts(config()))), [
        '✓ kernel PWM: GPIO 12 = pwmchip2 channel 0, GPIO 13 = pwmchip2 channel 1',
        '✓ sysfs GPIO: /sys/class/gpio, BCM pin 0 is gpio571 (for GPIO 5, GPIO 6, GPIO 20, GPIO 21)',
      ]);
    });

    it('kernel board without the overlay: the line to add, or a reboot when config.txt has it already', () => {
      machine('pi5', { overlay: false });
      host.configTxt(stockConfigTxt());
      assert.deepEqual(shown(checkDevices(facts(config())))[0],
        `✗ kernel PWM: no pwmchip in /sys/class/pwm belongs to 1f00098000.pwm, the PWM of GPIO 12, GPIO 13 → add "${PI5_OVERLAY}" to /boot/firmware/config.txt and reboot`);
      host.configTxt(stockConfigTxt(PI5_OVERLAY));
      assert.deepEqual(shown(checkDevices(facts(config())))[0],
        '✗ kernel PWM: no pwmchip in /sys/class/pwm belongs to 1f00098000.pwm, the PWM of GPIO 12, GPIO 13 → /boot/firmware/config.txt routes them already: reboot');
    });

    it('kernel board: a pin without hardware PWM, and a pwmChannels chip that is not there', () => {
      machine('pi4');
      const motors = JSON.stringify([{ name: 'left', driver: 'servo', pin: 17 }, { name: 'right', driver: 'servo', pin: 18 }]);
      // gpio "pigpio" on a Pi 4 without the library: what to do instead.
      const lines = shown(checkDevices(facts(config('--gpio', 'pigpio', '--motors', motors, '--pwm-channels', '{"17": {"chip": "pwmchip9", "channel": 0}}'))));
      assert.deepEqual(lines, [
        '✗ pigpio: the pigpio C library is not installed (Raspberry Pi OS trixie has no pigpio package) → set "gpio": "kernel" (the kernel\'s PWM, no root) and add "dtoverlay=pwm-2chan,pin=18,func=2,pin2=19,func2=2" to /boot/firmware/config.txt, reboot, then sudo scripts/install.sh; on bookworm: sudo apt-get install pigpio, then sudo scripts/install.sh',
      ]);
      const kernel = shown(checkDevices(facts(config('--gpio', 'kernel', '--motors', motors, '--pwm-channels', '{"17": {"chip": "pwmchip9", "channel": 0}}'))));
      assert.deepEqual(kernel, [
        '✗ kernel PWM: no chip "pwmchip9" (pwmChannels for GPIO 17) in /sys/class/pwm → check its overlay in /boot/firmware/config.txt, reboot, and name the chip "ls -l /sys/class/pwm" shows',
        '✓ kernel PWM: GPIO 18 = pwmchip0 channel 0',
      ]);
    });

    it('kernel board on a kernel without sysfs GPIO: the H-bridge inputs cannot be driven', () => {
      const h = machine('pi5');
      fs.rmSync(path.join(h.roots.sys, 'class', 'gpio'), { recursive: true });
      assert.deepEqual(shown(checkDevices(facts(config())))[1],
        '✗ sysfs GPIO: no /sys/class/gpio (needed for GPIO 5, GPIO 6, GPIO 20, GPIO 21) → use a kernel with CONFIG_GPIO_SYSFS, as Raspberry Pi OS has');
      // Servos alone need no plain pins, so no sysfs GPIO.
      const servos = JSON.stringify([{ name: 'left', driver: 'servo', pin: 12 }, { name: 'right', driver: 'servo', pin: 13 }]);
      assert.deepEqual(shown(checkDevices(facts(config('--motors', servos)))), ['✓ kernel PWM: GPIO 12 = pwmchip2 channel 0, GPIO 13 = pwmchip2 channel 1']);
    });

    it('pigpio board: the C library and the addon', () => {
      machine('pi4');
      host.pigpioLibrary();
      assert.deepEqual(shown(checkDevices(facts(config()))), ['✓ pigpio: C library /usr/lib/aarch64-linux-gnu/libpigpio.so.1, addon built']);
      // With gpio auto the kernel board would be chosen instead; gpio "pigpio" insists.
      assert.deepEqual(shown(checkDevices(facts(config('--gpio', 'pigpio'), { pigpioAddon: () => undefined }))), [
        "✗ pigpio: C library /usr/lib/aarch64-linux-gnu/libpigpio.so.1, but pigpio's addon is not built → sudo scripts/install.sh (npm builds the addon when pigpiod is on the PATH)",
      ]);
    });

    it('PCA9685: /dev/i2c-N, and what to do when it is missing', () => {
      machine('pi4');
      host.configTxt(stockConfigTxt());
      assert.deepEqual(shown(checkDevices(facts(config(...SERVO_HAT)))), [
        '✗ I2C: no /dev/i2c-1 → add "dtparam=i2c_arm=on" to /boot/firmware/config.txt (or: sudo raspi-config nonint do_i2c 0) and reboot',
      ]);
      host.configTxt(stockConfigTxt('dtparam=i2c_arm=on'));
      assert.deepEqual(shown(checkDevices(facts(config(...SERVO_HAT)))), [
        '✗ I2C: no /dev/i2c-1, though config.txt enables I2C → reboot; if it stays missing, add "i2c-dev" to /etc/modules and reboot',
      ]);
      host.i2cDevice(1);
      assert.deepEqual(shown(checkDevices(facts(config(...SERVO_HAT)))), ['✓ I2C: /dev/i2c-1 exists']);
    });
  });

  describe('config.txt', () => {
    it('I2C: commented out in the stock file, then on; read from /boot/config.txt on older releases', () => {
      machine('pi4');
      host.configTxt(stockConfigTxt());
      assert.deepEqual(shown(checkConfigTxt(facts(config(...SERVO_HAT)))), [
        '✗ config.txt: I2C is off in /boot/firmware/config.txt → uncomment "dtparam=i2c_arm=on" (or: sudo raspi-config nonint do_i2c 0) and reboot',
      ]);
      host.configTxt(stockConfigTxt('dtparam=i2c_arm=on'));
      assert.deepEqual(shown(checkConfigTxt(facts(config(...SERVO_HAT)))), ['✓ config.txt: I2C on (dtparam=i2c_arm=on in /boot/firmware/config.txt)']);
      machine('pi3');
      host.configTxt('dtparam=i2c_arm=on,spi=on\n', 'boot');
      assert.deepEqual(shown(checkConfigTxt(facts(config(...SERVO_HAT)))), ['✓ config.txt: I2C on (dtparam=i2c_arm=on in /boot/config.txt)']);
    });

    it('kernel PWM: the exact overlay line for the configured pins; the Pi 4 audio that takes both channels', () => {
      machine('pi5');
      host.configTxt(stockConfigTxt());
      assert.deepEqual(shown(checkConfigTxt(facts(config()))), [
        `✗ config.txt: no PWM overlay for GPIO 12, GPIO 13 in /boot/firmware/config.txt → add "${PI5_OVERLAY}" and reboot`,
      ]);
      host.configTxt(stockConfigTxt(PI5_OVERLAY));
      assert.deepEqual(shown(checkConfigTxt(facts(config()))), ['✓ config.txt: PWM overlay for GPIO 12, GPIO 13 in /boot/firmware/config.txt']);
      machine('pi4');
      const servos = JSON.stringify([{ name: 'left', driver: 'servo', pin: 12 }, { name: 'right', driver: 'servo', pin: 19 }]);
      host.configTxt(stockConfigTxt());
      assert.deepEqual(shown(checkConfigTxt(facts(config('--gpio', 'kernel', '--motors', servos)))), [
        '✗ config.txt: no PWM overlay for GPIO 12, GPIO 19 in /boot/firmware/config.txt → add "dtoverlay=pwm-2chan,pin=12,func=4,pin2=19,func2=2" and reboot',
        '✗ config.txt: dtparam=audio=on gives both PWM channels to the headphone jack → change it to "dtparam=audio=off" in /boot/firmware/config.txt and reboot',
      ]);
      host.configTxt(stockConfigTxt('dtoverlay=pwm-2chan,pin=12,func=4,pin2=19,func2=2', 'dtparam=audio=off'));
      assert.deepEqual(shown(checkConfigTxt(facts(config('--gpio', 'kernel', '--motors', servos)))), [
        '✓ config.txt: PWM overlay for GPIO 12, GPIO 19 in /boot/firmware/config.txt',
      ]);
    });

    it('a plain dtoverlay=pwm-2chan is GPIO 18 and 19', () => {
      machine('pi5');
      const servos = JSON.stringify([{ name: 'left', driver: 'servo', pin: 18 }, { name: 'right', driver: 'servo', pin: 19 }]);
      host.configTxt('dtoverlay=pwm-2chan\n');
      assert.deepEqual(shown(checkConfigTxt(facts(config('--motors', servos)))), ['✓ config.txt: PWM overlay for GPIO 18, GPIO 19 in /boot/firmware/config.txt']);
    });

    it('no config.txt at all on a Pi', () => {
      machine('pi5');
      assert.deepEqual(shown(checkConfigTxt(facts(config()))), [
        '✗ config.txt: neither /boot/firmware/config.txt nor /boot/config.txt exists → mount the boot partition (it is /boot/firmware on Raspberry Pi OS)',
      ]);
    });
  });

  describe('the user the service runs as', () => {
    it('carbot in gpio and i2c passes; outside gpio fails with the usermod line', () => {
      machine('pi5');
      host.carbotUser(['i2c']).installUnit('carbot.service');
      // The installed unit's SupplementaryGroups=gpio i2c count as membership...
      assert.deepEqual(shown(checkUser(facts(config()))), ['✓ service user: the installed carbot.service runs as carbot, in gpio']);
      // ...so without the unit, only /etc/group does.
      host.write('etc/systemd/system/carbot.service', '[Service]\nUser=carbot\n');
      assert.deepEqual(shown(checkUser(facts(config()))), [
        '✗ service user: the installed carbot.service runs as carbot, not in gpio → sudo usermod -aG gpio carbot, then sudo systemctl restart carbot',
      ]);
      host.carbotUser(['gpio', 'i2c']);
      assert.deepEqual(shown(checkUser(facts(config()))), ['✓ service user: the installed carbot.service runs as carbot, in gpio']);
    });

    it('a system without the i2c group', () => {
      machine('pi4');
      host.passwd(['root:x:0:0:root:/root:/bin/bash', 'carbot:x:995:995::/nonexistent:/usr/sbin/nologin']).groups(['root:x:0:', 'gpio:x:997:carbot']);
      assert.deepEqual(shown(checkUser(facts(config(...SERVO_HAT)))), [
        '✗ service user: no group i2c on this system → sudo scripts/install.sh (it creates them; docs/boards-kernel.md has the udev rule other systems need)',
      ]);
    });

    it('no user carbot yet; pigpio needs root', () => {
      machine('pi5');
      assert.deepEqual(shown(checkUser(facts(config()))), [
        '✗ service user: carbot.service is not installed yet; scripts/install.sh runs it as carbot, but there is no user carbot → sudo scripts/install.sh (it creates the user carbot in the groups gpio and i2c)',
      ]);
      machine('pi4');
      host.pigpioLibrary();
      assert.deepEqual(shown(checkUser(facts(config()))), ['✓ service user: carbot.service is not installed yet; scripts/install.sh runs it as root: no groups needed']);
      host.carbotUser().installUnit('carbot.service');
      assert.deepEqual(shown(checkUser(facts(config()))), [
        '✗ service user: the installed carbot.service runs as carbot, but pigpio needs root → sudo scripts/install.sh (it installs carbot-pigpio.service, which runs as root)',
      ]);
      host.installUnit('carbot-pigpio.service');
      assert.deepEqual(shown(checkUser(facts(config()))), ['✓ service user: the installed carbot.service runs as root: no groups needed']);
    });
  });

  describe('other programs on the pins', () => {
    it('pigpiod, a program holding pigpio\'s lock, a running carbot', () => {
      machine('pi4');
      host.process(1, 'systemd', ['/sbin/init']);
      assert.deepEqual(shown(checkHolders(facts(config()))), ['✓ pins: free (no pigpiod, no pigpio lock held, no carbot running)']);
      host.process(412, 'pigpiod', ['/usr/bin/pigpiod', '-l']).pigpioLock(412);
      assert.deepEqual(shown(checkHolders(facts(config()))), [
        '✗ pins: pigpiod (pid 412) is running and takes the GPIO for itself → sudo systemctl disable --now pigpiod',
      ]);
      host.write('proc/412/comm', 'python3\n').write('proc/412/cmdline', 'python3\0carbot.py\0');
      assert.deepEqual(shown(checkHolders(facts(config()))), [
        "✗ pins: python3 (pid 412) holds pigpio's lock /var/run/pigpio.pid → stop that program (kill 412), it drives the pins through pigpio",
      ]);
      host.pigpioLock(977).process(977, 'node', ['/usr/bin/node', '/opt/carbot/dist/cli.js']);
      assert.deepEqual(shown(checkHolders(facts(config()))), [
        '– pins: held by the carbot running here (pid 977: /usr/bin/node /opt/carbot/dist/cli.js), as they should be while it runs',
      ]);
    });

    it('carbot send, safe-state and doctor itself are not the service', () => {
      machine('pi5');
      host.process(500, 'node', ['node', '/opt/carbot/dist/cli.js', 'send', 'stop']);
      host.process(501, 'node', ['node', '/opt/carbot/dist/cli.js', 'safe-state']);
      host.process(502, 'node', ['node', '/opt/carbot/dist/cli.js', 'doctor']);
      assert.deepEqual(shown(checkHolders(facts(config()))), ['✓ pins: free (no pigpiod, no pigpio lock held, no carbot running)']);
    });
  });

  describe('the PCA9685, read only', () => {
    let i2c: FakeI2c;
    function withChip(...addresses: number[]): Partial<DoctorOptions> {
      i2c = createFakeI2cBus(new MemoryStore({ buses: { '1': busWithChips(...addresses) } }));
      host.i2cDevice(1);
      return { requireModule: fakeRequire({ 'i2c-bus': () => i2c }) };
    }

    it('reads MODE1 and PRE_SCALE of a chip at power-on and writes nothing', () => {
      machine('pi4');
      const options = withChip(0x40);
      assert.deepEqual(shown(checkPca9685(facts(config(...SERVO_HAT), options))), [
        '✓ PCA9685 at 0x40 on /dev/i2c-1 answers: MODE1 0x11 (asleep), PRE_SCALE 30 (197 Hz); read only',
      ]);
      assert.deepEqual(i2c.log, ['1/0x40 read 0x00 = 0x11', '1/0x40 read 0xfe = 0x1e', '1 close']);
    });

    it('nothing at the address: checks the jumpers; no permission: the i2c group', () => {
      machine('pi4');
      const options = withChip(0x41);
      const [line] = shown(checkPca9685(facts(config(...SERVO_HAT), options)));
      assert.match(line, /^✗ nothing answers at address 0x40 on \/dev\/i2c-1 \(EREMOTEIO: no acknowledge while reading MODE1 and PRE_SCALE\) → Check that the HAT is seated/);
      i2c.change((world) => (world.buses['1'].permitted = false));
      const [denied] = shown(checkPca9685(facts(config(...SERVO_HAT), options)));
      assert.match(denied, /^✗ no permission to open \/dev\/i2c-1 as user \S+ \(EACCES\) → add that user to the i2c group/);
      assert.ok(i2c.log.every((entry) => !/ write /.test(entry)), i2c.log.join('\n'));
    });
  });
});
