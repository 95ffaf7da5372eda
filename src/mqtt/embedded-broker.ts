import { createServer, type Server } from 'node:net';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { foreignPage, ownHosts } from '../http/hosts';
import type { Logger } from '../process/log';
import { Repeats } from '../admission/repeats';
import { MAX_PACKET_BYTES, PacketSizeWatch } from './packet-size';

/**
 * Connections at once, TCP and websockets each: carbot, `carbot send`, a few tools. Past it a
 * new connection is closed at once, so a client that opens them in a loop cannot make the
 * process hold thousands.
 */
export const MAX_BROKER_CONNECTIONS = 64;

/**
 * Cuts a client off as soon as a packet over MAX_PACKET_BYTES begins, before aedes buffers and
 * parses it: aedes (1.x) has no limit of its own, and its parser keeps a packet whole in
 * memory until its last byte. Its client's parser is the one place every byte goes through.
 */
function limitPacketSize(client: unknown, conn: { destroy(): void }, refused: (bytes: number) => void): boolean {
  const parser = (client as { _parser?: { parse(buf: Buffer): number } })._parser;
  if (!parser || typeof parser.parse !== 'function') return false;
  const parse = parser.parse;
  const watch = new PacketSizeWatch();
  parser.parse = function (buf: Buffer): number {
    const size = watch.feed(buf);
    if (size === undefined) return parse.call(this, buf);
    refused(size);
    conn.destroy();
    return 0;
  };
  return true;
}

export interface EmbeddedBrokerOptions {
  host: string;
  port: number;
  /** 0 = no websockets listener. */
  wsPort: number;
  /** Host names besides this machine's own that websocket clients may use (http.allowedHosts). */
  allowedHosts?: readonly string[];
  log: Logger;
}

export interface EmbeddedBroker {
  port: number;
  wsPort?: number;
  close(): Promise<void>;
}

function listen(server: Server | HttpServer, host: string, port: number, what: string, setting: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      server.off('listening', onListening);
      if (err.code === 'EADDRINUSE') {
        reject(new Error(`${what} port ${host}:${port} is already in use (another broker running? stop it, or set ${setting})`));
      } else reject(new Error(`${what} cannot listen on ${host}:${port}: ${err.message}`));
    };
    const onListening = () => {
      server.off('error', onError);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}

const closeServer = (server: Server | HttpServer) =>
  new Promise<void>((resolve) => (server.listening ? server.close(() => resolve()) : resolve()));

interface Emitter {
  _do(message: unknown, callback: unknown): unknown;
}

/** How deep aedes' emitter may hand messages on within one stack before the rest wait a turn. */
const MAX_DELIVERY_DEPTH = 64;

/**
 * aedes' message emitter (mqemitter) hands each queued message on from the callback of the one
 * before: when deliveries complete at once, a backlog of thousands (a client flooding a topic
 * while a subscriber's socket is full) is worked off in one ever deeper stack, until "Maximum
 * call stack size exceeded" ends the process (mqemitter#204, aedes#193; carbot's bench met it).
 * Past MAX_DELIVERY_DEPTH the next messages wait for a turn of the loop instead, in order:
 * once any wait, every later one queues behind them.
 */
function boundRecursion(mq: Emitter): void {
  const original = mq._do;
  if (typeof original !== 'function') return;
  let depth = 0;
  const waiting: [unknown, unknown][] = [];
  let scheduled = false;
  const run = (message: unknown, callback: unknown): void => {
    depth++;
    try {
      original.call(mq, message, callback);
    } finally {
      depth--;
    }
  };
  const drain = (): void => {
    scheduled = false;
    while (waiting.length > 0 && depth < MAX_DELIVERY_DEPTH) {
      const [message, callback] = waiting.shift() as [unknown, unknown];
      run(message, callback);
    }
    if (waiting.length > 0 && !scheduled) {
      scheduled = true;
      setImmediate(drain);
    }
  };
  mq._do = function (message: unknown, callback: unknown) {
    if (waiting.length > 0 || depth >= MAX_DELIVERY_DEPTH) {
      waiting.push([message, callback]);
      if (!scheduled) {
        scheduled = true;
        setImmediate(drain);
      }
      return this;
    }
    run(message, callback);
    return this;
  };
}

/** An in-process aedes broker, so a laptop with no mosquitto can run carbot. Loaded only when asked for. */
export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const { Aedes } = await import('aedes');
  const aedes = await Aedes.createBroker({
    // $SYS/<broker>/new/clients and …/disconnect/clients carry every client's id: never sent to
    // a client (a subscriber to $SYS/# would learn carbot's and everyone's client ids).
    authorizeForward: (_client, packet) => (packet.topic.startsWith('$SYS/') ? null : packet),
  });
  boundRecursion((aedes as unknown as { mq: Emitter }).mq);
  const refusals = new Repeats(opts.log);
  let unguarded = false;
  const guard = (client: unknown, conn: { destroy(): void }, from: string) => {
    const ok = limitPacketSize(client, conn, (bytes) => {
      if (refusals.admit(`embedded broker ${from}`)) {
        opts.log.warn(`embedded broker: closed the connection from ${from}: a packet of ${bytes} bytes, over the limit of ${MAX_PACKET_BYTES}`);
      }
    });
    if (!ok && !unguarded) {
      unguarded = true;
      opts.log.warn('embedded broker: aedes no longer has the parser carbot watches: packets are not size-limited');
    }
  };
  const tcp = createServer((socket) => guard(aedes.handle(socket), socket, (socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '')));
  tcp.maxConnections = MAX_BROKER_CONNECTIONS;
  tcp.on('drop', (data) => {
    const from = String(data?.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');
    if (refusals.admit(`embedded broker ${from}`)) opts.log.warn(`embedded broker: refused a connection from ${from}: already ${MAX_BROKER_CONNECTIONS} open`);
  });
  const sockets = new Set<import('node:net').Socket>();
  tcp.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  let http: HttpServer | undefined;
  let wss: WebSocketServer | undefined;
  const close = async () => {
    refusals.close();
    wss?.clients.forEach((c) => c.terminate());
    wss?.close();
    for (const s of sockets) s.destroy();
    await Promise.all([closeServer(tcp), http ? closeServer(http) : Promise.resolve()]);
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
  };
  try {
    const port = await listen(tcp, opts.host, opts.port, 'embedded broker', 'embeddedBroker.port');
    let wsPort: number | undefined;
    if (opts.wsPort !== 0) {
      http = createHttpServer();
      const isOwn = ownHosts(opts.allowedHosts);
      const clients = (): number => wss?.clients.size ?? 0;
      wss = new WebSocketServer({
        server: http,
        // A frame over the limit closes the socket (1009) before it is buffered in full.
        maxPayload: MAX_PACKET_BYTES,
        // A page on another site may not publish to the car through a visitor's browser.
        verifyClient: ({ req }: { req: IncomingMessage }, done: (ok: boolean, code?: number, message?: string) => void) => {
          const why = foreignPage(req, isOwn);
          const from = `embedded broker websocket ${(req.socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '')}`;
          if (why === undefined && clients() >= MAX_BROKER_CONNECTIONS) {
            if (refusals.admit(from)) opts.log.warn(`refused a websocket to the embedded broker from ${from.split(' ').pop()}: already ${MAX_BROKER_CONNECTIONS} open`);
            return done(false, 503, 'Service Unavailable');
          }
          if (why === undefined) return done(true);
          if (refusals.admit(from)) opts.log.warn(`refused a websocket to the embedded broker from ${from.split(' ').pop()}: ${why}`);
          done(false, 403, 'Forbidden');
        },
      });
      wss.on('connection', (socket, req) => {
        const stream = createWebSocketStream(socket);
        guard(aedes.handle(stream as never, req as never), stream, `websocket ${(req.socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '')}`);
      });
      wsPort = await listen(http, opts.host, opts.wsPort, 'embedded broker websockets', 'embeddedBroker.wsPort');
    }
    opts.log.info(
      `embedded MQTT broker listening on mqtt://${opts.host}:${port}${wsPort ? ` and ws://${opts.host}:${wsPort}` : ''}`,
    );
    return { port, wsPort, close };
  } catch (err) {
    await close();
    throw err;
  }
}
