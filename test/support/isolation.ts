/**
 * Tests and the benchmark run as if from a clean shell on a machine without carbot installed:
 * a developer's CARBOT_* variables (or a Pi's, under sudo, or a systemd unit's
 * /etc/default/carbot) must not change what a test or a benchmark sees, and
 * /etc/carbot/config.json must never be read — it may be someone's real car, or broken.
 *
 * Every process that tests and the benchmark start goes through this file: it is the only
 * place in test/ and bench/ that imports node:child_process (test/support/isolation.test.ts
 * holds that), so a new runner cannot forget the isolation.
 */
import * as childProcess from 'node:child_process';

export type { ChildProcess, SpawnSyncReturns } from 'node:child_process';

/** The harness's own switches, which are not carbot settings and stay. */
const HARNESS_SWITCH = /^CARBOT_(TEST_.*|UPDATE_SCREENSHOT)$/;

/**
 * What a developer's shell or a systemd unit sets that would change what a started process
 * does: carbot's settings, the journald log format, sd_notify, socket activation, whether
 * systemd started it (INVOCATION_ID: the root unit's checks of /etc/default/carbot), and
 * NODE_OPTIONS (a --require there runs code in every node a test starts).
 */
const INHERITED_NOT = /^(CARBOT_.*|BENCH_TRACE|JOURNAL_STREAM|NOTIFY_SOCKET|WATCHDOG_USEC|WATCHDOG_PID|LISTEN_.*|INVOCATION_ID|NODE_OPTIONS)$/;

/** An empty CARBOT_CONFIG tells carbot to read no configuration file at all. */
const NO_MACHINE_CONFIG = { CARBOT_CONFIG: '' } as const;

/**
 * Removes the caller's carbot settings from `env` (this process's, by default) and sets an
 * empty CARBOT_CONFIG. Returns the names it removed.
 */
export function isolateFromCaller(env: NodeJS.ProcessEnv = process.env): string[] {
  const removed = Object.keys(env).filter((name) => name.startsWith('CARBOT_') && !HARNESS_SWITCH.test(name));
  for (const name of removed) delete env[name];
  Object.assign(env, NO_MACHINE_CONFIG);
  return removed.sort();
}

/**
 * The environment of every process a test or the benchmark starts: this process's, less
 * everything in INHERITED_NOT (the harness's CARBOT_TEST_* switches too: a child mocha or
 * bench decides for itself), with an empty CARBOT_CONFIG, and then `extra` — the only way a
 * started process gets a carbot setting.
 */
export function isolatedEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const inherited = Object.entries(process.env).filter(([name]) => !INHERITED_NOT.test(name));
  return { ...Object.fromEntries(inherited), ...NO_MACHINE_CONFIG, ...extra };
}

/** `options.env` holds only what the process gets on top of isolatedEnv(). */
type Isolated<T> = Omit<T, 'env'> & { env?: NodeJS.ProcessEnv };

export function spawn(command: string, args: readonly string[], options: Isolated<childProcess.SpawnOptions> = {}): childProcess.ChildProcess {
  return childProcess.spawn(command, args, { ...options, env: isolatedEnv(options.env) });
}

export function spawnSync(command: string, args: readonly string[], options: Isolated<childProcess.SpawnSyncOptionsWithStringEncoding>): childProcess.SpawnSyncReturns<string>;
export function spawnSync(command: string, args: readonly string[], options?: Isolated<childProcess.SpawnSyncOptions>): childProcess.SpawnSyncReturns<string | Buffer>;
export function spawnSync(command: string, args: readonly string[], options: Isolated<childProcess.SpawnSyncOptions> = {}): childProcess.SpawnSyncReturns<string | Buffer> {
  return childProcess.spawnSync(command, args, { ...options, env: isolatedEnv(options.env) });
}

export function execFileSync(command: string, args: readonly string[], options: Isolated<childProcess.ExecFileSyncOptionsWithStringEncoding>): string;
export function execFileSync(command: string, args: readonly string[], options?: Isolated<childProcess.ExecFileSyncOptions>): string | Buffer;
export function execFileSync(command: string, args: readonly string[], options: Isolated<childProcess.ExecFileSyncOptions> = {}): string | Buffer {
  return childProcess.execFileSync(command, args, { ...options, env: isolatedEnv(options.env) });
}
