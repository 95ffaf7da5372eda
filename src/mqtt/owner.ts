/**
 * One carbot per car (docs/mqtt.md#one-carbot-per-car). Before carbot drives a device it asks
 * the broker whether another carbot already does:
 *
 * 1. It connects with no will (a will would publish `Offline` over a live owner if this
 *    process died now) and subscribes to `tele/<device>/LWT`, then to `stat/<device>/OWNER`;
 *    the broker answers one client's packets in order, so the retained LWT has arrived once
 *    the second SUBACK is in.
 * 2. No retained `Online`: the device is free.
 * 3. A retained `Online`: it publishes a ping on `cmnd/<device>/OWNER` and waits up to
 *    OWNER_ANSWER_MS for the live owner's answer on `stat/<device>/OWNER` (not retained,
 *    echoing the ping's nonce). An answer names the owner: this carbot must not drive. No
 *    answer: the `Online` is stale, left by a carbot that is gone (a broker restarted without
 *    publishing its will), and the device is taken over.
 *
 * The owner answers every ping from the moment it has published `Online` (BrokerLink).
 *
 * Two carbots that ask at the same moment both find the device free. So a carbot that has just
 * claimed it asks once more on the driving connection, naming itself: another claimant answers
 * (and sees the question), and of the two the one that claimed later — or, at the same
 * millisecond, has the greater client id — gives the device up (keeps()).
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import mqtt, { type IClientOptions } from 'mqtt';
import type { Topics } from '../config/config';
import { brokerOptions } from './broker-url';

/** How long a live owner has to answer a ping: it answers in milliseconds unless its event loop is stuck. */
export const OWNER_ANSWER_MS = 2000;

/** Who holds a device, as its owner answers a ping on stat/<device>/OWNER. */
export interface OwnerInfo {
  clientId: string;
  host: string;
  pid: number;
  version?: string;
  /** When it took the device (ISO time). */
  since?: string;
  nonce?: string;
}

export type OwnerVerdict = (
  /** `blind`: the broker refused the subscriptions the question needs (an ACL), so nobody could be asked. */
  | { kind: 'free'; blind?: string }
  | { kind: 'stale' }
  | { kind: 'held'; owner: OwnerInfo }
  | { kind: 'unreachable'; error: Error }
) & {
  /** The MQTT protocol version the broker accepted for the question (5, or 4 for 3.1.1). */
  protocolVersion?: 4 | 5;
};

export function ownerInfo(clientId: string, version: string | undefined, since: Date, nonce?: string): OwnerInfo {
  return { clientId, host: hostname(), pid: process.pid, ...(version ? { version } : {}), since: since.toISOString(), ...(nonce ? { nonce } : {}) };
}

/** The nonce of a ping, or undefined if the payload is not one (pings are small JSON objects). */
export function pingNonce(payload: Buffer): string | undefined {
  if (payload.length > 1024) return undefined;
  try {
    const nonce = (JSON.parse(payload.toString('utf8')) as { nonce?: unknown }).nonce;
    return typeof nonce === 'string' && nonce.length <= 64 ? nonce : undefined;
  } catch {
    return undefined;
  }
}

/** "carbot pid 1234 on host pi (MQTT client carbot-carbot-1a2b3c, since …)" */
export function describeOwner(owner: OwnerInfo): string {
  const since = owner.since ? `, driving since ${owner.since}` : '';
  const version = owner.version ? ` ${owner.version}` : '';
  return `carbot${version} pid ${owner.pid} on host ${owner.host} (MQTT client ${owner.clientId}${since})`;
}

/** An answer, or the question a carbot asks once it has claimed the device (its own OwnerInfo). */
export function parseOwner(payload: Buffer): OwnerInfo | undefined {
  try {
    const o = JSON.parse(payload.toString('utf8')) as Partial<OwnerInfo>;
    if (typeof o.clientId !== 'string' || typeof o.host !== 'string' || typeof o.pid !== 'number') return undefined;
    return o as OwnerInfo;
  } catch {
    return undefined;
  }
}

/**
 * Asks the broker who drives the device (steps 1–3 above) over a connection of its own,
 * which it closes before resolving. Never publishes anything but the ping.
 */
export async function probeOwner(
  url: string,
  options: IClientOptions,
  topics: Topics,
  answerMs = OWNER_ANSWER_MS,
  signal?: AbortSignal,
): Promise<OwnerVerdict> {
  const client = mqtt.connect(brokerOptions(url, { ...options, will: undefined, clean: true, reconnectPeriod: 0, resubscribe: false }));
  const nonce = randomBytes(8).toString('hex');
  let lwt: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  const verdict = await new Promise<OwnerVerdict>((resolve) => {
    const aborted = () => resolve({ kind: 'unreachable', error: signal?.reason instanceof Error ? signal.reason : new Error('closing') });
    if (signal?.aborted) aborted();
    signal?.addEventListener('abort', aborted, { once: true });
    client.on('message', (topic, payload, packet) => {
      if (topic === topics.lwt && packet.retain) lwt = payload.toString('utf8');
      if (topic === topics.owner && !packet.retain) {
        const owner = parseOwner(payload);
        if (owner && owner.nonce === nonce) resolve({ kind: 'held', owner });
      }
    });
    client.once('error', (error) => resolve({ kind: 'unreachable', error }));
    client.once('close', () => resolve({ kind: 'unreachable', error: new Error('connection closed while asking who drives the car') }));
    client.once('connect', () => {
      // A refused subscription (an ACL) is a SUBACK 0x80, which mqtt.js reports as an error.
      const subscribe = (topic: string) =>
        client.subscribeAsync(topic, { qos: 1 }).then(
          (granted) => (granted.some((g) => g.qos === 128) ? [topic] : []),
          () => [topic],
        );
      const blind: string[] = [];
      subscribe(topics.lwt)
        .then((refused) => {
          blind.push(...refused);
          return subscribe(topics.owner);
        })
        .then(async (refused) => {
          blind.push(...refused);
          if (!client.connected) return resolve({ kind: 'unreachable', error: new Error('connection closed while asking who drives the car') });
          if (blind.length > 0) return resolve({ kind: 'free', blind: blind.join(' and ') });
          if (lwt !== 'Online') return resolve({ kind: 'free' });
          timer = setTimeout(() => resolve({ kind: 'stale' }), answerMs);
          await client.publishAsync(topics.ownerPing, JSON.stringify({ nonce, clientId: options.clientId }), { qos: 1 });
        })
        .catch((error: Error) => resolve({ kind: 'unreachable', error }));
    });
  });
  clearTimeout(timer);
  client.removeAllListeners('message');
  // 'error' after the verdict (a refused DISCONNECT, a reset) must not be thrown.
  client.on('error', () => undefined);
  // A polite DISCONNECT: with no will set there is nothing for the broker to publish either way.
  await client.endAsync(verdict.kind === 'unreachable' || !client.connected);
  return verdict;
}

/** Of two carbots that claimed one device, whether `mine` keeps it: the earlier claim, then the smaller client id. */
export function keeps(mine: OwnerInfo, theirs: OwnerInfo): boolean {
  const a = mine.since ?? '';
  const b = theirs.since ?? '';
  return a !== b ? a < b : mine.clientId < theirs.clientId;
}
