/**
 * Who may drive (docs/security.md), against the compiled service as it is installed: what a
 * stranger on the Wi-Fi, another site's page in a phone's browser, or a wrong setting can do.
 */
import { strict as assert } from 'node:assert';
import { request } from 'node:http';
import type { MqttClient } from 'mqtt';
import { WebSocket } from 'ws';
import { startAedes, type TestBroker } from '../support/carbot';
import { describeMosquitto, startMosquitto, type Mosquitto } from '../support/mosquitto';
import { closeClient, collect, connectClient } from '../support/mqtt';
import { freePort } from '../support/ports';
import { spawnCarbot, type CarbotProcess } from '../support/process';

const EX_CONFIG = 78;

function httpStatus(port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The handshake's status: 101 when the socket opened (it is then handed back open). */
function upgrade(url: string, options: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<{ status: number; ws?: WebSocket }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.on('unexpected-response', (_req, res) => {
      res.destroy();
      ws.terminate();
      resolve({ status: res.statusCode ?? 0 });
    });
    ws.once('open', () => resolve({ status: 101, ws }));
    ws.once('error', reject);
  });
}

async function command(ws: WebSocket, text: string): Promise<Record<string, unknown>> {
  const answer = new Promise<Record<string, unknown>>((resolve) => {
    const onMessage = (data: Buffer) => {
      const message = JSON.parse(String(data)) as { type: string; result: Record<string, unknown> };
      if (message.type !== 'result') return;
      ws.off('message', onMessage);
      resolve(message.result);
    };
    ws.on('message', onMessage);
  });
  ws.send(text);
  return answer;
}

describe('exposure of the compiled service', () => {
  let broker: TestBroker;
  const cars: CarbotProcess[] = [];
  const sockets: WebSocket[] = [];
  before(async () => {
    broker = await startAedes();
  });
  after(() => broker.close());
  afterEach(async () => {
    for (const ws of sockets.splice(0)) ws.terminate();
    await Promise.all(cars.splice(0).map((c) => c.kill('SIGTERM')));
  });

  async function startCarbot(args: string[] = []): Promise<{ car: CarbotProcess; port: number }> {
    const port = await freePort();
    const car = spawnCarbot(['--mqtt-url', broker.url, '--gpio', 'sim', '--http-host', '127.0.0.1', '--http-port', String(port), ...args]);
    cars.push(car);
    await car.waitForLine(/subscribed to carbot\/move/);
    return { car, port };
  }

  it('refuses to serve the page beyond loopback without a token or password (exit 78, naming the settings)', async () => {
    // 192.0.2.1 (TEST-NET-1) is on no interface: were the check missing, listening would fail
    // with exit 1 instead of 78, and nothing is ever opened beyond loopback by this test.
    const open = spawnCarbot(['--mqtt-url', broker.url, '--gpio', 'sim', '--http-host', '192.0.2.1'], { CARBOT_HTTP_PORT: '8080' });
    assert.equal((await open.exited).code, EX_CONFIG, open.output());
    assert.match(open.stderr.join('\n'), /--http-host: the remote page on "192\.0\.2\.1" is reachable from the network and has no token or password: set http\.token .* or http\.allowAnonymous true/);
    const defaults = spawnCarbot(['--check-config'], { CARBOT_HTTP_PORT: '8080' });
    assert.equal((await defaults.exited).code, EX_CONFIG);
    assert.match(defaults.stderr.join('\n'), /http\.host: the remote page on "0\.0\.0\.0" is reachable from the network/);
    const told = spawnCarbot(['--check-config', '--http-allow-anonymous'], { CARBOT_HTTP_PORT: '8080' });
    assert.equal((await told.exited).code, 0);
    assert.match(told.stderr.join('\n'), /carbot: warning: http\.allowAnonymous is true: anyone who can reach http:\/\/<any address of this machine>:8080\/ drives the car/);
  });

  it('refuses an empty token or password instead of running without one, and checks listen addresses up front', async () => {
    for (const [args, env, problem] of [
      [['--check-config'], { CARBOT_HTTP_TOKEN: '' }, /CARBOT_HTTP_TOKEN: is empty/],
      [['--mqtt-url', broker.url, '--gpio', 'sim'], { CARBOT_HTTP_TOKEN: '' }, /CARBOT_HTTP_TOKEN: is empty/],
      [['--check-config', '--http-token', ''], {}, /--http-token: is empty/],
      [['--check-config', '--http-username', 'pi', '--http-password', ''], {}, /--http-password: is empty/],
      [['--check-config', '--http-host', '999.1.1.1', '--http-token', 't'], {}, /--http-host: "999\.1\.1\.1" is not a host name or IP address/],
    ] as const) {
      const proc = spawnCarbot([...args], { CARBOT_HTTP_PORT: '8080', ...env });
      assert.equal((await proc.exited).code, EX_CONFIG, proc.output());
      assert.match(proc.stderr.join('\n'), problem);
      assert.doesNotMatch(proc.stdout.join('\n'), /\*\*\*/);
    }
  });

  it("refuses a move topic that is carbot's own RESULT topic instead of answering itself forever", async () => {
    const proc = spawnCarbot(['--mqtt-url', broker.url, '--gpio', 'sim', '--move-topic', 'stat/carbot/RESULT']);
    assert.equal((await proc.exited).code, EX_CONFIG);
    assert.match(proc.stderr.join('\n'), /--move-topic: "stat\/carbot\/RESULT" is carbot's own RESULT topic/);
  });

  it('refuses DNS rebinding: a page of evil.example whose name resolves to the car gets no page and no socket', async () => {
    const { car, port } = await startCarbot();
    const evil = { Host: `evil.example:${port}`, Origin: `http://evil.example:${port}` };
    assert.equal(await httpStatus(port, '/', { Host: evil.Host }), 403);
    assert.equal((await upgrade(`ws://127.0.0.1:${port}/ws`, { headers: evil })).status, 403);
    const own = await upgrade(`ws://127.0.0.1:${port}/ws`);
    assert.equal(own.status, 101);
    sockets.push(own.ws as WebSocket);
    assert.equal((await command(own.ws as WebSocket, 'stop')).motion, 'stopped');
    // The first refusal in full; the second, from the same address within 10 s, is only counted.
    await car.waitForLine(/remote: refused GET \/ from 127\.0\.0\.1: Host "evil\.example:\d+" is none of this machine's names or addresses/);
    assert.doesNotMatch(car.output(), /forward at/);
  });

  it('with a token, strangers cannot take the page slots: the owner still gets in and stops the car', async () => {
    const { car, port } = await startCarbot(['--http-token', 'owner-token-0123456789']);
    const url = `ws://127.0.0.1:${port}/ws`;
    const strangers = await Promise.all(Array.from({ length: 40 }, () => upgrade(url)));
    assert.ok(strangers.every((s) => s.status === 401 || s.status === 429), strangers.map((s) => s.status).join(' '));
    // Wrong guesses from this address are paused now; the owner waits the pause out, as a browser retrying would.
    let owner = await upgrade(`${url}?token=owner-token-0123456789`);
    for (let i = 0; owner.status === 429 && i < 100; i++) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      owner = await upgrade(`${url}?token=owner-token-0123456789`);
    }
    assert.equal(owner.status, 101);
    sockets.push(owner.ws as WebSocket);
    assert.equal((await command(owner.ws as WebSocket, 'forward')).motion, 'forward');
    assert.equal((await command(owner.ws as WebSocket, 'stop')).motion, 'stopped');
    assert.doesNotMatch(car.output(), /owner-token-0123456789/);
  });

  it('without a token (loopback only), a client holding all 32 slots cannot lock the owner out', async () => {
    const { car, port } = await startCarbot();
    const url = `ws://127.0.0.1:${port}/ws`;
    for (let i = 0; i < 32; i++) {
      const hog = await upgrade(url);
      assert.equal(hog.status, 101);
      sockets.push(hog.ws as WebSocket);
    }
    const owner = await upgrade(url);
    assert.equal(owner.status, 101);
    sockets.push(owner.ws as WebSocket);
    assert.equal((await command(owner.ws as WebSocket, 'forward')).motion, 'forward');
    assert.equal((await command(owner.ws as WebSocket, 'stop')).motion, 'stopped');
    await car.waitForLine(/remote: 32 pages open: closed the oldest from 127\.0\.0\.1/);
  });
});

describeMosquitto('Home Assistant ids of two cars on one broker', () => {
  let broker: Mosquitto;
  let watcher: MqttClient;
  const cars: CarbotProcess[] = [];
  before(async () => {
    broker = await startMosquitto();
  });
  after(async () => {
    await Promise.all(cars.map((c) => c.kill('SIGTERM')));
    await closeClient(watcher);
    await broker.stop();
  });

  it('car.a and car_a get their own discovery configs, and car.a\'s button drives car.a only', async () => {
    for (const device of ['car.a', 'car_a']) {
      const car = spawnCarbot(['--mqtt-url', broker.url, '--gpio', 'sim', '--device', device, '--homeassistant-enabled']);
      cars.push(car);
      await car.waitForLine(new RegExp(`subscribed to ${device.replace('.', '\\.')}/move`));
    }
    watcher = await connectClient(broker.url);
    const configs = await collect(watcher, 'homeassistant/device/+/config');
    await configs.waitFor(() => new Set(configs.messages.map((m) => m.topic)).size >= 2, 5000);
    const byTopic = new Map(configs.messages.map((m) => [m.topic, JSON.parse(m.payload) as Record<string, any>]));
    assert.equal(byTopic.size, 2, [...byTopic.keys()].join('\n'));
    const entities: Record<string, unknown>[] = [...byTopic.values()].flatMap((c) =>
      Object.values(c.cmps as Record<string, Record<string, unknown>>).map((e) => ({ ...e, device: c.dev })),
    );
    assert.equal(new Set(entities.map((c) => c.unique_id)).size, entities.length);
    const forward = entities.filter((c) => c.payload_press === 'forward');
    assert.deepEqual(forward.map((c) => c.command_topic).sort(), ['car.a/move', 'car_a/move']);

    // Pressing car.a's Forward in Home Assistant: publish its payload_press on its command_topic.
    const button = forward.find((c) => (c.device as { name: string }).name === 'car.a') as Record<string, string>;
    await watcher.publishAsync(button.command_topic, button.payload_press, { qos: 1 });
    await cars[0].waitForLine(/forward at 50% \(command\)/);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.doesNotMatch(cars[1].output(), /forward at/);
  });
});
