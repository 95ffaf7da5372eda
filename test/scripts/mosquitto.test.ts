import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { killOnExit, withTimeout } from '../support/cleanup';
import { describeMosquitto, mosquittoPath } from '../support/mosquitto';
import { closeClient, collect, connectClient } from '../support/mqtt';
import { canConnect, freePort } from '../support/ports';

const SHIPPED = readFileSync(path.join(__dirname, '..', '..', 'scripts', 'mosquitto', 'carbot.conf'), 'utf8');

/**
 * The shipped file with only its two listener lines changed: free ports on 127.0.0.1 instead of
 * 1883 and 9000 on every interface (socket_domain ipv4, or libwebsockets ignores the address).
 */
function onTestPorts(conf: string, tcpPort: number, wsPort: number): string {
  const moved = conf
    .replace(/^listener 1883$/m, `listener ${tcpPort} 127.0.0.1\nsocket_domain ipv4`)
    .replace(/^listener 9000$/m, `listener ${wsPort} 127.0.0.1\nsocket_domain ipv4`);
  assert.notEqual(moved, conf);
  return moved;
}

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
  });

  it('with the commented password lines switched on, turns anonymous clients away and lets the user in', async () => {
    const passwd = path.join(dir, 'passwd');
    const created = spawnSync('mosquitto_passwd', ['-b', '-c', passwd, 'carbot', 's3cret'], { encoding: 'utf8' });
    assert.equal(created.status, 0, `mosquitto_passwd: ${created.error?.message ?? created.stderr}`);
    chmodSync(passwd, 0o644);
    const withPasswords = SHIPPED.replace(/^allow_anonymous true$/m, '#allow_anonymous true')
      .replace(/^#allow_anonymous false$/m, 'allow_anonymous false')
      .replace(/^#password_file \/etc\/mosquitto\/passwd$/m, `password_file ${passwd}`);
    assert.match(withPasswords, /^password_file /m);
    const tcpPort = await freePort();
    const wsPort = await freePort();
    await start(onTestPorts(withPasswords, tcpPort, wsPort), [tcpPort, wsPort]);

    await assert.rejects(
      connectClient(`mqtt://127.0.0.1:${tcpPort}`, { reconnectPeriod: 0 }),
      /Not authorized|not authorised|Bad User Name or Password/i,
    );
    for (const url of [`mqtt://127.0.0.1:${tcpPort}`, `ws://127.0.0.1:${wsPort}`]) {
      const client = await connectClient(url, { username: 'carbot', password: 's3cret' });
      await closeClient(client);
    }
  });
});
