import type { Socket } from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { DEVICES, topicsOf, type SubjectName, type Topics } from './child';

/** What the driver knows about one subject: its topics and the RESULTs (or acks) seen so far. */
class Endpoint {
  readonly topics: Topics;
  results = 0;
  /** process.hrtime.bigint() at the latest RESULT. */
  lastResultAt = 0n;
  private waiter?: { target: number; resolve: (complete: boolean) => void; seen: number; quietTicks: number };
  private online?: (at: bigint) => void;

  constructor(
    readonly name: SubjectName,
    device: string,
  ) {
    this.topics = topicsOf(device);
  }

  onResult(at: bigint): void {
    this.results++;
    this.lastResultAt = at;
    const waiter = this.waiter;
    if (waiter && this.results >= waiter.target) {
      this.waiter = undefined;
      waiter.resolve(true);
    }
  }

  onOnline(at: bigint): void {
    this.online?.(at);
  }

  /** Resolves true once `target` RESULTs have arrived, false once none arrived for `stallMs`. */
  waitForResults(target: number, stallMs: number): Promise<boolean> {
    if (this.results >= target) return Promise.resolve(true);
    return new Promise((resolve) => {
      this.waiter = { target, resolve, seen: this.results, quietTicks: Math.ceil(stallMs / WATCHDOG_MS) };
    });
  }

  /** Called by the driver's watchdog: gives up on a waiter whose RESULTs stopped coming. */
  watchdog(): void {
    const waiter = this.waiter;
    if (!waiter) return;
    if (this.results !== waiter.seen) {
      waiter.seen = this.results;
      return;
    }
    if (--waiter.quietTicks > 0) return;
    this.waiter = undefined;
    waiter.resolve(false);
  }

  /** The hrtime of the next live (not retained) `Online` on the LWT topic. */
  nextOnline(timeoutMs: number): { at: Promise<bigint>; cancel: () => void } {
    let timer: NodeJS.Timeout | undefined;
    const at = new Promise<bigint>((resolve, reject) => {
      timer = setTimeout(() => {
        this.online = undefined;
        reject(new Error(`${this.name} published no Online on ${this.topics.lwt} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.online = (when) => {
        clearTimeout(timer);
        this.online = undefined;
        resolve(when);
      };
    });
    const cancel = (): void => {
      clearTimeout(timer);
      this.online = undefined;
    };
    return { at, cancel };
  }
}

const WATCHDOG_MS = 250;

/**
 * The benchmark's one MQTT client: it publishes the commands and reads every subject's
 * RESULT and LWT, timestamping each message the moment mqtt.js hands it over.
 */
export class Driver {
  readonly endpoints: Record<SubjectName, Endpoint> = {
    carbot: new Endpoint('carbot', DEVICES.carbot),
    baseline: new Endpoint('baseline', DEVICES.baseline),
    python: new Endpoint('python', DEVICES.python),
  };
  private readonly watchdog: NodeJS.Timeout;

  private constructor(readonly client: MqttClient) {
    const byResult = new Map<string, Endpoint>();
    const byLwt = new Map<string, Endpoint>();
    for (const ep of Object.values(this.endpoints)) {
      byResult.set(ep.topics.result, ep);
      byLwt.set(ep.topics.lwt, ep);
    }
    client.on('message', (topic, payload, packet) => {
      const at = process.hrtime.bigint();
      const ep = byResult.get(topic);
      if (ep) return ep.onResult(at);
      // Retained = the previous instance's last word, replayed at subscribe time.
      if (!packet.retain && payload.toString() === 'Online') byLwt.get(topic)?.onOnline(at);
    });
    this.watchdog = setInterval(() => Object.values(this.endpoints).forEach((ep) => ep.watchdog()), WATCHDOG_MS);
  }

  static async connect(url: string): Promise<Driver> {
    const client = mqtt.connect(url, { clean: true, reconnectPeriod: 0, clientId: `carbot-bench-${process.pid}` });
    await new Promise<void>((resolve, reject) => {
      client.once('connect', () => resolve());
      client.once('error', (err) => reject(new Error(`benchmark client could not connect to ${url}: ${err.message}`)));
    });
    client.on('error', (err) => process.stderr.write(`bench: mqtt client: ${err.message}\n`));
    // The measuring client must not hold its own commands back (Nagle): a held `stop` would be
    // charged to the subject.
    (client.stream as Socket).setNoDelay(true);
    const driver = new Driver(client);
    const filters = Object.values(driver.endpoints).flatMap((ep) => [ep.topics.result, ep.topics.lwt]);
    await client.subscribeAsync(filters, { qos: 1 });
    return driver;
  }

  publish(name: SubjectName, payload: string): void {
    this.client.publish(this.endpoints[name].topics.move, payload, { qos: 1 });
  }

  /** One command, waited for: when it was published and when its RESULT arrived (hrtime ns). */
  async roundTrip(name: SubjectName, payload: string): Promise<{ sent: bigint; answered: bigint }> {
    const ep = this.endpoints[name];
    const done = ep.waitForResults(ep.results + 1, 5000);
    const sent = process.hrtime.bigint();
    this.publish(name, payload);
    if (!(await done)) throw new Error(`no RESULT from ${name} for ${JSON.stringify(payload)} within 5 s`);
    return { sent, answered: ep.lastResultAt };
  }

  async close(): Promise<void> {
    clearInterval(this.watchdog);
    await this.client.endAsync();
  }
}
