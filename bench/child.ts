import { accessSync, constants, existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { killOnExit } from '../test/support/cleanup';
import { execFileSync, spawn, type ChildProcess } from '../test/support/isolation';

export const REPO_ROOT = path.resolve(__dirname, '..');
export const CLI_PATH = path.join(REPO_ROOT, 'dist', 'cli.js');
const BASELINE_PATH = path.join(__dirname, 'baseline.js');
const PROBE_PATH = path.join(__dirname, 'memory-probe.js');
/** The Python carbot that carbot replaces, as a stand-in of its own (bench/carbot_py.py). */
export const PYTHON_PEER_PATH = path.join(__dirname, 'carbot_py.py');
/** Debian's python3, which has python3-paho-mqtt (BENCH_PYTHON names another, for the bench's own test). */
export const PYTHON = process.env.BENCH_PYTHON || '/usr/bin/python3';

export type SubjectName = 'carbot' | 'baseline' | 'python';

/**
 * The device each subject answers as. The Python original's topics are fixed (carbot/move,
 * stat/carbot/RESULT, tele/carbot/LWT), so carbot runs as another device beside it.
 */
export const DEVICES: Record<SubjectName, string> = { carbot: 'carbotjs', baseline: 'baseline', python: 'carbot' };

/** Why the Python original cannot be measured here, or null when it can. */
export function pythonMissing(): string | null {
  try {
    accessSync(PYTHON_PEER_PATH, constants.R_OK);
  } catch {
    return `${PYTHON_PEER_PATH} is missing (or unreadable)`;
  }
  if (!existsSync(PYTHON)) return `${PYTHON} is missing (apt-get install python3 python3-paho-mqtt)`;
  try {
    execFileSync(PYTHON, ['-c', 'import paho.mqtt.client'], { stdio: 'ignore' });
  } catch {
    return 'python3-paho-mqtt is not installed (apt-get install python3-paho-mqtt)';
  }
  return null;
}

export interface Topics {
  move: string;
  result: string;
  lwt: string;
}

/** Both subjects use the same topic shape, so the only difference is what runs behind it. */
export function topicsOf(device: string): Topics {
  return { move: `${device}/move`, result: `stat/${device}/RESULT`, lwt: `tele/${device}/LWT` };
}

export interface SpawnOptions {
  /** Where the child writes its write/ack trace at SIGTERM. */
  trace?: string;
  /** Preload the SIGUSR2 memory probe (needed for heap figures). */
  probe?: boolean;
  /** More command-line arguments for carbot. */
  args?: string[];
}

export interface MemorySample {
  /** Bytes, from /proc/<pid>/status. */
  rss: number;
  /** Peak RSS over the process's life so far (VmHWM), bytes. */
  peakRss: number;
  /** The private part of RSS (RssAnon): RSS less the pages of the node binary and libraries, which every node process shares. */
  privateRss: number;
  /** Bytes, from process.memoryUsage() inside the child (probe); null for the Python original. */
  heapUsed: number | null;
  heapTotal: number | null;
}


let clockTicks: number | undefined;

function ticksPerSecond(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/**
 * One carbot or baseline process. Its stdout (carbot's info log) goes down a pipe to a
 * separate reader, as it goes to journald on a Pi: on Linux Node writes to a pipe
 * synchronously, so a log line costs carbot a real write, and an undrained pipe would stall
 * it. The reader is `tail -c`, not this process, so that reading 20 000 log lines never
 * delays the client that takes the timestamps; it keeps the end for error messages.
 */
export class Child {
  readonly proc: ChildProcess;
  readonly pid: number;
  /** process.hrtime.bigint() just before spawn(): the start-up clock starts here. */
  readonly spawnedAt: bigint;
  private readonly drain: ChildProcess;
  /** The end of what the child printed, for error messages (stdout: complete once it exited). */
  private logTail = '';
  private errTail = '';
  private partial = '';
  private memoryWaiter?: (line: string) => void;
  /** Resolves once the preloaded memory probe has installed its SIGUSR2 handler. */
  private probeReady: Promise<void>;
  private onProbeReady = (): void => undefined;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private exitedYet = false;

  constructor(
    /** `node`: a bare `node -e` that only waits, the floor for memory. */
    readonly name: SubjectName | 'node',
    url: string,
    opts: SpawnOptions = {},
  ) {
    this.probeReady = new Promise((resolve) => (this.onProbeReady = resolve));
    // The developer's carbot settings or a systemd environment must not change what is measured:
    // `spawn` from test/support/isolation starts from a scrubbed environment, and this is all it adds.
    const env: NodeJS.ProcessEnv = {};
    const preload = opts.probe ? ['-r', PROBE_PATH] : [];
    let command = process.execPath;
    let args: string[];
    if (name === 'carbot') {
      if (!existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} is missing: the benchmark uses the compiled carbot, run \`npm run build\` first`);
      args = [...preload, CLI_PATH, '--no-config', '--mqtt-url', url, '--gpio', 'sim', '--device', DEVICES.carbot, ...(opts.args ?? [])];
      if (opts.trace) env.CARBOT_SIM_TRACE = opts.trace;
    } else if (name === 'baseline') {
      args = [...preload, BASELINE_PATH, url, DEVICES.baseline];
      if (opts.trace) env.BENCH_TRACE = opts.trace;
    } else if (name === 'node') {
      args = [...preload, '-e', 'setInterval(() => {}, 1 << 30)'];
    } else {
      // It keeps no trace and has no heap to probe: its figures are the ones taken from outside.
      command = PYTHON;
      args = [PYTHON_PEER_PATH];
      env.CARBOT_MQTT_URL = url;
    }
    this.drain = spawn('tail', ['-c', '4000'], { stdio: ['pipe', 'pipe', 'ignore'] });
    killOnExit(this.drain);
    this.drain.stdout?.setEncoding('utf8').on('data', (chunk: string) => (this.logTail += chunk));
    const drained = new Promise<void>((resolve) => this.drain.once('close', () => resolve()));
    this.spawnedAt = process.hrtime.bigint();
    this.proc = spawn(command, args, { cwd: REPO_ROOT, env, stdio: ['ignore', this.drain.stdin, 'pipe'] });
    killOnExit(this.proc);
    // The child holds the pipe now; `tail` sees the end of it when the child exits.
    this.drain.stdin?.destroy();
    if (this.proc.pid === undefined) throw new Error(`could not start ${name}`);
    this.pid = this.proc.pid;
    this.proc.stderr?.setEncoding('utf8').on('data', (chunk: string) => this.onStderr(chunk));
    const closed = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      this.proc.once('close', (code, signal) => {
        this.exitedYet = true;
        resolve({ code, signal });
      }),
    );
    this.exited = Promise.all([closed, drained]).then(([exit]) => exit);
  }

  /** The last lines the child printed, for error messages. */
  output(): string {
    return `${this.logTail}${this.errTail}`;
  }

  get running(): boolean {
    return !this.exitedYet;
  }

  private onStderr(chunk: string): void {
    const parts = (this.partial + chunk).split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) {
      if (line === 'bench-memory-probe ready') this.onProbeReady();
      else if (line.startsWith('bench-memory ') && this.memoryWaiter) this.memoryWaiter(line);
      else this.errTail = `${this.errTail}${line}\n`.slice(-4000);
    }
  }

  /** RSS and peak RSS from /proc; the heap from the probe (SIGUSR2), none for the Python original. */
  async memory(): Promise<MemorySample> {
    // SIGUSR2 would end the Python process (its default action).
    if (this.name !== 'python') {
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${this.name}'s memory probe did not load within 10 s (started without it?)`)), 10_000);
      });
      await Promise.race([this.probeReady, late]).finally(() => clearTimeout(timer));
    }
    const line = this.name === 'python' ? 'bench-memory {"heapUsed":null,"heapTotal":null}' : await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.memoryWaiter = undefined;
        reject(new Error(`${this.name} did not answer SIGUSR2 within 2 s `));
      }, 2000);
      this.memoryWaiter = (l) => {
        clearTimeout(timer);
        this.memoryWaiter = undefined;
        resolve(l);
      };
      this.proc.kill('SIGUSR2');
    });
    const heap = JSON.parse(line.slice('bench-memory '.length)) as { heapUsed: number | null; heapTotal: number | null };
    const status = readFileSync(`/proc/${this.pid}/status`, 'utf8');
    const kb = (field: string): number => {
      const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
      if (!match) throw new Error(`no ${field} in /proc/${this.pid}/status`);
      return Number(match[1]) * 1024;
    };
    return { rss: kb('VmRSS'), peakRss: kb('VmHWM'), privateRss: kb('RssAnon'), heapUsed: heap.heapUsed, heapTotal: heap.heapTotal };
  }

  /** User + system CPU seconds used so far (/proc/<pid>/stat utime + stime). */
  cpuSeconds(): number {
    const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; everything after its ')' is plain.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond();
  }

  /**
   * Context switches of all the process's threads so far (voluntary and not): each is a
   * wake-up of a thread that had gone to sleep, or a preemption, which is what a battery Pi
   * Zero pays for in power at rest.
   */
  contextSwitches(): number {
    let total = 0;
    for (const task of readdirSync(`/proc/${this.pid}/task`)) {
      let status: string;
      try {
        status = readFileSync(`/proc/${this.pid}/task/${task}/status`, 'utf8');
      } catch {
        continue; // a thread that ended meanwhile
      }
      for (const m of status.matchAll(/^(?:non)?voluntary_ctxt_switches:\s+(\d+)$/gm)) total += Number(m[1]);
    }
    return total;
  }

  /** SIGTERM (the graceful path that writes the trace), SIGKILL after 5 s. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 5000);
    const { code, signal } = await this.exited;
    clearTimeout(timer);
    // The Python original does not handle SIGTERM (one of its defects, kept): it dies of it.
    if ((this.name === 'python' || this.name === 'node') && signal === 'SIGTERM') return;
    if (code !== 0) throw new Error(`${this.name} exited with code ${code}, signal ${signal} on SIGTERM:\n${this.output()}`);
  }
}
