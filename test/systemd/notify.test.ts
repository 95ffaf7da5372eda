import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from '../support/isolation';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import sinon from 'sinon';
import { createNotifier, statusText, type Notifier } from '../../src/process/systemd';
import { killOnExit, withTimeout } from '../support/cleanup';
import { createNotifyStub, type NotifyStub } from '../support/notify-stub';

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function busyWait(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // Spinning on purpose: this is the blocked event loop the watchdog must not hide.
  }
}

class Log {
  readonly warnings: string[] = [];
  readonly debugs: string[] = [];
  warn(message: string): void {
    this.warnings.push(message);
  }
  debug(message: string): void {
    this.debugs.push(message);
  }
}

describe('systemd notifications (src/process/systemd.ts)', function () {
  let stub: NotifyStub;
  let notifier: Notifier | undefined;

  beforeEach(() => {
    stub = createNotifyStub();
  });

  afterEach(async () => {
    notifier?.close();
    notifier = undefined;
    // A stub started just before close() may still be writing.
    await sleep(50);
    stub.remove();
  });

  const env = (extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv => stub.env(extra);
  const calls = () => stub.calls();
  const assignments = () => stub.assignments();
  const statuses = () => stub.statuses();
  const pings = () => stub.pings();
  const until = (what: string, predicate: () => boolean, timeoutMs?: number) => stub.until(what, predicate, timeoutMs);

  it('runs nothing at all when NOTIFY_SOCKET is not set', async () => {
    const spawnSpy = sinon.spy(spawn);
    const log = new Log();
    const { NOTIFY_SOCKET: _unset, ...noSocket } = env({ WATCHDOG_USEC: '200000' });
    notifier = createNotifier(noSocket, log, { spawn: spawnSpy });

    notifier.ready();
    notifier.status('forward at 60%, broker connected');
    notifier.startWatchdog();
    await sleep(300);
    notifier.stopping();

    assert.equal(notifier.enabled, false);
    assert.equal(spawnSpy.callCount, 0);
    assert.deepEqual(calls(), []);
    assert.deepEqual(log.warnings, []);
  });

  it('sends READY=1 when ready() is called, and only once across reconnects', async () => {
    notifier = createNotifier(env(), new Log());
    await sleep(100);
    assert.deepEqual(calls(), [], 'nothing before ready()');

    notifier.ready();
    await until('READY=1', () => assignments().includes('READY=1'));
    notifier.ready();
    await sleep(200);

    assert.deepEqual(assignments(), ['READY=1']);
  });

  it('sends STATUS when the text changes and never repeats the same text', async () => {
    notifier = createNotifier(env(), new Log());
    const forward = statusText({ motion: 'forward', speed: 60, broker: 'connected' });
    const stopped = statusText({ motion: 'stopped', speed: 60, broker: 'connected' });

    notifier.status(forward);
    await until('the first status', () => statuses().length === 1);
    notifier.status(forward);
    notifier.status(stopped);
    await until('the second status', () => statuses().length === 2);
    notifier.status(stopped);
    notifier.status(forward);
    await until('the third status', () => statuses().length === 3);
    await sleep(200);

    assert.deepEqual(statuses(), [
      'forward at 60%, broker connected',
      'stopped (speed 60%), broker connected',
      'forward at 60%, broker connected',
    ]);
  });

  it('keeps only the newest STATUS when several change while systemd-notify runs', async () => {
    notifier = createNotifier(env(), new Log());
    notifier.status('forward at 50%, broker connected');
    notifier.status('forward at 60%, broker connected');
    notifier.status('forward at 70%, broker connected');
    await until('the newest status', () => statuses().includes('forward at 70%, broker connected'));
    await sleep(200);

    assert.deepEqual(statuses(), ['forward at 50%, broker connected', 'forward at 70%, broker connected']);
  });

  it('puts a multi-line status on one line', async () => {
    notifier = createNotifier(env(), new Log());
    notifier.status('cannot connect:\nECONNREFUSED');
    await until('the status', () => statuses().length === 1);
    assert.deepEqual(statuses(), ['cannot connect: ECONNREFUSED']);
  });

  it('pings WATCHDOG=1 about every WATCHDOG_USEC/4 while the event loop runs, and not while it is blocked', async function () {
    this.timeout(15000);
    // 400 ms watchdog: a ping about every 100 ms, so one comes within half the timeout even
    // after the loop was held up for a quarter of it.
    notifier = createNotifier(env({ WATCHDOG_USEC: '400000', WATCHDOG_PID: String(process.pid) }), new Log());
    notifier.startWatchdog();
    await sleep(1000);
    const healthy = pings().length;
    // About ten; the bounds only rule out "no timer" and "a ping per event-loop turn".
    assert.ok(healthy >= 3 && healthy <= 15, `expected about 10 pings in 1 s, got ${healthy}`);

    const blockStart = Date.now();
    busyWait(1000);
    const blockEnd = Date.now();
    await until('pings to resume after the block', () => pings().some((p) => p.at > blockEnd + 100));

    // A stub started just before the block may still log at its very beginning.
    const duringBlock = pings().filter((p) => p.at > blockStart + 300 && p.at < blockEnd);
    assert.deepEqual(duringBlock, [], 'no ping while the event loop is blocked');
  });

  it('does not ping when systemd asked for no watchdog, or asked another process', async () => {
    notifier = createNotifier(env(), new Log());
    notifier.startWatchdog();
    notifier.close();
    notifier = createNotifier(env({ WATCHDOG_USEC: '200000', WATCHDOG_PID: String(process.pid + 1) }), new Log());
    notifier.startWatchdog();
    await sleep(500);

    assert.deepEqual(pings(), []);
  });

  it('stops pinging once closed', async () => {
    notifier = createNotifier(env({ WATCHDOG_USEC: '200000' }), new Log());
    notifier.startWatchdog();
    await until('a ping', () => pings().length > 0);
    notifier.close();
    await sleep(100);
    const atClose = pings().length;
    await sleep(400);

    assert.equal(pings().length, atClose);
  });

  it('sends STOPPING=1 at shutdown, then nothing more', async () => {
    notifier = createNotifier(env({ WATCHDOG_USEC: '200000' }), new Log());
    notifier.ready();
    notifier.startWatchdog();
    await until('READY=1', () => assignments().includes('READY=1'));

    notifier.stopping();
    await until('STOPPING=1', () => assignments().includes('STOPPING=1'));
    const atStop = calls().length;
    notifier.status('forward at 60%, broker connected');
    await sleep(400);

    assert.equal(calls().length, atStop, 'no ping or status after STOPPING=1');
    assert.deepEqual(calls()[atStop - 1]?.args, ['STOPPING=1', 'STATUS=stopping']);
  });

  it('warns once and turns notifications off when systemd-notify is not installed', async () => {
    const log = new Log();
    const empty = path.join(stub.dir, 'empty');
    notifier = createNotifier({ ...env(), PATH: empty }, log);
    notifier.ready();
    await until('the warning', () => log.warnings.length > 0);
    notifier.status('forward at 60%, broker connected');
    await sleep(200);

    assert.equal(notifier.enabled, false);
    assert.equal(log.warnings.length, 1);
    assert.match(log.warnings[0] ?? '', /systemd-notify not found on PATH/);
  });

  it('warns when a run never seems to end, and queues what follows behind it', async () => {
    const log = new Log();
    notifier = createNotifier(env({ CARBOT_TEST_NOTIFY_SLEEP: '1' }), log, { stallMs: 200 });
    notifier.ready();
    notifier.status('forward at 60%, broker connected');
    await until('the warning', () => log.warnings.length > 0);
    assert.deepEqual(assignments(), ['READY=1'], 'STATUS waits for the first run to end');
    assert.match(log.warnings[0] ?? '', /systemd-notify READY=1 has not finished after 200 ms.*pigpio/);

    await until('the status after the slow run', () => statuses().length === 1, 5000);
    assert.equal(log.warnings.length, 1);
  });

  it('warns once when systemd-notify fails, however often it is run', async () => {
    const log = new Log();
    notifier = createNotifier(env({ WATCHDOG_USEC: '200000', CARBOT_TEST_NOTIFY_EXIT: '1' }), log);
    notifier.startWatchdog();
    await until('several pings', () => pings().length >= 3);

    assert.equal(log.warnings.length, 1);
    assert.match(log.warnings[0] ?? '', /systemd-notify WATCHDOG=1 failed \(exit code 1\)/);
  });
});

describe('systemd notifications through the real systemd-notify', function () {
  // A stand-in for PID 1's notify socket: prints each datagram as JSON and, like systemd,
  // closes the file descriptor that comes with BARRIER=1 so systemd-notify can return.
  const RECEIVER = `
import array, json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
print(json.dumps({"listening": True}), flush=True)
while True:
    data, ancillary, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12) + socket.CMSG_SPACE(64))
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds = array.array("i")
            fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
            for fd in fds:
                os.close(fd)
    print(json.dumps({"data": data.decode()}), flush=True)
`;

  let dir: string;
  let receiver: ChildProcess | undefined;

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'carbot-notify-socket-'));
  });

  afterEach(async () => {
    if (receiver && receiver.exitCode === null && receiver.signalCode === null) {
      const exited = new Promise((resolve) => receiver?.once('exit', resolve));
      receiver.kill();
      await exited;
    }
    receiver = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('delivers READY=1 and STATUS to NOTIFY_SOCKET, each confirmed by a barrier', async () => {
    const socketPath = path.join(dir, 'notify');
    const child = spawn('python3', ['-c', RECEIVER, socketPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    receiver = child;
    killOnExit(child);
    const datagrams: string[] = [];
    let listening!: () => void;
    const started = new Promise<void>((resolve) => (listening = resolve));
    let buffered = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        const event = JSON.parse(line) as { listening?: boolean; data?: string };
        if (event.listening) listening();
        if (event.data !== undefined) datagrams.push(event.data);
      }
    });
    await withTimeout(started, 5000, () => 'the python notify receiver to listen');

    const log = new Log();
    const notifier = createNotifier({ PATH: process.env.PATH, NOTIFY_SOCKET: socketPath }, log);
    notifier.ready();
    notifier.status('forward at 60%, broker connected');
    const deadline = Date.now() + 5000;
    while (datagrams.filter((d) => d === 'BARRIER=1').length < 2 && Date.now() < deadline) await sleep(20);
    notifier.close();

    // The barrier after each message is systemd-notify waiting until the manager has read it,
    // which is what lets systemd attribute the message to carbot.service.
    assert.deepEqual(datagrams, ['READY=1', 'BARRIER=1', 'STATUS=forward at 60%, broker connected', 'BARRIER=1']);
    assert.deepEqual(log.warnings, []);
  });
});

describe('statusText', () => {
  it('says what the car does, its speed setting and whether the broker is connected', () => {
    assert.equal(statusText({ motion: 'forward', speed: 60, broker: 'connected' }), 'forward at 60%, broker connected');
    assert.equal(statusText({ motion: 'backward', speed: 30, broker: 'connected' }), 'backward at 30%, broker connected');
    assert.equal(
      statusText({ motion: 'stopped', speed: 50, broker: 'disconnected' }),
      'stopped (speed 50%), broker disconnected',
    );
    assert.equal(
      statusText({ motion: 'reversing', speed: 70, broker: 'connected' }),
      'reversing (speed 70%), broker connected',
    );
  });
});
