import { strict as assert } from 'node:assert';
import { connect as tcpConnect, createServer, type Socket } from 'node:net';
import { WebSocket } from 'ws';
import { freePort } from '../support/ports';
import { closeClient, collect, connectClient } from '../support/mqtt';
import { spawnCarbot } from '../support/process';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/mqtt/embedded-broker';
import { logged, memoryLogger } from '../fakes/hardware';

describe('--embedded-broker-enabled', () => {
  it('serves MQTT on TCP and websockets on 127.0.0.1, and the car answers on both', async () => {
    const [port, wsPort] = [await freePort(), await freePort()];
    const proc = spawnCarbot([
      '--embedded-broker-enabled',
      '--embedded-broker-port', String(port),
      '--embedded-broker-ws-port', String(wsPort),
      '--mqtt-url', `mqtt://127.0.0.1:${port}`,
      '--gpio', 'sim',
    ]);
    await proc.waitForLine(/subscribed to carbot\/move/);
    assert.match(proc.output(), new RegExp(`embedded MQTT broker listening on mqtt://127.0.0.1:${port} and ws://127.0.0.1:${wsPort}`));
    assert.match(proc.output(), /try it: node dist\/cli\.js send forward/);

    const phone = await connectClient(`ws://127.0.0.1:${wsPort}`);
    const results = await collect(phone, 'stat/carbot/RESULT');
    await phone.publishAsync('carbot/move', 'f', { qos: 1 });
    assert.deepEqual(JSON.parse((await results.waitFor(() => true)).payload), { move: 'forward', motion: 'forward', speed: 50 });
    await proc.waitForLine(/forward at 50% \(command\)/);
    await closeClient(phone);
    assert.equal((await proc.kill('SIGTERM')).code, 0);
  });

  it('without --mqtt-url, connects to its own embedded broker, never to whatever listens on localhost:1883', async () => {
    const port = await freePort();
    const proc = spawnCarbot(['--embedded-broker-enabled', '--embedded-broker-port', String(port), '--embedded-broker-ws-port', '0', '--gpio', 'sim']);
    await proc.waitForLine(new RegExp(`connecting to mqtt://127\\.0\\.0\\.1:${port} as`));
    await proc.waitForLine(/subscribed to carbot\/move/);
    const client = await connectClient(`mqtt://127.0.0.1:${port}`);
    const results = await collect(client, 'stat/carbot/RESULT');
    await client.publishAsync('carbot/move', 'stop', { qos: 1 });
    assert.equal(JSON.parse((await results.waitFor(() => true)).payload).move, 'stop');
    await closeClient(client);
    assert.doesNotMatch(proc.output(), /localhost:1883/);
    assert.equal((await proc.kill('SIGTERM')).code, 0);
  });

  it('refuses websockets opened by another site, or under a name that is not this machine\'s (DNS rebinding)', async () => {
    const wsPort = await freePort();
    const proc = spawnCarbot(['--embedded-broker-enabled', '--embedded-broker-port', '0', '--embedded-broker-ws-port', String(wsPort), '--gpio', 'sim']);
    await proc.waitForLine(/subscribed to carbot\/move/);
    const status = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(`ws://127.0.0.1:${wsPort}`, 'mqtt', { headers });
        ws.on('unexpected-response', (_req, res) => {
          res.destroy();
          ws.terminate();
          resolve(res.statusCode ?? 0);
        });
        ws.on('open', () => {
          ws.terminate();
          resolve(101);
        });
        ws.on('error', reject);
      });
    assert.equal(await status({ Origin: 'http://evil.example' }), 403);
    assert.equal(await status({ Host: `evil.example:${wsPort}`, Origin: `http://evil.example:${wsPort}` }), 403);
    assert.equal(await status({ Origin: `http://127.0.0.1:${wsPort}` }), 101);
    assert.equal(await status({}), 101);
    await proc.waitForLine(/refused a websocket to the embedded broker from 127\.0\.0\.1: opened by another site \(Origin "http:\/\/evil\.example"\)/);
    assert.equal((await proc.kill('SIGTERM')).code, 0);
  });

  it('says which port is taken and which setting moves it', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as { port: number }).port;
    try {
      const proc = spawnCarbot(['--embedded-broker-enabled', '--embedded-broker-port', String(taken), '--embedded-broker-ws-port', '0', '--gpio', 'sim']);
      const { code } = await proc.exited;
      assert.equal(code, 1);
      assert.match(proc.output(), new RegExp(`embedded broker port 127.0.0.1:${taken} is already in use .*set embeddedBroker\\.port`));
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});

describe('the embedded broker, in-process', () => {
  let broker: EmbeddedBroker | undefined;
  let memory: ReturnType<typeof memoryLogger>;
  const sockets: Socket[] = [];
  beforeEach(async () => {
    memory = memoryLogger();
    broker = await startEmbeddedBroker({ host: '127.0.0.1', port: 0, wsPort: 0, log: memory.log });
  });
  afterEach(async () => {
    for (const s of sockets.splice(0)) s.destroy();
    await broker?.close();
  });

  it('never tells a client who else is connected ($SYS/…/new/clients carries every client id)', async () => {
    const url = `mqtt://127.0.0.1:${broker!.port}`;
    const watcher = await connectClient(url);
    try {
      const sys = await collect(watcher, '$SYS/#');
      const probe = await collect(watcher, 'probe');
      const other = await connectClient(url, { clientId: 'carbot-carbot-secret' });
      await closeClient(other);
      // Messages reach a subscriber in the order they were published: the probe comes after
      // whatever the connection and the disconnection published.
      await watcher.publishAsync('probe', 'after', { qos: 1 });
      await probe.waitFor((m) => m.payload === 'after');
      assert.deepEqual(sys.messages, []);
    } finally {
      await closeClient(watcher);
    }
  });

  it('takes at most 64 connections: the next one is closed at once, with one warning', async () => {
    const open = (): Promise<Socket> =>
      new Promise((resolve, reject) => {
        const s = tcpConnect(broker!.port, '127.0.0.1', () => resolve(s));
        s.on('error', reject);
        sockets.push(s);
      });
    for (let i = 0; i < 64; i++) await open();
    const extra = await Promise.all([open(), open()]);
    await Promise.all(extra.map((s) => new Promise((resolve) => (s.destroyed ? resolve(undefined) : s.once('close', resolve)))));
    await broker!.close();
    broker = undefined;
    await logged();
    const lines = memory.lines.filter((l) => /already 64 open|more rejected from embedded broker/.test(l));
    assert.deepEqual(lines, [
      'warn: embedded broker: refused a connection from 127.0.0.1: already 64 open',
      'warn: 1 more rejected from embedded broker 127.0.0.1 in the last 10 s',
    ]);
  });
});
