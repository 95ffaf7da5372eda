/**
 * `npm run profile`: where carbot's CPU time and allocations go, by phase (issue 14). carbot
 * runs as the benchmark runs it (compiled dist/, sim motors, the page on, info logging to a
 * file) against its own mosquitto, under `node --cpu-prof`, with bench/alloc-probe.js
 * preloaded; one MQTT client drives it through:
 *
 * - start-up: spawn -> Online;
 * - idle: PROFILE_IDLE_S seconds (3) without commands, the periodic work alone (timers);
 * - commands: PROFILE_COMMANDS (2000) faster/slower round trips, one after another with a
 *   1 ms pause, as the benchmark's round trips; the allocation probe samples only this phase;
 * - burst: PROFILE_BURST (10000) commands published back to back.
 *
 * It prints, per phase, the functions with the most self time (a bundle's place mapped back
 * to src/ through its source map) and the packages, and for the commands the bytes allocated
 * per command and by whom. The profiles stay in PROFILE_OUT (a temp folder by default) for
 * Chrome DevTools.
 */
import { spawn } from '../test/support/isolation';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CLI_PATH, DEVICES, REPO_ROOT } from './child';
import { Driver } from './driver';
import { killOnExit } from '../test/support/cleanup';
import { startMosquitto } from '../test/support/mosquitto';
import { freePort } from '../test/support/ports';
import { originalPosition } from '../src/process/source-maps';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const envNumber = (name: string, fallback: number) => (process.env[name] ? Number(process.env[name]) : fallback);

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface CpuProfile {
  nodes: { id: number; callFrame: CallFrame }[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

interface HeapNode {
  callFrame: CallFrame;
  selfSize: number;
  children: HeapNode[];
}

/** `function file:line`, with a bundle's place shown at its place in src/. */
function where(frame: CallFrame): string {
  const file = frame.url.replace(/^file:\/\//, '');
  let place = `${file}:${frame.lineNumber + 1}`;
  if (file.startsWith(path.join(REPO_ROOT, 'dist'))) {
    place = originalPosition(file, frame.lineNumber + 1, frame.columnNumber + 1)?.replace(/:\d+$/, '') ?? place;
  }
  place = place.replace(`${REPO_ROOT}/`, '').replace(/^.*node_modules\//, '');
  return `${frame.functionName || '(anonymous)'} ${frame.url ? place : ''}`.trim();
}

function packageOf(frame: CallFrame, place: string): string {
  const dep = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(place);
  if (dep) return dep[1];
  if (place.includes(' src/')) return 'carbot src/';
  if (frame.url.startsWith('node:')) return `node:${frame.url.slice(5).split('/')[0]}`;
  return frame.url ? place.split(' ').at(-1) ?? frame.url : frame.functionName;
}

function top(entries: Map<string, number>, total: number, count: number, unit: (n: number) => string): string {
  return [...entries]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([k, v]) => `  ${unit(v).padStart(10)} ${((100 * v) / total).toFixed(1).padStart(5)}%  ${k}`)
    .join('\n');
}

/** Self time per function and per package between two hrtime readings (µs, CLOCK_MONOTONIC like V8's). */
function cpuTop(profile: CpuProfile, fromUs: number, toUs: number, count: number): string {
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let at = profile.startTime;
  let busy = 0;
  let idle = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i];
    if (at < fromUs || at > toUs) continue;
    const frame = byId.get(profile.samples[i]) as CallFrame;
    const dt = profile.timeDeltas[i];
    if (frame.functionName === '(idle)') {
      idle += dt;
      continue;
    }
    busy += dt;
    const place = where(frame);
    byFunction.set(place, (byFunction.get(place) ?? 0) + dt);
    const pkg = packageOf(frame, place);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + dt);
  }
  const ms = (us: number) => `${(us / 1000).toFixed(1)} ms`;
  return (
    `  busy ${ms(busy)} of ${ms(busy + idle)} sampled\n  -- functions (self time)\n${top(byFunction, busy, count, ms)}\n` +
    `  -- packages\n${top(byPackage, busy, 8, ms)}`
  );
}

function heapTop(root: HeapNode, commands: number, count: number): string {
  const byFunction = new Map<string, number>();
  let total = 0;
  const walk = (node: HeapNode) => {
    if (node.selfSize > 0) {
      const place = where(node.callFrame);
      byFunction.set(place, (byFunction.get(place) ?? 0) + node.selfSize);
      total += node.selfSize;
    }
    node.children.forEach(walk);
  };
  walk(root);
  const perCommand = (bytes: number) => `${(bytes / commands).toFixed(0)} B`;
  return `  ${(total / commands).toFixed(0)} bytes allocated per command (sampled), by function:\n${top(byFunction, total, count, perCommand)}`;
}

async function main(): Promise<void> {
  const commands = envNumber('PROFILE_COMMANDS', 2000);
  const burst = envNumber('PROFILE_BURST', 10000);
  const idleSeconds = envNumber('PROFILE_IDLE_S', 3);
  const count = envNumber('PROFILE_TOP', 15);
  const dir = process.env.PROFILE_OUT ? path.resolve(process.env.PROFILE_OUT) : mkdtempSync(path.join(os.tmpdir(), 'carbot-profile-'));
  mkdirSync(dir, { recursive: true });
  const heapOut = path.join(dir, 'commands.heapprofile');
  const broker = await startMosquitto({ extraConfig: 'max_queued_messages 0' });
  const driver = await Driver.connect(broker.url);
  const logFd = openSync(path.join(dir, 'carbot.log'), 'w');
  const args = [
    '--cpu-prof',
    `--cpu-prof-dir=${dir}`,
    '--cpu-prof-interval=100',
    '-r',
    path.join(__dirname, 'alloc-probe.js'),
    CLI_PATH,
    '--no-config',
    '--mqtt-url',
    broker.url,
    '--gpio',
    'sim',
    '--device',
    DEVICES.carbot,
    '--http-host',
    '127.0.0.1',
    '--http-port',
    String(await freePort()),
    '--commands-per-second',
    '0',
  ];
  const us = () => Number(process.hrtime.bigint() / 1000n);
  const marks: Record<string, [number, number]> = {};
  const online = driver.endpoints.carbot.nextOnline(10_000);
  const spawnedAt = us();
  const carbot = spawn(process.execPath, args, { cwd: REPO_ROOT, env: { PROFILE_HEAP_OUT: heapOut }, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  killOnExit(carbot);
  const exited = new Promise<void>((resolve) => carbot.once('exit', () => resolve()));
  try {
    marks['start-up (spawn -> Online)'] = [spawnedAt, Number((await online.at) / 1000n)];
    await sleep(500);
    let from = us();
    await sleep(idleSeconds * 1000);
    marks[`idle (${idleSeconds} s, periodic work)`] = [from, us()];

    await driver.roundTrip('carbot', 'forward');
    carbot.kill('SIGUSR2');
    await sleep(200);
    from = us();
    for (let i = 0; i < commands; i++) {
      await driver.roundTrip('carbot', i % 2 === 0 ? 'faster' : 'slower');
      await sleep(1);
    }
    marks[`commands (${commands} round trips, 1 ms apart)`] = [from, us()];
    carbot.kill('SIGUSR2');
    await sleep(500);

    const ep = driver.endpoints.carbot;
    const done = ep.waitForResults(ep.results + burst, 3000);
    from = us();
    for (let i = 0; i < burst; i++) driver.publish('carbot', i % 2 === 0 ? 'faster' : 'slower');
    await done;
    marks[`burst (${burst} back to back)`] = [from, us()];
  } finally {
    carbot.kill('SIGTERM');
    await exited;
    await driver.close();
    await broker.stop();
  }

  const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no CPU profile in ${dir}`);
  const profile = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as CpuProfile;
  const sections = Object.entries(marks).map(([phase, [from, to]]) => `== ${phase}\n${cpuTop(profile, from, to, count)}`);
  const heap = JSON.parse(readFileSync(heapOut, 'utf8')) as { head: HeapNode };
  sections.push(`== allocations during the commands\n${heapTop(heap.head, commands, count)}`);
  process.stdout.write(`${sections.join('\n\n')}\n\nprofiles in ${dir}\n`);
}

main().catch((err: Error) => {
  process.stderr.write(`profile: ${err.stack ?? err.message}\n`);
  process.exit(1);
});
