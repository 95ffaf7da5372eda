/**
 * What the settings table's types promise, checked by the compiler (`npx tsc --noEmit -p
 * tsconfig.test.json`, which `npm run typecheck` runs): a wrong key or a wrong type is a build
 * error, not a value found wrong at run time.
 */
import { strict as assert } from 'node:assert';
import { loadConfig, type Config, type Get, type SettingGroup, type SettingValues } from '../../src/config/config';
import type { GpioChoice } from '../../src/boards/pigpio';
import type { LogFormat, LogLevel } from '../../src/process/log';

/** True only when A and B are the same type. */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const same = <A, B>(proof: Same<A, B>) => proof;

/** Never called: its body is what the compiler checks. */
export function typeChecks(get: Get): void {
  const speed: number = get('initialSpeed');
  const device: string = get('device');
  const broker: boolean = get('embeddedBroker.enabled');
  const hosts: string[] = get('http.allowedHosts');
  void [speed, device, broker, hosts];
  // @ts-expect-error: no such setting
  get('nope');
  // @ts-expect-error: the old flat names are for files, flags and variables only
  get('embeddedBrokerPort');
  // @ts-expect-error: a number setting is no string
  const wrong: string = get('initialSpeed');
  void wrong;
  // A setting without a default may be missing.
  // @ts-expect-error: string | undefined
  const token: string = get('http.token');
  void token;
  same<SettingValues['http.token'], string | undefined>(true);
  same<SettingValues['track.lengthM'], number | undefined>(true);
  same<SettingValues['motors'], unknown>(true);
  // An enum's values are its type: the ones the modules use.
  same<SettingValues['gpio'], GpioChoice>(true);
  same<SettingValues['logLevel'], LogLevel>(true);
  same<SettingValues['logFormat'], LogFormat>(true);
  // Config's groups come from the table, in the shape the modules read.
  same<Config['embeddedBroker'], { enabled: boolean; host: string; port: number; wsPort: number; allowAnonymous: boolean }>(true);
  same<SettingGroup<'homeassistant'>, { enabled: boolean; prefix: string }>(true);
  same<
    Config['http'],
    { port: number; host: string; allowAnonymous: boolean; allowedHosts: string[]; token?: string; username?: string; password?: string }
  >(true);
  // @ts-expect-error: Same is not true of different types
  same<number, string>(true);
}

describe('settings types', () => {
  it('are checked by the compiler (this file compiles), and the values match them', () => {
    const c = loadConfig({ argv: ['--initial-speed', '40'], env: {} });
    assert.equal(typeof c.drive.initialSpeed, 'number');
    assert.equal(c.drive.initialSpeed, 40);
    assert.equal(typeof typeChecks, 'function');
  });
});
