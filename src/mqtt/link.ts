import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Readable, Writable } from 'node:stream';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { MqttSettings, Topics } from '../config';
import type { Logger } from '../log';
import { MAX_PACKET_BYTES, watchPacketSize } from './packet-size';

/** The client library itself, for `carbot send`: one copy of it whether the service or send loads it. */
export { mqtt };

export const RECONNECT_MIN_MS = 1000;
export const RECONNECT_MAX_MS = 30_000;
/**
 * While the car moves, a broker that has sent nothing for PROBE_AFTER_MS is pinged, and one
 * silent for SILENCE_LIMIT_MS counts as lost, so a frozen broker or a Wi-Fi that went quiet
 * stops the car within about 5 s whatever mqtt.keepalive is (mqtt.js alone would take 1.5 x
 * the keepalive: 45 s at 30). A stopped car leaves it to the keepalive: nothing to stop.
 */
export const PROBE_AFTER_MS = 2000;
export const SILENCE_LIMIT_MS = 5000;
const SILENCE_CHECK_MS = 250;

export interface LinkOptions {
  settings: MqttSettings;
  topics: Topics;
  log: Logger;
  /** Called once subscribed after every (re)connect; its return value is published as STATE. */
  onOnline: () => void;
  onOffline: () => void;
  onCommand: (payload: Buffer, retained: boolean) => void;
  /** Whether the car is moving: only then is a silent broker chased up (see SILENCE_LIMIT_MS). */
  moving?: () => boolean;
}

/** How long MQTT input may hold the event loop before everything else gets a turn. */
const MQTT_SLICE_MS = 10;
type ParserWrite = (chunk: Buffer, encoding: BufferEncoding, done: (err?: Error | null) => void) => void;
const YIELDS = Symbol('carbot: one chunk per turn');

/**
 * mqtt.js parses what arrives and handles every packet in it through process.nextTick, and
 * libuv reads up to 32 chunks of 64 KB from a busy socket in one go: a publisher flooding the
 * move topic would hold the event loop for as long as 100 000 messages take, and every stop
 * from a page, every timer and watchdog ping with it. Once MQTT_SLICE_MS have gone by, the
 * parser's "done" is deferred to setImmediate, so everything else gets a turn before the next
 * chunk; what waits meanwhile stays in the kernel and the broker, which bound it (mosquitto
 * drops what exceeds max_queued_messages).
 * The parser is the Writable mqtt.js pipes the socket into (Node's `_readableState.pipes`).
 */
export function oneChunkPerTurn(stream: Readable): boolean {
  const pipes = (stream as Readable & { _readableState?: { pipes?: unknown[] } })._readableState?.pipes;
  const parser = pipes?.[0] as (Writable & { _write: ParserWrite; [YIELDS]?: true }) | undefined;
  if (!parser || typeof parser._write !== 'function') return false;
  if (parser[YIELDS]) return true;
  const write = parser._write;
  let sliceEndsAt = 0;
  parser._write = function (chunk, encoding, done) {
    write.call(this, chunk, encoding, (err) => {
      if (performance.now() < sliceEndsAt) return done(err);
      setImmediate(() => {
        sliceEndsAt = performance.now() + MQTT_SLICE_MS;
        done(err);
      });
    });
  };
  parser[YIELDS] = true;
  return true;
}

/** What mqtt-packet says when the bytes it is given are not MQTT (an HTTP reply, for instance). */
const NOT_MQTT = /^(Invalid header flag bits|Invalid |Malformed |Cannot parse |Packet too short|Not supported|Unknown property)/;

/** Turns an mqtt.js error into a line a user can act on; never includes the password. */
export function describeMqttError(err: Error & { code?: string | number; reason?: string }, url: string): string {
  const code = err.code;
  if (code === undefined && NOT_MQTT.test(err.message)) {
    // A websockets listener (mosquitto's libwebsockets, or any web server) answers an MQTT
    // CONNECT with "HTTP/1.1 400 …", whose first byte reads as a malformed PUBACK.
    const parsed = new URL(url);
    const hint = parsed.protocol === 'mqtt:' || parsed.protocol === 'mqtts:'
      ? `: ${parsed.host} looks like a websockets (HTTP) port; use ${parsed.protocol === 'mqtts:' ? 'wss' : 'ws'}://${parsed.host} for it, or the broker's MQTT port (usually 1883)`
      : '';
    return `broker at ${url} did not answer in MQTT (${err.message})${hint}`;
  }
  if (err.message === 'connack timeout') {
    return `broker at ${url} accepted the connection but never answered in MQTT: is it a broker's port (a websockets port needs ws://), and is the broker responsive?`;
  }
  if (code === 'ECONNREFUSED') return `broker at ${url} refused the connection (is mosquitto running?)`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `broker host in ${url} not found`;
  if (code === 4 || code === 134) return `broker at ${url} rejected the user name or password`;
  // mosquitto answers a wrong password with 5 too, not with 4.
  if (code === 5 || code === 135) {
    return `broker at ${url} says carbot is not authorised to connect (check mqtt.username and the password)`;
  }
  if (typeof code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS|ERR_SSL/.test(code)) {
    // OpenSSL's own message ends in a newline and names its source files; `reason` is the readable part.
    return `TLS to ${url} failed: ${(err.reason ?? err.message).trim()} (check mqtt.ca, mqtt.cert and mqtt.key)`;
  }
  return `broker ${url}: ${err.message.trim()}`;
}

/**
 * The broker connection: clean session, Tasmota-style LWT, our own reconnect backoff
 * (mqtt.js only has a fixed period) and a fresh subscription after every connect.
 */
export class BrokerLink extends EventEmitter {
  private client?: MqttClient;
  private delay = RECONNECT_MIN_MS;
  private retryTimer?: NodeJS.Timeout;
  private closing = false;
  private online = false;
  private lastError?: string;
  /** Packets received so far: counting is all the hot path pays for the silence check. */
  private heard = 0;
  private silenceTimer?: NodeJS.Timeout;

  constructor(private readonly opts: LinkOptions) {
    super();
  }

  get connected(): boolean {
    return this.online;
  }

  start(): void {
    const { settings, topics, log } = this.opts;
    const options: IClientOptions = {
      clientId: settings.clientId,
      username: settings.username,
      password: settings.password,
      keepalive: settings.keepalive,
      clean: true,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      resubscribe: false,
      queueQoSZero: false,
      // mqtt-packet's default cache of 65 536 pre-built message-id buffers costs ~11 MB of RSS.
      writeCache: false,
      will: { topic: topics.lwt, payload: Buffer.from('Offline'), qos: 1, retain: true },
      ca: settings.ca,
      cert: settings.cert,
      key: settings.key,
    };
    log.info(`connecting to ${settings.url} as ${settings.clientId}`);
    const client = mqtt.connect(settings.url, options);
    this.client = client;
    client.on('connect', () => {
      if (!oneChunkPerTurn(client.stream)) log.warn('mqtt.js no longer pipes its socket into a parser: a flooding publisher can hold up the event loop');
      // Each command is answered with several small writes (RESULT, PUBACK, STATE); with Nagle
      // on, the next command's RESULT waits for the broker's delayed ACK, about 40 ms.
      (client.stream as { setNoDelay?: (noDelay: boolean) => void }).setNoDelay?.(true);
      // A packet over the limit would be buffered whole before mqtt.js looked at it (src/mqtt/packet-size.ts).
      const stream = client.stream;
      watchPacketSize(stream, (bytes) => {
        this.report(`broker ${settings.url} sent a packet of ${bytes} bytes, over carbot's limit of ${MAX_PACKET_BYTES}: closing the connection`);
        stream.destroy();
      });
      this.subscribe(client);
    });
    client.on('message', (_topic, payload, packet) => this.opts.onCommand(payload, packet.retain));
    client.on('packetreceive', () => this.heard++);
    this.watchSilence(client);
    client.on('error', (err) => this.report(describeMqttError(err, settings.url)));
    client.on('close', () => this.lost());
  }

  private subscribe(client: MqttClient): void {
    const { topics, log, settings } = this.opts;
    log.info(`connected to ${settings.url}`);
    client.subscribe(topics.move, { qos: 1 }, (err, granted) => {
      if (err || !granted || granted.some((g) => g.qos === 128)) {
        // Connected but deaf is the worst state to sit in: drop the link and let the backoff
        // try again, so the cause stays in the log and a fixed ACL is picked up.
        this.report(`broker refused the subscription to ${topics.move} (check the ACL)${err ? `: ${err.message}` : ''}`);
        client.end(true);
        return;
      }
      if (!client.connected) return;
      this.delay = RECONNECT_MIN_MS;
      this.lastError = undefined;
      this.online = true;
      log.info(`subscribed to ${topics.move}`);
      client.publish(topics.lwt, 'Online', { qos: 1, retain: true });
      this.opts.onOnline();
    });
  }

  private watchSilence(client: MqttClient): void {
    const { log, settings, moving } = this.opts;
    let lastHeard = this.heard;
    let quietSince = performance.now();
    let probed = false;
    this.silenceTimer = setInterval(() => {
      const now = performance.now();
      if (!this.online || this.heard !== lastHeard || !moving?.()) {
        lastHeard = this.heard;
        quietSince = now;
        probed = false;
        return;
      }
      const quietMs = now - quietSince;
      if (quietMs >= PROBE_AFTER_MS && !probed) {
        probed = true;
        client.sendPing();
      }
      if (quietMs >= SILENCE_LIMIT_MS) {
        log.warn(`no answer from ${settings.url} for ${(quietMs / 1000).toFixed(1)} s while the car moves: treating the connection as lost`);
        quietSince = now;
        // As if the network had dropped it: mqtt.js closes, carbot stops the car and reconnects.
        client.stream.destroy();
      }
    }, SILENCE_CHECK_MS);
    this.silenceTimer.unref();
  }

  /** The same failure on every retry would flood the journal: say it once until it changes. */
  private report(line: string): void {
    if (line !== this.lastError) this.opts.log.error(line);
    this.lastError = line;
  }

  private lost(): void {
    const wasOnline = this.online;
    this.online = false;
    if (wasOnline) {
      this.opts.log.warn(`lost connection to ${this.opts.settings.url}`);
      this.opts.onOffline();
    }
    if (this.closing || this.retryTimer) return;
    const delay = this.delay;
    this.delay = Math.min(this.delay * 2, RECONNECT_MAX_MS);
    this.opts.log.info(`reconnecting in ${delay / 1000} s`);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.client?.reconnect();
    }, delay);
  }

  publish(topic: string, payload: string, qos: 0 | 1, retain = false): void {
    // Gated on the socket, not on `online`: a retained replay can arrive before the SUBACK
    // callback has run, and its RESULT must still go out.
    if (this.client?.connected) this.client.publish(topic, payload, { qos, retain });
  }

  /** Publishes `Offline` ourselves (a graceful exit does not fire the will), then disconnects. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.silenceTimer);
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const client = this.client;
    if (!client) return;
    let answered = false;
    if (this.online) {
      // Bounded: a broker that stops answering must not hold up the shutdown.
      answered = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 1000);
        client.publish(this.opts.topics.lwt, 'Offline', { qos: 1, retain: true }, (err) => {
          clearTimeout(timer);
          resolve(!err);
        });
      });
    }
    this.online = false;
    // A polite DISCONNECT waits for the broker; one that did not answer the Offline would
    // never answer that either, so its socket is simply closed.
    await client.endAsync(!answered || !client.connected);
  }
}
