import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { loadConfig, type Config } from '../../src/config/config';
import { doctor, type DoctorOptions } from '../../src/doctor/index';
import { fakeRequire } from '../fakes/call-log';
import { FakeHost, stockConfigTxt } from '../fakes/host';
import { busWithChips, createFakeI2cBus, MemoryStore } from '../fakes/i2c-bus';
import { FakeSysfs, type FakePi } from '../fakes/sysfs';
import { describeMosquitto, startMosquitto, type Mosquitto } from '../support/mosquitto';
import { closeClient, connectClient } from '../support/mqtt';
import { freePort } from '../support/ports';
import { passwordFile } from '../reliability/credentials';

/**
 * `carbot doctor` as a whole: the broker checks against a real mosquitto (each test its own),
 * and the whole output on a fake Pi 5, a fake Pi 4 without pigpio, and a fake servo-HAT Pi.
 */

const PI5_OVERLAY = 'dtoverlay=pwm-2chan,pin=12,func=4,pin2=13,func2=4';
const PI4_OVERLAY = PI5_OVERLAY;

describeMosquitto('carbot doctor', () => {
  let sysfs: FakeSysfs | undefined;
  let host: FakeHost | undefined;
  let broker: Mosquitto | undefined;
  afterEach(async () => {
    sysfs?.close();
    host?.close();
    await broker?.stop();
    sysfs = undefined;
    host = undefined;
    broker = undefined;
  });

  function machine(pi?: FakePi): FakeHost {
    sysfs = pi ? new FakeSysfs(pi) : undefined;
    host = new FakeHost(sysfs).osRelease('trixie');
    return host;
  }

  function config(...argv: string[]): Config {
    return loadConfig({ argv: ['--no-config', ...argv], env: {} });
  }

  /** The lines printed and the exit code, with the temporary roots and the broker's port as a user's machine would show them. */
  async function run(cfg: Config, options: Partial<DoctorOptions> = {}): Promise<{ lines: string[]; code: number }> {
    const printed: string[] = [];
    const h = host as FakeHost;
    const code = await doctor(cfg, { roots: h.roots, nodeVersion: '24.11.1', ownPid: 1, pigpioAddon: () => '/fake/pigpio.node', lwtWaitMs: 300, ...options }, (line) =>
      printed.push(line),
    );
    const port = broker ? String(broker.port) : '\0';
    return { lines: printed.map((l) => l.split(h.root).join('').split(sysfs?.root ?? '\0').join('/sys').split(port).join('PORT')), code };
  }

  const brokerLines = (lines: string[]) => lines.filter((l) => /^. (broker|another carbot):/.test(l));

  describe('the broker and another carbot', () => {
    it('connects with the configured credentials, and fails a wrong password with what to set', async () => {
      broker = await startMosquitto({ extraConfig: 'allow_anonymous false\npassword_file passwd', files: { passwd: passwordFile({ car: 'right' }) } });
      machine();
      const good = await run(config('--mqtt-url', broker.url, '--mqtt-username', 'car', '--mqtt-password', 'right'));
      assert.deepEqual(brokerLines(good.lines), [
        '✓ broker: connected to mqtt://127.0.0.1:PORT as car',
        '✓ another carbot: none Online for device "carbot" (tele/carbot/LWT empty)',
      ]);
      assert.equal(good.code, 0, good.lines.join('\n'));
      const bad = await run(config('--mqtt-url', broker.url, '--mqtt-username', 'car', '--mqtt-password', 'wrong'));
      assert.deepEqual(brokerLines(bad.lines), [
        '✗ broker: broker at mqtt://127.0.0.1:PORT says carbot is not authorised to connect (check mqtt.username and the password) → set mqtt.username and mqtt.password (or mqtt.passwordFile) to an account of the broker',
        '– another carbot: not checked without the broker',
      ]);
      assert.equal(bad.code, 1);
    });

    it('a broker that refuses the subscription to the LWT topic (SUBACK 0x80): the Online check says it was not made', async () => {
      const { Aedes } = await import('aedes');
      // Refused as a broker ACL that checks subscriptions does; mosquitto instead grants it and delivers nothing.
      const aedes = await Aedes.createBroker({ authorizeSubscribe: (_client, sub, done) => done(null, sub.topic.startsWith('tele/') ? null : sub) });
      const server = createServer(aedes.handle);
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      try {
        machine();
        const url = `mqtt://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const { lines, code } = await run(config('--mqtt-url', url));
        assert.deepEqual(brokerLines(lines), [
          `✓ broker: connected to ${url}`,
          '– another carbot: not checked, the broker refused a subscription to tele/carbot/LWT (its ACL)',
        ]);
        assert.equal(code, 0);
      } finally {
        await new Promise((resolve) => server.close(resolve));
        await new Promise<void>((resolve) => aedes.close(() => resolve()));
      }
    });

    it('a broker that is not there: how to start it; carbot\'s embedded broker only runs with carbot', async () => {
      machine();
      const port = await freePort();
      const refused = await run(config('--mqtt-url', `mqtt://127.0.0.1:${port}`));
      assert.deepEqual(brokerLines(refused.lines), [
        `✗ broker: broker at mqtt://127.0.0.1:${port} refused the connection (is mosquitto running?) → start the broker (sudo systemctl enable --now mosquitto), or set mqtt.url to where it runs`,
        '– another carbot: not checked without the broker',
      ]);
      assert.equal(refused.code, 1);
      const embedded = await run(config('--embedded-broker-enabled', '--embedded-broker-port', String(port)));
      assert.deepEqual(brokerLines(embedded.lines), [
        `– broker: carbot's embedded broker (mqtt://127.0.0.1:${port}) runs only while carbot runs; start carbot, then run carbot doctor again`,
        '– another carbot: not checked without the broker',
      ]);
      assert.equal(embedded.code, 0);
    });

    it('another carbot Online for this device fails, unless it is the one running here', async () => {
      broker = await startMosquitto();
      const other = await connectClient(broker.url);
      await other.publishAsync('tele/kitchen/LWT', 'Online', { qos: 1, retain: true });
      await other.publishAsync('tele/garden/LWT', 'Offline', { qos: 1, retain: true });
      await closeClient(other);
      machine();
      const online = await run(config('--mqtt-url', broker.url, '--device', 'kitchen'));
      assert.deepEqual(brokerLines(online.lines)[1],
        '✗ another carbot: tele/kitchen/LWT = Online, and no carbot runs on this machine: another one drives device "kitchen" → give each car its own device name (device in config.json, or CARBOT_DEVICE), or stop the other carbot');
      assert.equal(online.code, 1);
      assert.deepEqual(brokerLines((await run(config('--mqtt-url', broker.url, '--device', 'garden'))).lines)[1],
        '✓ another carbot: none Online for device "garden" (tele/garden/LWT = Offline)');
      host?.process(977, 'node', ['/usr/bin/node', '/opt/carbot/dist/cli.js']);
      const here = await run(config('--mqtt-url', broker.url, '--device', 'kitchen'));
      assert.deepEqual(brokerLines(here.lines)[1], '✓ another carbot: tele/kitchen/LWT = Online, the carbot running here (pid 977)');
    });
  });

  describe('the whole output', () => {
    it('a Raspberry Pi 5 on trixie with the kernel board, set up as the docs say: nothing to fix', async () => {
      broker = await startMosquitto();
      machine('pi5').configTxt(stockConfigTxt(PI5_OVERLAY)).carbotUser().installUnit('carbot.service').process(1, 'systemd', ['/sbin/init']);
      const { lines, code } = await run(config('--mqtt-url', broker.url));
      assert.deepEqual(lines, [
        'carbot doctor: configuration from defaults and CARBOT_* (no file)',
        '✓ OS: Debian GNU/Linux 13 (trixie)',
        '✓ Node.js 24.11.1',
        "✓ board: Raspberry Pi 5 Model B Rev 1.0; motors on: kernel (gpio auto: kernel, as this is a Raspberry Pi 5 Model B Rev 1.0 (RP1), which pigpio cannot drive)",
        '✓ kernel PWM: GPIO 12 = pwmchip2 channel 0, GPIO 13 = pwmchip2 channel 1',
        '✓ sysfs GPIO: /sys/class/gpio, BCM pin 0 is gpio571 (for GPIO 5, GPIO 6, GPIO 20, GPIO 21)',
        '✓ config.txt: PWM overlay for GPIO 12, GPIO 13 in /boot/firmware/config.txt',
        '✓ service user: the installed carbot.service runs as carbot, in gpio',
        '✓ pins: free (no pigpiod, no pigpio lock held, no carbot running)',
        '✓ broker: connected to mqtt://127.0.0.1:PORT',
        '✓ another carbot: none Online for device "carbot" (tele/carbot/LWT empty)',
        'carbot doctor: nothing to fix',
      ]);
      assert.equal(code, 0);
    });

    it('a Raspberry Pi 4 on trixie, without the pigpio library, as first flashed: the kernel board and what it needs', async () => {
      broker = await startMosquitto();
      machine('pi4').configTxt(stockConfigTxt());
      const { lines, code } = await run(config('--mqtt-url', broker.url));
      assert.deepEqual(lines, [
        'carbot doctor: configuration from defaults and CARBOT_* (no file)',
        '✓ OS: Debian GNU/Linux 13 (trixie)',
        '✓ Node.js 24.11.1',
        '✓ board: Raspberry Pi 4 Model B Rev 1.4; motors on: kernel (gpio auto: kernel PWM rather than pigpio on this Raspberry Pi 4 Model B Rev 1.4, as the pigpio C library (libpigpio.so) is not installed; the PWM pins need their dtoverlay line in config.txt (docs/boards-kernel.md))',
        '✓ kernel PWM: GPIO 12 = pwmchip0 channel 0, GPIO 13 = pwmchip0 channel 1',
        '✓ sysfs GPIO: /sys/class/gpio, BCM pin 0 is gpio512 (for GPIO 5, GPIO 6, GPIO 20, GPIO 21)',
        `✗ config.txt: no PWM overlay for GPIO 12, GPIO 13 in /boot/firmware/config.txt → add "${PI4_OVERLAY}" and reboot`,
        '✗ config.txt: dtparam=audio=on gives both PWM channels to the headphone jack → change it to "dtparam=audio=off" in /boot/firmware/config.txt and reboot',
        '✗ service user: carbot.service is not installed yet; scripts/install.sh runs it as carbot, but there is no user carbot → sudo scripts/install.sh (it creates the user carbot in the groups gpio and i2c)',
        '✓ pins: free (no pigpiod, no pigpio lock held, no carbot running)',
        '✓ broker: connected to mqtt://127.0.0.1:PORT',
        '✓ another carbot: none Online for device "carbot" (tele/carbot/LWT empty)',
        'carbot doctor: 3 things to fix (✗ above)',
      ]);
      assert.equal(code, 1);
    });

    it('a Raspberry Pi with Adafruit\'s servo HAT, I2C on, the chip answering: nothing to fix, nothing written to it', async () => {
      broker = await startMosquitto();
      machine('pi3').configTxt(stockConfigTxt('dtparam=i2c_arm=on')).i2cDevice(1).carbotUser().installUnit('carbot.service');
      const i2c = createFakeI2cBus(new MemoryStore({ buses: { '1': busWithChips(0x40) } }));
      const { lines, code } = await run(config('--mqtt-url', broker.url, '--motors', 'adafruit-servo-hat'), {
        requireModule: fakeRequire({ 'i2c-bus': () => i2c }),
      });
      assert.deepEqual(lines, [
        'carbot doctor: configuration from defaults and CARBOT_* (no file)',
        '✓ OS: Debian GNU/Linux 13 (trixie)',
        '✓ Node.js 24.11.1',
        '✓ board: Raspberry Pi 3 Model B Plus Rev 1.3; motors on: pca9685 (no motor or switch on the header)',
        '✓ I2C: /dev/i2c-1 exists',
        '✓ config.txt: I2C on (dtparam=i2c_arm=on in /boot/firmware/config.txt)',
        '✓ service user: the installed carbot.service runs as carbot, in i2c',
        '✓ pins: free (no carbot running)',
        '✓ PCA9685 at 0x40 on /dev/i2c-1 answers: MODE1 0x11 (asleep), PRE_SCALE 30 (197 Hz); read only',
        '✓ broker: connected to mqtt://127.0.0.1:PORT',
        '✓ another carbot: none Online for device "carbot" (tele/carbot/LWT empty)',
        'carbot doctor: nothing to fix',
      ]);
      assert.equal(code, 0);
      assert.deepEqual(i2c.chip(1, 0x40).channels.map((c) => c.output), Array(16).fill('low'));
      assert.ok(i2c.log.every((entry) => !/ write /.test(entry)), i2c.log.join('\n'));
    });
  });
});
