import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * A stand-in for systemd's `systemd-notify`: put `env` into the environment of carbot (or of
 * createNotifier) and every run of `systemd-notify KEY=VALUE...` is appended to a file as
 * `<epoch ms>\t<arg>\t<arg>...` instead of reaching PID 1.
 *
 * CARBOT_TEST_NOTIFY_EXIT makes the stub exit with that code, CARBOT_TEST_NOTIFY_SLEEP makes it
 * take that many seconds.
 */
export interface NotifyCall {
  /** When the stub ran, in epoch milliseconds. */
  at: number;
  args: string[];
}

export interface NotifyStub {
  readonly dir: string;
  /** PATH with the stub first, NOTIFY_SOCKET set, and where the stub writes. */
  env(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv;
  calls(): NotifyCall[];
  /** Every KEY=VALUE sent, in order. */
  assignments(): string[];
  /** The STATUS= values, in order. */
  statuses(): string[];
  /** The runs that carried WATCHDOG=1. */
  pings(): NotifyCall[];
  /** Polls until predicate holds; the error lists every call so far. */
  until(what: string, predicate: () => boolean, timeoutMs?: number): Promise<void>;
  remove(): void;
}

const STUB = `#!/bin/sh
line="$(date +%s%3N)"
for arg in "$@"; do line="$line	$arg"; done
printf '%s\\n' "$line" >> "$CARBOT_TEST_NOTIFY_LOG"
if [ -n "$CARBOT_TEST_NOTIFY_SLEEP" ]; then sleep "$CARBOT_TEST_NOTIFY_SLEEP"; fi
exit "\${CARBOT_TEST_NOTIFY_EXIT:-0}"
`;

export function createNotifyStub(): NotifyStub {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'carbot-notify-'));
  const logFile = path.join(dir, 'calls.log');
  const stub = path.join(dir, 'systemd-notify');
  writeFileSync(stub, STUB);
  chmodSync(stub, 0o755);

  const calls = (): NotifyCall[] => {
    if (!existsSync(logFile)) return [];
    return readFileSync(logFile, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const [at, ...args] = line.split('\t');
        return { at: Number(at), args };
      });
  };
  const assignments = (): string[] => calls().flatMap((c) => c.args);

  return {
    dir,
    env: (extra = {}) => ({
      PATH: `${dir}${path.delimiter}${process.env.PATH ?? ''}`,
      NOTIFY_SOCKET: '/run/systemd/notify',
      CARBOT_TEST_NOTIFY_LOG: logFile,
      ...extra,
    }),
    calls,
    assignments,
    statuses: () =>
      assignments()
        .filter((a) => a.startsWith('STATUS='))
        .map((a) => a.slice('STATUS='.length)),
    pings: () => calls().filter((c) => c.args.includes('WATCHDOG=1')),
    until: async (what, predicate, timeoutMs = 5000) => {
      const deadline = Date.now() + timeoutMs;
      while (!predicate()) {
        if (Date.now() > deadline) {
          throw new Error(`timed out waiting for ${what}; systemd-notify calls: ${JSON.stringify(calls())}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
