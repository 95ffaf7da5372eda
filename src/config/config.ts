/**
 * One schema for every setting: its default, its type, where it can come from
 * (file < CARBOT_* environment < command-line flag) and how it is checked.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import type { DriveSettings } from '../core/drive';
import type { LimitsConfig, MotorConfig } from '../motors/types';
import { parseMotorConfig } from './motor-config';
import { parseTrackConfig, type TrackConfig } from './track-config';
import { isHostOrAddress, isLoopback, isWildcard } from '../http/hosts';
import { isPresetName, PRESETS } from '../boards/presets';

/** 0x40: Adafruit's servo HAT, Waveshare's motor HAT, and the PCA9685's own default. */
const DEFAULT_PCA9685_ADDRESS = 0x40;
/** A ready-made motor list knows where its HAT answers. */
const presetAddress = (motors: unknown) => (isPresetName(motors) ? PRESETS[motors].pca9685.address : undefined);
/** ...and whether its car was driven through Adafruit's ServoKit (the original car's servo HAT). */
const presetServoKit = (motors: unknown) => isPresetName(motors) && PRESETS[motors].pca9685.servoKitCompatible === true;

export const EX_CONFIG = 78;
export const DEFAULT_CONFIG_PATH = '/etc/carbot/config.json';

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

const URL_SCHEMES = ['mqtt:', 'mqtts:', 'ws:', 'wss:'];

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
const ROWS: readonly Setting[] = SETTINGS;

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

export interface Topics {
  move: string;
  /** <move>/stop: any message there stops the car; carbot reads it on a connection of its own. */
  stop: string;
  lwt: string;
  state: string;
  result: string;
  /** stat/<device>/ARRIVED: a goto or patrol reached its place. */
  arrived: string;
  /** stat/<device>/PHOTO: a picture taken at a stop or on `photo`, or why it failed. */
  photo: string;
  /** cmnd/<device>/OWNER: a starting carbot asks who drives the device (src/mqtt/owner.ts). */
  ownerPing: string;
  /** stat/<device>/OWNER: the driving carbot's answer, naming itself. */
  owner: string;
}

export interface MqttSettings {
  url: string;
  username?: string;
  password?: string;
  clientId: string;
  keepalive: number;
  qos: 0 | 1;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/**
 * The loaded configuration, deep-frozen by loadConfig: nothing changes it at run time (a
 * variant is a new one, from loadConfig or a spread). Where a field is a setting as given, its
 * type comes from the table.
 */
export interface Config {
  device: SettingValues['device'];
  topics: Topics;
  mqtt: MqttSettings;
  telePeriod: SettingValues['telePeriod'];
  drive: DriveSettings;
  stopOnDisconnect: SettingValues['stopOnDisconnect'];
  /** Per page socket, and for MQTT as a whole; 0 = no limit. */
  commandsPerSecond: SettingValues['commandsPerSecond'];
  gpio: SettingValues['gpio'];
  motors: MotorConfig[];
  limits: LimitsConfig;
  pca9685: { bus: number; address: number; frequencyHz: number; servoKitCompatible: boolean };
  /** Kernel board: BCM pin -> PWM chip (device name or pwmchipN) and channel. */
  pwmChannels?: Record<number, { chip: string; channel: number }>;
  logLevel: SettingValues['logLevel'];
  logFormat: SettingValues['logFormat'];
  /** enabled, host, port, wsPort, allowAnonymous */
  embeddedBroker: SettingGroup<'embeddedBroker'>;
  /** port, host, token?, username?, password?, allowAnonymous, allowedHosts */
  http: SettingGroup<'http'>;
  /** enabled, prefix */
  homeassistant: SettingGroup<'homeassistant'>;
  track: TrackConfig;
  /** Where what the car learns is kept (src/process/track-state.ts); undefined: nothing is kept. */
  stateDir?: string;
  /** Pictures at the stops (src/sensors/camera.ts), when camera.command is set. */
  camera?: CameraConfig;
  /** Every setting as given (secrets redacted), for the startup log and --check-config. */
  effective: Record<string, unknown>;
  configFile?: string;
  /** Not fatal, but worth a line in the log: unknown CARBOT_* variables, for instance. */
  warnings: string[];
}

export interface CameraConfig {
  /** Program and arguments; `{file}` in any of them is replaced by the picture's path. */
  command: string[];
  dir: string;
  timeoutS: number;
  /** Pictures kept per stop; 0 = all. */
  keep: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export const envName = (key: string) => `CARBOT_${key.replace(/\./g, '_').replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase()}`;
export const flagName = (key: string) => `--${key.replace(/\./g, '-').replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase()}`;

export interface LoadInput {
  /** Command-line arguments that are settings (the CLI strips its own verbs first). */
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  /**
   * The file read when neither --config nor CARBOT_CONFIG names one, if it exists. The CLI
   * passes DEFAULT_CONFIG_PATH; left out, no file is read unless one is named, so code that
   * loads a configuration in-process (tests) never picks up the machine's /etc/carbot.
   */
  defaultConfigPath?: string;
  /** Seam for tests; defaults to the real file system. */
  readFile?: (path: string) => Buffer;
  exists?: (path: string) => boolean;
  randomId?: () => string;
  /**
   * True for the service (and --check-config): the rules for what it listens on apply (a page
   * beyond loopback needs a token or password). `carbot send`, safe-state and code that loads
   * a configuration in-process serve nothing and leave it out.
   */
  serving?: boolean;
  /**
   * The uid carbot runs as; the CLI passes process.getuid(). As root (0), a settings file
   * (the configuration file, mqtt.passwordFile, and under systemd the units' EnvironmentFile
   * /etc/default/carbot) that another user owns or that its group or others can write is
   * refused: whoever can change it could have root send any file as the MQTT password, or
   * run code as root. Left out (in-process tests), nothing is checked.
   */
  runningAs?: number;
  /** Such files make warnings, not problems: safe-state, whose stopping the outputs comes first. */
  ownershipWarnsOnly?: boolean;
  /** Seam for tests: owner and mode of a file (fs.statSync). */
  stat?: (path: string) => { uid: number; mode: number };
}

/** The units' EnvironmentFile (CARBOT_* settings, and whatever else systemd passes to node). */
export const ENVIRONMENT_FILE = '/etc/default/carbot';
/** A password file holds one password; /etc/shadow or a key file named by mistake is no password. */
export const MAX_PASSWORD_FILE_BYTES = 1024;

/**
 * Why a file carbot reads as root could be changed by someone else, or undefined: it must
 * belong to root and be writable by nobody else.
 */
export function writableByOthers(file: { uid: number; mode: number }): string | undefined {
  if (file.uid !== 0) return `its owner, uid ${file.uid},`;
  if (file.mode & 0o002) return 'every user';
  if (file.mode & 0o020) return 'its group';
  return undefined;
}

interface Raw {
  value: unknown;
  /** Where the value came from, as the user would write it: a flag, a variable or a file key. */
  source: string;
}

const BY_KEY = new Map(ROWS.map((s) => [s.key, s]));
/** Old flat names, for a file: `embeddedBrokerPort` -> the embeddedBroker.port row. */
const BY_OLD_KEY = new Map(ROWS.filter((s) => s.was !== undefined).map((s) => [s.was as string, s]));
/** The flag spelled after the old name, when it differs from the new one (`--embedded-broker`). */
const oldFlag = (s: Setting) => (s.was !== undefined && flagName(s.was) !== flagName(s.key) ? flagName(s.was) : undefined);
const oldEnv = (s: Setting) => (s.was !== undefined && envName(s.was) !== envName(s.key) ? envName(s.was) : undefined);
const BY_FLAG = new Map<string, Setting>([
  ...ROWS.map((s) => [flagName(s.key), s] as const),
  ...ROWS.flatMap((s) => (oldFlag(s) ? [[oldFlag(s) as string, s] as const] : [])),
]);
/** The warning an old spelling gives, once per spelling used. */
const renamed = (old: string, now: string, key: string) =>
  `${old} is an old name: use ${now}${now === key ? '' : ` (${key})`} instead; the old name still works for now`;

/** The words a boolean flag takes as its next argument; anything else after it is not its value. */
const BOOL_VALUE = /^(?:true|false)$/i;

function parseFlags(argv: readonly string[], problems: string[], warnings: string[]): { values: Map<string, Raw>; configPath?: string } {
  const values = new Map<string, Raw>();
  let configPath: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.indexOf('=');
    let name = eq >= 0 ? arg.slice(0, eq) : arg;
    let value: string | undefined = eq >= 0 ? arg.slice(eq + 1) : undefined;
    if (name === '--config') {
      configPath = value ?? argv[++i];
      if (configPath === undefined) problems.push('--config: needs a file path');
      continue;
    }
    if (arg === '--no-config') {
      configPath = '';
      continue;
    }
    let negated = false;
    if (!BY_FLAG.has(name) && name.startsWith('--no-') && BY_FLAG.get(`--${name.slice(5)}`)?.kind === 'bool') {
      name = `--${name.slice(5)}`;
      negated = true;
    }
    const setting = BY_FLAG.get(name);
    if (!setting) {
      problems.push(`${arg}: unknown option (see carbot --help)`);
      continue;
    }
    if (setting.kind === 'bool' && value === undefined) {
      // `--embedded-broker-enabled false` as well as bare `--embedded-broker-enabled` (not after --no-).
      if (!negated && BOOL_VALUE.test(argv[i + 1] ?? '')) value = argv[++i];
      else value = negated ? 'false' : 'true';
    } else if (value === undefined) {
      value = argv[++i];
      if (value === undefined) {
        problems.push(`${name}: needs a value`);
        continue;
      }
    }
    if (name !== flagName(setting.key)) {
      const now = negated ? `--no-${flagName(setting.key).slice(2)}` : flagName(setting.key);
      const line = renamed(negated ? `--no-${name.slice(2)}` : name, now, setting.key);
      if (!warnings.includes(line)) warnings.push(line);
    }
    values.set(setting.key, { value, source: name });
  }
  return { values, configPath };
}

/**
 * Where the arguments are that are neither options nor their values: `carbot send`'s
 * command, and anything stray (a usage error, not a configuration one).
 */
export function positionalIndexes(argv: readonly string[]): number[] {
  const positional: number[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) {
      positional.push(i);
      continue;
    }
    if (arg.includes('=')) continue;
    const setting = BY_FLAG.get(arg);
    if (arg === '--config' || (setting && setting.kind !== 'bool')) i++;
    else if (setting?.kind === 'bool' && BOOL_VALUE.test(argv[i + 1] ?? '')) i++;
  }
  return positional;
}

/**
 * A file's settings, nested (`{"http": {"port": 8080}}`) or dotted (`{"http.port": 8080}`),
 * and under an old flat name (`embeddedBrokerPort`) with a warning; the new name wins.
 */
function flattenFile(obj: Record<string, unknown>, file: string, problems: string[], warnings: string[]): Map<string, Raw> {
  const values = new Map<string, Raw>();
  const old = new Map<string, Raw>();
  const visit = (prefix: string, node: Record<string, unknown>) => {
    for (const [k, v] of Object.entries(node)) {
      const key = prefix ? `${prefix}.${k}` : k;
      const setting = BY_KEY.get(key);
      const wasSetting = BY_OLD_KEY.get(key);
      if (setting) values.set(key, { value: v, source: `${file}: ${key}` });
      else if (v && typeof v === 'object' && !Array.isArray(v) && ROWS.some((s) => s.key.startsWith(`${key}.`))) {
        visit(key, v as Record<string, unknown>);
      } else if (wasSetting) {
        // `"embeddedBroker": true` is the old switch; an object there is the group.
        old.set(wasSetting.key, { value: v, source: `${file}: ${key}` });
        warnings.push(`${file}: ${renamed(key, wasSetting.key, wasSetting.key)}`);
      } else problems.push(`${file}: ${key}: unknown setting`);
    }
  };
  visit('', obj);
  for (const [key, raw] of old) if (!values.has(key)) values.set(key, raw);
  return values;
}

function convert(setting: Setting, raw: Raw, problems: string[]): unknown {
  const { value, source } = raw;
  const fromText = typeof value === 'string';
  const bad = (why: string) => {
    problems.push(`${source}: ${why}`);
    return undefined;
  };
  // A URL may carry user:password@ even when it is wrong in other ways: never echo that part.
  const show = (v: unknown) =>
    setting.secret ? '(hidden)' : JSON.stringify(setting.kind === 'url' ? String(v).replace(/^([a-z][a-z0-9+.-]*:\/\/)?[^/@]*@/i, '$1***@') : v);
  // An empty value is a mistake (a blank token would open the page to anyone), never "unset".
  if (fromText && value.trim() === '') return bad('is empty: give a value, or leave the setting out for its default');
  switch (setting.kind) {
    case 'int': {
      const n = fromText && /^\s*-?\d+\s*$/.test(value) ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isInteger(n)) return bad(`${show(value)} is not a whole number`);
      if (setting.min !== undefined && n < setting.min) return bad(`${n} is below the minimum ${setting.min}`);
      if (setting.max !== undefined && n > setting.max) return bad(`${n} is above the maximum ${setting.max}`);
      return n;
    }
    case 'number': {
      const n = fromText && /^\s*-?(\d+\.?\d*|\.\d+)\s*$/.test(value) ? Number(value) : value;
      if (typeof n !== 'number' || !Number.isFinite(n)) return bad(`${show(value)} is not a number`);
      if (setting.min !== undefined && n < setting.min) return bad(`${n} is below the minimum ${setting.min}`);
      if (setting.max !== undefined && n > setting.max) return bad(`${n} is above the maximum ${setting.max}`);
      return n;
    }
    case 'bool': {
      if (typeof value === 'boolean') return value;
      const text = fromText ? value.trim().toLowerCase() : '';
      if (['true', '1', 'yes', 'on'].includes(text)) return true;
      if (['false', '0', 'no', 'off'].includes(text)) return false;
      return bad(`${show(value)} is not true or false`);
    }
    case 'hosts': {
      const list = fromText ? value.split(',').map((h) => h.trim()).filter(Boolean) : value;
      if (!Array.isArray(list) || !list.every((h) => typeof h === 'string')) return bad('must be a list of host names or addresses');
      const wrong = (list as string[]).filter((h) => !isHostOrAddress(h));
      if (wrong.length > 0) return bad(`${wrong.map((h) => JSON.stringify(h)).join(', ')}: not a host name or address`);
      return (list as string[]).map((h) => h.toLowerCase().replace(/\.$/, ''));
    }
    case 'json': {
      if (!fromText) return value;
      try {
        return JSON.parse(value);
      } catch {
        // A bare word is a name (a ready-made motor list): `--motors adafruit-servo-hat`.
        if (/^[a-z][a-z0-9-]*$/.test(value.trim())) return value.trim();
        return bad('is not valid JSON');
      }
    }
    default: {
      if (!fromText) return bad(`${show(value)} must be a string`);
      if (setting.kind === 'enum' && !setting.values?.includes(value)) {
        return bad(`${show(value)} is not one of ${setting.values?.join(', ')}`);
      }
      if (setting.kind === 'url') {
        let url: URL | undefined;
        try {
          url = new URL(value);
        } catch {
          url = undefined;
        }
        if (!url || !URL_SCHEMES.includes(url.protocol) || !url.hostname) {
          return bad(`${show(value)} is not a broker URL: use mqtt://host:1883, mqtts://, ws:// or wss://`);
        }
        if (url.password) return bad('put the password in mqtt.password or mqtt.passwordFile, not in the URL');
      }
      if (setting.kind === 'topic' && (value === '' || /[+#\0]/.test(value))) {
        return bad(`${show(value)} is not a topic to subscribe to: no wildcards (+ #), not empty`);
      }
      if (setting.kind === 'host' && !isHostOrAddress(value)) {
        return bad(`${show(value)} is not a host name or IP address`);
      }
      if (setting.minLength !== undefined && [...value].length < setting.minLength) {
        return bad(`has ${[...value].length} characters, fewer than ${setting.minLength}: make it long and random (openssl rand -hex 16)`);
      }
      if (setting.kind === 'name' && !/^[A-Za-z0-9_.-]+$/.test(value)) {
        return bad(`${show(value)} must be letters, digits, '_', '-' or '.' (it becomes part of topics)`);
      }
      return value;
    }
  }
}

function cannotRead(code: string, isDefault: boolean): string {
  if (code !== 'EACCES') return `cannot read (${code})`;
  return (
    'cannot read (EACCES: permission denied): it holds secrets, so only root and the group scripts/install.sh ' +
    'gave it to (ls -l shows which) may read it; use sudo, join that group' +
    (isDefault ? ', or pass --no-config to run without it' : '')
  );
}

export function loadConfig(input: LoadInput): Config {
  const readFile = input.readFile ?? ((p: string) => readFileSync(p));
  const exists = input.exists ?? existsSync;
  const problems: string[] = [];
  /** Not fatal, but worth a line in the log: old setting names, unknown CARBOT_* variables... */
  const warnings: string[] = [];
  const { values: flags, configPath: flagConfig } = parseFlags(input.argv, problems, warnings);

  // An empty --config or CARBOT_CONFIG (and --no-config) means: no file at all.
  const explicitPath = flagConfig ?? input.env.CARBOT_CONFIG;
  const defaultPath = input.defaultConfigPath;
  const configFile = explicitPath !== undefined
    ? explicitPath || undefined
    : defaultPath !== undefined && exists(defaultPath) ? defaultPath : undefined;
  let fromFile = new Map<string, Raw>();
  if (configFile) {
    try {
      const parsed: unknown = JSON.parse(readFile(configFile).toString('utf8'));
      if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) problems.push(`${configFile}: must hold a JSON object`);
      else fromFile = flattenFile(parsed as Record<string, unknown>, configFile, problems, warnings);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      problems.push(`${configFile}: ${e.code === 'ENOENT' ? 'no such file' : e.code ? cannotRead(e.code, configFile === defaultPath) : `not valid JSON (${e.message})`}`);
    }
  }

  const raw = new Map(fromFile);
  const known = new Set([
    ...ROWS.flatMap((s) => [envName(s.key), oldEnv(s) ?? []].flat()),
    'CARBOT_CONFIG',
    'CARBOT_SIM_TRACE',
    'CARBOT_SYSFS_ROOT',
    'CARBOT_SYSTEM_ROOT',
  ]);
  warnings.push(
    ...Object.keys(input.env)
      .filter((name) => name.startsWith('CARBOT_') && !known.has(name) && !name.startsWith('CARBOT_TEST_'))
      .map((name) => `${name}: not a carbot setting, ignored (see carbot --help)`),
  );
  for (const s of ROWS) {
    const old = oldEnv(s);
    if (old !== undefined && input.env[old] !== undefined) {
      warnings.push(renamed(old, envName(s.key), s.key));
      raw.set(s.key, { value: input.env[old], source: old });
    }
    const v = input.env[envName(s.key)];
    if (v !== undefined) raw.set(s.key, { value: v, source: envName(s.key) });
  }
  for (const [k, v] of flags) raw.set(k, v);

  const value = new Map<string, unknown>();
  for (const s of ROWS) {
    const r = raw.get(s.key);
    const converted = r ? convert(s, r, problems) : undefined;
    // A copy of a list default: the table's own is never handed out (the config is frozen).
    value.set(s.key, converted ?? structuredClone(s.default));
  }
  const get: Get = (key) => value.get(key) as never;
  const sourceOf = (key: SettingKey) => raw.get(key)?.source ?? key;
  /** A group's settings as one object: `group('http')` is Config's `http`. */
  const group = <G extends 'http' | 'embeddedBroker' | 'homeassistant'>(name: G) =>
    Object.fromEntries(ROWS.filter((s) => s.key.startsWith(`${name}.`)).map((s) => [s.key.slice(name.length + 1), value.get(s.key)])) as SettingGroup<G>;

  const device = get('device');
  const readSecretFile = (key: 'mqtt.passwordFile' | 'mqtt.ca' | 'mqtt.cert' | 'mqtt.key'): Buffer | undefined => {
    const path = get(key);
    if (!path) return undefined;
    try {
      return readFile(path);
    } catch (err) {
      problems.push(`${sourceOf(key)}: cannot read ${JSON.stringify(path)} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
      return undefined;
    }
  };

  let password = get('mqtt.password');
  const passwordFile = readSecretFile('mqtt.passwordFile');
  if (password !== undefined && passwordFile) {
    problems.push(`${sourceOf('mqtt.password')} and ${sourceOf('mqtt.passwordFile')}: give the password one way, not both`);
  }
  if (passwordFile) {
    password = passwordFile.toString('utf8').replace(/\r?\n$/, '');
    // Never sent as it is: the content is neither shown nor used.
    const where = `${sourceOf('mqtt.passwordFile')}: ${JSON.stringify(get('mqtt.passwordFile'))}`;
    if (passwordFile.length > MAX_PASSWORD_FILE_BYTES) {
      problems.push(`${where} holds ${passwordFile.length} bytes: a password file holds the password alone (at most ${MAX_PASSWORD_FILE_BYTES} bytes); is it the right file?`);
      password = undefined;
    } else if (/[\r\n]/.test(password)) {
      problems.push(`${where} holds more than one line: a password file holds the password alone, on one line; is it the right file?`);
      password = undefined;
    }
  }
  const [ca, cert, key] = (['mqtt.ca', 'mqtt.cert', 'mqtt.key'] as const).map(readSecretFile);

  const [minSpeed, maxSpeed, initialSpeed] = (['minSpeed', 'maxSpeed', 'initialSpeed'] as const).map((k) => get(k));
  if (minSpeed > maxSpeed) problems.push(`${sourceOf('minSpeed')}: ${minSpeed} is above maxSpeed ${maxSpeed}`);
  else if (initialSpeed < minSpeed || initialSpeed > maxSpeed) {
    problems.push(`${sourceOf('initialSpeed')}: ${initialSpeed} is outside minSpeed..maxSpeed (${minSpeed}..${maxSpeed})`);
  }
  const embeddedBroker = group('embeddedBroker');
  if (embeddedBroker.enabled && embeddedBroker.port !== 0 && embeddedBroker.port === embeddedBroker.wsPort) {
    problems.push(`${sourceOf('embeddedBroker.wsPort')}: ${embeddedBroker.wsPort} is already the embedded broker's MQTT port`);
  }

  if (raw.has('http.username') !== raw.has('http.password')) {
    problems.push(`${sourceOf(raw.has('http.username') ? 'http.username' : 'http.password')}: set http.username and http.password together`);
  }

  const hardware = parseMotorConfig({
    motors: get('motors'),
    limits: get('limits'),
    allowUnsafePins: get('allowUnsafePins'),
    servoIdleOffS: get('servoIdleOffS'),
    gpio: get('gpio'),
    pca9685Frequency: get('pca9685.frequency'),
  });
  problems.push(...hardware.errors);
  warnings.push(...hardware.warnings);
  const pwmChannels = parsePwmChannels(get('pwmChannels'), problems);
  const track = parseTrackConfig(
    {
      lengthM: get('track.lengthM'),
      stops: get('track.stops'),
      dwellS: get('track.dwellS'),
      homeEnd: get('track.homeEnd'),
      homingSpeed: get('track.homingSpeed'),
      calibrationSpeeds: get('track.calibrationSpeeds'),
      speedTable: get('track.speedTable'),
      settleMs: get('track.settleMs'),
      timeoutMarginS: get('track.timeoutMarginS'),
      stallS: get('track.stallS'),
      homeTimeoutS: get('track.homeTimeoutS'),
      driftPercent: get('track.driftPercent'),
      encoder: get('track.encoder'),
      sim: get('track.sim'),
    },
    problems,
  );
  // systemd's StateDirectory= may name several, separated by colons: carbot's is the first.
  const givenStateDir = get('stateDir') ?? (input.env.STATE_DIRECTORY?.split(':')[0] || undefined);
  const stateDir = givenStateDir === undefined ? undefined : resolvePath(givenStateDir);
  const camera = parseCamera(get('camera.command'), get('camera.dir'), stateDir, sourceOf, problems);
  if (camera) {
    camera.timeoutS = get('camera.timeoutS');
    camera.keep = get('camera.keep');
  }
  if (get('gpio') === 'kernel') problems.push(...kernelPwmProblems(hardware.motors, pwmChannels));

  const moveTopic = get('moveTopic') ?? `${device}/move`;
  const topics = {
    move: moveTopic,
    stop: `${moveTopic}/stop`,
    lwt: `tele/${device}/LWT`,
    state: `tele/${device}/STATE`,
    result: `stat/${device}/RESULT`,
    arrived: `stat/${device}/ARRIVED`,
    photo: `stat/${device}/PHOTO`,
    ownerPing: `cmnd/${device}/OWNER`,
    owner: `stat/${device}/OWNER`,
  };
  const own = Object.entries(topics).find(([name, topic]) => name !== 'move' && name !== 'stop' && topic === moveTopic);
  if (own) {
    problems.push(
      `${sourceOf('moveTopic')}: ${JSON.stringify(moveTopic)} is carbot's own ${own[0].toUpperCase()} topic; carbot would take what it publishes as commands`,
    );
  }
  if (input.serving === true) warnings.push(...exposure(get, sourceOf, (key) => raw.has(key), problems));
  if (input.runningAs === 0) {
    const stat = input.stat ?? ((p: string) => statSync(p));
    const files = [configFile, get('mqtt.passwordFile')];
    // systemd reads it for the units, before node starts: only a service's own start can check it.
    if (input.env.INVOCATION_ID !== undefined && exists(ENVIRONMENT_FILE)) files.push(ENVIRONMENT_FILE);
    for (const file of files) {
      if (!file) continue;
      let who: string | undefined;
      try {
        who = writableByOthers(stat(file));
      } catch {
        continue; // not there or not readable: said above already
      }
      if (who === undefined) continue;
      const line =
        `${file}: carbot runs as root and takes settings from this file, which ${who} can change: ` +
        `sudo chown root ${file} && sudo chmod go-w ${file} (scripts/install.sh does so when it installs the pigpio unit)`;
      (input.ownershipWarnsOnly ? warnings : problems).push(line);
    }
  }

  if (problems.length > 0) throw new ConfigError(problems);

  const effective: Record<string, unknown> = {};
  for (const s of ROWS) {
    const v = value.get(s.key);
    if (v === undefined) continue;
    effective[s.key] = s.secret ? '***' : v;
  }
  if (stateDir) effective.stateDir = stateDir;
  if (camera) effective['camera.dir'] = camera.dir;
  effective.motors = hardware.motors;
  effective.limits = hardware.limits;

  effective.moveTopic = moveTopic;
  const randomId = input.randomId ?? (() => Math.random().toString(16).slice(2, 8));
  // The embedded broker is the one to use unless told otherwise, never whatever listens on 1883.
  let url = get('mqtt.url');
  if (embeddedBroker.enabled && !raw.has('mqtt.url')) {
    url = embeddedBrokerUrl(embeddedBroker.host, embeddedBroker.port);
    effective['mqtt.url'] = url;
  }

  return deepFreeze<Config>({
    device,
    topics,
    mqtt: {
      url,
      username: get('mqtt.username'),
      password,
      clientId: get('mqtt.clientId') ?? `carbot-${device}-${randomId()}`,
      keepalive: get('mqtt.keepalive'),
      // Checked against its min and max, 0 and 1.
      qos: get('mqtt.qos') as 0 | 1,
      ca,
      cert,
      key,
    },
    telePeriod: get('telePeriod'),
    drive: {
      initialSpeed,
      speedStep: get('speedStep'),
      minSpeed,
      maxSpeed,
      reverseDelayMs: get('reverseDelayMs'),
      accelPercentPerSec: get('accelPercentPerSec'),
      commandTimeoutS: get('commandTimeoutS'),
    },
    stopOnDisconnect: get('stopOnDisconnect'),
    commandsPerSecond: get('commandsPerSecond'),
    gpio: get('gpio'),
    motors: hardware.motors,
    limits: hardware.limits,
    pca9685: {
      bus: get('pca9685.bus'),
      address: get('pca9685.address') ?? presetAddress(get('motors')) ?? DEFAULT_PCA9685_ADDRESS,
      frequencyHz: hardware.pca9685Frequency,
      servoKitCompatible: get('pca9685.servoKitCompatible') ?? presetServoKit(get('motors')),
    },
    pwmChannels,
    logLevel: get('logLevel'),
    logFormat: get('logFormat'),
    embeddedBroker,
    http: group('http'),
    homeassistant: group('homeassistant'),
    track,
    stateDir,
    camera,
    effective,
    configFile,
    warnings,
  });
}

/** The loader's typed read of one setting: get('initialSpeed') is a number, get('nope') does not compile. */
export type Get = <K extends SettingKey>(key: K) => SettingValues[K];

/**
 * Freezes an object and everything it holds, in place (Buffers excepted: a typed array with
 * elements cannot be frozen). Returns it.
 */
export function deepFreeze<T>(value: T, seen = new WeakSet<object>()): T {
  if (value === null || typeof value !== 'object' || ArrayBuffer.isView(value) || seen.has(value)) return value;
  seen.add(value);
  for (const v of Object.values(value)) deepFreeze(v, seen);
  return Object.freeze(value);
}

/** The same configuration with another broker URL: the embedded broker's, once it listens on a port of its choosing. */
export function withMqttUrl(config: Config, url: string): Config {
  return deepFreeze<Config>({ ...config, mqtt: { ...config.mqtt, url }, effective: { ...config.effective, 'mqtt.url': url } });
}

/** `camera.command`: a non-empty list of strings with `{file}` in one; camera.dir, or the state directory's pictures/. */
function parseCamera(
  command: unknown,
  dir: string | undefined,
  stateDir: string | undefined,
  sourceOf: (key: SettingKey) => string,
  problems: string[],
): CameraConfig | undefined {
  if (command === undefined) return undefined;
  const example = 'like ["rpicam-still","-n","-o","{file}"]';
  if (!Array.isArray(command) || command.length === 0 || !command.every((a) => typeof a === 'string') || command[0] === '') {
    problems.push(`${sourceOf('camera.command')}: must be a list of the program and its arguments, ${example}; got ${JSON.stringify(command)}`);
    return undefined;
  }
  if (!command.some((a: string) => a.includes('{file}'))) {
    problems.push(`${sourceOf('camera.command')}: no argument holds {file}, where the picture is to be written (${example})`);
    return undefined;
  }
  const folder = dir ?? (stateDir ? `${stateDir.replace(/\/+$/, '')}/pictures` : undefined);
  if (!folder) {
    problems.push(`${sourceOf('camera.command')}: set camera.dir, the folder for the pictures (there is no state directory to put them in)`);
    return undefined;
  }
  // Absolute: the page serves from it, and a service's working directory is /.
  return { command: command as string[], dir: resolvePath(folder), timeoutS: 30, keep: 1000 };
}

/** Where carbot connects when it runs the embedded broker and no mqtt.url is given. */
export function embeddedBrokerUrl(host: string, port: number): string {
  const h = isWildcard(host) ? '127.0.0.1' : host;
  return `mqtt://${h.includes(':') ? `[${h}]` : h}:${port}`;
}

/**
 * mosquitto 2.0's rule: nothing that drives the car listens beyond loopback without a
 * password, unless the configuration says so in as many words; then every start says so.
 */
function exposure(
  get: Get,
  sourceOf: (key: SettingKey) => string,
  given: (key: SettingKey) => boolean,
  problems: string[],
): string[] {
  const warnings: string[] = [];
  const httpHost = get('http.host');
  if (get('http.port') !== 0 && !isLoopback(httpHost)) {
    const where = `http://${isWildcard(httpHost) ? '<any address of this machine>' : httpHost}:${get('http.port')}/`;
    // A token or user that was given but is wrong has its own message already.
    if (!given('http.token') && !given('http.username') && !given('http.password')) {
      if (!get('http.allowAnonymous')) {
        problems.push(
          `${sourceOf('http.host')}: the remote page on ${JSON.stringify(httpHost)} is reachable from the network and has no token or password: ` +
            'set http.token (or http.username and http.password), or http.host 127.0.0.1, or http.allowAnonymous true to let anyone who reaches it drive the car',
        );
      } else {
        warnings.push(`http.allowAnonymous is true: anyone who can reach ${where} drives the car, without a token or password`);
      }
    }
  }
  const brokerHost = get('embeddedBroker.host');
  if (get('embeddedBroker.enabled') && !isLoopback(brokerHost)) {
    if (!get('embeddedBroker.allowAnonymous')) {
      problems.push(
        `${sourceOf('embeddedBroker.host')}: the embedded broker on ${JSON.stringify(brokerHost)} would be reachable from the network and has no passwords: ` +
          'use embeddedBroker.host 127.0.0.1 (or mosquitto with a password file), or embeddedBroker.allowAnonymous true to let anyone who reaches it drive the car',
      );
    } else {
      warnings.push(`embeddedBroker.allowAnonymous is true: anyone who can reach the embedded broker on ${brokerHost} drives the car`);
    }
  }
  return warnings;
}

/** BCM pins with a hardware PWM channel on every Raspberry Pi (pwm-2chan; RP1 PWM0 on a Pi 5). */
const KERNEL_PWM_PINS = [12, 13, 18, 19];

/** With the kernel's PWM only those pins can carry PWM or servo pulses, unless pwmChannels names a chip. */
function kernelPwmProblems(motors: MotorConfig[], pwmChannels: Config['pwmChannels']): string[] {
  const problems: string[] = [];
  motors.forEach((m, i) => {
    if ((m.board ?? 'gpio') !== 'gpio' || m.driver === 'sim') return;
    const [key, pin] = m.driver === 'hbridge' ? ['pwm', m.pwm] : ['pin', m.pin];
    if (KERNEL_PWM_PINS.includes(pin) || pwmChannels?.[pin]) return;
    problems.push(
      `motors[${i}].${key}: GPIO ${pin} has no hardware PWM; with gpio "kernel" use GPIO 12, 13, 18 or 19 ` +
        `(dtoverlay=pwm-2chan), or name a chip for it in pwmChannels (dtoverlay=pwm-gpio gives software PWM on any pin)`,
    );
  });
  return problems;
}

/** `pwmChannels`: {"18": {"chip": "pwmchip2", "channel": 2}} with pins as keys. */
function parsePwmChannels(raw: unknown, problems: string[]): Config['pwmChannels'] {
  if (raw === undefined || raw === null) return undefined;
  const example = 'like {"18": {"chip": "pwmchip2", "channel": 2}}';
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    problems.push(`pwmChannels: must be an object ${example}, got ${JSON.stringify(raw)}`);
    return undefined;
  }
  const result: NonNullable<Config['pwmChannels']> = {};
  for (const [pin, value] of Object.entries(raw as Record<string, unknown>)) {
    const n = Number(pin);
    const v = value as { chip?: unknown; channel?: unknown } | null;
    if (!/^\d+$/.test(pin) || n > 27) problems.push(`pwmChannels.${pin}: not a BCM pin number 0–27`);
    else if (!v || typeof v.chip !== 'string' || !v.chip || !Number.isInteger(v.channel) || (v.channel as number) < 0) {
      problems.push(`pwmChannels.${pin}: must be like {"chip": "pwmchip2", "channel": 2}, got ${JSON.stringify(value)}`);
    } else result[n] = { chip: v.chip, channel: v.channel as number };
  }
  return result;
}

/** The settings table for --help: flag, environment variable, default, meaning. */
export function settingsHelp(): string {
  const rows = ROWS.map((s) => {
    const def = s.default === undefined ? '' : ` (default ${JSON.stringify(s.default)})`;
    return `  ${flagName(s.key).padEnd(26)} ${envName(s.key).padEnd(32)} ${s.help}${def}`;
  });
  const old = ROWS.filter((s) => s.was !== undefined).map((s) => `  ${String(s.was).padEnd(30)} now ${s.key}${oldFlag(s) ? ` (${oldFlag(s)}, ${oldEnv(s)})` : ''}`);
  return [...rows, '', 'Old names (file keys; flags and variables where they differ), still accepted with a warning:', ...old].join('\n');
}
