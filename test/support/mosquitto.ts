import { spawn, type ChildProcess } from './isolation';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { killOnExit, removeOnExit, track, withTimeout } from './cleanup';
import { canConnect, freePort } from './ports';
import { describeWith, findProgram, type Requirement } from './requirement';

export interface MosquittoOptions {
  /**
   * Appended right after the main listener, so listener options (`certfile`, `keyfile`,
   * `cafile`, `require_certificate`) apply to it and global ones (`password_file`,
   * `acl_file`, `log_type all`) work too. An `allow_anonymous` line here replaces the
   * default `allow_anonymous true`; a `certfile` line makes `url` an `mqtts://` URL.
   * Relative paths resolve against `dir`, where mosquitto runs.
   */
  extraConfig?: string;
  /** Adds a websockets listener on a second free port (`wsPort`, `wsUrl`). */
  websockets?: boolean;
  /** Written into `dir` before mosquitto first starts: password files, ACLs, certificates. */
  files?: Record<string, string | Buffer>;
}

export interface Mosquitto {
  readonly port: number;
  /** `mqtt://127.0.0.1:<port>` (`mqtts://` when extraConfig sets a certfile). */
  readonly url: string;
  readonly wsPort?: number;
  readonly wsUrl?: string;
  /** The broker's own temp dir (its config file and `files`); removed when the run ends. */
  readonly dir: string;
  readonly configPath: string;
  running(): boolean;
  /** SIGTERM and wait for the exit (SIGKILL if it takes over 5 s). */
  stop(): Promise<void>;
  /** SIGKILL and wait for the exit: the broker vanishes without closing anything. */
  kill(): Promise<void>;
  /** Stops it if running, then starts it again on the same port(s) with the same config. */
  restart(): Promise<void>;
  /** SIGSTOP: the broker hangs with its sockets open, as on a stuck machine; thaw() or stop() resumes it. */
  freeze(): void;
  /** SIGCONT. */
  thaw(): void;
  /** Everything mosquitto printed across all its starts, with harness markers between. */
  log(): string;
}

export const MOSQUITTO_MISSING =
  '!!! mosquitto not installed: the mosquitto suite is NOT running (apt-get install mosquitto)';

const READY_TIMEOUT_MS = 5000;
const STOP_TIMEOUT_MS = 5000;
const LOG_LIMIT = 1 << 20;

let binary: string | null | undefined;

export function mosquittoPath(): string | null {
  // CARBOT_TEST_MOSQUITTO_BIN lets a test (or a developer with a self-built broker) choose the binary.
  if (binary === undefined) binary = findProgram('mosquitto', 'CARBOT_TEST_MOSQUITTO_BIN', ['/usr/sbin']);
  return binary;
}

export function mosquittoAvailable(): boolean {
  return mosquittoPath() !== null;
}

export const MOSQUITTO: Requirement = {
  what: 'mosquitto',
  missing: MOSQUITTO_MISSING,
  switchVariable: 'CARBOT_TEST_MOSQUITTO',
  available: mosquittoAvailable,
};

/** `describe` for suites that need a real mosquitto: see describeWith. */
export function describeMosquitto(title: string, fn: (this: Mocha.Suite) => void): void {
  describeWith(MOSQUITTO, title, fn);
}

interface Run {
  child: ChildProcess;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  closed: Promise<void>;
}

export async function startMosquitto(opts: MosquittoOptions = {}): Promise<Mosquitto> {
  const executable = mosquittoPath();
  if (executable === null) throw new Error(MOSQUITTO_MISSING);

  const dir = mkdtempSync(path.join(os.tmpdir(), 'carbot-mosquitto-'));
  const removeDir = removeOnExit(dir);
  const configPath = path.join(dir, 'mosquitto.conf');
  for (const [name, content] of Object.entries(opts.files ?? {})) {
    const file = path.join(dir, name);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content);
  }

  let logText = '';
  const appendLog = (text: string): void => {
    logText += text;
    // A soak run restarts the broker many times; keep the tail, which is what explains a failure.
    if (logText.length > 2 * LOG_LIMIT) logText = logText.slice(-LOG_LIMIT);
  };

  let run: Run | undefined;
  const isRunning = (): boolean => run !== undefined && run.exit === undefined;

  const launch = async (ports: number[]): Promise<void> => {
    const child = spawn(executable, ['-c', configPath], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    killOnExit(child);
    const current: Run = {
      child,
      exit: undefined,
      closed: new Promise((resolve) => {
        child.once('error', (err) => {
          appendLog(`--- harness: could not start mosquitto: ${err.message}\n`);
          current.exit ??= { code: null, signal: null };
          resolve();
        });
        child.once('close', (code, signal) => {
          current.exit ??= { code, signal };
          resolve();
        });
      }),
    };
    run = current;
    child.stdout?.setEncoding('utf8').on('data', appendLog);
    child.stderr?.setEncoding('utf8').on('data', appendLog);
    appendLog(`--- harness: started mosquitto pid ${child.pid ?? '?'} on ${ports.join(', ')}\n`);
    await waitUntilAccepting(current, ports, () => logText);
  };

  let frozen = false;
  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const current = run;
    if (current === undefined || current.exit !== undefined) return;
    appendLog(`--- harness: ${signal}\n`);
    current.child.kill(signal);
    // A stopped process keeps its SIGTERM pending until it runs again.
    if (frozen) current.child.kill('SIGCONT');
    frozen = false;
    try {
      await withTimeout(current.closed, STOP_TIMEOUT_MS, () => `mosquitto to exit on ${signal}`);
    } catch {
      current.child.kill('SIGKILL');
      await current.closed;
    }
  };

  // A port can be taken between freePort() and mosquitto's bind (another suite, another
  // process): only the first start may move to fresh ports; a restart must keep them.
  let port = 0;
  let wsPort: number | undefined;
  let tls = false;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    wsPort = opts.websockets ? await freePort() : undefined;
    const config = mosquittoConfig(port, wsPort, opts.extraConfig);
    tls = config.tls;
    writeFileSync(configPath, config.text);
    try {
      await launch(wsPort === undefined ? [port] : [port, wsPort]);
      break;
    } catch (err) {
      await halt('SIGKILL');
      if (attempt >= 3 || !/address already in use|binding/i.test(logText)) {
        removeDir();
        throw err;
      }
    }
  }
  const ports = wsPort === undefined ? [port] : [port, wsPort];

  const broker: Mosquitto = {
    port,
    url: `${tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${port}`,
    wsPort,
    wsUrl: wsPort === undefined ? undefined : `ws://127.0.0.1:${wsPort}`,
    dir,
    configPath,
    running: isRunning,
    stop: () => halt('SIGTERM'),
    kill: () => halt('SIGKILL'),
    restart: async () => {
      await halt('SIGTERM');
      await launch(ports);
    },
    log: () => logText,
    freeze: () => {
      if (!isRunning()) return;
      appendLog('--- harness: SIGSTOP\n');
      frozen = true;
      run?.child.kill('SIGSTOP');
    },
    thaw: () => {
      if (!frozen) return;
      appendLog('--- harness: SIGCONT\n');
      frozen = false;
      run?.child.kill('SIGCONT');
    },
  };
  track({
    name: `mosquitto on ${ports.join(', ')}`,
    isOpen: isRunning,
    close: async () => {
      await halt('SIGKILL');
      removeDir();
    },
  });
  return broker;
}

function mosquittoConfig(port: number, wsPort: number | undefined, extraConfig = ''): { text: string; tls: boolean } {
  // `socket_domain ipv4` matters for the websockets listener: without it libwebsockets
  // ignores the address and listens on every interface.
  const lines = [
    '# written by test/support/mosquitto.ts for one test broker',
    'persistence false',
    // mosquitto defaults to Nagle; carbot's sample config turns it off and so do the tests.
    'set_tcp_nodelay true',
    // stderr is unbuffered: the log is complete even after a SIGKILL.
    'log_dest stderr',
    'log_timestamp_format %H:%M:%S',
    'connection_messages true',
    // As root mosquitto would switch to the mosquitto user, which cannot read this 0700 dir.
    ...(process.getuid?.() === 0 ? ['user root'] : []),
    `listener ${port} 127.0.0.1`,
    'socket_domain ipv4',
    ...(/^\s*allow_anonymous\s/m.test(extraConfig) ? [] : ['allow_anonymous true']),
    extraConfig,
    ...(wsPort === undefined ? [] : [`listener ${wsPort} 127.0.0.1`, 'socket_domain ipv4', 'protocol websockets']),
    '',
  ];
  const beforeOtherListeners = extraConfig.split(/^\s*listener\s/m)[0] ?? '';
  return { text: lines.join('\n'), tls: /^\s*certfile\s/m.test(beforeOtherListeners) };
}

async function waitUntilAccepting(run: Run, ports: number[], log: () => string): Promise<void> {
  const deadline = Date.now() + READY_TIMEOUT_MS;
  for (;;) {
    if (run.exit !== undefined) {
      throw new Error(
        `mosquitto exited (code ${run.exit.code}, signal ${run.exit.signal}) before accepting connections:\n${log()}`,
      );
    }
    const accepting = await Promise.all(ports.map(canConnect));
    if (accepting.every(Boolean) && run.exit === undefined) return;
    if (Date.now() > deadline) {
      throw new Error(`mosquitto did not accept connections on ${ports.join(', ')} within ${READY_TIMEOUT_MS} ms:\n${log()}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

