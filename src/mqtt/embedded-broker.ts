import { createServer, type Server } from 'node:net';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { WebSocketServer, createWebSocketStream } from 'ws';
import { foreignPage, ownHosts } from '../http/hosts';
import type { Logger } from '../log';
import { Repeats } from '../repeats';

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

/** An in-process aedes broker, so a laptop with no mosquitto can run carbot. Loaded only when asked for. */
export async function startEmbeddedBroker(opts: EmbeddedBrokerOptions): Promise<EmbeddedBroker> {
  const { Aedes } = await import('aedes');
  const aedes = await Aedes.createBroker();
  const tcp = createServer(aedes.handle);
  const sockets = new Set<import('node:net').Socket>();
  tcp.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  let http: HttpServer | undefined;
  let wss: WebSocketServer | undefined;
  let closeRefusals = (): void => undefined;
  const close = async () => {
    closeRefusals();
    wss?.clients.forEach((c) => c.terminate());
    wss?.close();
    for (const s of sockets) s.destroy();
    await Promise.all([closeServer(tcp), http ? closeServer(http) : Promise.resolve()]);
    await new Promise<void>((resolve) => aedes.close(() => resolve()));
  };
  try {
    const port = await listen(tcp, opts.host, opts.port, 'embedded broker', 'embeddedBrokerPort');
    let wsPort: number | undefined;
    if (opts.wsPort !== 0) {
      http = createHttpServer();
      const refusals = new Repeats(opts.log);
      closeRefusals = () => refusals.close();
      const isOwn = ownHosts(opts.allowedHosts);
      wss = new WebSocketServer({
        server: http,
        // A page on another site may not publish to the car through a visitor's browser.
        verifyClient: ({ req }: { req: IncomingMessage }, done: (ok: boolean, code?: number, message?: string) => void) => {
          const why = foreignPage(req, isOwn);
          if (why === undefined) return done(true);
          const from = `embedded broker websocket ${(req.socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '')}`;
          if (refusals.admit(from)) opts.log.warn(`refused a websocket to the embedded broker from ${from.split(' ').pop()}: ${why}`);
          done(false, 403, 'Forbidden');
        },
      });
      wss.on('connection', (socket, req) => aedes.handle(createWebSocketStream(socket) as never, req as never));
      wsPort = await listen(http, opts.host, opts.wsPort, 'embedded broker websockets', 'embeddedBrokerWsPort');
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
