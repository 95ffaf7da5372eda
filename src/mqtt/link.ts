import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Readable, Writable } from 'node:stream';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import type { MqttSettings, Topics } from '../config/config';
import type { Logger } from '../process/log';
import { brokerOptions } from './broker-url';
import { describeOwner, keeps, OWNER_ANSWER_MS, ownerInfo, parseOwner, pingNonce, probeOwner, type OwnerInfo, type OwnerVerdict } from './owner';
import { MAX_PACKET_BYTES, watchPacketSize } from './packet-size';
import type { ReplyTo } from './reply';
import { FloodShedder, shedExamined } from './shed';

/** The client library itself, for `carbot send`: one copy of it whether the service or send loads it. */
export { mqtt, brokerOptions };
export { describeOwner, type OwnerInfo, type OwnerVerdict } from './owner';
export type { ReplyTo } from './reply';

/** MQTT 5 (5), or 3.1.1 (4) with a broker that refuses 5 (aedes 1.x). */
export type MqttVersion = 4 | 5;

/**
 * Whether a connection was refused for its protocol version: CONNACK return code 1
 * (3.1.1's "unacceptable protocol version", what a 3.1.1 broker answers an MQTT 5 CONNECT)
 * or reason code 0x84 (MQTT 5's "unsupported protocol version").
 */
export function refusedVersion(err: { code?: unknown }): boolean {
  return err.code === 1 || err.code === 0x84;
}

/**
 * The options for one protocol version: with MQTT 5 the CONNECT also says the largest packet
 * carbot takes (Maximum Packet Size), so a broker drops such a packet for carbot instead of
 * sending it; with 3.1.1 only carbot's own check (src/mqtt/packet-size.ts) guards it.
 */
export function withVersion(options: IClientOptions, version: MqttVersion): IClientOptions {
  const { properties, ...rest } = options;
  if (version === 4) return { ...rest, protocolVersion: 4 };
  return { ...rest, protocolVersion: 5, properties: { ...properties, maximumPacketSize: MAX_PACKET_BYTES } };
}

/** "MQTT 5" or "MQTT 3.1.1", for log lines. */
export function versionName(version: MqttVersion): string {
  return version === 5 ? 'MQTT 5' : 'MQTT 3.1.1';
}

/**
 * Says that the broker refused MQTT 5. Once per carbot: a link that was refused stays with
 * 3.1.1 (the broker of a running carbot does not change), so it is not refused again.
 */
function sayOnly311(log: Logger, url: string, label?: string): void {
  log.info(
    `${label ? `${label}: ` : ''}broker at ${url} refused MQTT 5 (unacceptable protocol version): using MQTT 3.1.1; ` +
      'a command\'s MQTT 5 response topic needs MQTT 5, a JSON command\'s "id" is echoed in RESULT either way',
  );
}

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
  /**
   * A message on the move topic (or the listener's topic). `admitted`: the flood shedder has
   * already let it through `shed.admit` (src/mqtt/shed.ts), so its admission is decided.
   * `replyTo`: the MQTT 5 response topic (and correlation data) the command was published with.
   */
  onCommand: (payload: Buffer, retained: boolean, admitted: boolean, replyTo?: ReplyTo) => void;
  /**
   * Admission below mqtt.js's parser for the move topic's small QoS 0 messages (src/mqtt/shed.ts):
   * what `admit` refuses is dropped before it is parsed (so a refused one gets no answer on its
   * response topic, only the first refusal's RESULT). The command connection only.
   */
  shed?: { admit: (payload: Buffer) => true | (() => void) };
  /** Whether the car is moving: only then is a silent broker chased up (see SILENCE_LIMIT_MS). */
  moving?: () => boolean;
  /**
   * Another live carbot drives this device (src/mqtt/owner.ts): nothing was published and the
   * link stays down; the caller says so and exits.
   */
  onTaken?: (owner: OwnerInfo) => void;
  /** carbot's version, in the answer to a starting carbot (src/version.ts cannot be bundled here). */
  version?: string;
  /**
   * A second connection that only listens (the stop topic): it subscribes to this topic
   * instead of the move topic, has no will, publishes no `Online`, asks nobody who drives the
   * car, and its log lines start with `label` (so they are not taken for the command
   * connection's).
   */
  listener?: { topic: string; label: string };
  /**
   * Shared by the links of one carbot: an error line is said once, by whichever link meets
   * it first, rather than once per connection (both fail for the same reasons).
   */
  errors?: { last?: string };
  /**
   * Shared by the links of one carbot: the protocol version the broker last accepted (MQTT 5
   * unless it refused it), so the stop topic's connection does not try 5 again.
   */
  protocol?: { version: MqttVersion };
  /**
   * More topics the command connection subscribes to (QoS 1) after every (re)connect, whose
   * messages go to `onMessage` instead of onCommand (Home Assistant's status topic). A refusal
   * is said and costs only what the topic was for.
   */
  also?: { topics: readonly string[]; onMessage: (topic: string, payload: Buffer, retained: boolean) => void };
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
export function oneChunkPerTurn(stream: Readable, filter?: (chunk: Buffer) => Buffer, handled?: () => void): boolean {
  const pipes = (stream as Readable & { _readableState?: { pipes?: unknown[] } })._readableState?.pipes;
  const parser = pipes?.[0] as (Writable & { _write: ParserWrite; [YIELDS]?: true }) | undefined;
  if (!parser || typeof parser._write !== 'function') return false;
  if (parser[YIELDS]) return true;
  const write = parser._write;
  let sliceEndsAt = 0;
  parser._write = function (chunk, encoding, done) {
    const next = (err?: Error | null): void => {
      handled?.();
      if (performance.now() < sliceEndsAt) return done(err);
      setImmediate(() => {
        sliceEndsAt = performance.now() + MQTT_SLICE_MS;
        done(err);
      });
    };
    const kept = filter ? filter(chunk) : chunk;
    if (kept.length === 0) next();
    else write.call(this, kept, encoding, next);
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
 * A connection for one question and its answer (`carbot send`, `carbot doctor`): the broker,
 * credentials and certificates as configured, a clean session, no reconnecting.
 */
export function oneShotClient(settings: MqttSettings, connectTimeout: number, clientId?: string, version: MqttVersion = 4): MqttClient {
  const { username, password, ca, cert, key } = settings;
  const options = { username, password, ca, cert, key, clientId, reconnectPeriod: 0, connectTimeout, clean: true };
  return mqtt.connect(brokerOptions(settings.url, withVersion(options, version)));
}

/** The connection options carbot uses, without a will. */
function connectionOptions(settings: MqttSettings): IClientOptions {
  return {
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
    ca: settings.ca,
    cert: settings.cert,
    key: settings.key,
  };
}

/**
 * Asks the broker whether a live carbot already drives the device (src/mqtt/owner.ts), as
 * `<clientId>-probe`, so that a carbot given the same mqtt.clientId is not kicked off. Says
 * so when the answer is "a stale Online" or "nobody could be asked".
 */
export async function checkOwner(settings: MqttSettings, topics: Topics, log: Logger, signal?: AbortSignal, first: MqttVersion = 5): Promise<OwnerVerdict> {
  const options = { ...connectionOptions(settings), clientId: `${settings.clientId}-probe` };
  // MQTT 5 first; a broker that speaks only 3.1.1 refuses it in its CONNACK, and is asked again in 3.1.1.
  let version: MqttVersion = first;
  let verdict = await probeOwner(settings.url, withVersion(options, version), topics, OWNER_ANSWER_MS, signal);
  if (version === 5 && verdict.kind === 'unreachable' && refusedVersion(verdict.error as { code?: unknown }) && !signal?.aborted) {
    sayOnly311(log, settings.url);
    version = 4;
    verdict = await probeOwner(settings.url, withVersion(options, version), topics, OWNER_ANSWER_MS, signal);
  }
  if (verdict.kind !== 'unreachable') verdict.protocolVersion = version;
  if (verdict.kind === 'stale') {
    log.warn(
      `${topics.lwt} says Online but no carbot answered on ${topics.ownerPing} within ${OWNER_ANSWER_MS / 1000} s: ` +
        `that Online is stale (left by a carbot that ended without its will); taking the car over`,
    );
  }
  if (verdict.kind === 'free' && verdict.blind) {
    log.warn(
      `broker refused the subscription to ${verdict.blind} (check the ACL): carbot cannot tell whether another carbot drives this car`,
    );
  }
  return verdict;
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
  /** Whether this connection's move-topic messages pass the flood shedder (src/mqtt/shed.ts) first. */
  private shedding = false;
  /** Messages the shedder let through, and of those, how many mqtt.js has handed over. */
  private shedPassed = 0;
  private shedDelivered = 0;
  /** Refusals decided by the shedder, each to be carried out once `after` messages let through have been handed over. */
  private refusals: { after: number; run: () => void; times: number }[] = [];
  private refusalsDone = 0;

  /** Queues a refusal; a run of the same one after the same message is kept as a count (a flood is thousands). */
  private deferRefusal(run: () => void): void {
    const last = this.refusals.at(-1);
    if (last !== undefined && this.refusals.length > this.refusalsDone && last.after === this.shedPassed && last.run === run) last.times++;
    else this.refusals.push({ after: this.shedPassed, run, times: 1 });
  }

  private runRefusals(all = false): void {
    while (this.refusalsDone < this.refusals.length && (all || this.refusals[this.refusalsDone].after <= this.shedDelivered)) {
      const refusal = this.refusals[this.refusalsDone++];
      for (let i = 0; i < refusal.times; i++) refusal.run();
    }
    if (this.refusalsDone === this.refusals.length) {
      this.refusals = [];
      this.refusalsDone = 0;
    }
    if (all) this.shedPassed = this.shedDelivered = 0;
  }
  private silenceTimer?: NodeJS.Timeout;
  private silenceClient?: MqttClient;
  /** Ends an ownership question under way when the link closes. */
  private probing?: AbortController;
  private probed?: Promise<void>;
  /** When this carbot took the device (published `Online` the first time), for its answers to pings. */
  private since?: Date;
  /** Answers to pings, logged as few lines however many come. */
  private pingsAnswered = 0;
  private pingLoggedAt = -Infinity;
  /** The nonce of the question this carbot asks once it has claimed the car. */
  private claimNonce?: string;
  /** Another carbot claimed the car at the same moment and keeps it: no reconnecting. */
  private gaveUp = false;
  /** The protocol version of the next connect: MQTT 5 until the broker refuses it. */
  private version: MqttVersion;
  /** The broker refused MQTT 5 just now: connect again at once, in 3.1.1. */
  private retryNow = false;

  constructor(private readonly opts: LinkOptions) {
    super();
    this.version = opts.protocol?.version ?? 5;
  }

  /** The protocol version of the current (or next) connection. */
  get protocolVersion(): MqttVersion {
    return this.version;
  }

  private setVersion(version: MqttVersion): void {
    this.version = version;
    if (this.opts.protocol) this.opts.protocol.version = version;
  }

  get connected(): boolean {
    return this.online;
  }

  /**
   * Connects after asking the broker whether another carbot drives the device (every
   * connect, reconnects too). `asked`: what the caller has just learnt itself (checkOwner()),
   * so that the first connect does not ask again; a broker it could not reach is retried
   * after the first backoff.
   */
  start(asked?: OwnerVerdict): void {
    const { settings, listener } = this.opts;
    this.say('info', `connecting to ${settings.url} as ${this.clientId}`);
    if (listener) this.connect();
    else if (!asked) this.claim();
    else this.decide(asked);
  }

  /** A log line, with the listener's label in front. */
  private say(level: 'info' | 'warn' | 'error', line: string): void {
    const label = this.opts.listener?.label;
    this.opts.log[level](label ? `${label}: ${line}` : line);
  }

  private get clientId(): string {
    return this.opts.listener ? `${this.opts.settings.clientId}-stop` : this.opts.settings.clientId;
  }

  /**
   * Asks who drives the device (src/mqtt/owner.ts) over a connection of its own, without a
   * will; connects for real (with the will) only if nobody live does.
   */
  private claim(): void {
    const { settings, topics, log } = this.opts;
    const probing = new AbortController();
    this.probing = probing;
    // Once refused, MQTT 5 is not tried again: the broker of a running carbot does not change.
    this.probed = checkOwner(settings, topics, log, probing.signal, this.version).then((verdict) => {
      this.probing = undefined;
      if (!this.closing) this.decide(verdict);
    });
  }

  private decide(verdict: OwnerVerdict): void {
    if (verdict.protocolVersion) this.setVersion(verdict.protocolVersion);
    if (verdict.kind === 'held') {
      this.opts.onTaken?.(verdict.owner);
      return;
    }
    if (verdict.kind === 'unreachable') {
      this.report(describeMqttError(verdict.error, this.opts.settings.url));
      this.retry();
      return;
    }
    this.connect();
  }

  /** The connection that drives: its will publishes `Offline` if it ends uncleanly. A listener has none. */
  private connect(): void {
    const { settings, topics, listener, protocol } = this.opts;
    // The stop topic's connection follows what the command connection learnt.
    if (listener && protocol) this.version = protocol.version;
    if (this.client) {
      const current = this.client.options;
      if (current.protocolVersion !== this.version) {
        // mqtt.js builds each CONNECT (and its parser) from these options.
        const next = withVersion(current, this.version);
        delete current.properties;
        Object.assign(current, next);
      }
      this.client.reconnect();
      return;
    }
    const options: IClientOptions = {
      ...connectionOptions(settings),
      clientId: this.clientId,
      will: listener ? undefined : { topic: topics.lwt, payload: Buffer.from('Offline'), qos: 1, retain: true },
    };
    const client = mqtt.connect(brokerOptions(settings.url, withVersion(options, this.version)));
    this.client = client;
    client.on('connect', () => {
      const shed = this.opts.shed;
      const shedder = shed
        ? new FloodShedder({
            topic: Buffer.from(topics.move),
            protocolVersion: client.options.protocolVersion ?? 4,
            admit: (payload) => {
              const verdict = shed.admit(payload);
              if (verdict === true) {
                this.shedPassed++;
                return true;
              }
              // A dropped message is still traffic heard from the broker (watchSilence).
              this.heard++;
              // Its refusal is carried out in its place: after the messages let through ahead of
              // it, which mqtt.js has yet to parse and hand over.
              if (this.shedDelivered === this.shedPassed) verdict();
              else this.deferRefusal(verdict);
              return false;
            },
          })
        : undefined;
      // What a lost connection left undone: mqtt.js will not hand over the rest.
      this.runRefusals(true);
      // Once mqtt.js has handled a whole chunk, every message the shedder let through has been
      // handed over: a refusal still waiting (the two disagreed on a message) is carried out.
      const chunked = oneChunkPerTurn(
        client.stream,
        shedder && ((chunk) => shedder.filter(chunk)),
        shedder && (() => this.runRefusals(true)),
      );
      this.shedding = chunked && shedder !== undefined;
      if (!chunked) this.say('warn', 'mqtt.js no longer pipes its socket into a parser: a flooding publisher can hold up the event loop');
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
    client.on('message', (topic, payload, packet) => {
      // MQTT 5: where the sender wants its answer (src/mqtt/reply.ts).
      const props = packet.properties;
      const replyTo = props?.responseTopic === undefined ? undefined : { responseTopic: props.responseTopic, correlationData: props.correlationData };
      if (listener) this.opts.onCommand(payload, packet.retain, false, replyTo);
      else if (topic === topics.ownerPing) this.answerPing(client, payload, packet.retain);
      else if (topic === topics.owner) this.answered(client, payload, packet.retain);
      else if (this.opts.also?.topics.includes(topic)) this.opts.also.onMessage(topic, payload, packet.retain);
      else if (this.shedding && shedExamined(packet, topics.move)) {
        // Counted first: a throwing handler must not leave the refusals behind it waiting.
        this.shedDelivered++;
        this.opts.onCommand(payload, packet.retain, true, replyTo);
        this.runRefusals();
      } else this.opts.onCommand(payload, packet.retain, false, replyTo);
    });
    client.on('packetreceive', () => this.heard++);
    this.watchSilence(client);
    client.on('error', (err) => {
      if (refusedVersion(err as { code?: unknown }) && this.version === 5) {
        // A broker that speaks only MQTT 3.1.1: at once again, in 3.1.1.
        sayOnly311(this.opts.log, settings.url, listener?.label);
        this.setVersion(4);
        this.retryNow = true;
        return;
      }
      this.report(describeMqttError(err, settings.url));
    });
    client.on('close', () => {
      this.runRefusals(true);
      this.lost();
    });
  }

  private subscribe(client: MqttClient): void {
    const { topics, log, settings, listener } = this.opts;
    const topic = listener?.topic ?? topics.move;
    this.say('info', `connected to ${settings.url} with ${versionName(this.version)}`);
    client.subscribe(topic, { qos: 1 }, (err, granted) => {
      if (err || !granted || granted.some((g) => g.qos === 128)) {
        // Connected but deaf is the worst state to sit in: drop the link and let the backoff
        // try again, so the cause stays in the log and a fixed ACL is picked up.
        this.report(`broker refused the subscription to ${topic} (check the ACL)${err ? `: ${err.message}` : ''}`);
        client.end(true);
        return;
      }
      if (!client.connected) return;
      this.delay = RECONNECT_MIN_MS;
      this.lastError = undefined;
      if (this.opts.errors) this.opts.errors.last = undefined;
      this.online = true;
      if (listener) {
        this.say('info', `listening on ${topic}`);
        this.opts.onOnline();
        return;
      }
      log.info(`subscribed to ${topic}`);
      // Where a starting carbot asks who drives the car: on the wire before `Online`, so the
      // broker has it in place when anyone can read that Online. A refusal (an old ACL) costs
      // only that protection.
      client.subscribe(topics.ownerPing, { qos: 1 }, (pingErr, pingGranted) => {
        if (pingErr || pingGranted?.some((g) => g.qos === 128)) {
          log.warn(
            `broker refused the subscription to ${topics.ownerPing} (check the ACL): a second carbot for this car cannot learn that this one drives it`,
          );
        }
      });
      // Answers to this carbot's own question, below (a refusal was said for the probe already).
      client.subscribe(topics.owner, { qos: 1 });
      for (const extra of this.opts.also?.topics ?? []) {
        client.subscribe(extra, { qos: 1 }, (extraErr, extraGranted) => {
          if (extraErr || extraGranted?.some((g) => g.qos === 128)) log.warn(`broker refused the subscription to ${extra} (check the ACL)`);
        });
      }
      this.since ??= new Date();
      client.publish(topics.lwt, 'Online', { qos: 1, retain: true });
      // Another carbot that claimed the car at the same moment answers this (and sees it): one of the two gives it up.
      this.claimNonce = randomBytes(8).toString('hex');
      client.publish(topics.ownerPing, JSON.stringify(this.me(this.claimNonce)), { qos: 1 });
      this.opts.onOnline();
    });
  }

  private me(nonce: string): OwnerInfo {
    return ownerInfo(this.opts.settings.clientId, this.opts.version, this.since ?? new Date(), nonce);
  }

  /** A starting carbot asks who drives the car (src/mqtt/owner.ts): this one does, and says who it is. */
  private answerPing(client: MqttClient, payload: Buffer, retained: boolean): void {
    const nonce = pingNonce(payload);
    // A retained ping is nobody's live question; this carbot's own comes back to it too.
    if (retained || nonce === undefined || !this.online || nonce === this.claimNonce) return;
    const { topics, log } = this.opts;
    client.publish(topics.owner, JSON.stringify(this.me(nonce)), { qos: 1 });
    // Asked by a carbot that has claimed the car too: one of the two gives it up.
    const rival = parseOwner(payload);
    if (rival) {
      this.contest(client, rival);
      return;
    }
    // However many come, a line at most every 10 s.
    this.pingsAnswered++;
    const now = performance.now();
    if (now - this.pingLoggedAt < 10_000) return;
    this.pingLoggedAt = now;
    const asker = (JSON.parse(payload.toString('utf8')) as { clientId?: unknown }).clientId;
    log.warn(
      `${typeof asker === 'string' ? `MQTT client ${asker.slice(0, 64)}` : 'a client'} asked on ${topics.ownerPing} who drives the car: ` +
        `answered that this carbot does${this.pingsAnswered > 1 ? ` (${this.pingsAnswered} questions so far)` : ''}; another carbot for this car is being started`,
    );
  }

  /** An answer to this carbot's own question after it claimed the car: another carbot claims it too. */
  private answered(client: MqttClient, payload: Buffer, retained: boolean): void {
    const rival = parseOwner(payload);
    if (retained || !rival || rival.nonce !== this.claimNonce || rival.clientId === this.opts.settings.clientId) return;
    this.contest(client, rival);
  }

  /**
   * Two carbots hold the car (they claimed it at the same moment): the later claim gives it up
   * (keeps() in src/mqtt/owner.ts) — a DISCONNECT, so that the broker drops its will, and no
   * `Offline` — and the caller exits as when the car was taken before it asked.
   */
  private contest(client: MqttClient, rival: OwnerInfo): void {
    if (!this.online || rival.clientId === this.opts.settings.clientId) return;
    if (keeps(this.me(''), rival)) {
      this.opts.log.warn(`${describeOwner(rival)} claimed the car at the same moment as this carbot, which keeps it (it claimed first)`);
      return;
    }
    this.gaveUp = true;
    this.online = false;
    this.opts.onOffline();
    client.end(false);
    this.opts.onTaken?.(rival);
  }

  private watchSilence(client: MqttClient): void {
    this.silenceClient = client;
    this.watch();
  }

  /**
   * Chases up a silent broker while the car moves (SILENCE_LIMIT_MS). The check runs only
   * then: it stops itself at rest, and the service calls this whenever it publishes a state
   * (the car starting to move among them), so a parked carbot does not wake for it.
   */
  watch(): void {
    const client = this.silenceClient;
    const { settings, moving } = this.opts;
    if (this.silenceTimer || !client || !moving || !this.online || !moving()) return;
    let lastHeard = this.heard;
    let quietSince = performance.now();
    let probed = false;
    this.silenceTimer = setInterval(() => {
      const now = performance.now();
      if (!this.online || !moving() || this.client !== client) {
        clearInterval(this.silenceTimer);
        this.silenceTimer = undefined;
        return;
      }
      if (this.heard !== lastHeard) {
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
        this.say('warn', `no answer from ${settings.url} for ${(quietMs / 1000).toFixed(1)} s while the car moves: treating the connection as lost`);
        quietSince = now;
        // As if the network had dropped it: mqtt.js closes, carbot stops the car and reconnects.
        client.stream.destroy();
      }
    }, SILENCE_CHECK_MS);
    this.silenceTimer.unref();
  }

  /** The same failure on every retry would flood the journal: say it once until it changes. */
  private report(line: string): void {
    const shared = this.opts.errors;
    if (line !== this.lastError && line !== shared?.last) this.say('error', line);
    this.lastError = line;
    if (shared) shared.last = line;
  }

  private lost(): void {
    if (this.gaveUp) return;
    const wasOnline = this.online;
    this.online = false;
    if (wasOnline) {
      this.say('warn', `lost connection to ${this.opts.settings.url}`);
      this.opts.onOffline();
    }
    this.retry();
  }

  /** The next connect after the backoff, asking again who drives the car. */
  private retry(): void {
    if (this.closing || this.retryTimer) return;
    const now = this.retryNow;
    this.retryNow = false;
    const delay = now ? 0 : this.delay;
    if (!now) {
      this.delay = Math.min(this.delay * 2, RECONNECT_MAX_MS);
      this.say('info', `reconnecting in ${delay / 1000} s`);
    }
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.opts.listener) this.connect();
      else this.claim();
    }, delay);
  }

  publish(topic: string, payload: string | Buffer, qos: 0 | 1, retain = false): void {
    // Gated on the socket, not on `online`: a retained replay can arrive before the SUBACK
    // callback has run, and its RESULT must still go out.
    if (this.client?.connected) this.client.publish(topic, payload, { qos, retain });
  }

  /** An answer on a command's MQTT 5 response topic, with its correlation data (checked by the caller: src/mqtt/reply.ts). */
  reply(to: ReplyTo, payload: string, qos: 0 | 1): void {
    if (!this.client?.connected) return;
    const properties = to.correlationData === undefined ? undefined : { correlationData: to.correlationData };
    this.client.publish(to.responseTopic, payload, { qos, retain: false, properties });
  }

  /** Publishes `Offline` ourselves (a graceful exit does not fire the will), then disconnects. */
  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.silenceTimer);
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.probing?.abort();
    await this.probed;
    const client = this.client;
    if (!client) return;
    let answered = false;
    if (this.online && !this.opts.listener) {
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
