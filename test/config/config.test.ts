import { strict as assert } from 'node:assert';
import { ConfigError, DEFAULT_CONFIG_PATH, envName, flagName, loadConfig, positionalIndexes, SETTINGS, withMqttUrl, type LoadInput, type Setting } from '../../src/config/config';

const files: Record<string, string> = {};
/**
 * Loaded as the service loads it (serving): by default the page listens on every interface,
 * where it needs a token; the tests that are not about the page give it one, as
 * scripts/install.sh does.
 */
const PAGE_WITH_TOKEN = { CARBOT_HTTP_TOKEN: 'a-long-random-token' };
function load(input: Partial<LoadInput>) {
  return loadConfig({
    argv: [],
    // What the CLI passes; tests that load a configuration in-process leave it out.
    defaultConfigPath: DEFAULT_CONFIG_PATH,
    exists: (p) => p in files,
    readFile: (p) => {
      if (!(p in files)) throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
      return Buffer.from(files[p]);
    },
    randomId: () => 'abc123',
    serving: true,
    ...input,
    env: { ...PAGE_WITH_TOKEN, ...input.env },
  });
}
function problems(input: Partial<LoadInput>): string[] {
  try {
    load(input);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.problems;
  }
  assert.fail('expected the configuration to be rejected');
}

describe('configuration', () => {
  beforeEach(() => {
    for (const k of Object.keys(files)) delete files[k];
  });

  it('has the documented defaults', () => {
    const c = load({});
    assert.equal(c.mqtt.url, 'mqtt://localhost:1883');
    assert.deepEqual(c.topics, {
      move: 'carbot/move',
      stop: 'carbot/move/stop',
      lwt: 'tele/carbot/LWT',
      state: 'tele/carbot/STATE',
      result: 'stat/carbot/RESULT',
      arrived: 'stat/carbot/ARRIVED',
      photo: 'stat/carbot/PHOTO',
      ownerPing: 'cmnd/carbot/OWNER',
      owner: 'stat/carbot/OWNER',
    });
    assert.deepEqual(c.drive, { initialSpeed: 50, speedStep: 10, minSpeed: 10, maxSpeed: 100, reverseDelayMs: 250, accelPercentPerSec: 0, commandTimeoutS: 0 });
    assert.equal(c.telePeriod, 300);
    assert.equal(c.mqtt.keepalive, 30);
    assert.equal(c.mqtt.qos, 0);
    assert.equal(c.gpio, 'auto');
    assert.equal(c.logLevel, 'info');
    assert.equal(c.stopOnDisconnect, true);
    assert.equal(c.mqtt.clientId, 'carbot-carbot-abc123');
    assert.deepEqual(c.embeddedBroker, { enabled: false, host: '127.0.0.1', port: 1883, wsPort: 9000, allowAnonymous: false });
    assert.equal(c.commandsPerSecond, 50);
    assert.deepEqual(c.http, {
      port: 8080,
      host: '0.0.0.0',
      token: 'a-long-random-token',
      username: undefined,
      password: undefined,
      allowAnonymous: false,
      allowedHosts: [],
    });
  });

  it('derives every topic from device and moveTopic', () => {
    assert.deepEqual(load({ env: { CARBOT_DEVICE: 'car2' } }).topics, {
      move: 'car2/move',
      stop: 'car2/move/stop',
      lwt: 'tele/car2/LWT',
      state: 'tele/car2/STATE',
      result: 'stat/car2/RESULT',
      arrived: 'stat/car2/ARRIVED',
      photo: 'stat/car2/PHOTO',
      ownerPing: 'cmnd/car2/OWNER',
      owner: 'stat/car2/OWNER',
    });
    assert.equal(load({ argv: ['--move-topic', 'garden/car/cmd'] }).topics.move, 'garden/car/cmd');
    assert.equal(load({ argv: ['--move-topic', 'garden/car/cmd'] }).topics.stop, 'garden/car/cmd/stop');
  });

  it('names env variables and flags after the setting', () => {
    assert.equal(envName('mqtt.passwordFile'), 'CARBOT_MQTT_PASSWORD_FILE');
    assert.equal(envName('reverseDelayMs'), 'CARBOT_REVERSE_DELAY_MS');
    assert.equal(flagName('mqtt.url'), '--mqtt-url');
    assert.equal(flagName('embeddedBroker.enabled'), '--embedded-broker-enabled');
    const envs = SETTINGS.map((s) => envName(s.key));
    for (const required of ['CARBOT_MQTT_URL', 'CARBOT_MQTT_USERNAME', 'CARBOT_MQTT_PASSWORD', 'CARBOT_MQTT_PASSWORD_FILE', 'CARBOT_GPIO', 'CARBOT_LOG_LEVEL', 'CARBOT_LOG_FORMAT']) {
      assert.ok(envs.includes(required), required);
    }
  });

  it('takes flags over environment over file over defaults', () => {
    files['/etc/carbot/config.json'] = JSON.stringify({ telePeriod: 10, speedStep: 5, mqtt: { url: 'mqtt://file:1883' } });
    const fileOnly = load({});
    assert.equal(fileOnly.configFile, '/etc/carbot/config.json');
    assert.equal(fileOnly.mqtt.url, 'mqtt://file:1883');
    const c = load({ env: { CARBOT_TELE_PERIOD: '20', CARBOT_MQTT_URL: 'mqtt://env:1883' }, argv: ['--tele-period=30'] });
    assert.equal(c.telePeriod, 30);
    assert.equal(c.mqtt.url, 'mqtt://env:1883');
    assert.equal(c.drive.speedStep, 5);
  });

  it('reads --config or CARBOT_CONFIG, and a missing explicit file is an error', () => {
    files['/tmp/car.json'] = '{"device":"fromfile"}';
    assert.equal(load({ argv: ['--config', '/tmp/car.json'] }).device, 'fromfile');
    assert.equal(load({ env: { CARBOT_CONFIG: '/tmp/car.json' } }).device, 'fromfile');
    assert.deepEqual(problems({ argv: ['--config=/nope.json'] }), ['/nope.json: no such file']);
  });

  it('reads /etc/carbot/config.json only when the caller asks for the default, and never with --no-config or an empty CARBOT_CONFIG', () => {
    files['/etc/carbot/config.json'] = '{"device":"pi-car"}';
    assert.equal(load({}).device, 'pi-car');
    const inProcess = load({ defaultConfigPath: undefined });
    assert.equal(inProcess.device, 'carbot');
    assert.equal(inProcess.configFile, undefined);
    for (const input of [{ argv: ['--no-config'] }, { env: { CARBOT_CONFIG: '' } }, { argv: ['--config='] }]) {
      const c = load(input);
      assert.equal(c.device, 'carbot', JSON.stringify(input));
      assert.equal(c.configFile, undefined, JSON.stringify(input));
    }
    // A flag still names a file over an empty CARBOT_CONFIG.
    files['/tmp/car.json'] = '{"device":"fromfile"}';
    assert.equal(load({ argv: ['--config', '/tmp/car.json'], env: { CARBOT_CONFIG: '' } }).device, 'fromfile');
  });

  it('says who may read a config file it is not allowed to, and how to do without it', () => {
    const denied = (p: string): Buffer => {
      if (p in files) throw Object.assign(new Error(`EACCES: permission denied, open '${p}'`), { code: 'EACCES' });
      throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
    };
    files['/etc/carbot/config.json'] = '{}';
    const [problem] = problems({ readFile: denied });
    assert.match(problem, /^\/etc\/carbot\/config\.json: cannot read \(EACCES: permission denied\): .*use sudo, join that group, or pass --no-config to run without it$/);
    files['/srv/car.json'] = '{}';
    const [named] = problems({ readFile: denied, argv: ['--config', '/srv/car.json'] });
    assert.doesNotMatch(named, /--no-config/);
  });

  it('accepts boolean flags bare, negated and with a value', () => {
    assert.equal(load({ argv: ['--embedded-broker-enabled'] }).embeddedBroker.enabled, true);
    assert.equal(load({ argv: ['--no-stop-on-disconnect'] }).stopOnDisconnect, false);
    assert.equal(load({ env: { CARBOT_STOP_ON_DISCONNECT: 'off' } }).stopOnDisconnect, false);
  });

  it('takes true or false after a boolean flag as its value (npm start -- --embedded-broker-enabled false), and nothing else', () => {
    assert.equal(load({ argv: ['--embedded-broker-enabled', 'false'] }).embeddedBroker.enabled, false);
    assert.equal(load({ argv: ['--embedded-broker-enabled', 'TRUE'] }).embeddedBroker.enabled, true);
    assert.equal(load({ argv: ['--embedded-broker-enabled', 'true', '--embedded-broker-enabled', 'false'] }).embeddedBroker.enabled, false);
    assert.equal(load({ argv: ['--embedded-broker-enabled=false'] }).embeddedBroker.enabled, false);
    // Not a value: the command of `carbot send --retain stop`, or a word after a negated flag.
    assert.deepEqual(positionalIndexes(['--embedded-broker-enabled', 'false', 'forward']), [2]);
    assert.deepEqual(positionalIndexes(['--homeassistant', 'stop']), [1]);
    assert.deepEqual(positionalIndexes(['--no-homeassistant', 'false']), [1]);
  });

  it('gives each invalid setting its own message, naming where it came from', () => {
    files['/etc/carbot/config.json'] = JSON.stringify({ reverseDelayMs: -5, colour: 'red', mqtt: { keepalive: 'x' } });
    const list = problems({
      env: { CARBOT_MQTT_URL: 'http://pi:1883', CARBOT_GPIO: 'wiringpi', CARBOT_LOG_LEVEL: 'loud' },
      argv: ['--max-speed', '300', '--bogus', '--move-topic', 'carbot/#', '--device', 'my car'],
    });
    assert.deepEqual(list.sort(), [
      '--bogus: unknown option (see carbot --help)',
      '--device: "my car" must be letters, digits, \'_\', \'-\' or \'.\' (it becomes part of topics)',
      '--max-speed: 300 is above the maximum 100',
      '--move-topic: "carbot/#" is not a topic to subscribe to: no wildcards (+ #), not empty',
      '/etc/carbot/config.json: colour: unknown setting',
      '/etc/carbot/config.json: mqtt.keepalive: "x" is not a whole number',
      '/etc/carbot/config.json: reverseDelayMs: -5 is below the minimum 0',
      'CARBOT_GPIO: "wiringpi" is not one of auto, pigpio, kernel, sim',
      'CARBOT_LOG_LEVEL: "loud" is not one of error, warn, info, debug',
      'CARBOT_MQTT_URL: "http://pi:1883" is not a broker URL: use mqtt://host:1883, mqtts://, ws:// or wss://',
    ].sort());
  });

  it('checks settings against each other', () => {
    assert.deepEqual(problems({ argv: ['--min-speed', '60', '--max-speed', '40'] }), ['--min-speed: 60 is above maxSpeed 40']);
    assert.deepEqual(problems({ argv: ['--initial-speed', '5'] }), ['--initial-speed: 5 is outside minSpeed..maxSpeed (10..100)']);
    files['/run/pw'] = 'secret\n';
    assert.deepEqual(problems({ env: { CARBOT_MQTT_PASSWORD: 'x', CARBOT_MQTT_PASSWORD_FILE: '/run/pw' } }), [
      'CARBOT_MQTT_PASSWORD and CARBOT_MQTT_PASSWORD_FILE: give the password one way, not both',
    ]);
  });

  it('reads the password from a file and never shows it', () => {
    files['/run/credentials/carbot/mqtt'] = 'hunter2\n';
    const c = load({ env: { CARBOT_MQTT_USERNAME: 'car', CARBOT_MQTT_PASSWORD_FILE: '/run/credentials/carbot/mqtt' } });
    assert.equal(c.mqtt.password, 'hunter2');
    assert.ok(!JSON.stringify(c.effective).includes('hunter2'));
    const direct = load({ env: { CARBOT_MQTT_PASSWORD: 'hunter2' } });
    assert.equal(direct.effective['mqtt.password'], '***');
    assert.ok(!JSON.stringify(direct.effective).includes('hunter2'));
  });

  it('never echoes a password in an error, and refuses one inside the URL', () => {
    const list = problems({ env: { CARBOT_MQTT_URL: 'mqtt://car:hunter2@pi:1883' } });
    assert.deepEqual(list, ['CARBOT_MQTT_URL: put the password in mqtt.password or mqtt.passwordFile, not in the URL']);
    for (const url of ['tcp://car:hunter2@pi:1883', 'mqtt://car:hunter2@', 'car:hunter2@pi']) {
      const [problem] = problems({ env: { CARBOT_MQTT_URL: url } });
      assert.ok(!problem.includes('hunter2'), problem);
    }
    assert.deepEqual(problems({ env: { CARBOT_MQTT_URL: 'tcp://car:hunter2@pi:1883' } }), [
      'CARBOT_MQTT_URL: "tcp://***@pi:1883" is not a broker URL: use mqtt://host:1883, mqtts://, ws:// or wss://',
    ]);
  });

  it('reports unreadable TLS files', () => {
    assert.deepEqual(problems({ env: { CARBOT_MQTT_CA: '/etc/ssl/nope.pem' } }), ['CARBOT_MQTT_CA: cannot read "/etc/ssl/nope.pem" (ENOENT)']);
  });

  it('warns about CARBOT_ variables that are not settings', () => {
    assert.deepEqual(load({ env: { CARBOT_MQTT_ULR: 'x' } }).warnings, ['CARBOT_MQTT_ULR: not a carbot setting, ignored (see carbot --help)']);
  });

  it('a ready-made motor list brings its HAT\'s I2C address unless pca9685.address says otherwise', () => {
    assert.equal(load({ argv: ['--motors', 'adafruit-servo-hat'] }).pca9685.address, 0x40);
    assert.equal(load({ argv: ['--motors', 'adafruit-motor-hat'] }).pca9685.address, 0x60);
    assert.equal(load({ argv: ['--motors', 'adafruit-motor-hat', '--pca9685-address', '97'] }).pca9685.address, 97);
    assert.deepEqual(load({ env: { CARBOT_MOTORS: 'waveshare-motor-hat' } }).pca9685, { bus: 1, address: 0x40, frequencyHz: 50, servoKitCompatible: false });
    assert.equal(load({ argv: ['--motors', 'adafruit-servo-hat'] }).pca9685.servoKitCompatible, true, 'the original car gets ServoKit’s registers');
    assert.equal(load({ argv: ['--motors', 'adafruit-servo-hat', '--no-pca9685-servo-kit-compatible'] }).pca9685.servoKitCompatible, false);
    assert.deepEqual(problems({ argv: ['--pca9685-address', '32'] }), ['--pca9685-address: 32 is below the minimum 64']);
  });

  it('gpio kernel: PWM only on the pins that have it, unless pwmChannels names a chip for the pin', () => {
    const servo = (pin: number) => ['--gpio', 'kernel', '--motors', JSON.stringify([{ name: 'cam', driver: 'servo', pin }])];
    assert.deepEqual(problems({ argv: servo(17) }), [
      'motors[0].pin: GPIO 17 has no hardware PWM; with gpio "kernel" use GPIO 12, 13, 18 or 19 (dtoverlay=pwm-2chan), ' +
        'or name a chip for it in pwmChannels (dtoverlay=pwm-gpio gives software PWM on any pin)',
    ]);
    assert.equal(load({ argv: [...servo(17), '--pwm-channels', '{"17": {"chip": "pwm_gpio@17", "channel": 0}}'] }).pwmChannels?.[17]?.channel, 0);
    assert.equal(load({ argv: servo(18) }).motors[0].name, 'cam');
    assert.deepEqual(problems({ argv: ['--pwm-channels', '{"x": 1, "18": {"chip": ""}}'] }), [
      'pwmChannels.18: must be like {"chip": "pwmchip2", "channel": 2}, got {"chip":""}',
      'pwmChannels.x: not a BCM pin number 0–27',
    ]);
  });

  describe('exposure (mosquitto 2.0 model: nothing beyond loopback without a password)', () => {
    const noToken = { CARBOT_HTTP_TOKEN: undefined };
    const EXPOSED =
      'http.host: the remote page on "0.0.0.0" is reachable from the network and has no token or password: ' +
      'set http.token (or http.username and http.password), or http.host 127.0.0.1, or http.allowAnonymous true to let anyone who reaches it drive the car';

    it('refuses the page on every interface without a token or password, naming the settings', () => {
      assert.deepEqual(problems({ env: noToken }), [EXPOSED]);
      assert.deepEqual(problems({ env: noToken, argv: ['--http-host', '192.168.1.20'] }), [
        EXPOSED.replace('http.host: the remote page on "0.0.0.0"', '--http-host: the remote page on "192.168.1.20"'),
      ]);
    });

    it('allows it with a token, a password, on loopback, with the page off, or when told to, with a warning', () => {
      assert.equal(load({ env: { ...noToken, CARBOT_HTTP_USERNAME: 'pi', CARBOT_HTTP_PASSWORD: 'grow bed' } }).http.username, 'pi');
      for (const host of ['127.0.0.1', '127.3.2.1', '::1', 'localhost']) assert.equal(load({ env: noToken, argv: ['--http-host', host] }).http.host, host);
      assert.equal(load({ env: { ...noToken, CARBOT_HTTP_PORT: '0' } }).http.port, 0);
      const open = load({ env: noToken, argv: ['--http-allow-anonymous'] });
      assert.equal(open.http.allowAnonymous, true);
      assert.deepEqual(open.warnings, [
        'http.allowAnonymous is true: anyone who can reach http://<any address of this machine>:8080/ drives the car, without a token or password',
      ]);
      assert.deepEqual(load({}).warnings, []);
      // `carbot send`, safe-state and in-process configurations serve nothing.
      assert.equal(load({ env: noToken, serving: undefined }).http.token, undefined);
    });

    it('refuses an empty token, password or user name wherever it comes from, and never shows it as ***', () => {
      const EMPTY = 'is empty: give a value, or leave the setting out for its default';
      assert.deepEqual(problems({ env: { CARBOT_HTTP_TOKEN: '' } }), [`CARBOT_HTTP_TOKEN: ${EMPTY}`]);
      assert.deepEqual(problems({ argv: ['--http-token', ''] }), [`--http-token: ${EMPTY}`]);
      assert.deepEqual(problems({ argv: ['--http-token=  '] }), [`--http-token: ${EMPTY}`]);
      files['/etc/carbot/config.json'] = JSON.stringify({ http: { token: '' } });
      assert.deepEqual(problems({ env: noToken }), [`/etc/carbot/config.json: http.token: ${EMPTY}`]);
      delete files['/etc/carbot/config.json'];
      assert.deepEqual(problems({ argv: ['--http-username', 'pi', '--http-password', ''] }), [`--http-password: ${EMPTY}`]);
      assert.deepEqual(problems({ env: { CARBOT_MQTT_PASSWORD: '' } }), [`CARBOT_MQTT_PASSWORD: ${EMPTY}`]);
      assert.deepEqual(problems({ env: { CARBOT_LOG_LEVEL: '' } }), [`CARBOT_LOG_LEVEL: ${EMPTY}`]);
    });

    it('refuses a token shorter than 16 characters (exit 78), never showing it', () => {
      const SHORT = (n: number) => `has ${n} characters, fewer than 16: make it long and random (openssl rand -hex 16)`;
      assert.deepEqual(problems({ argv: ['--http-token', 'x'] }), [`--http-token: ${SHORT(1)}`]);
      assert.deepEqual(problems({ env: { CARBOT_HTTP_TOKEN: 'owner-token' } }), [`CARBOT_HTTP_TOKEN: ${SHORT(11)}`]);
      files['/etc/carbot/config.json'] = JSON.stringify({ http: { token: '0123456789abcde' } });
      assert.deepEqual(problems({ env: noToken }), [`/etc/carbot/config.json: http.token: ${SHORT(15)}`]);
      delete files['/etc/carbot/config.json'];
      assert.equal(load({ argv: ['--http-token', '0123456789abcdef'] }).http.token, '0123456789abcdef');
    });

    it('checks listen addresses before run time', () => {
      assert.deepEqual(problems({ argv: ['--http-host', '999.1.1.1'] }), ['--http-host: "999.1.1.1" is not a host name or IP address']);
      assert.deepEqual(problems({ argv: ['--embedded-broker-host', 'pi..local'] }), [
        '--embedded-broker-host: "pi..local" is not a host name or IP address',
      ]);
      assert.equal(load({ argv: ['--http-host', 'raspberrypi.local'] }).http.host, 'raspberrypi.local');
      assert.equal(load({ argv: ['--http-host', 'fe80::1'] }).http.host, 'fe80::1');
    });

    it('takes allowed Host names as a list from a flag, a variable or the file', () => {
      assert.deepEqual(load({ argv: ['--http-allowed-hosts', 'car.example.org, Greenhouse.lan'] }).http.allowedHosts, ['car.example.org', 'greenhouse.lan']);
      files['/etc/carbot/config.json'] = JSON.stringify({ http: { allowedHosts: ['car.example.org'] } });
      assert.deepEqual(load({}).http.allowedHosts, ['car.example.org']);
      assert.deepEqual(problems({ env: { CARBOT_HTTP_ALLOWED_HOSTS: 'car.example.org,evil example' } }), [
        'CARBOT_HTTP_ALLOWED_HOSTS: "evil example": not a host name or address',
      ]);
    });

    it('refuses the embedded broker beyond loopback, which has no passwords, unless told to', () => {
      assert.deepEqual(problems({ argv: ['--embedded-broker-enabled', '--embedded-broker-host', '0.0.0.0'] }), [
        '--embedded-broker-host: the embedded broker on "0.0.0.0" would be reachable from the network and has no passwords: ' +
          'use embeddedBroker.host 127.0.0.1 (or mosquitto with a password file), or embeddedBroker.allowAnonymous true to let anyone who reaches it drive the car',
      ]);
      const open = load({ argv: ['--embedded-broker-enabled', '--embedded-broker-host', '0.0.0.0', '--embedded-broker-allow-anonymous'] });
      assert.deepEqual(open.warnings, ['embeddedBroker.allowAnonymous is true: anyone who can reach the embedded broker on 0.0.0.0 drives the car']);
      // Not running, so not listening anywhere.
      assert.deepEqual(load({ argv: ['--embedded-broker-host', '0.0.0.0'] }).warnings, []);
    });
  });

  it("refuses a move topic that is one of carbot's own topics", () => {
    assert.deepEqual(problems({ argv: ['--move-topic', 'stat/carbot/RESULT'] }), [
      '--move-topic: "stat/carbot/RESULT" is carbot\'s own RESULT topic; carbot would take what it publishes as commands',
    ]);
    assert.deepEqual(problems({ argv: ['--device', 'car2', '--move-topic', 'tele/car2/STATE'] }), [
      '--move-topic: "tele/car2/STATE" is carbot\'s own STATE topic; carbot would take what it publishes as commands',
    ]);
    assert.deepEqual(problems({ env: { CARBOT_MOVE_TOPIC: 'tele/carbot/LWT' } }), [
      'CARBOT_MOVE_TOPIC: "tele/carbot/LWT" is carbot\'s own LWT topic; carbot would take what it publishes as commands',
    ]);
  });

  it('connects to its own embedded broker unless mqtt.url says otherwise', () => {
    const c = load({ argv: ['--embedded-broker-enabled', '--embedded-broker-port', '11883'] });
    assert.equal(c.mqtt.url, 'mqtt://127.0.0.1:11883');
    assert.equal(c.effective['mqtt.url'], 'mqtt://127.0.0.1:11883');
    assert.equal(load({ argv: ['--embedded-broker-enabled', '--embedded-broker-host', '::1'] }).mqtt.url, 'mqtt://[::1]:1883');
    assert.equal(load({ argv: ['--embedded-broker-enabled', '--mqtt-url', 'mqtt://pi:1883'] }).mqtt.url, 'mqtt://pi:1883');
    assert.equal(load({ argv: ['--embedded-broker-port', '11883'] }).mqtt.url, 'mqtt://localhost:1883');
  });

  describe('frozen', () => {
    it('freezes the loaded configuration all the way down: a change throws (strict mode)', () => {
      'use strict';
      files['/etc/carbot/config.json'] = JSON.stringify({ track: { stops: { basil: 0.2 } }, motors: 'adafruit-servo-hat' });
      const c = load({});
      for (const o of [c, c.mqtt, c.http, c.http.allowedHosts, c.embeddedBroker, c.drive, c.track, c.track.stops, c.track.stops[0], c.motors, c.motors[0], c.effective, c.warnings]) {
        assert.ok(Object.isFrozen(o), JSON.stringify(o));
      }
      assert.throws(() => {
        (c.mqtt as { url: string }).url = 'mqtt://elsewhere:1883';
      }, TypeError);
      assert.throws(() => {
        (c as { device: string }).device = 'other';
      }, TypeError);
      assert.throws(() => (c.http.allowedHosts as string[]).push('evil.example'), TypeError);
      assert.throws(() => {
        (c.track.stops[0] as { at: number }).at = 0.9;
      }, TypeError);
      assert.equal(c.mqtt.url, 'mqtt://localhost:1883');
    });

    it('hands out no object of the table: one load cannot change the next one\'s defaults', () => {
      const a = load({});
      assert.ok(Object.isFrozen(a.http.allowedHosts));
      assert.deepEqual(load({}).track.calibrationSpeeds, [30, 60, 100]);
      assert.deepEqual(load({}).http.allowedHosts, []);
    });

    it('a variant is a new configuration (withMqttUrl, or a spread), the loaded one unchanged', () => {
      const c = load({ argv: ['--embedded-broker-enabled', '--embedded-broker-port', '0'] });
      const moved = withMqttUrl(c, 'mqtt://127.0.0.1:40001');
      assert.equal(moved.mqtt.url, 'mqtt://127.0.0.1:40001');
      assert.equal(moved.effective['mqtt.url'], 'mqtt://127.0.0.1:40001');
      assert.equal(c.mqtt.url, 'mqtt://127.0.0.1:0');
      assert.ok(Object.isFrozen(moved) && Object.isFrozen(moved.mqtt));
      assert.equal(moved.drive, c.drive);
    });
  });

  describe('grouped names (embeddedBroker.*, homeassistant.*) and their old flat spellings', () => {
    const RENAMED: [string, string, string][] = [
      // [old key, new key, a value as text]
      ['embeddedBroker', 'embeddedBroker.enabled', 'true'],
      ['embeddedBrokerHost', 'embeddedBroker.host', '127.0.0.2'],
      ['embeddedBrokerPort', 'embeddedBroker.port', '1884'],
      ['embeddedBrokerWsPort', 'embeddedBroker.wsPort', '9001'],
      ['embeddedBrokerAllowAnonymous', 'embeddedBroker.allowAnonymous', 'true'],
      ['homeassistant', 'homeassistant.enabled', 'true'],
      ['homeassistantPrefix', 'homeassistant.prefix', 'ha'],
    ];
    const GIVEN = {
      embeddedBroker: { enabled: true, host: '127.0.0.2', port: 1884, wsPort: 9001, allowAnonymous: true },
      homeassistant: { enabled: true, prefix: 'ha' },
    };
    const picked = (c: ReturnType<typeof load>) => ({ embeddedBroker: c.embeddedBroker, homeassistant: c.homeassistant });
    const asJson = (text: string) => (/^(true|\d+)$/.test(text) ? JSON.parse(text) : text);
    const old = (was: string, now: string) => `${was} is an old name: use ${now} instead; the old name still works for now`;

    it('lists each with its old name in the table', () => {
      const settings: readonly Setting[] = SETTINGS;
      assert.deepEqual(
        settings.filter((s) => s.was !== undefined).map((s) => [s.was, s.key]),
        RENAMED.map(([was, key]) => [was, key]),
      );
      // No flat camelCase name left that starts like a group's.
      const groups = new Set(settings.filter((s) => s.key.includes('.')).map((s) => s.key.split('.')[0]));
      for (const s of settings) {
        if (!s.key.includes('.')) assert.ok(![...groups].some((g) => s.key.startsWith(g)), `${s.key} belongs to a group`);
      }
    });

    it('takes the new names nested, dotted, from variables and from flags, without a warning', () => {
      files['/etc/carbot/config.json'] = JSON.stringify(GIVEN);
      const nested = load({});
      assert.deepEqual(picked(nested), GIVEN);
      // 127.0.0.2 is loopback: allowAnonymous changes nothing there, so says nothing.
      assert.deepEqual(nested.warnings, []);
      files['/etc/carbot/config.json'] = JSON.stringify(Object.fromEntries(RENAMED.map(([, key, text]) => [key, asJson(text)])));
      assert.deepEqual(picked(load({})), GIVEN);
      delete files['/etc/carbot/config.json'];
      const env = Object.fromEntries(RENAMED.map(([, key, text]) => [envName(key), text]));
      assert.deepEqual(picked(load({ env })), GIVEN);
      assert.deepEqual(load({ env }).warnings, nested.warnings);
      const argv = RENAMED.flatMap(([, key, text]) => [flagName(key), text]);
      assert.deepEqual(picked(load({ argv })), GIVEN);
      assert.deepEqual(load({ argv }).warnings, nested.warnings);
      assert.equal(load({ argv: ['--homeassistant-enabled'] }).homeassistant.enabled, true);
      assert.equal(load({ argv: ['--homeassistant-enabled', '--no-homeassistant-enabled'] }).homeassistant.enabled, false);
      assert.equal(load({ argv: ['--embedded-broker-enabled'] }).effective['embeddedBroker.enabled'], true);
    });

    it('still takes each old name in a file, with one warning naming the new one', () => {
      for (const [was, key, text] of RENAMED) {
        files['/etc/carbot/config.json'] = JSON.stringify({ [was]: asJson(text) });
        const c = load({});
        assert.deepEqual(c.warnings, [`/etc/carbot/config.json: ${old(was, key)}`], was);
      }
      files['/etc/carbot/config.json'] = JSON.stringify(Object.fromEntries(RENAMED.map(([was, , text]) => [was, asJson(text)])));
      assert.deepEqual(picked(load({})), GIVEN);
      // The old switch beside the new group: both read.
      files['/etc/carbot/config.json'] = JSON.stringify({ homeassistant: true, homeassistantPrefix: 'ha', embeddedBroker: true, embeddedBrokerPort: 1884 });
      assert.equal(load({}).homeassistant.prefix, 'ha');
      assert.equal(load({}).embeddedBroker.port, 1884);
      assert.equal(load({}).embeddedBroker.enabled, true);
      // The new name wins over the old one.
      files['/etc/carbot/config.json'] = JSON.stringify({ homeassistantPrefix: 'old', homeassistant: { prefix: 'new' } });
      assert.equal(load({}).homeassistant.prefix, 'new');
      // An old name's bad value names the old name.
      files['/etc/carbot/config.json'] = JSON.stringify({ embeddedBrokerPort: 'x' });
      assert.deepEqual(problems({}), ['/etc/carbot/config.json: embeddedBrokerPort: "x" is not a whole number']);
    });

    it('still takes the old switches\' flags and variables, with one warning naming the new one', () => {
      const flag = load({ argv: ['--embedded-broker', '--embedded-broker', '--homeassistant', 'false'] });
      assert.equal(flag.embeddedBroker.enabled, true);
      assert.equal(flag.homeassistant.enabled, false);
      assert.deepEqual(flag.warnings, [
        old('--embedded-broker', '--embedded-broker-enabled (embeddedBroker.enabled)'),
        old('--homeassistant', '--homeassistant-enabled (homeassistant.enabled)'),
      ]);
      const negated = load({ argv: ['--no-homeassistant'] });
      assert.equal(negated.homeassistant.enabled, false);
      assert.deepEqual(negated.warnings, [old('--no-homeassistant', '--no-homeassistant-enabled (homeassistant.enabled)')]);
      assert.deepEqual(positionalIndexes(['--embedded-broker', 'false', 'forward']), [2]);
      const env = load({ env: { CARBOT_EMBEDDED_BROKER: 'true', CARBOT_HOMEASSISTANT: 'yes' } });
      assert.equal(env.embeddedBroker.enabled, true);
      assert.equal(env.homeassistant.enabled, true);
      assert.deepEqual(env.warnings, [
        old('CARBOT_EMBEDDED_BROKER', 'CARBOT_EMBEDDED_BROKER_ENABLED (embeddedBroker.enabled)'),
        old('CARBOT_HOMEASSISTANT', 'CARBOT_HOMEASSISTANT_ENABLED (homeassistant.enabled)'),
      ]);
      // The new variable wins; a bad old value names the old variable.
      assert.equal(load({ env: { CARBOT_HOMEASSISTANT: 'true', CARBOT_HOMEASSISTANT_ENABLED: 'false' } }).homeassistant.enabled, false);
      assert.deepEqual(problems({ env: { CARBOT_EMBEDDED_BROKER: 'maybe' } }), ['CARBOT_EMBEDDED_BROKER: "maybe" is not true or false']);
      // The grouped settings' flags and variables were already spelled the new way.
      for (const [was, key] of RENAMED.slice(1)) {
        if (was === 'homeassistant') continue;
        assert.equal(flagName(was), flagName(key));
        assert.equal(envName(was), envName(key));
      }
    });
  });

  describe('track settings', () => {
    it('reads a track in metres: stops as fractions sorted from home, the speed table per direction', () => {
      files['/etc/carbot/config.json'] = JSON.stringify({
        track: {
          lengthM: 2.5,
          stops: { thyme: 1.5, basil: 0.5 },
          speedTable: { forward: { 30: 0.1, 100: 0.5 }, backward: { 30: 0.08, 100: 0.45 } },
          dwellS: 1.5,
          encoder: { pin: 17, edgesPerMetre: 120 },
        },
      });
      const { track } = load({});
      assert.deepEqual(track.stops, [
        { name: 'basil', at: 0.2 },
        { name: 'thyme', at: 0.6 },
      ]);
      assert.deepEqual(track.speedTable?.forward, [
        { duty: 0.3, speed: 0.04 },
        { duty: 1, speed: 0.2 },
      ]);
      assert.equal(track.dwellMs, 1500);
      assert.deepEqual(track.encoder, { pin: 17, edgesPerMetre: 120, debounceMs: 1, pull: 'up' });
      assert.deepEqual(track.calibrationSpeeds, [30, 60, 100]);
      assert.equal(track.sim, undefined);
    });

    it('reads the stall settings and the simulated jam and switch bounce', () => {
      const defaults = load({}).track;
      assert.deepEqual([defaults.stallS, defaults.timeoutMarginS], [0.3, 0.5]);
      const { track } = load({ argv: ['--gpio', 'sim', '--track-stall-s', '0.5', '--track-sim', '{"jamAt":0.4,"bounceMs":5}'] });
      assert.equal(track.stallS, 0.5);
      assert.deepEqual(track.sim, { jamAt: 0.4, bounceMs: 5 });
      assert.deepEqual(problems({ argv: ['--gpio', 'sim', '--track-sim', '{"jamAt":1.5}'] }), ['track.sim.jamAt: must be a number 0-1; got 1.5']);
    });

    it('takes the table calibrate logs, in track lengths per second without a length', () => {
      const { track } = load({ argv: ['--track-speed-table', '{"forward":{"30":0.05,"100":0.1667},"backward":{"30":0.04,"100":0.1429}}'] });
      assert.deepEqual(track.speedTable?.backward, [
        { duty: 0.3, speed: 0.04 },
        { duty: 1, speed: 0.1429 },
      ]);
    });

    it('names every problem with a track setting at once', () => {
      assert.deepEqual(
        problems({
          argv: [
            '--track-stops', '{"basil": 1.5, "": 0.2}',
            '--track-calibration-speeds', '[50]',
            '--track-encoder', '{"pin": 40, "edgesPerMetre": 100}',
            '--track-sim', '{"lagMs": -1, "colour": 1}',
            '--track-home-end', 'left',
            '--track-dwell-s', 'long',
          ],
        }),
        [
          '--track-dwell-s: "long" is not a number',
          '--track-home-end: "left" is not one of backward, forward',
          'track.encoder.pin: must be a BCM pin number 0-27; got 40',
          'track.encoder.edgesPerMetre: needs track.lengthM (or leave it out and calibrate counts the edges)',
          'track.stops.basil: 1.5 is not a place on the track (fractions 0-1 (or metres with track.lengthM))',
          'track.stops.: a stop\'s name is 1-32 characters without spaces around it',
          'track.calibrationSpeeds: must be two or more different percentages 1-100, like [30, 60, 100]; got [50]',
          'track.sim.lagMs: must be a number 0-5000; got -1',
          'track.sim.colour: unknown (known: lengthM, topSpeed, deadBand, saturation, asymmetry, lagMs, noise, jitter, start, overtravelM, edgesPerMetre, jamAt, bounceMs, seed)',
        ],
      );
    });

    it('turns the simulated track on with true, taking the track length', () => {
      const { track } = load({ argv: ['--track-sim', 'true', '--track-length-m', '3.5'] });
      assert.deepEqual(track.sim, { lengthM: 3.5 });
    });
  });

  describe('files read as root (the pigpio unit)', () => {
    const CONFIG = '/etc/carbot/config.json';
    const owners: Record<string, { uid: number; mode: number }> = {};
    const asRoot = (extra: Partial<LoadInput> = {}) => ({ runningAs: 0, stat: (p: string) => owners[p] ?? { uid: 0, mode: 0o100600 }, ...extra });
    const fix = (file: string, who: string) =>
      `${file}: carbot runs as root and takes settings from this file, which ${who} can change: ` +
      `sudo chown root ${file} && sudo chmod go-w ${file} (scripts/install.sh does so when it installs the pigpio unit)`;
    beforeEach(() => {
      for (const k of Object.keys(owners)) delete owners[k];
      files[CONFIG] = JSON.stringify({ mqtt: { passwordFile: '/etc/carbot/mqtt-password' } });
      files['/etc/carbot/mqtt-password'] = 'hunter2\n';
    });

    it('refuses a settings file or passwordFile that another user owns or can write, naming each (exit 78)', () => {
      owners[CONFIG] = { uid: 999, mode: 0o100640 };
      owners['/etc/carbot/mqtt-password'] = { uid: 0, mode: 0o100620 };
      assert.deepEqual(problems(asRoot()), [fix(CONFIG, 'its owner, uid 999,'), fix('/etc/carbot/mqtt-password', 'its group')]);
      owners[CONFIG] = { uid: 0, mode: 0o100646 };
      delete owners['/etc/carbot/mqtt-password'];
      assert.deepEqual(problems(asRoot()), [fix(CONFIG, 'every user')]);
      // Root's, writable by root alone: fine, however readable.
      owners[CONFIG] = { uid: 0, mode: 0o100644 };
      assert.equal(load(asRoot()).mqtt.password, 'hunter2');
      // Not root: the user's own files are the user's business.
      owners[CONFIG] = { uid: 999, mode: 0o100666 };
      assert.equal(load(asRoot({ runningAs: 999 })).mqtt.password, 'hunter2');
    });

    it('checks /etc/default/carbot when systemd started carbot, and only warns in safe-state', () => {
      files['/etc/default/carbot'] = 'CARBOT_LOG_LEVEL=debug\n';
      owners['/etc/default/carbot'] = { uid: 999, mode: 0o100640 };
      assert.equal(load(asRoot()).mqtt.password, 'hunter2', 'not started by systemd: the file is not what it runs with');
      assert.deepEqual(problems(asRoot({ env: { INVOCATION_ID: 'abc' } })), [fix('/etc/default/carbot', 'its owner, uid 999,')]);
      const safeState = load(asRoot({ env: { INVOCATION_ID: 'abc' }, ownershipWarnsOnly: true }));
      assert.deepEqual(safeState.warnings, [fix('/etc/default/carbot', 'its owner, uid 999,')]);
    });

    it('never takes a file of several lines or over 1 KiB as the password (/etc/shadow named by mistake)', () => {
      files['/etc/carbot/mqtt-password'] = 'root:$6$salt$hash:19000:0:99999:7:::\npi:*:19000:0:99999:7:::\n';
      assert.deepEqual(problems({}), [
        '/etc/carbot/config.json: mqtt.passwordFile: "/etc/carbot/mqtt-password" holds more than one line: a password file holds the password alone, on one line; is it the right file?',
      ]);
      files['/etc/carbot/mqtt-password'] = 'x'.repeat(1025);
      assert.deepEqual(problems({}), [
        '/etc/carbot/config.json: mqtt.passwordFile: "/etc/carbot/mqtt-password" holds 1025 bytes: a password file holds the password alone (at most 1024 bytes); is it the right file?',
      ]);
      files['/etc/carbot/mqtt-password'] = 'hunter2\r\n';
      assert.equal(load({}).mqtt.password, 'hunter2');
    });
  });

  describe('the state directory and the camera', () => {
    it("stateDir: the flag, else systemd's $STATE_DIRECTORY (its first folder), else none", () => {
      assert.equal(load({}).stateDir, undefined);
      assert.equal(load({ env: { STATE_DIRECTORY: '/var/lib/carbot:/var/lib/other' } }).stateDir, '/var/lib/carbot');
      assert.equal(load({ argv: ['--state-dir', '/srv/car'], env: { STATE_DIRECTORY: '/var/lib/carbot' } }).stateDir, '/srv/car');
    });

    it('camera: the command as a list with {file}, camera.dir defaulting to <stateDir>/pictures', () => {
      const config = load({ argv: ['--camera-command', '["rpicam-still","-n","-o","{file}"]', '--camera-timeout-s', '12'], env: { STATE_DIRECTORY: '/var/lib/carbot' } });
      assert.deepEqual(config.camera, { command: ['rpicam-still', '-n', '-o', '{file}'], dir: '/var/lib/carbot/pictures', timeoutS: 12, keep: 1000 });
      assert.equal(load({}).camera, undefined);
    });

    it('a wrong camera setting is a problem named by where it came from (exit 78)', () => {
      assert.match(problems({ argv: ['--camera-command', '"rpicam-still -o x.jpg"', '--camera-dir', '/p'] }).join('\n'), /^--camera-command: must be a list of the program and its arguments/m);
      assert.match(problems({ env: { CARBOT_CAMERA_COMMAND: '["rpicam-still","-n"]', CARBOT_CAMERA_DIR: '/p' } }).join('\n'), /^CARBOT_CAMERA_COMMAND: no argument holds \{file\}/m);
      assert.match(problems({ argv: ['--camera-command', '["cam","{file}"]'] }).join('\n'), /set camera\.dir, the folder for the pictures/);
      assert.match(problems({ argv: ['--camera-command', '["cam","{file}"]', '--camera-dir', '/p', '--camera-timeout-s', '0'] }).join('\n'), /--camera-timeout-s: 0 is below the minimum 1/);
    });
  });
});
