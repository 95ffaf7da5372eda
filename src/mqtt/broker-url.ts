import type { IClientOptions } from 'mqtt';

/**
 * mqtt.js's `connect(url)` parses the URL with Node's legacy `url.parse()`, which Node 24
 * deprecates at run time (DEP0169: a warning in the journal at every start). carbot parses the
 * URL itself with WHATWG `URL` (as the configuration already validated it) and hands mqtt.js
 * the same options url.parse would have given it.
 *
 * A user name in the URL is kept unless the settings give one; the configuration refuses a
 * password there.
 */
export function brokerOptions(url: string, options: IClientOptions = {}): IClientOptions {
  const parsed = new URL(url);
  const protocol = parsed.protocol.replace(/:$/, '') as NonNullable<IClientOptions['protocol']>;
  // WHATWG keeps an IPv6 literal's brackets; url.parse (and so mqtt.js's socket code) does not.
  const hostname = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  const fromUrl: IClientOptions = { protocol, hostname, host: hostname };
  if (parsed.port !== '') fromUrl.port = Number(parsed.port);
  // Only websockets use a path (mqtt.js drops it for TCP and TLS).
  if (protocol.startsWith('ws')) fromUrl.path = `${parsed.pathname}${parsed.search}`;
  if (parsed.username !== '') fromUrl.username = decodeURIComponent(parsed.username);
  const given = Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
  return { ...fromUrl, ...given };
}
