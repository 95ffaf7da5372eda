/**
 * The settings table: every setting's key, kind, default, limits, old name and help, and the
 * types read from it; each setting's flag and CARBOT_* variable. Part of config.ts.
 */

type Kind = 'string' | 'int' | 'number' | 'bool' | 'enum' | 'url' | 'topic' | 'name' | 'file' | 'json' | 'host' | 'hosts';

export interface Setting {
  key: string;
  kind: Kind;
  default?: unknown;
  min?: number;
  max?: number;
  values?: readonly string[];
  secret?: boolean;
  /** For a string: the fewest characters it may have. */
  minLength?: number;
  /**
   * The setting's old flat name (`embeddedBrokerPort`), from before it joined its group. Its
   * JSON key, flag and CARBOT_* variable still work, each with one warning naming the new one.
   */
  was?: string;
  help: string;
}

/**
 * Every setting, one row each. Declared `as const` so each key's value has a type (the mapped
 * type SettingValues below): `get('initialSpeed')` is a number, `get('nope')` does not compile.
 */
export const SETTINGS = [
  { key: 'device', kind: 'name', default: 'carbot', help: 'name in tele/<device>/… and stat/<device>/… topics' },
  { key: 'moveTopic', kind: 'topic', help: 'topic carbot takes commands from (default <device>/move)' },
  { key: 'mqtt.url', kind: 'url', default: 'mqtt://localhost:1883', help: 'broker URL: mqtt://, mqtts://, ws:// or wss://' },
  { key: 'mqtt.username', kind: 'string', help: 'broker user name' },
  { key: 'mqtt.password', kind: 'string', secret: true, help: 'broker password (prefer mqtt.passwordFile)' },
  { key: 'mqtt.passwordFile', kind: 'file', help: 'file holding the broker password (systemd credentials)' },
  { key: 'mqtt.ca', kind: 'file', help: 'CA certificate (PEM) to verify the broker' },
  { key: 'mqtt.cert', kind: 'file', help: 'client certificate (PEM)' },
  { key: 'mqtt.key', kind: 'file', help: 'client private key (PEM)' },
  { key: 'mqtt.clientId', kind: 'string', help: 'MQTT client id (default carbot-<device>-<random>)' },
  { key: 'mqtt.keepalive', kind: 'int', default: 30, min: 5, max: 3600, help: 'keepalive in seconds (a moving car checks a silent broker within 5 s whatever this is)' },
  { key: 'mqtt.qos', kind: 'int', default: 0, min: 0, max: 1, help: 'QoS of STATE and RESULT publishes' },
  { key: 'telePeriod', kind: 'int', default: 300, min: 0, max: 86400, help: 'seconds between periodic STATE publishes (0 = off)' },
  { key: 'initialSpeed', kind: 'int', default: 50, min: 0, max: 100, help: 'speed setting at start, percent' },
  { key: 'speedStep', kind: 'int', default: 10, min: 1, max: 100, help: 'percent added or taken by faster/slower' },
  { key: 'minSpeed', kind: 'int', default: 10, min: 0, max: 100, help: 'lowest speed setting, percent' },
  { key: 'maxSpeed', kind: 'int', default: 100, min: 1, max: 100, help: 'highest speed setting, percent' },
  { key: 'reverseDelayMs', kind: 'int', default: 250, min: 0, max: 10000, help: 'pause at zero before changing direction' },
  { key: 'accelPercentPerSec', kind: 'int', default: 0, min: 0, max: 10000, help: 'ramp limit on rising output (0 = instant)' },
  { key: 'commandTimeoutS', kind: 'int', default: 0, min: 0, max: 86400, help: 'stop when moving this long without a command, and cancel a task (goto, patrol, home…) as well, moving or not (0 = off)' },
  {
    key: 'commandsPerSecond',
    kind: 'int',
    default: 50,
    min: 0,
    max: 100000,
    help: 'commands each page socket, and MQTT as a whole, may send per second (twice that at once); over it only stop is obeyed (0 = no limit)',
  },
  { key: 'stopOnDisconnect', kind: 'bool', default: true, help: 'stop the motors when the broker connection, or the remote page driving the car, is lost' },
  { key: 'gpio', kind: 'enum', default: 'auto', values: ['auto', 'pigpio', 'kernel', 'sim'], help: 'header pins: auto = pigpio on a Pi 1–4 that has its C library, else kernel PWM (Pi 5, trixie); sim off a Pi' },
  { key: 'motors', kind: 'json', help: 'motor list (JSON, see docs/wiring.md and docs/boards.md), or a ready-made one: adafruit-servo-hat, adafruit-motor-hat, waveshare-motor-hat' },
  { key: 'limits', kind: 'json', help: 'end-of-track limit switches (JSON), see docs/wiring.md' },
  { key: 'pca9685.bus', kind: 'int', default: 1, min: 0, max: 255, help: 'I2C bus of the PCA9685 (/dev/i2c-N)' },
  { key: 'pca9685.address', kind: 'int', min: 64, max: 119, help: 'I2C address of the PCA9685, 64–119 (0x40–0x77; default 64, or the ready-made motor list\'s HAT: 96 for Adafruit\'s motor HAT)' },
  { key: 'pca9685.frequency', kind: 'int', min: 24, max: 1743, help: 'PCA9685 PWM frequency in Hz (default 50 for servos, the motor HAT\'s for H-bridges)' },
  {
    key: 'pca9685.servoKitCompatible',
    kind: 'bool',
    help: "PRE_SCALE and servo counts exactly as carbot.py's Adafruit ServoKit wrote them (default true with adafruit-servo-hat, else false: the data sheet's prescale, pulses true to the µs)",
  },
  { key: 'pwmChannels', kind: 'json', help: 'kernel board: BCM pin -> {"chip": "pwmchip2", "channel": 2}, overriding what sysfs tells' },
  { key: 'servoIdleOffS', kind: 'int', min: 0, max: 86400, help: 'seconds a stopped servo holds its neutral pulse before pulses go off (0 = at once; default never)' },
  { key: 'allowUnsafePins', kind: 'json', help: 'header pins to allow for motors despite their other use, e.g. [14, 15]' },
  { key: 'logLevel', kind: 'enum', default: 'info', values: ['error', 'warn', 'info', 'debug'], help: 'log level' },
  { key: 'logFormat', kind: 'enum', default: 'auto', values: ['auto', 'text', 'journald', 'json'], help: 'auto = journald under systemd, text elsewhere' },
  { key: 'embeddedBroker.enabled', was: 'embeddedBroker', kind: 'bool', default: false, help: 'run an in-process MQTT broker (for machines without one)' },
  { key: 'embeddedBroker.host', was: 'embeddedBrokerHost', kind: 'host', default: '127.0.0.1', help: 'address the embedded broker binds to' },
  { key: 'embeddedBroker.port', was: 'embeddedBrokerPort', kind: 'int', default: 1883, min: 0, max: 65535, help: 'embedded broker MQTT port' },
  { key: 'embeddedBroker.wsPort', was: 'embeddedBrokerWsPort', kind: 'int', default: 9000, min: 0, max: 65535, help: 'embedded broker websockets port (0 = off)' },
  {
    key: 'embeddedBroker.allowAnonymous',
    was: 'embeddedBrokerAllowAnonymous',
    kind: 'bool',
    default: false,
    help: 'let the embedded broker, which has no passwords, listen beyond loopback (anyone who reaches it drives the car)',
  },
  { key: 'http.port', kind: 'int', default: 8080, min: 0, max: 65535, help: 'port of the browser remote and its /ws endpoint (0 = off)' },
  { key: 'http.host', kind: 'host', default: '0.0.0.0', help: 'address the browser remote listens on' },
  {
    key: 'http.token',
    kind: 'string',
    secret: true,
    // It alone keeps guessers out: the pause after wrong ones never stops the right one (docs/security.md).
    minLength: 16,
    help: 'shared token for the remote (?token= once, then a cookie), 16 characters or more',
  },
  { key: 'http.username', kind: 'string', help: 'basic auth user for the remote (with http.password)' },
  { key: 'http.password', kind: 'string', secret: true, help: 'basic auth password for the remote' },
  {
    key: 'http.allowAnonymous',
    kind: 'bool',
    default: false,
    help: 'let the remote run without token or password on an address beyond loopback (anyone who reaches it drives the car)',
  },
  {
    key: 'http.allowedHosts',
    kind: 'hosts',
    default: [],
    help: "more names the page may be opened by (comma-separated), besides this machine's own names and addresses",
  },
  { key: 'homeassistant.enabled', was: 'homeassistant', kind: 'bool', default: false, help: 'publish Home Assistant MQTT discovery configs' },
  { key: 'homeassistant.prefix', was: 'homeassistantPrefix', kind: 'topic', default: 'homeassistant', help: "Home Assistant's discovery prefix" },
  { key: 'track.lengthM', kind: 'number', min: 0.05, max: 1000, help: 'track length between the end switches in metres; positions and gotos are then in metres (else fractions 0-1)' },
  { key: 'track.stops', kind: 'json', help: 'named stops for goto and patrol (JSON), like {"basil": 0.25, "thyme": 0.6}' },
  { key: 'track.dwellS', kind: 'number', default: 3, min: 0, max: 3600, help: 'seconds a patrol waits at each stop' },
  { key: 'track.homeEnd', kind: 'enum', default: 'backward', values: ['backward', 'forward'], help: 'the end where home is: position 0' },
  { key: 'track.homingSpeed', kind: 'int', default: 40, min: 1, max: 100, help: 'speed for homing, percent (slow stops closer to the switch)' },
  { key: 'track.calibrationSpeeds', kind: 'json', default: [30, 60, 100], help: 'speeds calibrate times the track at, percent (two or more)' },
  { key: 'track.speedTable', kind: 'json', help: 'stated speeds instead of calibrating (JSON): percent -> m/s (track lengths/s without track.lengthM)' },
  { key: 'track.settleMs', kind: 'int', default: 300, min: 0, max: 10000, help: 'pause after stopping before the car counts as arrived' },
  { key: 'track.timeoutMarginS', kind: 'number', default: 0.5, min: 0, max: 3600, help: 'a goto, homing or patrol leg may take its expected time x1.25 plus this, then it stops as stalled' },
  { key: 'track.stallS', kind: 'number', default: 0.3, min: 0.05, max: 60, help: 'with an encoder: no edge for this long while the car is driven is a stall (longer at slow speeds: 3 edges)' },
  { key: 'track.homeTimeoutS', kind: 'int', default: 120, min: 1, max: 3600, help: 'longest homing or calibration leg before the car is calibrated' },
  { key: 'track.driftPercent', kind: 'number', min: 0, max: 100, help: 'uncertainty growth, percent of the distance since the last switch (default 2, 0.5 with an encoder)' },
  { key: 'track.encoder', kind: 'json', help: 'wheel encoder (JSON), like {"pin": 17, "edgesPerMetre": 120, "debounceMs": 1}' },
  { key: 'track.sim', kind: 'json', help: 'with gpio sim: simulate a track with end switches (true, or JSON physics, see docs/track.md)' },
  {
    key: 'stateDir',
    kind: 'string',
    help: "where carbot keeps what the car learns (calibration, last home, encoder scale): default $STATE_DIRECTORY (systemd's StateDirectory=carbot), else nothing is kept",
  },
  { key: 'camera.command', kind: 'json', help: 'camera command run at each stop and on photo, an argument list with {file} for the picture, like ["rpicam-still","-n","-o","{file}"]' },
  { key: 'camera.dir', kind: 'string', help: 'folder for the pictures and their sidecars (default <stateDir>/pictures)' },
  { key: 'camera.timeoutS', kind: 'number', default: 30, min: 1, max: 600, help: 'a capture taking longer is killed and reported as failed' },
  { key: 'camera.keep', kind: 'int', default: 1000, min: 0, max: 1000000, help: 'pictures kept per stop, the oldest deleted first (0 = keep all)' },
] as const satisfies readonly Setting[];

/** The table seen row by row, every field optional as in Setting (for code that walks it). */
export const ROWS: readonly Setting[] = SETTINGS;

type Row = (typeof SETTINGS)[number];
/** Every setting's name: `get('nope')` is a compile error. */
export type SettingKey = Row['key'];
type RowOf<K extends SettingKey> = Extract<Row, { key: K }>;
/** What a kind of setting holds once checked. */
type KindValue<R> = R extends { kind: 'int' | 'number' }
  ? number
  : R extends { kind: 'bool' }
    ? boolean
    : R extends { kind: 'enum'; values: readonly (infer V)[] }
      ? V
      : R extends { kind: 'hosts' }
        ? string[]
        : R extends { kind: 'json' }
          ? unknown
          : string;
/** A setting's value: its kind's type, or undefined too when it has no default. */
export type SettingValue<K extends SettingKey> = KindValue<RowOf<K>> | (RowOf<K> extends { default: unknown } ? never : undefined);
export type SettingValues = { [K in SettingKey]: SettingValue<K> };
type Simplify<T> = { [K in keyof T]: T[K] };
type Member<G extends string, K> = K extends `${G}.${infer Name}` ? Name : never;
/**
 * The settings of one group (`http.*`) as an object keyed by the rest of their names, those
 * without a default optional: Config's `http`, `embeddedBroker` and `homeassistant`.
 */
export type SettingGroup<G extends string> = Simplify<
  { [K in SettingKey as RowOf<K> extends { default: unknown } ? Member<G, K> : never]: SettingValue<K> } & {
    [K in SettingKey as RowOf<K> extends { default: unknown } ? never : Member<G, K>]?: SettingValue<K>;
  }
>;

export const envName = (key: string) => `CARBOT_${key.replace(/\./g, '_').replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
export const flagName = (key: string) => `--${key.replace(/\./g, '-').replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase()}`;
