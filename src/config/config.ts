/**
 * One schema for every setting: its default, its type, where it can come from
 * (file < CARBOT_* environment < command-line flag) and how it is checked.
 *
 * Loading is here; beside it: the settings table (settings.ts), the loaded configuration's
 * shape (loaded.ts), reading flags and the file (sources.ts), checking values (validate.ts)
 * and the old names' warnings (old-names.ts).
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { parseMotorConfig } from './motor-config';
import { parseTrackConfig } from './track-config';
import { isWildcard } from '../http/hosts';
import { isPresetName, PRESETS } from '../boards/presets';
import { envName, flagName, ROWS, type SettingGroup, type SettingKey } from './settings';
import type { Config, Get, LoadInput } from './loaded';
import { oldEnv, oldFlag, renamed } from './old-names';
import { cannotRead, flattenFile, parseFlags, type Raw } from './sources';
import { convert, exposure, kernelPwmProblems, parseCamera, parsePwmChannels } from './validate';
export { envName, flagName, type Setting, type SettingGroup, type SettingKey, SETTINGS, type SettingValue, type SettingValues } from './settings';
export type { CameraConfig, Config, Get, LoadInput, MqttSettings, Topics } from './loaded';
export { positionalIndexes } from './sources';

/** 0x40: Adafruit's servo HAT, Waveshare's motor HAT, and the PCA9685's own default. */
const DEFAULT_PCA9685_ADDRESS = 0x40;
/** A ready-made motor list knows where its HAT answers. */
const presetAddress = (motors: unknown) => (isPresetName(motors) ? PRESETS[motors].pca9685.address : undefined);
/** ...and whether its car was driven through Adafruit's ServoKit (the original car's servo HAT). */
const presetServoKit = (motors: unknown) => isPresetName(motors) && PRESETS[motors].pca9685.servoKitCompatible === true;

export const EX_CONFIG = 78;
export const DEFAULT_CONFIG_PATH = '/etc/carbot/config.json';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
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

/** Where carbot connects when it runs the embedded broker and no mqtt.url is given. */
export function embeddedBrokerUrl(host: string, port: number): string {
  const h = isWildcard(host) ? '127.0.0.1' : host;
  return `mqtt://${h.includes(':') ? `[${h}]` : h}:${port}`;
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
