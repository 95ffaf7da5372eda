import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import { track, withTimeout } from './cleanup';

export interface ReceivedMessage {
  topic: string;
  /** Decoded as UTF-8; invalid bytes become U+FFFD. */
  payload: string;
  /** The retain flag as delivered: set for a replay at subscribe time, not for a live publish. */
  retain: boolean;
  qos: 0 | 1 | 2;
}

export interface Recorder {
  readonly topicFilter: string;
  /** Every message matching the filter, in arrival order. */
  readonly messages: ReceivedMessage[];
  /**
   * The first message at index >= fromIndex (default 0, so already received ones count)
   * for which `predicate` holds. Pass `recorder.messages.length` as fromIndex to wait only
   * for what arrives from now on.
   */
  waitFor(
    predicate: (message: ReceivedMessage) => boolean,
    timeoutMs?: number,
    fromIndex?: number,
  ): Promise<ReceivedMessage>;
  /** Stops recording and unsubscribes (if the client is still connected). */
  stop(): Promise<void>;
}

/** Test defaults: reconnect fast so broker restarts do not slow the tests down. */
const TEST_DEFAULTS: IClientOptions = { reconnectPeriod: 100, connectTimeout: 5000 };

/** Registers a client made elsewhere (e.g. by `connect()` directly) with the safety net. */
export function trackClient(client: MqttClient, name = `mqtt client ${client.options.clientId ?? ''}`): MqttClient {
  const untrack = track({
    name,
    isOpen: () => !client.disconnecting,
    close: () => client.endAsync(true),
  });
  client.once('end', untrack);
  return client;
}

/** Resolves once connected; rejects (and ends the client) on the first error or after connectTimeout. */
export async function connectClient(url: string, opts: IClientOptions = {}): Promise<MqttClient> {
  const options = { ...TEST_DEFAULTS, ...opts };
  const client = trackClient(connect(url, options), `mqtt client of ${url}`);
  const connected = new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', (err) => reject(new Error(`connecting to ${url}: ${err.message}`, { cause: err })));
  });
  try {
    await withTimeout(connected, options.connectTimeout ?? 5000, () => `a connection to ${url}`);
  } catch (err) {
    await client.endAsync(true);
    throw err;
  }
  // While a test has the broker down every reconnect attempt emits ECONNREFUSED, and an
  // 'error' event nobody listens to would be thrown and end the whole run.
  client.on('error', () => {});
  return client;
}

/** Ends the client cleanly (DISCONNECT sent); gives up politeness after 2 s if the broker is gone. */
export async function closeClient(client: MqttClient): Promise<void> {
  try {
    await withTimeout(client.endAsync(), 2000, () => 'the mqtt client to end');
  } catch {
    await client.endAsync(true);
  }
}

/** Subscribes (resolves after the SUBACK) and records every message matching topicFilter. */
export async function collect(
  client: MqttClient,
  topicFilter: string,
  opts: { qos?: 0 | 1 | 2 } = {},
): Promise<Recorder> {
  const messages: ReceivedMessage[] = [];
  const waiters = new Set<() => void>();
  const onMessage = (topic: string, payload: Buffer, packet: { retain: boolean; qos: 0 | 1 | 2 }): void => {
    if (!topicMatches(topicFilter, topic)) return;
    messages.push({ topic, payload: payload.toString('utf8'), retain: packet.retain, qos: packet.qos });
    for (const wake of waiters) wake();
  };
  // Listening before subscribing: retained messages can follow the SUBACK immediately.
  client.on('message', onMessage);
  await client.subscribeAsync(topicFilter, { qos: opts.qos ?? 1 });

  const waitFor = (
    predicate: (message: ReceivedMessage) => boolean,
    timeoutMs = 5000,
    fromIndex = 0,
  ): Promise<ReceivedMessage> =>
    new Promise((resolve, reject) => {
      let next = fromIndex;
      const check = (): boolean => {
        for (; next < messages.length; next++) {
          const message = messages[next];
          if (predicate(message)) {
            resolve(message);
            return true;
          }
        }
        return false;
      };
      if (check()) return;
      const wake = (): void => {
        if (!check()) return;
        waiters.delete(wake);
        clearTimeout(timer);
      };
      const timer = setTimeout(() => {
        waiters.delete(wake);
        reject(new Error(`no matching message on ${topicFilter} within ${timeoutMs} ms; ${describeArrivals(messages, fromIndex)}`));
      }, timeoutMs);
      waiters.add(wake);
    });

  return {
    topicFilter,
    messages,
    waitFor,
    stop: async () => {
      client.off('message', onMessage);
      if (client.connected) await client.unsubscribeAsync(topicFilter);
    },
  };
}

const SHOWN = 20;

function describeArrivals(messages: ReceivedMessage[], fromIndex: number): string {
  const considered = messages.slice(fromIndex);
  if (considered.length === 0) return 'nothing arrived';
  const shown = considered.slice(-SHOWN).map((m) => {
    const payload = m.payload.length > 200 ? `${m.payload.slice(0, 200)}… (${m.payload.length} chars)` : m.payload;
    return `  ${m.topic}${m.retain ? ' [retained]' : ''}: ${payload}`;
  });
  const skipped = considered.length > SHOWN ? ` (last ${SHOWN} shown)` : '';
  return `${considered.length} arrived${skipped}:\n${shown.join('\n')}`;
}

/** MQTT filter matching: `+` is one level, a trailing `#` is any number of levels (including none). */
export function topicMatches(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  for (let i = 0; i < f.length; i++) {
    if (f[i] === '#') return i === f.length - 1 && !(i === 0 && topic.startsWith('$'));
    if (i >= t.length) return false;
    if (f[i] === '+') {
      if (i === 0 && topic.startsWith('$')) return false;
      continue;
    }
    if (f[i] !== t[i]) return false;
  }
  return f.length === t.length;
}
