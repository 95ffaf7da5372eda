/**
 * Checking settings: each value against its kind and limits, the camera, the kernel board's
 * PWM pins and channels, and what listens beyond loopback without a password. Part of config.ts.
 */
import { resolve as resolvePath } from 'node:path';
import type { MotorConfig } from '../motors/types';
import { isHostOrAddress, isLoopback, isWildcard } from '../http/hosts';
import type { Setting, SettingKey } from './settings';
import type { CameraConfig, Config, Get } from './loaded';
import type { Raw } from './sources';

const URL_SCHEMES = ['mqtt:', 'mqtts:', 'ws:', 'wss:'];

export function convert(setting: Setting, raw: Raw, problems: string[]): unknown {
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

/** `camera.command`: a non-empty list of strings with `{file}` in one; camera.dir, or the state directory's pictures/. */
export function parseCamera(
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

/**
 * mosquitto 2.0's rule: nothing that drives the car listens beyond loopback without a
 * password, unless the configuration says so in as many words; then every start says so.
 */
export function exposure(
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
export function kernelPwmProblems(motors: MotorConfig[], pwmChannels: Config['pwmChannels']): string[] {
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
export function parsePwmChannels(raw: unknown, problems: string[]): Config['pwmChannels'] {
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
