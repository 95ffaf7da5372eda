/**
 * The flood scenarios of `npm run bench` (issue 11, docs/security.md): for each front end a hostile
 * client floods carbot for BENCH_FLOOD_S seconds (default 20) while another client keeps
 * driving it and stopping it, and the benchmark watches what a user would:
 *
 * - how long a stop takes from the moment another client sends it to the motor write that
 *   stops the car (carbot's sim motors timestamp every write; both clocks are the machine's
 *   monotonic one), sent alternately from another page and from another MQTT client;
 * - carbot's RSS (sampled every 250 ms), its systemd watchdog pings (WatchdogSec=10 s, pinged
 *   through a stand-in systemd-notify that records when it ran), the lines it logs, the event
 *   loop stalls it reports.
 *
 * carbot runs as installed: compiled, default settings (command budget included), the page on
 * 127.0.0.1 with a token, stdout to a file as journald would take it.
 */
import { spawn, type ChildProcess } from '../test/support/isolation';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mqtt, { type MqttClient } from 'mqtt';
import { WebSocket } from 'ws';
import { killOnExit } from '../test/support/cleanup';
import { createNotifyStub } from '../test/support/notify-stub';
import { freePort } from '../test/support/ports';
import { CLI_PATH, REPO_ROOT } from './child';
import { cpuCap, type CpuCap } from './cpu-cap';
import { max, percentile } from './stats';

export type FloodScenario = 'page' | 'mqtt' | 'deaf-page' | 'mqtt-capped';
export const FLOOD_SCENARIOS: readonly FloodScenario[] = ['page', 'mqtt', 'deaf-page', 'mqtt-capped'];

/** The share of one core carbot gets in the capped scenario: a slow Pi on a fast machine (issue 23). */
export const CAPPED_CPU_PERCENT = 30;

export const FLOOD_LABELS: Record<FloodScenario, string> = {
  page: 'a page socket sending as fast as it can',
  mqtt: 'an MQTT publisher sending as fast as it can (QoS 0)',
  'deaf-page': 'a page socket that sends as fast as it can and never reads',
  'mqtt-capped': `the same MQTT publisher, carbot held to ${CAPPED_CPU_PERCENT} % of a core`,
};

/** What the design asks of every scenario (docs/security.md, issue 11). */
export const FLOOD_BOUNDS = {
  stopP99Ms: 100,
  /** With carbot held to 30 % of a core (issue 23). */
  cappedStopP99Ms: 250,
  /** Half of the unit's WatchdogSec=10s. */
  watchdogGapMs: 5000,
  rssMB: 150,
  /**
   * Lines logged per second of flood, all kinds together: the flood's accepted commands (the
   * budget lets 50 a second through, each a transition line) and the other client's driving
   * (about 8 a second) make most of them; journald's default limit is 333 a second.
   */
  linesPerSecond: 100,
};

const WATCHDOG_USEC = 10_000_000;
const TOKEN = 'bench-flood-token';
/** One drive-and-stop cycle of the other client: forward, this pause, stop, wait for its answer. */
const DRIVE_MS = 100;
export const CYCLE_MS = 250;
const STOP_TIMEOUT_MS = 5000;

export interface FloodResult {
  scenario: FloodScenario;
  /** How carbot's CPU was capped (the capped scenario). */
  cpuCap?: string;
  /** Whether the car was moving 1 s after the flood ended (nobody drove it then). */
  movingAfter: boolean;
  seconds: number;
  /** Messages the flooder got out, and how many connections it needed (a cut-off deaf page reconnects). */
  sent: number;
  connections: number;
  /** Stop sent -> the motor write that stopped the car, ms, by the channel the stop was sent on. */
  stopMs: { page: number[]; mqtt: number[] };
  /** Stops that got no answer within 5 s or whose motor write was not found. */
  lostStops: number;
  /**
   * Stops that found the car stopped already: the flooding page had taken the last command
   * and, cut off for not reading, stopped the car as "the page driving it went away".
   */
  noopStops: number;
  rssStartMB: number;
  rssMaxMB: number;
  /** The longest time between two watchdog pings that ended during the flood (or the flood's end, if none came). */
  watchdogGapMs: number;
  pings: number;
  /** Lines carbot logged during the flood. */
  lines: number;
  /** Of which warnings (rejections, their summaries, stalls, cut-off pages). */
  warnLines: number;
  /** Of which event-loop stall reports. */
  stallLines: number;
  /** The longest stall carbot reported, ms (0 if none). */
  longestStallMs: number;
  cpuSeconds: number;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function rssMB(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) / 1024 : NaN;
}

function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((resolve) => child.once('exit', () => resolve()));
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited(child);
  clearTimeout(timer);
}

/** The other client: a page and an MQTT client of the owner's, driving and stopping the car. */
class Owner {
  private pageAnswers: ((result: Record<string, unknown>) => void)[] = [];
  private mqttStop?: () => void;

  private constructor(
    private readonly page: WebSocket,
    private readonly client: MqttClient,
  ) {
    page.on('message', (data) => {
      const message = JSON.parse(String(data)) as { type: string; result?: Record<string, unknown> };
      if (message.type === 'result') this.pageAnswers.shift()?.(message.result ?? {});
    });
    client.on('message', (_topic, payload) => {
      // The flood's answers come here too; only a stop is ours.
      if (this.mqttStop && payload.includes('"move":"stop"')) this.mqttStop();
    });
  }

  static async connect(pageUrl: string, brokerUrl: string): Promise<Owner> {
    const page = new WebSocket(pageUrl);
    await new Promise<void>((resolve, reject) => {
      page.once('open', () => resolve());
      page.once('error', reject);
    });
    const client = mqtt.connect(brokerUrl, { clean: true, reconnectPeriod: 0, clientId: `bench-owner-${process.pid}` });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', reject);
    });
    client.on('error', () => undefined);
    await client.subscribeAsync('stat/carbot/RESULT', { qos: 0 });
    return new Owner(page, client);
  }

  /** Sends on the page and resolves with the answer; undefined if none comes in time. */
  pageCommand(text: string): Promise<Record<string, unknown> | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(undefined), STOP_TIMEOUT_MS);
      this.pageAnswers.push((result) => {
        clearTimeout(timer);
        resolve(result);
      });
      this.page.send(text);
    });
  }

  /**
   * Publishes stop on the stop topic (carbot reads it on a connection of its own, so a flood of
   * the move topic does not hold it up) and resolves once carbot's RESULT for a stop arrives;
   * false if none does in time.
   */
  mqttStopCommand(): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.mqttStop = undefined;
        resolve(false);
      }, STOP_TIMEOUT_MS);
      this.mqttStop = () => {
        clearTimeout(timer);
        this.mqttStop = undefined;
        resolve(true);
      };
      // BENCH_FLOOD_STOP_TOPIC=carbot/move: the stop behind the flood, on the flooded topic itself.
      this.client.publish(process.env.BENCH_FLOOD_STOP_TOPIC || 'carbot/move/stop', 'stop', { qos: 1 });
    });
  }

  async close(): Promise<void> {
    this.page.terminate();
    await this.client.endAsync(true);
  }
}

/** What the capped scenario could not do: no way to cap a process's CPU here. */
export class CapUnavailable extends Error {}

export async function runFlood(scenario: FloodScenario, brokerUrl: string, seconds: number, log: (m: string) => void): Promise<FloodResult> {
  let cap: CpuCap | undefined;
  if (scenario === 'mqtt-capped') {
    const made = cpuCap(CAPPED_CPU_PERCENT);
    if ('skipped' in made) throw new CapUnavailable(`carbot's CPU cannot be capped here: ${made.skipped}`);
    cap = made.cap;
  }
  try {
    return await flood(scenario, brokerUrl, seconds, log, cap);
  } finally {
    cap?.release();
  }
}

async function flood(scenario: FloodScenario, brokerUrl: string, seconds: number, log: (m: string) => void, cap: CpuCap | undefined): Promise<FloodResult> {
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'carbot-flood-'));
  const notify = createNotifyStub();
  const port = await freePort();
  const logFile = path.join(scratch, 'carbot.log');
  const traceFile = path.join(scratch, 'trace.json');
  const out = openSync(logFile, 'w');
  const [command, args] = (cap?.wrap ?? ((c: string, a: string[]) => [c, a] as [string, string[]]))(process.execPath, [
    CLI_PATH, '--no-config', '--mqtt-url', brokerUrl, '--gpio', 'sim', '--http-host', '127.0.0.1', '--http-port', String(port), '--http-token', TOKEN,
  ]);
  const carbot = spawn(
    command,
    args,
    {
      cwd: REPO_ROOT,
      env: { ...notify.env({ WATCHDOG_USEC: String(WATCHDOG_USEC) }), CARBOT_SIM_TRACE: traceFile },
      stdio: ['ignore', out, out],
    },
  );
  closeSync(out);
  killOnExit(carbot);
  const pid = carbot.pid as number;
  try {
    cap?.attach(pid);
  } catch (err) {
    carbot.kill('SIGKILL');
    throw new CapUnavailable(`carbot's CPU cannot be capped here: ${cap?.how}: ${(err as Error).message}`);
  }
  const logText = () => readFileSync(logFile, 'utf8');
  let flooder: ChildProcess | undefined;
  let owner: Owner | undefined;
  try {
    for (let waited = 0; !/subscribed to carbot\/move/.test(logText()); waited += 50) {
      if (waited > 10_000 || carbot.exitCode !== null) throw new Error(`carbot did not come up for the ${scenario} flood:\n${logText()}`);
      await sleep(50);
    }
    const pageUrl = `ws://127.0.0.1:${port}/ws?token=${TOKEN}`;
    owner = await Owner.connect(pageUrl, brokerUrl);
    // Let the first watchdog ping and the start-up lines be.
    await sleep(1000);

    const rssStartMB = rssMB(pid);
    const cpuBefore = cpuSeconds(pid);
    const linesBefore = logText().split('\n').length - 1;
    const kind = scenario === 'mqtt-capped' ? 'mqtt' : scenario;
    const target = kind === 'mqtt' ? brokerUrl : pageUrl;
    flooder = spawn(process.execPath, [path.join(__dirname, 'flooder.js'), kind, target], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    killOnExit(flooder);
    let flooderOut = '';
    flooder.stdout?.setEncoding('utf8').on('data', (chunk: string) => (flooderOut += chunk));
    // On a loaded machine loading mqtt.js alone can take longer than a short flood lasts.
    for (let waited = 0; !flooderOut.includes('flooder connected'); waited += 20) {
      if (waited > 10_000 || flooder.exitCode !== null) throw new Error(`the ${scenario} flooder did not connect to ${target}`);
      await sleep(20);
    }
    const floodStart = Date.now();
    log(`flood: ${FLOOD_LABELS[scenario]}, ${seconds} s`);

    let rssMaxMB = rssStartMB;
    const sampler = setInterval(() => {
      rssMaxMB = Math.max(rssMaxMB, rssMB(pid));
    }, 250);
    const stops: { sentAt: bigint; viaPage: boolean; answered: boolean }[] = [];
    try {
      for (let cycle = 0; Date.now() - floodStart < seconds * 1000; cycle++) {
        const cycleStart = Date.now();
        await owner.pageCommand('forward');
        await sleep(DRIVE_MS);
        const viaPage = cycle % 2 === 0;
        const sentAt = process.hrtime.bigint();
        const answered = viaPage ? (await owner.pageCommand('stop'))?.move === 'stop' : await owner.mqttStopCommand();
        stops.push({ sentAt, viaPage, answered });
        await sleep(Math.max(0, CYCLE_MS - (Date.now() - cycleStart)));
      }
    } finally {
      clearInterval(sampler);
    }
    const floodEnd = Date.now();
    rssMaxMB = Math.max(rssMaxMB, rssMB(pid));
    const cpu = cpuSeconds(pid) - cpuBefore;
    await stopProcess(flooder);
    const counts = JSON.parse(/flooder (\{.*\})/.exec(flooderOut)?.[1] ?? '{"sent":0,"connections":0}') as { sent: number; connections: number };
    await owner.close();
    owner = undefined;
    // What the car does once the flood is over and nobody drives it.
    await sleep(1000);
    const settledAt = process.hrtime.bigint();
    await stopProcess(carbot);
    // [cause's arrival, write (hrtime ns), '1' if moving after it]: each stop's write is the
    // first write that leaves the car stopped after the stop was sent.
    const writes = (JSON.parse(readFileSync(traceFile, 'utf8')) as string[][]).map(([, at, moving]) => ({ at: BigInt(at), moving: moving === '1' }));
    const movingAfter = writes.filter((w) => w.at < settledAt).at(-1)?.moving ?? false;
    const stopMs = { page: [] as number[], mqtt: [] as number[] };
    let lostStops = 0;
    let noopStops = 0;
    stops.forEach((stop, i) => {
      const before = stops[i + 1]?.sentAt ?? BigInt(Number.MAX_SAFE_INTEGER) * 1000n;
      if (writes.filter((w) => w.at < stop.sentAt).at(-1)?.moving === false) {
        noopStops++;
        return;
      }
      const write = writes.find((w) => w.at >= stop.sentAt && !w.moving);
      if (!stop.answered || write === undefined || write.at >= before) lostStops++;
      else (stop.viaPage ? stopMs.page : stopMs.mqtt).push(Number(write.at - stop.sentAt) / 1e6);
    });
    const floodLines = logText().split('\n').slice(linesBefore).filter(Boolean);
    const linesDuring = floodLines.length;
    // For looking into a figure: carbot's own lines from the flood (bench/flood-one.ts sets it).
    if (process.env.BENCH_FLOOD_LOG) log(`carbot's log during the flood:\n${floodLines.join('\n')}`);
    const stalls = floodLines.filter((l) => /event loop blocked/.test(l));
    const longestStallMs = Math.max(0, ...stalls.flatMap((l) => [...l.matchAll(/(?:for|longest) (\d+) ms/g)].map((m) => Number(m[1]))));

    const pings = notify.pings().map((p) => p.at);
    let gap = 0;
    let previous = pings.filter((at) => at <= floodStart).at(-1) ?? floodStart;
    for (const at of pings.filter((t) => t > floodStart && t <= floodEnd)) {
      gap = Math.max(gap, at - previous);
      previous = at;
    }
    gap = Math.max(gap, floodEnd - previous);

    return {
      scenario,
      cpuCap: cap?.how,
      movingAfter,
      seconds: (floodEnd - floodStart) / 1000,
      sent: counts.sent,
      connections: counts.connections,
      stopMs,
      lostStops,
      noopStops,
      rssStartMB,
      rssMaxMB,
      watchdogGapMs: gap,
      pings: pings.filter((t) => t > floodStart && t <= floodEnd).length,
      lines: linesDuring,
      warnLines: floodLines.filter((l) => / warn /.test(l)).length,
      stallLines: stalls.length,
      longestStallMs,
      cpuSeconds: cpu,
    };
  } finally {
    await owner?.close().catch(() => undefined);
    if (flooder) await stopProcess(flooder);
    await stopProcess(carbot);
    notify.remove();
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** p99 over both channels' stops, and the worst. */
export function stopFigures(r: FloodResult): { p50: number | null; p99: number | null; max: number | null } {
  const all = [...r.stopMs.page, ...r.stopMs.mqtt];
  return { p50: percentile(all, 50), p99: percentile(all, 99), max: max(all) };
}
