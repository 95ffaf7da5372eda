/**
 * Where settings come from: the command-line flags and the configuration file, each value
 * with where it was given. Part of config.ts.
 */
import { flagName, ROWS, type Setting } from './settings';
import { BY_OLD_KEY, oldFlag, renamed } from './old-names';

export interface Raw {
  value: unknown;
  /** Where the value came from, as the user would write it: a flag, a variable or a file key. */
  source: string;
}

const BY_KEY = new Map(ROWS.map((s) => [s.key, s]));

const BY_FLAG = new Map<string, Setting>([
  ...ROWS.map((s) => [flagName(s.key), s] as const),
  ...ROWS.flatMap((s) => (oldFlag(s) ? [[oldFlag(s) as string, s] as const] : [])),
]);

/** The words a boolean flag takes as its next argument; anything else after it is not its value. */
const BOOL_VALUE = /^(?:true|false)$/i;

export function parseFlags(argv: readonly string[], problems: string[], warnings: string[]): { values: Map<string, Raw>; configPath?: string } {
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
export function flattenFile(obj: Record<string, unknown>, file: string, problems: string[], warnings: string[]): Map<string, Raw> {
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

export function cannotRead(code: string, isDefault: boolean): string {
  if (code !== 'EACCES') return `cannot read (${code})`;
  return (
    'cannot read (EACCES: permission denied): it holds secrets, so only root and the group scripts/install.sh ' +
    'gave it to (ls -l shows which) may read it; use sudo, join that group' +
    (isDefault ? ', or pass --no-config to run without it' : '')
  );
}
