import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from '../support/isolation';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { killOnExit, withTimeout } from '../support/cleanup';
import { describeMosquitto, mosquittoPath } from '../support/mosquitto';
import { closeClient, collect, connectClient } from '../support/mqtt';
import { canConnect, freePort } from '../support/ports';
import { spawnCarbot } from '../support/process';
import { bigPublishDoesNotReachCarbot } from '../support/big-publish';

const SCRIPTS = path.join(__dirname, '..', '..', 'scripts', 'mosquitto');
const SHIPPED = readFileSync(path.join(SCRIPTS, 'carbot.conf'), 'utf8');
const merge = require(path.join(SCRIPTS, 'merge.js')) as {
  readConfiguration(root: string): unknown;
  dropIn(config: unknown, ports: { tcpPort: number; wsPort: number }, notes: string[]): string;
  trial(config: unknown, root: string, candidate: string, mosquitto: string): Promise<string>;
};

/** The shipped file with its two listeners moved from 1883 and 9000 to free ports. */
function onTestPorts(conf: string, tcpPort: number, wsPort: number): string {
  const moved = conf
    .replace(/^listener 1883 127\.0\.0\.1$/m, `listener ${tcpPort} 127.0.0.1\nsocket_domain ipv4`)
    .replace(/^listener 9000 127\.0\.0\.1$/m, `listener ${wsPort} 127.0.0.1`);
  assert.doesNotMatch(moved, /^listener (1883|9000)\b/m, 'both listeners moved');
  return moved;
}

/** The addresses something listens on for `port`, from the kernel's socket tables (no traffic). */
function listeningAddresses(port: number): string[] {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  const found: string[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (state === '0A' && local?.endsWith(`:${hex}`)) found.push(local.split(':')[0]);
    }
  }
  return found;
}

describe('scripts/mosquitto/carbot.conf, the sample', () => {
  it("is exactly what install.sh adds to Debian's stock mosquitto configuration", () => {
    const root = mkdtempSync(path.join(os.tmpdir(), 'carbot-stock-mosquitto-'));
    try {
      mkdirSync(path.join(root, 'etc', 'mosquitto', 'conf.d'), { recursive: true });
      writeFileSync(
        path.join(root, 'etc', 'mosquitto', 'mosquitto.conf'),
        '# Place your local configuration in /etc/mosquitto/conf.d/\n\npid_file /run/mosquitto/mosquitto.pid\n\n' +
          'persistence true\npersistence_location /var/lib/mosquitto/\n\nlog_dest file /var/log/mosquitto/mosquitto.log\n\n' +
          'include_dir /etc/mosquitto/conf.d\n',
      );
      const notes: string[] = [];
      assert.equal(merge.dropIn(merge.readConfiguration(root), { tcpPort: 1883, wsPort: 9000 }, notes), SHIPPED);
      assert.deepEqual(notes, []);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});

describeMosquitto('scripts/mosquitto/carbot.conf', function () {
  let dir: string;
  let broker: ChildProcess | undefined;
  let log = '';

  beforeEach(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'carbot-mosquitto-conf-'));
    // As root mosquitto drops to the mosquitto user, which must still reach the password file.
    chmodSync(dir, 0o755);
    log = '';
  });

  afterEach(async () => {
    const child = broker;
    broker = undefined;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await withTimeout(exited, 5000, () => 'mosquitto to exit');
    }
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(conf: string, ports: number[]): Promise<void> {
    const file = path.join(dir, 'carbot.conf');
    writeFileSync(file, conf);
    const child = spawn(mosquittoPath() ?? 'mosquitto', ['-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    broker = child;
    killOnExit(child);
    child.stdout?.setEncoding('utf8').on('data', (text: string) => (log += text));
    child.stderr?.setEncoding('utf8').on('data', (text: string) => (log += text));
    const deadline = Date.now() + 5000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`mosquitto rejected the config (exit ${child.exitCode}):\n${log}`);
      if ((await Promise.all(ports.map(canConnect))).every(Boolean)) return;
      if (Date.now() > deadline) throw new Error(`mosquitto not listening on ${ports.join(', ')}:\n${log}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  it('loads in mosquitto 2.0 and carries a command from a TCP client to a websockets client', async () => {
    const tcpPort = await freePort();
    const wsPort = await freePort();
    await start(onTestPorts(SHIPPED, tcpPort, wsPort), [tcpPort, wsPort]);

    const phone = await connectClient(`ws://127.0.0.1:${wsPort}`);
    const explorer = await connectClient(`mqtt://127.0.0.1:${tcpPort}`);
    try {
      const moves = await collect(phone, 'carbot/move');
      await explorer.publishAsync('carbot/move', 'forward', { qos: 1 });
      const message = await moves.waitFor((m) => m.payload === 'forward');
      assert.equal(message.topic, 'carbot/move');
      await moves.stop();
    } finally {
      await closeClient(explorer);
      await closeClient(phone);
    }
    assert.doesNotMatch(log, /error/i);
    // Websockets on loopback only: libwebsockets keeps the address thanks to socket_domain.
    assert.deepEqual(listeningAddresses(wsPort), ['0100007F']);
    assert.deepEqual(listeningAddresses(tcpPort), ['0100007F']);
  });

  it('cuts off a 100 MB publish before it reaches carbot (max_packet_size), and a stop still works', async function () {
    this.timeout(60_000);
    const tcpPort = await freePort();
    const wsPort = await freePort();
    await start(onTestPorts(SHIPPED, tcpPort, wsPort), [tcpPort, wsPort]);
    const url = `mqtt://127.0.0.1:${tcpPort}`;
    const proc = spawnCarbot(['--mqtt-url', url, '--gpio', 'sim']);
    await proc.waitForLine(/subscribed to carbot\/move/);
    await bigPublishDoesNotReachCarbot(url, proc);
    assert.equal((await proc.kill('SIGTERM')).code, 0);
  });

  it("install.sh's trial keeps its copies of the configuration (secrets included) to its owner: 0700 directories, 0600 files", async () => {
    const root = path.join(dir, 'root');
    mkdirSync(path.join(root, 'etc', 'mosquitto', 'conf.d'), { recursive: true });
    writeFileSync(path.join(root, 'etc', 'mosquitto', 'mosquitto.conf'), 'include_dir /etc/mosquitto/conf.d\n');
    const tcpPort = await freePort();
    writeFileSync(path.join(root, 'etc', 'mosquitto', 'conf.d', 'local.conf'), `listener ${tcpPort} 127.0.0.1\nallow_anonymous true\n`);
    // A stand-in for mosquitto that notes the modes of what it is given, then runs the real one.
    const seen = path.join(dir, 'modes');
    const stand = path.join(dir, 'mosquitto');
    writeFileSync(
      stand,
      `#!/bin/sh\nconf="$2"\nstat -c '%a %n' "$(dirname "$conf")" "$conf" "$(dirname "$conf")"/include-0 "$(dirname "$conf")"/include-0/* >${JSON.stringify(seen)}\n` +
        `exec ${JSON.stringify(mosquittoPath() ?? 'mosquitto')} "$@"\n`,
      { mode: 0o755 },
    );
    const config = merge.readConfiguration(root);
    assert.equal(await merge.trial(config, root, merge.dropIn(config, { tcpPort, wsPort: 0 }, []), stand), '');
    const modes = readFileSync(seen, 'utf8').trim().split('\n').map((line) => line.split(' ')[0]);
    assert.deepEqual(modes, ['700', '600', '700', '600', '600'], readFileSync(seen, 'utf8'));
  });
});

