/**
 * The browser remote: a plain node:http server for the page in web/ and a websocket
 * endpoint (/ws) that carries commands to the car and STATE back to the page. It talks to
 * carbot in-process through CarView, not to the broker, so a stop pressed on the page
 * reaches the motors even while the broker is down.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { networkInterfaces } from 'node:os';
import * as path from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { Admission, MAX_PAYLOAD_BYTES } from '../admission/admission';
import { CommandBudget, FailureBudget } from '../admission/budget';
import type { CarView } from './car-view';
import type { Logger } from '../process/log';
import { Repeats } from '../admission/repeats';
import { foreignPage, isWildcard, ownHosts } from './hosts';

export interface RemoteAuth {
  /** Shared secret: `?token=` on the first visit, then a cookie. */
  token?: string;
  /** HTTP basic auth; username and password are set together or not at all. */
  username?: string;
  password?: string;
}

export interface RemoteServerOptions {
  host: string;
  /** 0 picks a free port (tests); "0 = page off" is the caller's business. */
  port: number;
  car: CarView;
  log: Logger;
  auth?: RemoteAuth;
  /** Directory holding remote.html and its assets; defaults to the package's web/. */
  webRoot?: string;
  /** How often the server proves to each page that the connection is alive. */
  heartbeatMs?: number;
  /** Stop the car when the page driving it goes away (default true, as `stopOnDisconnect`). */
  stopOnDisconnect?: boolean;
  /** Each socket's budget (`commandsPerSecond`, default 50; 0 = none); a stop always passes. */
  commandsPerSecond?: number;
  /** `Host` names besides this machine's own names and addresses (`http.allowedHosts`). */
  allowedHosts?: readonly string[];
  /** `camera.dir`: the latest picture of each stop is served from there, and nothing else. */
  photosDir?: string;
}

export interface RemoteServer {
  /** Where the page can be opened from this machine. */
  url: string;
  port: number;
  /** Pages connected right now. */
  readonly openPages: number;
  close(): Promise<void>;
}

/** Frames above this close the socket (1009) before they are buffered in full. */
const MAX_FRAME_BYTES = 4096;
const DEFAULT_HEARTBEAT_MS = 5000;
/** A handful of phones is normal; more is a misbehaving client, and each one costs memory. */
const MAX_PAGES = 32;
/**
 * What carbot holds for a page that does not read (a STATE is ~200 bytes, so this is
 * hundreds of messages behind, on top of what the kernel buffers): past it the page is cut off.
 */
export const MAX_UNSENT_BYTES = 256 * 1024;
/** Slow clients get this long to send their request headers (Node's default is a minute). */
const HEADERS_TIMEOUT_MS = 10_000;
const TOKEN_COOKIE = 'carbot_token';
/** /photos/<stop folder>/<picture>.jpg: names as src/sensors/camera.ts makes them, never a path of one's own. */
const PHOTO_PATH = /^\/photos\/([A-Za-z0-9_-]{1,64})\/(\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z\.jpg)$/;
const WS_PATH = '/ws';

/** The only files served: a fixed table, so no request path ever reaches the file system. */
const ASSETS: { urlPaths: string[]; file: string; type: string }[] = [
  { urlPaths: ['/', '/remote.html'], file: 'remote.html', type: 'text/html; charset=utf-8' },
  { urlPaths: ['/remote.css'], file: 'remote.css', type: 'text/css; charset=utf-8' },
  { urlPaths: ['/remote.js'], file: 'remote.js', type: 'text/javascript; charset=utf-8' },
  { urlPaths: ['/icon.svg'], file: 'icon.svg', type: 'image/svg+xml' },
];

const SECURITY_HEADERS = {
  // 'self' in connect-src covers ws:/wss: to the same host, the page needs nothing else.
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  // The address may carry ?token=.
  'Referrer-Policy': 'no-referrer',
};

interface Asset {
  body: Buffer;
  type: string;
  etag: string;
}

type AuthOutcome = { ok: true; setCookie: boolean } | { ok: false; presented: boolean };

/** node:crypto, loaded at the first page or credential rather than at start-up. */
const crypto = (): typeof import('node:crypto') => require('node:crypto') as typeof import('node:crypto');

/**
 * What the cookie holds instead of the token: an HMAC of it, so the token itself never sits in
 * the browser's cookie jar, where every other app on the same host name (cookies are not kept
 * apart by port) would be sent it. It opens only this page, and changes with the token.
 */
function sessionValue(token: string): string {
  return crypto().createHmac('sha256', token).update('carbot remote session').digest('base64url');
}

function hashEqual(a: string, b: string): boolean {
  const { createHash, timingSafeEqual } = crypto();
  const digest = (s: string): Buffer => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

/** Splits the raw request target without normalising it: `/../x` must not become `/x`. */
function splitTarget(url: string | undefined): { pathname: string; query: URLSearchParams } {
  const target = url ?? '/';
  const q = target.indexOf('?');
  return q < 0
    ? { pathname: target, query: new URLSearchParams() }
    : { pathname: target.slice(0, q), query: new URLSearchParams(target.slice(q + 1)) };
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

function peer(req: IncomingMessage): string {
  return (req.socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');
}

function describeListenError(err: NodeJS.ErrnoException, host: string, port: number): Error {
  const where = `${host}:${port}`;
  const why =
    err.code === 'EADDRINUSE'
      ? 'the address is already in use (another carbot, or another program, listens there)'
      : err.code === 'EADDRNOTAVAIL'
        ? 'no network interface of this machine has that address'
        : err.code === 'EACCES'
          ? 'permission denied (ports below 1024 need privileges)'
          : err.message;
  const e = new Error(
    `remote page: cannot listen on ${where}: ${why}; change http.port or http.host, or set http.port to 0 to turn the page off`,
  ) as NodeJS.ErrnoException;
  e.code = err.code;
  return e;
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/** The addresses a phone on the same network can use, for the startup log line. */
function lanUrls(port: number): string[] {
  const urls: string[] = [];
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) {
      if (!a.internal && a.family === 'IPv4') urls.push(`http://${a.address}:${port}/`);
    }
  }
  return urls;
}

async function loadAssets(webRoot: string): Promise<Map<string, Asset>> {
  const byPath = new Map<string, Asset>();
  for (const a of ASSETS) {
    let body: Buffer;
    try {
      // Four small files, read once at start-up: in one go rather than a thread-pool trip each.
      body = readFileSync(path.join(webRoot, a.file));
    } catch (err) {
      throw new Error(`remote page: cannot read ${path.join(webRoot, a.file)}: ${(err as Error).message}`);
    }
    let etag: string | undefined;
    const asset: Asset = {
      body,
      type: a.type,
      // Hashed when first asked for: most starts serve no page at all.
      get etag() {
        return (etag ??= `"${crypto().createHash('sha1').update(body).digest('base64url').slice(0, 16)}"`);
      },
    };
    for (const p of a.urlPaths) byPath.set(p, asset);
  }
  return byPath;
}

/**
 * The door every request and handshake goes through: a Host of this machine (DNS rebinding),
 * then the credentials (a token, or basic auth), with wrong ones slowed per address.
 */
class Door {
  readonly token?: string;
  readonly username?: string;
  private readonly password?: string;
  private readonly failures = new FailureBudget();
  private readonly isOwnHost: (host: string) => boolean;
  /** The cookie's value, made from the token when first needed (sessionValue). */
  private session?: string;
  /** "token or basic", for the startup line. */
  readonly kinds: string;
  /** "a token or a username and password", for a 401's text. */
  readonly needs: string;

  constructor(
    auth: RemoteAuth | undefined,
    allowedHosts: readonly string[] | undefined,
    private readonly rejections: Repeats,
    private readonly log: Logger,
  ) {
    this.token = auth?.token || undefined;
    this.username = auth?.username || undefined;
    this.password = auth?.password || undefined;
    if ((this.username === undefined) !== (this.password === undefined)) {
      throw new Error('remote page: http.username and http.password must be set together');
    }
    this.isOwnHost = ownHosts(allowedHosts);
    this.kinds = [this.token && 'token', this.username && 'basic'].filter(Boolean).join(' or ');
    this.needs = [this.token && 'a token', this.username && 'a username and password'].filter(Boolean).join(' or ');
  }

  /** The cookie that lets a browser in after its first visit with ?token=. */
  get sessionCookie(): string {
    return (this.session ??= sessionValue(this.token!));
  }

  authenticate(req: IncomingMessage, query: URLSearchParams): AuthOutcome {
    const { token, username, password } = this;
    if (token === undefined && username === undefined) return { ok: true, setCookie: false };
    const queryToken = query.get('token') ?? undefined;
    const cookieToken = cookie(req, TOKEN_COOKIE);
    const header = req.headers.authorization;
    if (token !== undefined) {
      if (queryToken !== undefined && hashEqual(queryToken, token)) return { ok: true, setCookie: true };
      if (cookieToken !== undefined && hashEqual(cookieToken, this.sessionCookie)) return { ok: true, setCookie: false };
    }
    if (username !== undefined && password !== undefined && header?.startsWith('Basic ')) {
      const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      // Both halves compared every time, so the timing does not tell which one was wrong.
      const userOk = hashEqual(decoded.slice(0, Math.max(colon, 0)), username);
      const passwordOk = hashEqual(decoded.slice(colon + 1), password);
      if (colon >= 0 && userOk && passwordOk) {
        return { ok: true, setCookie: false };
      }
    }
    return { ok: false, presented: queryToken !== undefined || cookieToken !== undefined || header !== undefined };
  }

  logRejected(req: IncomingMessage, pathname: string, presented: boolean): void {
    const { log } = this;
    // A browser's first request before the basic-auth prompt carries no credentials: routine.
    if (!presented) {
      if (log.isLevelEnabled('debug')) log.debug(`remote: no credentials for ${req.method} ${pathname} from ${peer(req)}`);
      return;
    }
    this.failures.failed(peer(req));
    if (this.rejections.admit(`remote ${peer(req)}`)) log.warn(`remote: wrong credentials for ${req.method} ${pathname} from ${peer(req)}`);
  }

  /**
   * What every request and handshake must pass before anything else: a Host of this machine
   * (DNS rebinding) and an Origin that matches it. Says why not, or undefined.
   */
  refusal(req: IncomingMessage): Refusal | undefined {
    const foreign = foreignPage(req, this.isOwnHost);
    if (foreign !== undefined) {
      if (this.rejections.admit(`remote ${peer(req)}`)) this.log.warn(`remote: refused ${req.method} ${req.url?.split('?')[0]} from ${peer(req)}: ${foreign}`);
      return { status: '403 Forbidden', text: 'this page is only served under the names of the machine carbot runs on' };
    }
    return undefined;
  }

  /**
   * For an address that keeps getting the credentials wrong, a pause: only failures are
   * slowed down. The right credentials are checked first and always let in, so somebody
   * guessing from the owner's address (or from behind the same proxy) cannot lock the owner
   * out; what makes guessing hopeless is the secret's length (http.token is 16 characters or
   * more), the pause keeps the journal and the CPU quiet. Undefined when not paused.
   */
  throttled(req: IncomingMessage): Refusal | undefined {
    if (!this.failures.blocked(peer(req))) return undefined;
    this.rejections.admit(`remote ${peer(req)}`);
    return { status: '429 Too Many Requests', text: 'too many wrong credentials from this address; wait a few seconds', headers: { 'Retry-After': '2' } };
  }

  unauthorized(res: ServerResponse): void {
    const headers: Record<string, string> = { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' };
    if (this.username !== undefined) headers['WWW-Authenticate'] = 'Basic realm="carbot", charset="UTF-8"';
    const hint = this.token !== undefined ? ' Open the address with ?token=<http.token> appended.' : '';
    res.writeHead(401, headers).end(`401 Unauthorized: the carbot remote needs ${this.needs}.${hint}\n`);
  }
}

type Refusal = { status: string; text: string; headers?: Record<string, string> };

function plain(res: ServerResponse, status: number, text: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8', ...extra }).end(`${text}\n`);
}

/** The HTTP side: the page's files and the pictures, behind the door. */
function pageHandler(door: Door, assets: Map<string, Asset>, photosDir: string | undefined, log: Logger): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const { pathname, query } = splitTarget(req.url);
    const refused = door.refusal(req);
    if (refused) {
      const [code] = refused.status.split(' ');
      plain(res, Number(code), `${refused.status}: ${refused.text}`, refused.headers);
      return;
    }
    const auth = door.authenticate(req, query);
    if (!auth.ok) {
      const paused = door.throttled(req);
      if (paused) {
        const [code] = paused.status.split(' ');
        plain(res, Number(code), `${paused.status}: ${paused.text}`, paused.headers);
        return;
      }
      door.logRejected(req, pathname, auth.presented);
      door.unauthorized(res);
      return;
    }
    if (pathname === WS_PATH) {
      plain(res, 426, '426 Upgrade Required: /ws is the websocket endpoint of the carbot remote', {
        Upgrade: 'websocket',
      });
      return;
    }
    if (pathname === '/photos' || pathname.startsWith('/photos/')) {
      servePhotos(req, res, pathname, photosDir);
      return;
    }
    const asset = assets.get(pathname);
    if (asset === undefined) {
      log.debug(`remote: 404 ${req.method} ${pathname} from ${peer(req)}`);
      plain(res, 404, '404 Not Found');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      plain(res, 405, '405 Method Not Allowed', { Allow: 'GET, HEAD' });
      return;
    }
    const headers: Record<string, string | string[]> = {
      ...SECURITY_HEADERS,
      'Content-Type': asset.type,
      'Content-Length': String(asset.body.length),
      // Revalidate every time so an upgraded carbot never runs an old page against a new server.
      'Cache-Control': 'no-cache',
      ETag: asset.etag,
    };
    if (auth.setCookie && door.token !== undefined) {
      // Lax: sent when the page is opened from a bookmark or a link, never on another site's requests.
      headers['Set-Cookie'] = `${TOKEN_COOKIE}=${door.sessionCookie}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000`;
    }
    if (req.headers['if-none-match'] === asset.etag) {
      delete headers['Content-Length'];
      res.writeHead(304, headers).end();
      return;
    }
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : asset.body);
  };
}

/**
 * `GET /photos`: the latest picture of each stop, `{"<folder>": {"url", "stop", "time"}}`;
 * `GET /photos/<folder>/<name>.jpg`: one picture, read from camera.dir alone (the names are
 * matched against the form carbot gives them: no other path reaches the file system).
 */
function servePhotos(req: IncomingMessage, res: ServerResponse, pathname: string, dir: string | undefined): void {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    plain(res, 405, '405 Method Not Allowed', { Allow: 'GET, HEAD' });
    return;
  }
  const json = { ...SECURITY_HEADERS, 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-cache' };
  if (pathname === '/photos') {
    void (async () => {
      const latest: Record<string, { url: string; stop: string; time?: string }> = {};
      if (dir) {
        const { latestPictures } = require('../sensors/camera') as typeof import('../sensors/camera');
        for (const [folder, name] of Object.entries(latestPictures(dir))) {
          let stop = folder;
          let time: string | undefined;
          try {
            const sidecar = JSON.parse(await readFile(path.join(dir, folder, name.replace(/\.jpg$/, '.json')), 'utf8')) as { stop?: unknown; time?: unknown };
            if (typeof sidecar.stop === 'string') stop = sidecar.stop;
            if (typeof sidecar.time === 'string') time = sidecar.time;
          } catch {
            // A picture without its sidecar is still the latest picture.
          }
          latest[folder] = { url: `/photos/${folder}/${name}`, stop, time };
        }
      }
      res.writeHead(200, json).end(req.method === 'HEAD' ? undefined : JSON.stringify(latest));
    })().catch((err: Error) => plain(res, 500, `500 Internal Server Error: ${err.message}`));
    return;
  }
  const match = PHOTO_PATH.exec(pathname);
  if (!dir || !match) {
    plain(res, 404, '404 Not Found');
    return;
  }
  readFile(path.join(dir, match[1], match[2])).then(
    (body) => {
      res.writeHead(200, { ...SECURITY_HEADERS, 'Content-Type': 'image/jpeg', 'Content-Length': String(body.length), 'Cache-Control': 'private, max-age=86400' });
      res.end(req.method === 'HEAD' ? undefined : body);
    },
    () => plain(res, 404, '404 Not Found'),
  );
}

function rejectUpgrade(socket: Duplex, status: string, text: string, headers: Record<string, string> = {}): void {
  const body = `${status}: ${text}\n`;
  const extra = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  socket.end(
    `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n${extra}` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/**
 * The websocket side: the open pages, each with its budget (admission shared with MQTT's
 * rules: src/admission/admission.ts), the commands they send the car, the STATE they are sent,
 * the heartbeat that finds the ones gone, and room made when too many are open.
 */
class Pages {
  // One message per turn of the event loop and socket: a flooding page takes its turn like
  // everyone else, so a stop from another page, MQTT and the watchdog ping get theirs.
  readonly wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false, allowSynchronousEvents: false });
  private readonly alive = new WeakMap<WebSocket, boolean>();
  private readonly pages = new Map<WebSocket, { address: string; budget: CommandBudget }>();
  /**
   * The budgets of pages gone, by address, until they have refilled: a page that reconnects
   * carries on with what it had left instead of a fresh budget each time.
   */
  private readonly leftBudgets = new Map<string, CommandBudget>();
  /** The page whose command the car took last. */
  private lastSender?: WebSocket;
  // A client that opens pages in a loop would have one line per page it pushes out.
  private readonly evictions: Repeats;
  // A client that reconnects in a loop would otherwise log two lines a connection.
  private readonly comings: Repeats;
  private heartbeat?: NodeJS.Timeout;
  /** Set once the server is closing. */
  closing = false;
  private readonly rejections: Repeats;
  private readonly onState = (state: Record<string, unknown>): void =>
    this.broadcast({ type: 'state', state, online: this.car.brokerOnline() });
  private readonly onLink = (online: boolean): void => this.broadcast({ type: 'link', online });
  // A new picture: the pages fetch /photos again.
  private readonly onPhoto = (photo: Record<string, unknown>): void => this.broadcast({ type: 'photo', stop: photo.stop ?? null, ok: photo.error === undefined });

  constructor(
    private readonly opts: RemoteServerOptions,
    private readonly admission: Admission,
    private readonly door: Door,
    private readonly heartbeatMs: number,
  ) {
    const { log } = opts;
    this.rejections = admission.rejections;
    this.evictions = new Repeats(log, {
      summary: (count, who, seconds) => `remote: ${count} more pages closed to make room (${who.replace(' for ', ' for ones from ')}) in the last ${seconds} s`,
    });
    this.comings = new Repeats(log, {
      summary: (count, address, seconds) => `remote: ${count} more pages connected from ${address} in the last ${seconds} s`,
      level: 'info',
    });
    this.wss.on('connection', (ws: WebSocket, req: IncomingMessage) => this.connected(ws, req));
  }

  private get car(): CarView {
    return this.opts.car;
  }

  get open(): number {
    return this.pages.size;
  }

  /** The car's news, sent to every page. */
  listen(): void {
    this.car.on('state', this.onState);
    this.car.on('link', this.onLink);
    this.car.on('photo', this.onPhoto);
  }

  private budgetFor(address: string): CommandBudget {
    const left = this.leftBudgets.get(address);
    this.leftBudgets.delete(address);
    for (const [a, b] of this.leftBudgets) if (b.full) this.leftBudgets.delete(a);
    return left ?? new CommandBudget(this.admission.perSecond);
  }

  /** Cuts off a page that does not read what it is sent, before what waits for it costs memory. */
  private reading(ws: WebSocket): boolean {
    if (ws.bufferedAmount <= MAX_UNSENT_BYTES) return true;
    const address = this.pages.get(ws)?.address ?? 'unknown';
    if (this.rejections.admit(`remote ${address}`)) {
      this.opts.log.warn(`remote: closed the page from ${address}: it does not read what carbot sends (${ws.bufferedAmount} bytes waiting)`);
    }
    ws.terminate();
    return false;
  }

  private sendText(ws: WebSocket, text: string): void {
    if (ws.readyState === WebSocket.OPEN && this.reading(ws)) ws.send(text);
  }

  private send(ws: WebSocket, message: Record<string, unknown>): void {
    this.sendText(ws, JSON.stringify(message));
  }

  private broadcast(message: Record<string, unknown>): void {
    const text = JSON.stringify(message);
    for (const ws of this.wss.clients) this.sendText(ws, text);
  }

  /**
   * Room for one more page when all are taken: the oldest page of the address holding the
   * most goes (never the one driving), so whoever hogs the slots gives them up, not the owner.
   */
  private makeRoom(newcomer: string): boolean {
    const perAddress = new Map<string, number>();
    for (const { address } of this.pages.values()) perAddress.set(address, (perAddress.get(address) ?? 0) + 1);
    let greediest = newcomer;
    for (const [address, count] of perAddress) if (count > (perAddress.get(greediest) ?? 0)) greediest = address;
    for (const [ws, page] of this.pages) {
      if (page.address !== greediest || ws === this.lastSender) continue;
      if (this.evictions.admit(`${page.address} for ${newcomer}`)) {
        this.opts.log.warn(`remote: ${MAX_PAGES} pages open: closed the oldest from ${page.address} to let in one from ${newcomer}`);
      }
      this.pages.delete(ws);
      // The close frame tells a page why; the socket goes at once, not when the client answers
      // the close (ws waits 30 s for that): one that never answers must not keep it open.
      ws.close(1013, 'too many open remotes');
      ws.terminate();
      return true;
    }
    return false;
  }

  /** A websocket handshake: through the door, and a place among the open pages. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const { door, opts } = this;
    socket.on('error', () => socket.destroy());
    const { pathname, query } = splitTarget(req.url);
    if (pathname !== WS_PATH) {
      rejectUpgrade(socket, '404 Not Found', `the websocket endpoint is ${WS_PATH}`);
      return;
    }
    const refused = door.refusal(req);
    if (refused) {
      rejectUpgrade(socket, refused.status, refused.text, refused.headers);
      return;
    }
    const auth = door.authenticate(req, query);
    if (!auth.ok) {
      const paused = door.throttled(req);
      if (paused) {
        rejectUpgrade(socket, paused.status, paused.text, paused.headers);
        return;
      }
      door.logRejected(req, pathname, auth.presented);
      rejectUpgrade(socket, '401 Unauthorized', `the carbot remote needs ${door.needs}`);
      return;
    }
    if (this.pages.size >= MAX_PAGES && !this.makeRoom(peer(req))) {
      opts.log.warn(`remote: refused a websocket from ${peer(req)}: already ${MAX_PAGES} open`);
      rejectUpgrade(socket, '503 Service Unavailable', `too many open remotes (${MAX_PAGES})`);
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.wss.emit('connection', ws, req));
  }

  private connected(ws: WebSocket, req: IncomingMessage): void {
    const { log, car } = { log: this.opts.log, car: this.car };
    const addr = peer(req);
    const source = `remote ${addr}`;
    const budget = this.budgetFor(addr);
    const overBudget = JSON.stringify({ type: 'result', result: this.admission.tooMany() });
    this.pages.set(ws, { address: addr, budget });
    this.alive.set(ws, true);
    this.heartbeats();
    const logged = this.comings.admit(addr);
    if (logged) log.info(`remote: page connected from ${addr} (${this.pages.size} open)`);
    ws.on('pong', () => this.alive.set(ws, true));
    ws.on('error', (err) => {
      if (this.rejections.admit(source)) log.warn(`remote: websocket from ${addr}: ${err.message}`);
    });
    ws.on('close', () => {
      this.pages.delete(ws);
      this.heartbeats();
      if (!budget.full) this.leftBudgets.set(addr, budget);
      if (logged) log.info(`remote: page from ${addr} disconnected`);
      // Like a radio remote out of range: the page that is driving the car goes away (closed,
      // or a phone that left the Wi-Fi and stopped answering pings), so the car stops.
      const wasDriving = ws === this.lastSender && car.lastCommandSource() === source && car.driving();
      if (wasDriving && !this.closing && this.opts.stopOnDisconnect !== false) {
        log.warn(`remote: the page driving the car (${addr}) went away: stopping`);
        // Not a command (nobody asked): the car stops as for a lost broker, reason disconnect.
        car.driverLost(source);
      }
    });
    ws.on('message', (data: RawData, isBinary: boolean) => {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
      const result = this.command(ws, bytes, isBinary, addr, budget);
      // The page pairs each answer with a command; this one is made once per page, not per message.
      if (result === undefined) this.sendText(ws, overBudget);
      else this.send(ws, { type: 'result', result });
    });
    this.send(ws, { type: 'state', state: car.state(), online: car.brokerOnline(), heartbeatMs: this.heartbeatMs });
  }

  /** One message from a page: admitted (src/admission/admission.ts) and obeyed; undefined when over its budget. */
  private command(ws: WebSocket, bytes: Buffer, isBinary: boolean, addr: string, budget: CommandBudget): Record<string, unknown> | undefined {
    const { admission, opts } = this;
    const { log } = opts;
    const source = `remote ${addr}`;
    // Commands are text: the car reads the text the page sent (parsed once, here or by the stop check).
    const message = admission.admitted(isBinary ? bytes : bytes.toString('utf8'));
    if (admission.take(budget, message, isBinary) !== 'ok') {
      admission.overBudget(source, addr, 'remote: ');
      return undefined;
    }
    if (isBinary) {
      if (this.rejections.admit(source)) log.warn(`remote: ignored a binary message of ${bytes.length} bytes from ${addr}; commands are text`);
      return { error: 'binary message', bytes: bytes.length };
    }
    if (admission.tooLarge(bytes.length)) {
      if (this.rejections.admit(source)) log.warn(`remote: ignored a ${bytes.length}-byte message from ${addr} (limit ${MAX_PAYLOAD_BYTES})`);
      return { error: 'payload too large', bytes: bytes.length };
    }
    let result: Record<string, unknown>;
    try {
      result = this.car.obey(message, source);
    } catch (err) {
      log.error(`remote: command from ${addr} failed: ${(err as Error).stack ?? String(err)}`);
      result = { error: 'internal error' };
    }
    // Only a command the car took makes this page the one driving: a refused one must not
    // take over from the page that is (and whose going away must still stop the car).
    if (result.error === undefined) this.lastSender = ws;
    return result;
  }

  // A phone that walks out of Wi-Fi never closes its socket: terminate what stops answering
  // pings, and send the page a message it can time out on (browsers hide ping frames).
  // Only while a page is open: a carbot nobody looks at does not wake for it.
  private readonly beat = (): void => {
    for (const ws of this.wss.clients) {
      if (this.alive.get(ws) !== true) {
        ws.terminate();
        continue;
      }
      this.alive.set(ws, false);
      ws.ping();
      this.send(ws, { type: 'heartbeat' });
    }
  };

  private heartbeats(): void {
    if (this.wss.clients.size > 0 && !this.closing) this.heartbeat ??= setInterval(this.beat, this.heartbeatMs);
    else {
      clearInterval(this.heartbeat);
      this.heartbeat = undefined;
    }
  }

  /** Every page cut off, the car no longer listened to. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.heartbeat);
    this.comings.close();
    this.evictions.close();
    this.car.off('state', this.onState);
    this.car.off('link', this.onLink);
    this.car.off('photo', this.onPhoto);
    for (const ws of this.wss.clients) ws.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
  }
}

/** Listens, or says in a sentence why it cannot. */
async function listen(server: Server, port: number, host: string, wss: WebSocketServer): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    wss.close();
    throw describeListenError(err as NodeJS.ErrnoException, host, port);
  }
}

export async function startRemoteServer(opts: RemoteServerOptions): Promise<RemoteServer> {
  const { host, log } = opts;
  const heartbeatMs = opts.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  // The page's own admission: a budget per page, its rejection lines apart from MQTT's.
  const admission = new Admission(log, opts.commandsPerSecond ?? 50);
  const rejections = admission.rejections;
  const door = new Door(opts.auth, opts.allowedHosts, rejections, log);
  const pages = new Pages(opts, admission, door, heartbeatMs);
  const assets = await loadAssets(opts.webRoot ?? path.resolve(__dirname, '..', '..', 'web'));

  const server = createServer(pageHandler(door, assets, opts.photosDir, log));
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = HEADERS_TIMEOUT_MS;
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => pages.upgrade(req, socket, head));

  await listen(server, opts.port, host, pages.wss);
  server.on('error', (err) => log.error(`remote: server error: ${err.message}`));
  pages.listen();

  const address = server.address();
  const port = typeof address === 'object' && address !== null ? address.port : opts.port;
  const url = `http://${hostForUrl(isWildcard(host) ? '127.0.0.1' : host)}:${port}/`;
  const where = isWildcard(host) ? [...lanUrls(port), url].join(' ') : url;
  log.info(`remote: page at ${where} (listening on ${hostForUrl(host)}:${port}, ${door.kinds ? `auth: ${door.kinds}` : 'no auth'})`);

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    get openPages() {
      return pages.open;
    },
    close(): Promise<void> {
      closing ??= (async () => {
        pages.closing = true;
        rejections.close();
        await pages.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        log.info('remote: page server closed');
      })();
      return closing;
    },
  };
}
