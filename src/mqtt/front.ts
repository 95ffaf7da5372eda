/**
 * The MQTT front end: the car's peer on the broker, as the page server (src/http/remote-server.ts)
 * is its peer on the web. It owns the broker connections (the command link and the stop
 * topic's), MQTT's admission rules on top of the shared ones (src/admission/admission.ts:
 * retained and empty messages, the move topic's one budget and its flood guard, the stop
 * topic's budget), and what the car says on MQTT: RESULT (and MQTT 5 responses), STATE
 * (retained; again every telePeriod), PHOTO and Home Assistant's discovery config and pictures.
 * The car (src/service.ts) hears commands through `obey` and tells what happens in events.
 */
import { EventEmitter } from 'node:events';
import type { Admitted } from '../admission/admission';
import { CommandBudget, FloodGuard } from '../admission/budget';
import { Repeats } from '../admission/repeats';
import { echo } from '../core/commands';
import type { LogEntry } from '../core/drive';
import type { Config } from '../config/config';
import type { Logger } from '../process/log';
import { systemClock, type CarService, type Clock } from '../service';
import { stopFolder } from '../sensors/camera';
import { VERSION } from '../version';
import { clearMessages, discoveryMessages, legacyClearMessages, photoImageTopic, statusTopic, type DiscoveryOptions } from './homeassistant';
import { BrokerLink, type MqttVersion, type OwnerInfo, type OwnerVerdict } from './link';
import { MAX_PACKET_BYTES } from './packet-size';
import { replyProblem, type ReplyTo } from './reply';

/**
 * After Home Assistant's `online`, the wait before its discovery config goes out again: a
 * burst of `online`s (several Home Assistants, a flapping one) costs one publish, well within
 * the 2 s the docs promise (docs/home-assistant.md).
 */
export const HOMEASSISTANT_REPUBLISH_MS = 250;

/**
 * The largest picture published for Home Assistant (MQTT carries it whole, retained): within
 * the 1 MiB packet limit of carbot's embedded broker and the sample mosquitto config, which
 * close a connection that sends more (src/mqtt/packet-size.ts), with room for the topic.
 */
const MAX_IMAGE_BYTES = MAX_PACKET_BYTES - 1024;

/** The one payload a message on the stop topic stands for, whatever it carries. */
const STOP = 'stop';

export interface MqttFrontOptions {
  config: Config;
  log: Logger;
  car: CarService;
  /** The car's clock (Home Assistant's republish wait). */
  clock?: Clock;
}

/**
 * Events: 'received' (process.hrtime.bigint() of a move-topic message's arrival, for the
 * bench's trace). Another carbot found driving this car is the car's news: 'taken' on the car.
 */
export class MqttFront extends EventEmitter {
  private readonly config: Config;
  private readonly log: Logger;
  private readonly car: CarService;
  private readonly link: BrokerLink;
  /** A connection of its own for the stop topic, so a flood of the move topic cannot hold up or lose a stop. */
  private readonly stopLink: BrokerLink;
  private stopLinkStarted = false;
  /** MQTT does not say who published: one budget for everything that arrives on the move topic. */
  private readonly mqttBudget: CommandBudget;
  /** Floods of the move topic: the car stops and only stops are obeyed there while one lasts. */
  private readonly flood: FloodGuard;
  /** Stops on the stop topic past this are still obeyed, but answered only when they change something. */
  private readonly stopBudget: CommandBudget;
  /** Empty messages (retained commands cleared), as few lines however many come. */
  private readonly clears: Repeats;
  private teleTimer?: NodeJS.Timeout;
  /** The per-entity discovery topics of earlier versions have been cleared (once per start). */
  private legacyCleared = false;
  /** Home Assistant said `online`: the discovery config goes out again when this fires. */
  private haStatusTimer?: NodeJS.Timeout;
  /** Both connections fail for the same reasons (a wrong password, the broker down): said once. */
  private readonly linkErrors = {};
  /** The protocol version both connections speak (the stop topic's follows the command connection's). */
  private readonly protocol: { version: MqttVersion };
  private readonly clock: Clock;

  constructor({ config, log, car, clock = systemClock }: MqttFrontOptions) {
    super();
    this.config = config;
    this.log = log;
    this.car = car;
    this.mqttBudget = new CommandBudget(config.commandsPerSecond);
    this.flood = new FloodGuard(config.commandsPerSecond);
    this.stopBudget = new CommandBudget(config.commandsPerSecond);
    this.clears = new Repeats(log, {
      level: 'info',
      summary: (count, _source, seconds) => `${count} more empty messages on ${config.topics.move} in the last ${seconds} s`,
    });
    this.clock = clock;
    // MQTT 5 unless the broker refuses it; the stop topic's connection follows the command
    // connection. The embedded broker (aedes 1.x) speaks only 3.1.1: no MQTT 5 try at each
    // start (carbot given another broker's mqtt.url beside it speaks 3.1.1 to that one too).
    this.protocol = { version: config.embeddedBroker.enabled ? 4 : 5 };
    const link = (this.link = this.commandLink());
    this.stopLink = this.stopTopicLink();
    // Listening before anyone else (the page, the status line): STATE is published first, as before.
    car.prependListener('state', this.onState);
    car.on('result', this.onResult);
    car.prependListener('photo', this.onPhoto);
    car.prependListener('arrived', this.onArrived);
    car.prependListener('failed', this.onFailed);
    car.attachBroker({
      get connected() {
        return link.connected;
      },
      close: () => this.close(),
      flush: () => this.clears.close(),
    });
  }

  /** The command connection: the move topic, the car's own topics, Home Assistant's status topic. */
  private commandLink(): BrokerLink {
    const { config, log, car } = this;
    return new BrokerLink({
      errors: this.linkErrors,
      protocol: this.protocol,
      settings: config.mqtt,
      topics: config.topics,
      log,
      onOnline: () => {
        // The stop topic's connection, once this carbot holds the car (a carbot that another
        // one keeps from driving never listens for stops).
        if (!this.stopLinkStarted) {
          this.stopLinkStarted = true;
          this.stopLink.start();
        }
        this.publishDiscovery();
        car.publishState();
        car.linkChanged(true);
      },
      onOffline: () => car.linkChanged(false),
      onCommand: (payload, retained, admitted, replyTo) => this.onMessage(payload, retained, admitted, replyTo),
      shed: { admit: (payload) => this.admitMqtt(payload) },
      moving: () => car.moving(),
      // Another carbot drives this car: the process says who and exits (src/cli.ts).
      onTaken: (owner: OwnerInfo) => car.emit('taken', owner),
      version: VERSION,
      // Home Assistant says `online` there when it starts: the discovery config goes out again.
      also: config.homeassistant.enabled
        ? { topics: [statusTopic(config.homeassistant.prefix)], onMessage: (_topic, payload, retained) => this.onHomeAssistantStatus(payload, retained) }
        : undefined,
    });
  }

  /** The stop topic's connection: any message there stops the car. */
  private stopTopicLink(): BrokerLink {
    const { config, log } = this;
    return new BrokerLink({
      settings: config.mqtt,
      topics: config.topics,
      log,
      onOnline: () => undefined,
      // The command connection's loss is what stops the car; this one reconnects on its own.
      onOffline: () => undefined,
      onCommand: (payload, retained, _admitted, replyTo) => this.onStopMessage(payload, retained, replyTo),
      listener: { topic: config.topics.stop, label: 'stop topic' },
      errors: this.linkErrors,
      protocol: this.protocol,
    });
  }

  /** `owner`: what the caller has just learnt asking the broker who drives the car (checkOwner in src/mqtt/link.ts). */
  start(owner?: OwnerVerdict): void {
    this.link.start(owner);
    if (this.config.telePeriod > 0) {
      this.teleTimer = setInterval(() => this.car.publishState(), this.config.telePeriod * 1000);
    }
  }

  get connected(): boolean {
    return this.link.connected;
  }

  /** Called by the car's shutdown, after its last STATE: stops the timers, says goodbye to the broker. */
  private async close(): Promise<void> {
    this.clock.clearTimeout(this.haStatusTimer);
    clearInterval(this.teleTimer);
    this.car.off('state', this.onState);
    this.car.off('result', this.onResult);
    this.car.off('photo', this.onPhoto);
    this.car.off('arrived', this.onArrived);
    this.car.off('failed', this.onFailed);
    await Promise.all([this.link.close(), this.stopLink.close()]);
  }

  private onMessage(payload: Buffer, retained: boolean, admitted: boolean, replyTo?: ReplyTo): void {
    if (this.listenerCount('received') > 0) this.emit('received', process.hrtime.bigint());
    const { car, log, config } = this;
    const { rejections } = car.admission;
    if (payload.length === 0) {
      // MQTT's way to delete a retained message (mosquitto_pub -r -n): the broker passes the
      // empty message on to subscribers. It is housekeeping, not a command: no RESULT.
      car.noteActivity();
      if (this.clears.admit('mqtt')) {
        log.info(`empty message on ${config.topics.move}: a retained command was cleared; nothing to do`);
      }
      return;
    }
    if (retained) {
      // A retained command is a replay of the past, delivered because we subscribed:
      // acting on it would drive a car that just rebooted.
      car.noteActivity();
      const text = echo(payload);
      if (rejections.admit('mqtt')) {
        log.warn(`ignored retained command ${JSON.stringify(text)} on ${config.topics.move}: retained commands are stale; publish without the retain flag`);
      }
      this.answer({ error: 'retained command ignored', payload: text }, replyTo, 'mqtt');
      return;
    }
    const message = car.admission.admitted(payload);
    if (!admitted) {
      // The flood shedder (src/mqtt/shed.ts) asks admitMqtt itself, below mqtt.js's parser.
      const verdict = this.admit(message);
      if (verdict === this.refuseFirst) return this.refuseFirst(replyTo);
      if (verdict !== true) return verdict();
    }
    if (this.flood.flooded && !car.admission.isStop(message)) {
      // Within the budget, but the flood it came with may have swallowed a stop sent after it.
      this.answer({ error: 'move topic flooded: only stop is obeyed until the flood ends', stopTopic: config.topics.stop }, replyTo, 'mqtt');
      car.admission.overBudget('mqtt');
      return;
    }
    car.obey(message, 'mqtt', replyTo);
  }

  /** The shedder's question (src/mqtt/shed.ts), below mqtt.js's parser: its parse, if it made one, is kept for the car. */
  private admitMqtt(payload: Buffer): true | (() => void) {
    const message = this.car.admission.admitted(payload);
    const verdict = this.admit(message);
    if (verdict === true) this.car.admission.keep(message);
    return verdict;
  }

  /**
   * The command budget for a non-retained message on the move topic: true to go on with it;
   * over the budget and not a stop, what refusing it does, for the caller to run where the
   * message stands in the order of arrival (the flood shedder decides below mqtt.js's parser,
   * before the messages ahead of it have been handled; src/mqtt/link.ts keeps the order).
   */
  private admit(message: Admitted): true | (() => void) {
    this.car.noteActivity();
    // An empty message clears a retained one: housekeeping, not a command (onMessage).
    if (message.payload.length === 0) return true;
    const budget = this.car.admission.take(this.mqttBudget, message);
    if (budget === 'ok') return true;
    return budget === 'first' ? this.refuseFirst : this.refuseOver;
  }

  /** Over the budget nothing is published (a RESULT per flooded message would double the flood); the flood guard counts it. */
  private readonly refuseOver = (): void => {
    if (this.flood.over()) this.flooded();
    this.car.admission.overBudget('mqtt');
  };

  /** The first command over the budget is worth one answer (on its response topic too, when mqtt.js parsed it). */
  private readonly refuseFirst = (replyTo?: ReplyTo): void => {
    this.answer(this.car.admission.tooMany(), replyTo, 'mqtt');
    this.refuseOver();
  };

  /**
   * A flood of the move topic began: whatever drives the car, a stop sent on that topic may now
   * wait in the broker's queue for seconds or be dropped with the flood, so the car stops
   * (reason `flood`) and any task ends. The page and the stop topic still work.
   */
  private flooded(): void {
    const { config, log } = this;
    log.warn(
      `flood on ${config.topics.move}: more than ${this.flood.limit} messages over commandsPerSecond in a second; ` +
        `stopping the car, only stop is obeyed there until the flood ends (a stop that must get through: ${config.topics.stop} or the page)`,
    );
    this.car.floodBegan();
  }

  /** Any message on the stop topic stops the car: a stop is never refused, retained or not. */
  private onStopMessage(payload: Buffer, retained: boolean, replyTo?: ReplyTo): void {
    // An empty message clears a retained one (MQTT's way): no command.
    if (payload.length === 0) return;
    const source = retained ? 'mqtt stop topic (retained)' : 'mqtt stop topic';
    // A flood of stops still stops the car; it is answered only while there is something to stop.
    if (this.stopBudget.take() !== 'ok' && !this.car.driving()) return;
    this.car.obey(this.car.admission.admitted(STOP), source, replyTo);
  }

  /** The car answered a command: on RESULT, and on its MQTT 5 response topic. */
  private readonly onResult = (result: Record<string, unknown>, source: string, replyTo: ReplyTo | undefined, held: LogEntry[]): void => {
    this.answer(result, replyTo, source, held);
  };

  /**
   * Publishes an answer on RESULT and, for a command published with an MQTT 5 response topic,
   * there too with its correlation data (src/mqtt/reply.ts); a response topic carbot will not
   * publish to is said in the RESULT (`reply`) and the log. Returns the answer as published.
   */
  private answer(result: Record<string, unknown>, replyTo: ReplyTo | undefined, source: string, held?: LogEntry[]): Record<string, unknown> {
    const { config } = this;
    let answer = result;
    const problem = replyTo && replyProblem(replyTo, config.topics, config.homeassistant.prefix);
    if (problem) {
      answer = { ...result, reply: `not answered on the response topic: ${problem}` };
      if (this.car.admission.rejections.admit(`${source} response topic`)) {
        const line = { level: 'warn' as const, message: `did not answer ${source} on its response topic: ${problem}` };
        if (held) held.push(line);
        else this.log.warn(line.message);
      }
    }
    const text = JSON.stringify(answer);
    this.link.publish(config.topics.result, text, config.mqtt.qos);
    if (replyTo && !problem) this.link.reply(replyTo, text, config.mqtt.qos);
    return answer;
  }

  /** STATE, retained. */
  private readonly onState = (state: Record<string, unknown>): void => {
    this.link.publish(this.config.topics.state, JSON.stringify(state), this.config.mqtt.qos, true);
    // The car may have started moving: the link chases up a silent broker while it does.
    this.link.watch();
  };

  /** A task's late answer: it did not get there (a stall, a switch out of place). */
  private readonly onFailed = (failed: Record<string, unknown>): void => {
    this.link.publish(this.config.topics.result, JSON.stringify(failed), this.config.mqtt.qos);
  };

  private readonly onArrived = (arrived: Record<string, unknown>): void => {
    this.link.publish(this.config.topics.arrived, JSON.stringify(arrived), this.config.mqtt.qos);
  };

  /** A picture was taken (or failed): PHOTO, and Home Assistant's picture of its stop. */
  private readonly onPhoto = (message: Record<string, unknown>): void => {
    if (this.car.shuttingDown) return;
    const { config } = this;
    const { stop, file } = message as { stop: string | null; file?: string };
    if (config.homeassistant.enabled && stop !== null && message.error === undefined && file !== undefined) this.publishImage(stop, file);
    this.link.publish(config.topics.photo, JSON.stringify(message), config.mqtt.qos);
  };

  /** The picture itself, retained, for Home Assistant's image entity of its stop; a large one is left out. */
  private publishImage(stop: string, file: string): void {
    const { log } = this;
    try {
      const { readFileSync } = require('node:fs') as typeof import('node:fs');
      const body = readFileSync(file);
      if (body.length > MAX_IMAGE_BYTES) {
        log.warn(`${file}: ${body.length} bytes, too large for Home Assistant's image of ${stop} (at most ${MAX_IMAGE_BYTES}); take smaller pictures (rpicam-still --width 1280 --height 960)`);
        return;
      }
      this.link.publish(photoImageTopic(this.config.topics.photo, stopFolder(stop)), body, 0, true);
    } catch (err) {
      log.warn(`cannot read ${file} for Home Assistant: ${(err as Error).message}`);
    }
  }

  /**
   * Home Assistant's config on every connect while enabled (after the per-entity configs of
   * earlier versions are cleared, once per start); while disabled, empty retained configs,
   * which is what removes them once someone turns the option off.
   */
  private publishDiscovery(): void {
    const opts = discoveryOptions(this.config, this.car);
    if (!this.config.homeassistant.enabled) {
      for (const m of clearMessages(opts)) this.link.publish(m.topic, m.payload, 1, true);
      return;
    }
    // Cleared before the device config goes out, so that Home Assistant has dropped the old
    // entities before the new config brings the same unique_ids back.
    if (!this.legacyCleared && this.link.connected) {
      this.legacyCleared = true;
      for (const m of legacyClearMessages(opts)) this.link.publish(m.topic, m.payload, 1, true);
    }
    for (const m of discoveryMessages(opts)) this.link.publish(m.topic, m.payload, 1, true);
  }

  /**
   * `online` on Home Assistant's status topic: it has (re)started, perhaps with a broker that
   * lost its retained messages, so the config goes out again (HOMEASSISTANT_REPUBLISH_MS later,
   * one publish however many `online`s come meanwhile). A retained `online` is no news: the
   * config went out as carbot connected.
   */
  private onHomeAssistantStatus(payload: Buffer, retained: boolean): void {
    if (retained || payload.toString('utf8').trim().toLowerCase() !== 'online' || this.haStatusTimer || this.car.shuttingDown) return;
    this.haStatusTimer = this.clock.setTimeout(() => {
      this.haStatusTimer = undefined;
      if (this.car.shuttingDown || !this.link.connected) return;
      this.log.info(`Home Assistant is online (${statusTopic(this.config.homeassistant.prefix)}): discovery config published again`);
      this.publishDiscovery();
    }, HOMEASSISTANT_REPUBLISH_MS);
  }
}

/** What Home Assistant's discovery says of this car (src/mqtt/homeassistant.ts builds the messages). */
function discoveryOptions(config: Config, car: Pick<CarService, 'facts'>): DiscoveryOptions {
  const { trackSettings: settings, trackShown, camera } = car.facts();
  return {
    prefix: config.homeassistant.prefix,
    device: config.device,
    moveTopic: config.topics.move,
    stopTopic: config.topics.stop,
    stateTopic: config.topics.state,
    lwtTopic: config.topics.lwt,
    arrivedTopic: config.topics.arrived,
    version: VERSION,
    speed: { min: config.drive.minSpeed, max: config.drive.maxSpeed },
    track: trackShown
      ? {
          stops: settings.stops.map((s) => s.name),
          metres: settings.lengthM !== undefined,
          length: settings.lengthM ?? 1,
          homeSwitch: settings.switches.includes(settings.homeEnd),
        }
      : undefined,
    camera: camera ? { photoTopic: config.topics.photo, stops: settings.stops.map((s) => ({ name: s.name, folder: stopFolder(s.name) })) } : undefined,
  };
}
