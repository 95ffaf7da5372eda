/**
 * Which names and addresses are this machine's: for the `Host` check that defeats DNS
 * rebinding (a page on another site whose name is made to resolve to the Pi), and for the
 * rule that a listener beyond loopback needs a token or password.
 */
import { isIP } from 'node:net';
import type { IncomingMessage } from 'node:http';
import { hostname, networkInterfaces } from 'node:os';

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/i;

/** An IP address, or a DNS name whose last label is not all digits (`999.1.1.1` is neither). */
export function isHostOrAddress(value: string): boolean {
  if (isIP(value) !== 0) return true;
  const name = value.endsWith('.') ? value.slice(0, -1) : value;
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split('.');
  return labels.every((l) => LABEL.test(l)) && !/^\d+$/.test(labels[labels.length - 1]);
}

/** Reachable only from this machine. */
export function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || (isIP(h) === 4 && h.startsWith('127.'));
}

export function isWildcard(host: string): boolean {
  return host === '' || host === '0.0.0.0' || host === '::';
}

/** `[::1]:8080` -> `::1`, `Pi.local:8080` -> `pi.local`, `pi.local.` -> `pi.local`; undefined if malformed. */
export function hostOfHeader(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const h = header.trim().toLowerCase();
  let name: string;
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0 || (end + 1 < h.length && !/^:\d{1,5}$/.test(h.slice(end + 1)))) return undefined;
    name = h.slice(1, end);
    if (isIP(name) !== 6) return undefined;
    return name;
  }
  const colon = h.indexOf(':');
  if (colon >= 0 && !/^\d{1,5}$/.test(h.slice(colon + 1))) return undefined;
  name = colon >= 0 ? h.slice(0, colon) : h;
  if (name.endsWith('.')) name = name.slice(0, -1);
  return isHostOrAddress(name) ? name : undefined;
}

/** How often the list of this machine's addresses is read again (DHCP renews, Wi-Fi roams). */
const REFRESH_MS = 10_000;

/**
 * The `Host` values a request to this machine may carry: loopback names, the host name (and
 * `<name>.local`, as Avahi announces it), every interface address, and `extra`.
 */
export function ownHosts(extra: readonly string[] = [], now: () => number = Date.now): (host: string) => boolean {
  const fixed = new Set(['localhost', '127.0.0.1', '::1', ...extra.map((h) => h.toLowerCase())]);
  let known = new Set<string>();
  let readAt = -Infinity;
  const refresh = (): void => {
    const name = hostname().toLowerCase();
    known = new Set([name, `${name}.local`]);
    for (const addrs of Object.values(networkInterfaces())) {
      for (const a of addrs ?? []) known.add(a.address.toLowerCase().replace(/%.*$/, ''));
    }
    readAt = now();
  };
  return (host: string): boolean => {
    if (fixed.has(host)) return true;
    if (now() - readAt > REFRESH_MS) refresh();
    return known.has(host);
  };
}

/**
 * Why a request or websocket handshake looks like another site's page, or undefined if it does not: its
 * Host must be one of this machine's names (DNS rebinding) and a browser's Origin must match it.
 */
export function foreignPage(req: Pick<IncomingMessage, 'headers'>, isOwn: (host: string) => boolean): string | undefined {
  const host = hostOfHeader(req.headers.host);
  if (host === undefined || !isOwn(host)) {
    return `Host ${JSON.stringify(req.headers.host ?? '')} is none of this machine's names or addresses (if it should be, add it to http.allowedHosts)`;
  }
  const origin = req.headers.origin;
  if (origin === undefined) return undefined;
  try {
    if (new URL(origin).host === String(req.headers.host).toLowerCase()) return undefined;
  } catch {
    // An Origin that is not a URL is no page of ours.
  }
  return `opened by another site (Origin ${JSON.stringify(origin)})`;
}
