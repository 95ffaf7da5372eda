import { strict as assert } from 'node:assert';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { request, type IncomingHttpHeaders } from 'node:http';
import { connect as tcpConnect, type Socket } from 'node:net';
import { WebSocket } from 'ws';
import { startRemoteServer, type RemoteServer, type RemoteServerOptions } from '../../src/http/remote-server';
import { FakeCarView } from '../fakes/car-view';
import { logged, memoryLogger } from '../fakes/hardware';
import { waitUntil } from '../support/wait';

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function get(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Reply> {
  return new Promise((resolve, reject) => {
    // Raw path on purpose: `/../x` must reach the server unnormalised.
    const req = request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

type Message = Record<string, unknown> & { type: string };

/** A websocket client that buffers what it receives so a test can wait for a given message. */
class Client {
  readonly ws: WebSocket;
  private readonly inbox: Message[] = [];
  private waiter?: () => void;

  constructor(url: string, options: ConstructorParameters<typeof WebSocket>[2] = {}) {
    this.ws = new WebSocket(url, options);
    this.ws.on('message', (data) => {
      this.inbox.push(JSON.parse(data.toString()) as Message);
      this.waiter?.();
    });
  }

  async opened(): Promise<this> {
    await once(this.ws, 'open');
    return this;
  }

  async next(type: string): Promise<Message> {
    for (;;) {
      const i = this.inbox.findIndex((m) => m.type === type);
      if (i >= 0) return this.inbox.splice(i, 1)[0];
      if (this.ws.readyState === WebSocket.CLOSED) throw new Error(`socket closed while waiting for ${type}`);
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        this.ws.once('close', resolve);
      });
    }
  }

  async close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    const closed = once(this.ws, 'close');
    this.ws.close();
    await closed;
  }
}

/** Resolves with the HTTP status a refused websocket handshake got. */
async function refusedUpgrade(url: string, options: ConstructorParameters<typeof WebSocket>[2] = {}): Promise<number> {
  const ws = new WebSocket(url, options);
  ws.on('error', () => undefined);
  const [, res] = (await once(ws, 'unexpected-response')) as [unknown, { statusCode: number; destroy(): void }];
  res.destroy();
  ws.terminate();
  return res.statusCode;
}

describe('remote server', function () {
  let car: FakeCarView;
  let memory: ReturnType<typeof memoryLogger>;
  const servers: RemoteServer[] = [];
  const clients: Client[] = [];

  async function start(extra: Partial<RemoteServerOptions> = {}): Promise<RemoteServer> {
    const server = await startRemoteServer({ host: '127.0.0.1', port: 0, car, log: memory.log, ...extra });
    servers.push(server);
    return server;
  }

  function wsUrl(server: RemoteServer, query = ''): string {
    return `ws://127.0.0.1:${server.port}/ws${query}`;
  }

  async function client(server: RemoteServer, query = '', options = {}): Promise<Client> {
    const c = new Client(wsUrl(server, query), options);
    clients.push(c);
    return c.opened();
  }

  beforeEach(() => {
    car = new FakeCarView();
    memory = memoryLogger();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });

  describe('static files', () => {
    it('serves the page and its assets with their content types', async () => {
      const server = await start();
      const expected: [string, string, RegExp][] = [
        ['/', 'text/html; charset=utf-8', /<title>carbot remote<\/title>/],
        ['/remote.html', 'text/html; charset=utf-8', /<title>carbot remote<\/title>/],
        ['/remote.css', 'text/css; charset=utf-8', /touch-action: manipulation/],
        ['/remote.js', 'text/javascript; charset=utf-8', /new WebSocket/],
        ['/icon.svg', 'image/svg+xml', /<svg/],
      ];
      for (const [path, type, body] of expected) {
        const reply = await get(server.port, path);
        assert.equal(reply.status, 200, path);
        assert.equal(reply.headers['content-type'], type, path);
        assert.match(reply.body, body, path);
        assert.equal(reply.headers['x-content-type-options'], 'nosniff', path);
        assert.match(String(reply.headers['content-security-policy']), /frame-ancestors 'none'/, path);
      }
    });

    it('answers HEAD without a body and revalidates with the ETag', async () => {
      const server = await start();
      const head = await get(server.port, '/remote.js', {}, 'HEAD');
      assert.equal(head.status, 200);
      assert.equal(head.body, '');
      const again = await get(server.port, '/remote.js', { 'If-None-Match': String(head.headers.etag) });
      assert.equal(again.status, 304);
    });

    it('answers 404 for any other path, traversal attempts included', async () => {
      const server = await start();
      for (const path of [
        '/package.json',
        '/web/remote.html',
        '/../package.json',
        '/%2e%2e/package.json',
        '/..%2fpackage.json',
        '/remote.js/../../package.json',
        '//etc/passwd',
        '/remote.html%00',
        '/REMOTE.JS',
        '/favicon.ico',
      ]) {
        const reply = await get(server.port, path);
        assert.equal(reply.status, 404, path);
        assert.equal(reply.body, '404 Not Found\n', path);
      }
    });

    it('refuses methods other than GET and HEAD', async () => {
      const server = await start();
      const reply = await get(server.port, '/', {}, 'POST');
      assert.equal(reply.status, 405);
      assert.equal(reply.headers.allow, 'GET, HEAD');
    });

    it('serves the latest picture of each stop from camera.dir alone, behind the token', async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'carbot-photos-'));
      try {
        mkdirSync(path.join(dir, 'basil'));
        writeFileSync(path.join(dir, 'basil', '2026-12-07T10-00-00.000Z.jpg'), 'old');
        writeFileSync(path.join(dir, 'basil', '2026-12-07T14-00-00.000Z.jpg'), 'new');
        writeFileSync(path.join(dir, 'basil', '2026-12-07T14-00-00.000Z.json'), JSON.stringify({ stop: 'basil', time: '2026-12-07T14:00:00.000Z' }));
        writeFileSync(path.join(dir, 'secret.jpg'), 'not a picture of a stop');
        const server = await start({ auth: { token: 's3cret-t0ken-16chars' }, photosDir: dir });
        assert.equal((await get(server.port, '/photos')).status, 401);
        assert.equal((await get(server.port, '/photos/basil/2026-12-07T14-00-00.000Z.jpg')).status, 401);
        const list = await get(server.port, '/photos?token=s3cret-t0ken-16chars');
        assert.equal(list.status, 200);
        assert.deepEqual(JSON.parse(list.body), { basil: { url: '/photos/basil/2026-12-07T14-00-00.000Z.jpg', stop: 'basil', time: '2026-12-07T14:00:00.000Z' } });
        const picture = await get(server.port, '/photos/basil/2026-12-07T14-00-00.000Z.jpg?token=s3cret-t0ken-16chars');
        assert.equal(picture.status, 200);
        assert.equal(picture.headers['content-type'], 'image/jpeg');
        assert.equal(picture.body, 'new');
        for (const wrong of ['/photos/../secret.jpg', '/photos/basil/../../secret.jpg', '/photos/%2e%2e/secret.jpg', '/photos/basil/..%2f..%2fsecret.jpg', '/photos/basil/2026-12-07T14-00-00.000Z.json', '/photos/basil/', '/photos/basil/x.jpg']) {
          assert.equal((await get(server.port, `${wrong}?token=s3cret-t0ken-16chars`)).status, 404, wrong);
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('without a camera, /photos is an empty list', async () => {
      const server = await start();
      assert.equal((await get(server.port, '/photos')).body, '{}');
      assert.equal((await get(server.port, '/photos/basil/2026-12-07T14-00-00.000Z.jpg')).status, 404);
    });

    it('fails to start, naming the file, when the page is missing', async () => {
      await assert.rejects(start({ webRoot: '/nonexistent/web' }), /cannot read \/nonexistent\/web\/remote\.html/);
    });
  });

  describe('websocket', () => {
    it('greets a page with the current state and whether the broker link is up', async () => {
      car.online = false;
      const server = await start();
      const hello = await (await client(server)).next('state');
      assert.equal((hello.state as Record<string, unknown>).motion, 'stopped');
      assert.equal(hello.online, false);
    });

    it('passes a command to the car and answers with its RESULT', async () => {
      const server = await start();
      const c = await client(server);
      c.ws.send('forward');
      const reply = await c.next('result');
      assert.deepEqual(reply.result, { move: 'forward', motion: 'forward', speed: 50 });
      assert.deepEqual(car.commands, [{ payload: 'forward', source: 'remote 127.0.0.1' }]);
    });

    it('stops the car when the page that is driving it goes away', async () => {
      const server = await start();
      const watcher = await client(server);
      const driver = await client(server);
      driver.ws.send('forward');
      await driver.next('result');
      await driver.close();
      await waitUntil(() => car.lost.length === 1, () => memory.lines.join('\n'));
      // Not a command of the page's: the car stops as for a lost broker.
      assert.deepEqual(car.lost, ['remote 127.0.0.1']);
      assert.deepEqual([car.state().motion, car.state().reason], ['stopped', 'disconnect']);
      assert.deepEqual(car.commandWords(), ['forward']);
      await logged();
      assert.ok(memory.lines.some((l) => /^warn: remote: the page driving the car \(127\.0\.0\.1\) went away: stopping$/.test(l)));
      await watcher.close();
      await waitUntil(() => server.openPages === 0, () => memory.lines.join('\n'));
      assert.equal(car.lost.length, 1, 'a page that was only watching changes nothing when it goes');
    });

    it('does not stop the car when a page goes away after someone else took over', async () => {
      const server = await start();
      const page = await client(server);
      page.ws.send('forward');
      await page.next('result');
      car.command('faster', 'mqtt');
      await page.close();
      await waitUntil(() => memory.lines.some((l) => l.includes('page from 127.0.0.1 disconnected')), () => memory.lines.join('\n'));
      assert.deepEqual(car.commands.map((c) => c.payload), ['forward', 'faster']);
      assert.equal(car.state().motion, 'forward');
    });

    it('leaves the car moving when a page goes away and stopOnDisconnect is off', async () => {
      const server = await start({ stopOnDisconnect: false });
      const page = await client(server);
      page.ws.send('backward');
      await page.next('result');
      await page.close();
      await waitUntil(() => memory.lines.some((l) => l.includes('page from 127.0.0.1 disconnected')), () => memory.lines.join('\n'));
      assert.deepEqual(car.commands.map((c) => c.payload), ['backward']);
    });

    it('passes rejected commands through and shows the car’s answer', async () => {
      const server = await start();
      const c = await client(server);
      c.ws.send('sideways');
      assert.deepEqual((await c.next('result')).result, { error: 'unknown command', payload: 'sideways' });
    });

    it('pushes every state change and broker link change to every page', async () => {
      const server = await start();
      const a = await client(server);
      const b = await client(server);
      await a.next('state');
      await b.next('state');
      car.update({ motion: 'stopped', reason: 'limit' });
      for (const c of [a, b]) {
        const pushed = await c.next('state');
        assert.equal((pushed.state as Record<string, unknown>).reason, 'limit');
        assert.equal(pushed.online, true);
      }
      car.setBrokerOnline(false);
      assert.deepEqual(await a.next('link'), { type: 'link', online: false });
      assert.deepEqual(await b.next('link'), { type: 'link', online: false });
    });

    it('refuses oversized and binary messages without bothering the car', async () => {
      const server = await start();
      const c = await client(server);
      c.ws.send('f'.repeat(300));
      assert.deepEqual((await c.next('result')).result, { error: 'payload too large', bytes: 300 });
      c.ws.send(Buffer.from('stop'), { binary: true });
      assert.deepEqual((await c.next('result')).result, { error: 'binary message', bytes: 4 });
      assert.deepEqual(car.commands, []);
      await logged();
      assert.ok(memory.lines.some((l) => /^warn: remote: ignored a 300-byte message from 127\.0\.0\.1/.test(l)));
    });

    it('sends heartbeats so a page can tell a dead connection from a quiet one', async () => {
      const server = await start({ heartbeatMs: 20 });
      const c = await client(server);
      assert.equal((await c.next('state')).heartbeatMs, 20);
      assert.deepEqual(await c.next('heartbeat'), { type: 'heartbeat' });
    });

    it('refuses a websocket opened by another site’s page', async () => {
      const server = await start();
      assert.equal(await refusedUpgrade(wsUrl(server), { origin: 'http://evil.example' }), 403);
      await client(server, '', { origin: `http://127.0.0.1:${server.port}` });
      assert.deepEqual(car.commands, []);
    });

    it('keeps at most 32 pages: the 33rd gets in and the oldest page that is not driving is closed', async () => {
      const server = await start();
      const first = await client(server);
      const driver = await client(server);
      driver.ws.send('forward');
      await driver.next('result');
      for (let i = 2; i < 32; i++) await client(server);
      const firstClosed = once(first.ws, 'close');
      const newcomer = await client(server);
      const [code] = (await firstClosed) as [number];
      assert.equal(code, 1013);
      // The page driving the car is older than all but one, and is never the one closed.
      const secondClosed = once(clients[2].ws, 'close');
      await client(server);
      assert.equal(((await secondClosed) as [number])[0], 1013);
      assert.equal(driver.ws.readyState, WebSocket.OPEN);
      newcomer.ws.send('stop');
      assert.deepEqual((await newcomer.next('result')).result, { move: 'stop', motion: 'stopped', speed: 50 });
      await logged();
      assert.ok(memory.lines.includes('warn: remote: 32 pages open: closed the oldest from 127.0.0.1 to let in one from 127.0.0.1'));
    });

    it('closes the pages it pushes out at once, even ones that never answer the close, and says so once per 10 s', async () => {
      const server = await start();
      const raw: Socket[] = [];
      const closed = new Set<Socket>();
      /** A websocket client that never answers anything, a close frame included. */
      const silentPage = async (): Promise<Socket> => {
        const socket = tcpConnect(server.port, '127.0.0.1');
        raw.push(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => closed.add(socket));
        let head = '';
        socket.on('data', (d: Buffer) => (head += d.toString('latin1')));
        socket.write(
          `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
            'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
        );
        await waitUntil(() => head.startsWith('HTTP/1.1 101'), () => `no upgrade: ${JSON.stringify(head)}`);
        return socket;
      };
      try {
        for (let i = 0; i < 32; i++) await silentPage();
        for (let i = 0; i < 40; i++) await silentPage();
        await waitUntil(() => closed.size === 40, () => `${closed.size} of the 40 pages pushed out are closed`);
        assert.deepEqual([...closed], raw.slice(0, 40), 'the oldest 40 went');
        assert.equal(server.openPages, 32);
        await server.close();
        await logged();
        const lines = memory.lines.filter((l) => /pages open: closed|pages closed to make room/.test(l));
        assert.deepEqual(lines, [
          'warn: remote: 32 pages open: closed the oldest from 127.0.0.1 to let in one from 127.0.0.1',
          'warn: remote: 39 more pages closed to make room (127.0.0.1 for ones from 127.0.0.1) in the last 10 s',
        ]);
      } finally {
        for (const socket of raw) socket.destroy();
      }
    });

    it('refuses upgrades on other paths', async () => {
      const server = await start();
      assert.equal(await refusedUpgrade(`ws://127.0.0.1:${server.port}/`), 404);
    });
  });

  describe('auth', () => {
    it('with a token: 401 without it, the page and a cookie with it, the websocket with either', async () => {
      const server = await start({ auth: { token: 's3cret' } });
      const denied = await get(server.port, '/');
      assert.equal(denied.status, 401);
      assert.match(denied.body, /\?token=/);
      assert.equal(denied.headers['www-authenticate'], undefined);
      assert.equal(await refusedUpgrade(wsUrl(server)), 401);

      const page = await get(server.port, '/?token=s3cret');
      assert.equal(page.status, 200);
      const setCookie = String(page.headers['set-cookie']);
      // The cookie holds a value derived from the token, never the token itself.
      const [, session] = /^carbot_token=([\w-]{43});.*HttpOnly/.exec(setCookie) ?? [];
      assert.ok(session, setCookie);
      assert.ok(!setCookie.includes('s3cret'));
      assert.equal((await get(server.port, '/remote.js', { Cookie: `carbot_token=${session}` })).status, 200);
      assert.equal((await get(server.port, '/remote.js', { Cookie: 'carbot_token=s3cret' })).status, 401);

      await client(server, '', { headers: { Cookie: `other=1; carbot_token=${session}` } });
      await client(server, '?token=s3cret');
    });

    it('logs a wrong token as a warning, without the token, and counts the next ones from that address', async () => {
      const server = await start({ auth: { token: 's3cret' } });
      assert.equal((await get(server.port, '/?token=guess')).status, 401);
      assert.equal(await refusedUpgrade(wsUrl(server, '?token=guess')), 401);
      assert.equal((await get(server.port, '/?token=guess2')).status, 401);
      await server.close();
      await logged();
      const warnings = memory.lines.filter((l) => l.startsWith('warn:'));
      assert.deepEqual(warnings, [
        'warn: remote: wrong credentials for GET / from 127.0.0.1',
        'warn: 2 more rejected from remote 127.0.0.1 in the last 10 s',
      ]);
      assert.ok(!memory.lines.some((l) => l.includes('guess')));
    });

    it('with basic auth: a browser prompt without credentials, access with them', async () => {
      const server = await start({ auth: { username: 'pi', password: 'grow bed' } });
      const basic = (u: string, p: string): string => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
      const denied = await get(server.port, '/');
      assert.equal(denied.status, 401);
      assert.equal(denied.headers['www-authenticate'], 'Basic realm="carbot", charset="UTF-8"');
      assert.equal((await get(server.port, '/', { Authorization: basic('pi', 'wrong') })).status, 401);
      assert.equal((await get(server.port, '/', { Authorization: basic('pi', 'grow bed') })).status, 200);
      assert.equal(await refusedUpgrade(wsUrl(server)), 401);
      const c = await client(server, '', { headers: { Authorization: basic('pi', 'grow bed') } });
      c.ws.send('stop');
      await c.next('result');
      assert.deepEqual(car.commandWords(), ['stop']);
    });

    it('refuses a username without a password', async () => {
      await assert.rejects(start({ auth: { username: 'pi' } }), /http\.username and http\.password must be set together/);
    });
  });

  describe('who may drive (docs/security.md)', () => {
    for (const [what, send] of [
      ['an unknown word', (c: Client) => c.ws.send('sideways')],
      ['a binary frame', (c: Client) => c.ws.send(Buffer.from('forward'), { binary: true })],
      ['a speed of 500', (c: Client) => c.ws.send('{"move":"forward","speed":500}')],
      ['an oversized message', (c: Client) => c.ws.send('f'.repeat(300))],
    ] as const) {
      it(`stops the car when the page driving it goes away, even after another page sent ${what}`, async () => {
        const server = await start();
        const driver = await client(server);
        const other = await client(server);
        driver.ws.send('forward');
        await driver.next('result');
        send(other);
        assert.ok((await other.next('result')).result !== undefined);
        await driver.close();
        await waitUntil(() => car.state().motion === 'stopped', () => memory.lines.join('\n'));
        assert.deepEqual(car.lost, ['remote 127.0.0.1']);
        assert.equal(car.state().reason, 'disconnect');
      });
    }

    it('refuses requests and websockets whose Host is not a name of this machine (DNS rebinding)', async () => {
      const server = await start({ allowedHosts: ['car.example.org'] });
      const evil = await get(server.port, '/', { Host: 'evil.example' });
      assert.equal(evil.status, 403);
      assert.match(evil.body, /only served under the names of the machine/);
      assert.equal((await get(server.port, '/', { Host: `evil.example:${server.port}` })).status, 403);
      const rebound = { headers: { Host: `evil.example:${server.port}` }, origin: `http://evil.example:${server.port}` };
      assert.equal(await refusedUpgrade(wsUrl(server), rebound), 403);
      for (const host of [`127.0.0.1:${server.port}`, `localhost:${server.port}`, 'car.example.org', `CAR.example.org:${server.port}`]) {
        assert.equal((await get(server.port, '/', { Host: host })).status, 200, host);
      }
      const own = await client(server, '', { headers: { Host: `car.example.org:${server.port}` }, origin: `http://car.example.org:${server.port}` });
      own.ws.send('forward');
      await own.next('result');
      assert.deepEqual(car.commandWords(), ['forward']);
      await logged();
      assert.ok(
        memory.lines.includes(
          'warn: remote: refused GET / from 127.0.0.1: Host "evil.example" is none of this machine\'s names or addresses (if it should be, add it to http.allowedHosts)',
        ),
        memory.lines.join('\n'),
      );
    });

    it('slows down wrong credentials per address: after 10, wrong ones wait, the right token still gets in', async () => {
      const server = await start({ auth: { token: 's3cret' } });
      const statuses: number[] = [];
      for (let i = 0; i < 12; i++) statuses.push((await get(server.port, `/?token=guess${i}`)).status);
      assert.deepEqual(statuses, [...Array<number>(10).fill(401), 429, 429]);
      const wrong = await get(server.port, '/?token=guess12');
      assert.equal(wrong.status, 429);
      assert.equal(wrong.headers['retry-after'], '2');
      assert.equal(await refusedUpgrade(wsUrl(server, '?token=guess13')), 429);
      const right = await get(server.port, '/?token=s3cret');
      assert.equal(right.status, 200);
      const session = /^carbot_token=([^;]+)/.exec(String(right.headers['set-cookie']))?.[1] ?? '';
      const page = await client(server, '', { headers: { Cookie: `carbot_token=${session}` } });
      page.ws.send('stop');
      await page.next('result');
      assert.deepEqual(car.commandWords(), ['stop']);
      await server.close();
      await logged();
      assert.deepEqual(memory.lines.filter((l) => l.startsWith('warn:')), [
        'warn: remote: wrong credentials for GET / from 127.0.0.1',
        'warn: 13 more rejected from remote 127.0.0.1 in the last 10 s',
      ]);
    });

    it('never locks the owner out: wrong tokens from the owner’s address between the owner’s pages', async () => {
      const server = await start({ auth: { token: 's3cret' } });
      const basic = (u: string, p: string): string => `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`;
      const owner: number[] = [];
      for (let i = 0; i < 6; i++) {
        for (let j = 0; j < 5; j++) await get(server.port, `/?token=guess${i}-${j}`);
        owner.push((await get(server.port, '/?token=s3cret')).status);
      }
      assert.deepEqual(owner, Array<number>(6).fill(200));
      // The same with basic auth, the page's websocket included.
      const other = await start({ auth: { username: 'pi', password: 'grow bed' } });
      for (let j = 0; j < 12; j++) await get(other.port, '/', { Authorization: basic('pi', `guess${j}`) });
      assert.equal((await get(other.port, '/', { Authorization: basic('pi', 'guess') })).status, 429);
      assert.equal((await get(other.port, '/', { Authorization: basic('pi', 'grow bed') })).status, 200);
      await client(other, '', { headers: { Authorization: basic('pi', 'grow bed') } });
    });

    it('lets each page send commandsPerSecond (twice that at once), answers the rest, and always obeys a stop', async () => {
      const server = await start({ commandsPerSecond: 5 });
      const flooder = await client(server);
      const other = await client(server);
      flooder.ws.send('forward');
      for (let i = 0; i < 40; i++) flooder.ws.send(i % 2 ? 'faster' : 'slower');
      flooder.ws.send('stop');
      const results: Record<string, unknown>[] = [];
      for (let i = 0; i < 42; i++) results.push((await flooder.next('result')).result as Record<string, unknown>);
      const refused = results.filter((r) => r.error === 'too many commands');
      assert.ok(refused.length >= 25, `${refused.length} refused`);
      assert.deepEqual(refused[0], { error: 'too many commands', limit: 5 });
      assert.deepEqual(results.at(-1), { move: 'stop', motion: 'stopped', speed: car.state().speed });
      // The car saw at most the budget (10 at once, plus what refilled meanwhile) and the stop.
      assert.ok(car.commands.length <= 14, `${car.commands.length} commands reached the car`);
      assert.equal(car.commands.at(-1)?.payload, 'stop');
      // Another page has a budget of its own.
      other.ws.send('forward');
      assert.equal(((await other.next('result')).result as Record<string, unknown>).motion, 'forward');
      await server.close();
      await logged();
      const lines = memory.lines.filter((l) => l.startsWith('warn:'));
      assert.equal(lines[0], 'warn: remote: rejected commands from 127.0.0.1: more than 5 a second (commandsPerSecond); only stop is obeyed until they slow down');
      assert.match(lines[1], /^warn: \d+ more rejected from remote 127\.0\.0\.1 in the last 10 s$/);
      assert.equal(lines.length, 2);
    });

    it('does not give a page that reconnects a fresh budget, nor log every reconnection', async () => {
      const server = await start({ commandsPerSecond: 5 });
      const first = await client(server);
      for (let i = 0; i < 12; i++) first.ws.send('faster');
      for (let i = 0; i < 12; i++) await first.next('result');
      await first.close();
      const again = await client(server);
      again.ws.send('slower');
      assert.deepEqual((await again.next('result')).result, { error: 'too many commands', limit: 5 });
      again.ws.send('stop');
      assert.equal(((await again.next('result')).result as Record<string, unknown>).move, 'stop');
      for (let i = 0; i < 5; i++) await (await client(server)).close();
      await server.close();
      await logged();
      assert.equal(memory.lines.filter((l) => l.includes('page connected from')).length, 1);
      assert.ok(memory.lines.includes('info: remote: 6 more pages connected from 127.0.0.1 in the last 10 s'), memory.lines.join('\n'));
    });

    it('cuts off a page that does not read what it is sent, before it costs memory', async () => {
      const server = await start();
      const socket = tcpConnect(server.port, '127.0.0.1');
      socket.on('error', () => undefined);
      await once(socket, 'connect');
      socket.write(
        `GET /ws HTTP/1.1\r\nHost: 127.0.0.1:${server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      );
      const [answer] = (await once(socket, 'data')) as [Buffer];
      assert.match(answer.toString(), /^HTTP\/1\.1 101/);
      socket.pause();
      try {
        // A page that never reads: what carbot sends it piles up in the kernel, then in carbot.
        const big = 'x'.repeat(16 * 1024);
        for (let i = 0; i < 4000 && !memory.lines.some((l) => l.includes('does not read')); i++) {
          car.update({ note: `${i}${big}` });
          if (i % 20 === 0) await logged();
        }
        await logged();
        const line = memory.lines.find((l) => l.includes('does not read'));
        assert.match(String(line), /^warn: remote: closed the page from 127\.0\.0\.1: it does not read what carbot sends \(\d+ bytes waiting\)$/);
        assert.ok(Number(/\((\d+) bytes/.exec(String(line))?.[1]) < 512 * 1024);
      } finally {
        socket.destroy();
      }
    });
  });

  describe('lifecycle', () => {
    it('says which address and setting to change when the port is taken', async () => {
      const first = await start();
      const err = (await start({ port: first.port }).then(
        () => assert.fail('second server started'),
        (e: NodeJS.ErrnoException) => e,
      )) as NodeJS.ErrnoException;
      assert.equal(err.code, 'EADDRINUSE');
      assert.match(err.message, new RegExp(`cannot listen on 127\\.0\\.0\\.1:${first.port}: the address is already in use`));
      assert.match(err.message, /http\.port/);
      // The failed start left nothing attached to the car; the first server still is.
      assert.equal(car.listenerCount('state'), 1);
    });

    it('logs where the page can be opened', async () => {
      const server = await start({ auth: { token: 's3cret' } });
      await logged();
      assert.ok(
        memory.lines.includes(`info: remote: page at ${server.url} (listening on 127.0.0.1:${server.port}, auth: token)`),
        memory.lines.join('\n'),
      );
      assert.ok(!memory.lines.some((l) => l.includes('s3cret')));
    });

    it('close() disconnects the pages, frees the port and leaves no listener on the car', async () => {
      const server = await start();
      const c = await client(server);
      assert.equal(car.listenerCount('state'), 1);
      assert.equal(car.listenerCount('link'), 1);
      const closed = once(c.ws, 'close');
      await server.close();
      await closed;
      await server.close();
      assert.equal(car.listenerCount('state'), 0);
      assert.equal(car.listenerCount('link'), 0);
      const socket = tcpConnect(server.port, '127.0.0.1');
      const [err] = (await once(socket, 'error')) as [NodeJS.ErrnoException];
      assert.equal(err.code, 'ECONNREFUSED');
    });
  });
});
