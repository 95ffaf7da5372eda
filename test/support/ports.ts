import { readFileSync } from 'node:fs';
import net from 'node:net';

/**
 * Ports are picked below the kernel's ephemeral range on purpose. A port taken from
 * `listen(0)` lies inside that range, and while a test has its broker stopped, a client
 * reconnecting to that port can be handed the very same number as its own source port
 * and connect to itself (TCP simultaneous open): the client then believes it reached a
 * broker. Below the range no outgoing socket ever gets such a number.
 */
const handedOut = new Set<number>();
const LOWEST = 10000;

export async function freePort(): Promise<number> {
  const below = ephemeralRangeStart();
  for (let attempt = 0; below > LOWEST && attempt < 50; attempt++) {
    const candidate = LOWEST + Math.floor(Math.random() * (below - LOWEST));
    if (handedOut.has(candidate)) continue;
    if ((await tryListen(candidate)) !== undefined) return remember(candidate);
  }
  for (;;) {
    const port = await tryListen(0);
    if (port !== undefined && !handedOut.has(port)) return remember(port);
  }
}

function remember(port: number): number {
  // A port is free again as soon as its probe closes; remembering it keeps two brokers
  // started in one run from being given the same number before either has bound it.
  handedOut.add(port);
  return port;
}

function ephemeralRangeStart(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    return Number(low) || 0;
  } catch {
    return 0;
  }
}

function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(undefined));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}

/** Whether something accepts TCP connections on 127.0.0.1:port right now. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
