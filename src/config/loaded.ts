/**
 * The loaded configuration's shape (Config and its parts), and what loadConfig is given. Part of config.ts.
 */
import type { DriveSettings } from '../core/drive';
import type { LimitsConfig, MotorConfig } from '../motors/types';
import type { TrackConfig } from './track-config';
import type { SettingGroup, SettingKey, SettingValues } from './settings';

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

/** The loader's typed read of one setting: get('initialSpeed') is a number, get('nope') does not compile. */
export type Get = <K extends SettingKey>(key: K) => SettingValues[K];
