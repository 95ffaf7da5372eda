/**
 * Service notifications for systemd: readiness, status line, watchdog pings, stopping.
 *
 * Node cannot send on an AF_UNIX datagram socket, so each notification is one run of
 * `systemd-notify KEY=VALUE...`, which ships with systemd itself. systemd-notify (252, Debian
 * and Raspberry Pi OS bookworm) sends the message as carbot's PID when privileged (carbot runs
 * as root), else as its own, and then waits on a BARRIER=1 until PID 1 has read it, so systemd
 * attributes the message to carbot.service before the helper exits; NotifyAccess=all in the
 * unit covers the unprivileged case.
 *
 * Children run one at a time so messages arrive in order; whatever is asked for meanwhile is
 * merged into the next message (the newest STATUS wins, pings collapse into one).
 *
 * Order matters with pigpio: at initialisation it installs its own handler for every signal,
 * SIGCHLD included. Node installs its SIGCHLD handler when it starts its first child, so the
 * first notification must come after pigpio is initialised, or Node never sees a child exit.
 */
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import type { Motion } from '../core/drive';

/** The drive's own (src/core/drive.ts), named here too for the status line's callers. */
export type { Motion };

export interface ServiceStatus {
  motion: Motion;
  /** The speed setting in percent, kept while stopped. */
  speed: number;
  broker: 'connected' | 'disconnected';
}

/** The line `systemctl status carbot` shows, e.g. `forward at 60%, broker connected`. */
export function statusText({ motion, speed, broker }: ServiceStatus): string {
  const drive =
    motion === 'forward' || motion === 'backward'
      ? `${motion} at ${speed}%`
      : `${motion} (speed ${speed}%)`;
  return `${drive}, broker ${broker}`;
}

export interface Notifier {
  /** True when systemd asked for notifications (NOTIFY_SOCKET is set). */
  readonly enabled: boolean;
  /** READY=1. Call once connected and subscribed; later calls (after a reconnect) send nothing. */
  ready(): void;
  /** STATUS=<text>, sent only when the text differs from the last one. */
  status(text: string): void;
  /** STOPPING=1, sent at once; stops the watchdog and ignores every later call. */
  stopping(): void;
  /** Ping WATCHDOG=1 every WATCHDOG_USEC/4 from an event-loop timer, if systemd asked for it. */
  startWatchdog(): void;
  /** Stop the watchdog timer and drop unsent messages. A child already running finishes on its own. */
  close(): void;
}

export interface NotifyLog {
  warn(message: string): unknown;
  debug(message: string): unknown;
}

export interface NotifierDeps {
  spawn?: (command: string, args: string[], options: SpawnOptions) => ChildProcess;
  /** The program to run; looked up on env.PATH. */
  command?: string;
  /** How long a run may take before carbot warns that it never saw it end. */
  stallMs?: number;
}

export function createNotifier(
  env: NodeJS.ProcessEnv,
  log: NotifyLog,
  deps: NotifierDeps = {},
): Notifier {
  // node:child_process (and dgram with it) is loaded only when there is something to send.
  const spawn = deps.spawn ?? ((...args) => (require('node:child_process') as typeof import('node:child_process')).spawn(...args));
  const command = deps.command ?? 'systemd-notify';
  let enabled = Boolean(env.NOTIFY_SOCKET);
  const pending = new Map<string, string>();
  let running = false;
  let closed = false;
  let readySent = false;
  let lastStatus: string | undefined;
  let watchdog: NodeJS.Timeout | undefined;
  let warnedExit = false;
  let warnedStall = false;
  const stallMs = deps.stallMs ?? 15000;

  const run = (assignments: string[], onDone: () => void): void => {
    // Node may emit 'exit' after 'error', or not at all.
    let finished = false;
    // systemd-notify gives up on PID 1 after 5 s; far longer means Node lost track of the child.
    const stalled = setTimeout(() => {
      if (warnedStall) return;
      warnedStall = true;
      log.warn(
        `${command} ${assignments.join(' ')} has not finished after ${stallMs} ms and later notifications wait ` +
          "for it; if pigpio was initialised after carbot's first notification, Node no longer sees children exit",
      );
    }, stallMs);
    stalled.unref();
    const done = (): void => {
      if (finished) return;
      finished = true;
      clearTimeout(stalled);
      onDone();
    };
    // Unref'd so that a slow PID 1 never holds up carbot's exit.
    const child = spawn(command, assignments, { env, stdio: 'ignore' });
    child.unref();
    child.on('error', (err: NodeJS.ErrnoException) => {
      if (enabled) {
        enabled = false;
        log.warn(
          err.code === 'ENOENT'
            ? `${command} not found on PATH: systemd will not see readiness, status or watchdog pings`
            : `cannot run ${command}: ${err.message}; systemd notifications are off`,
        );
      }
      done();
    });
    child.on('exit', (code, signal) => {
      if (code !== 0) {
        const text = `${command} ${assignments.join(' ')} failed (${signal ?? `exit code ${code}`})`;
        // One warning is enough to point at the cause; a failing watchdog ping repeats every few seconds.
        if (warnedExit) log.debug(text);
        else log.warn(text);
        warnedExit = true;
      }
      done();
    });
  };

  const flush = (): void => {
    if (running || closed || !enabled || pending.size === 0) return;
    const assignments = [...pending].map(([key, value]) => `${key}=${value}`);
    pending.clear();
    running = true;
    run(assignments, () => {
      running = false;
      flush();
    });
  };

  const send = (key: string, value: string): void => {
    if (closed || !enabled) return;
    pending.set(key, value);
    flush();
  };

  const stopWatchdog = (): void => {
    if (watchdog) clearInterval(watchdog);
    watchdog = undefined;
  };

  return {
    get enabled() {
      return enabled;
    },

    ready() {
      if (readySent) return;
      readySent = true;
      send('READY', '1');
    },

    status(text) {
      // A newline would end the assignment and start another one in the datagram.
      const line = text.replace(/[\r\n]+/g, ' ');
      if (line === lastStatus) return;
      lastStatus = line;
      send('STATUS', line);
    },

    stopping() {
      if (closed || !enabled) return;
      stopWatchdog();
      pending.clear();
      closed = true;
      // Not queued behind a running child: carbot may exit right after this call.
      run(['STOPPING=1', 'STATUS=stopping'], () => undefined);
    },

    startWatchdog() {
      if (watchdog || closed || !enabled) return;
      const usec = Number(env.WATCHDOG_USEC);
      if (!Number.isSafeInteger(usec) || usec <= 0) return;
      // systemd sets WATCHDOG_PID so that a child which inherited the variables does not ping for us.
      if (env.WATCHDOG_PID && env.WATCHDOG_PID !== String(process.pid)) return;
      // A quarter of the timeout rather than systemd's suggested half: then a ping comes at
      // least every WatchdogSec/2 even when the loop was held up for a quarter of it.
      const intervalMs = Math.max(1, Math.floor(usec / 4000));
      log.debug(`systemd watchdog: pinging every ${intervalMs} ms`);
      send('WATCHDOG', '1');
      // A timer on the event loop, so a blocked loop misses its pings and systemd notices.
      watchdog = setInterval(() => send('WATCHDOG', '1'), intervalMs);
      watchdog.unref();
    },

    close() {
      stopWatchdog();
      pending.clear();
      closed = true;
    },
  };
}
