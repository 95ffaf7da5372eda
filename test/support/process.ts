import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { killOnExit, track } from './cleanup';
import { NO_MACHINE_CONFIG } from './isolation';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const CLI_PATH = path.join(REPO_ROOT, 'dist', 'cli.js');

export interface ExitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface TrackedProcess {
  readonly child: ChildProcess;
  /** stdout and stderr lines, interleaved in arrival order. */
  readonly lines: string[];
  readonly stdout: string[];
  readonly stderr: string[];
  /** Resolves once the process has exited and its output is fully read. */
  readonly exited: Promise<ExitResult>;
  /**
   * The first line at index >= fromIndex of `lines` (default 0, so lines already printed
   * count) matching `pattern`. Rejects with the whole output on timeout or if the process
   * exits first. Pass `proc.lines.length` as fromIndex to wait only for new lines.
   */
  waitForLine(pattern: RegExp, timeoutMs?: number, fromIndex?: number): Promise<string>;
  /** Sends the signal (default SIGTERM) and resolves with the exit. */
  kill(signal?: NodeJS.Signals): Promise<ExitResult>;
  /** All output so far, for assertion messages. */
  output(): string;
}

/**
 * Variables from the developer's shell or a systemd unit that would change what carbot
 * does under test: its own settings, the journald log format, sd_notify, and whether it was started by systemd (the root unit's checks of /etc/default/carbot).
 */
const INHERITED_NOT = /^(CARBOT_.*|JOURNAL_STREAM|NOTIFY_SOCKET|WATCHDOG_USEC|WATCHDOG_PID|LISTEN_.*|INVOCATION_ID)$/;

export type CarbotProcess = TrackedProcess;

/** Runs the compiled CLI as production does: `node dist/cli.js ...args` from the repo root. */
export function spawnCarbot(args: string[], env: Record<string, string> = {}): CarbotProcess {
  // The browser remote would take port 8080 in every test; those that test it set a port.
  return spawnProcess(process.execPath, [CLI_PATH, ...args], { CARBOT_HTTP_PORT: '0', ...env });
}

export interface SpawnOptions {
  /** Run as this user and group instead of the test's (root in CI): a real unprivileged process. */
  uid?: number;
  gid?: number;
  /** Give the child a stdin pipe (child.stdin) instead of none. */
  stdin?: boolean;
}

/**
 * Any command, run from the repo root with its output captured line by line and the same
 * cleaned environment plus `env`, tracked by the safety net. carbot started this way reads
 * no configuration file unless `env` or its arguments name one (never /etc/carbot).
 */
export function spawnProcess(command: string, args: string[], env: Record<string, string> = {}, options: SpawnOptions = {}): TrackedProcess {
  const baseEnv = Object.fromEntries(Object.entries(process.env).filter(([name]) => !INHERITED_NOT.test(name)));
  const child = spawn(command, args, {
    cwd: REPO_ROOT,
    env: { ...baseEnv, ...NO_MACHINE_CONFIG, ...env },
    stdio: [options.stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'],
    uid: options.uid,
    gid: options.gid,
  });
  killOnExit(child);
  const label = [path.basename(command), ...args].join(' ').slice(0, 120);

  const lines: string[] = [];
  const stdout: string[] = [];
  const stderr: string[] = [];
  const waiters = new Set<() => void>();
  const wakeAll = (): void => {
    for (const wake of waiters) wake();
  };
  const splitLines = (stream: NodeJS.ReadableStream | null, into: string[]): void => {
    let partial = '';
    const push = (line: string): void => {
      into.push(line);
      lines.push(line);
    };
    stream?.setEncoding('utf8');
    stream?.on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      parts.forEach(push);
      wakeAll();
    });
    stream?.on('end', () => {
      if (partial !== '') push(partial);
      partial = '';
      wakeAll();
    });
  };
  splitLines(child.stdout, stdout);
  splitLines(child.stderr, stderr);

  let exit: ExitResult | undefined;
  const exited = new Promise<ExitResult>((resolve) => {
    child.once('error', (err) => {
      lines.push(`harness: could not start ${command}: ${err.message}`);
      exit ??= { code: null, signal: null };
      resolve(exit);
    });
    child.once('close', (code, signal) => {
      exit ??= { code, signal };
      resolve(exit);
    });
  });
  void exited.then(wakeAll);

  const output = (): string => lines.join('\n');
  const describeExit = (): string => (exit === undefined ? 'still running' : `exited with code ${exit.code}, signal ${exit.signal}`);

  const waitForLine = (pattern: RegExp, timeoutMs = 5000, fromIndex = 0): Promise<string> =>
    new Promise((resolve, reject) => {
      let next = fromIndex;
      const done = (): void => {
        waiters.delete(check);
        clearTimeout(timer);
      };
      const check = (): void => {
        for (; next < lines.length; next++) {
          const line = lines[next];
          // A global or sticky RegExp would carry lastIndex from one line to the next.
          pattern.lastIndex = 0;
          if (pattern.test(line)) {
            done();
            resolve(line);
            return;
          }
        }
        if (exit !== undefined) {
          done();
          reject(new Error(`${label} ${describeExit()} before printing ${pattern}; output:\n${output()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${label} printed no line matching ${pattern} within ${timeoutMs} ms (${describeExit()}); output:\n${output()}`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });

  const kill = async (signal: NodeJS.Signals = 'SIGTERM'): Promise<ExitResult> => {
    if (exit === undefined) child.kill(signal);
    return exited;
  };

  const untrack = track({
    name: `${label} (pid ${child.pid ?? '?'})`,
    isOpen: () => exit === undefined,
    close: async () => {
      await kill('SIGKILL');
    },
  });
  void exited.then(untrack);

  return { child, lines, stdout, stderr, exited, waitForLine, kill, output };
}
