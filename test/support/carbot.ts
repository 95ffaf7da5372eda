import { PassThrough } from 'node:stream';
import { loadConfig, type Config } from '../../src/config/config';
import { createLogger, flushLogger, type Logger } from '../../src/process/log';
import { startEmbeddedBroker } from '../../src/mqtt/embedded-broker';
import { openSimBoard, type SimMotors } from '../../src/boards/sim';
import { CarService } from '../../src/service';
import { MqttFront } from '../../src/mqtt/front';
import { track } from './cleanup';
import { startMosquitto } from './mosquitto';
import { waitUntil } from './wait';

/** A logger whose lines (journald format: `<6>message`) land in an array the test can read. */
export function memoryLogger(level: 'debug' | 'info' = 'debug'): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new PassThrough();
  stream.on('data', (chunk) => lines.push(...String(chunk).split('\n').filter(Boolean)));
  return { log: createLogger({ level, format: 'journald', stream, env: {} }), lines };
}

export interface RunningCarbot {
  service: CarService;
  /** The car's MQTT front end (src/mqtt/front.ts). */
  mqtt: MqttFront;
  config: Config;
  motors: SimMotors;
  lines: string[];
  /** Resolves with the first log line matching, waiting up to `ms`. */
  waitForLog(pattern: RegExp, ms?: number): Promise<string>;
  shutdown(): Promise<void>;
}

/** carbot in this process, with sim motors, connected to `url`. */
export function startCarbot(url: string, argv: string[] = []): RunningCarbot {
  const config = loadConfig({ argv: ['--mqtt-url', url, '--gpio', 'sim', ...argv], env: {} });
  const { log, lines } = memoryLogger();
  const { motors } = openSimBoard({ motors: config.motors.map((m) => m.name) }, log);
  const service = new CarService({ config, log, motors });
  const mqtt = new MqttFront({ config, log, car: service });
  let open = true;
  const shutdown = async () => {
    if (!open) return;
    open = false;
    untrack();
    await service.shutdown('test over');
    // As the process does at exit: the lines still waiting for their batch are written.
    await flushLogger(log);
  };
  const untrack = track({ name: `carbot service on ${url}`, isOpen: () => open, close: shutdown });
  service.start();
  mqtt.start();
  const waitForLog = async (pattern: RegExp, ms = 5000) => {
    await waitUntil(() => lines.some((l) => pattern.test(l)), () => `no log line matching ${pattern}:\n${lines.join('\n')}`, ms);
    return lines.find((l) => pattern.test(l)) as string;
  };
  return { service, mqtt, config, motors, lines, waitForLog, shutdown };
}

export interface TestBroker {
  kind: 'aedes' | 'mosquitto';
  url: string;
  /** Takes the broker away and brings it back on the same port. */
  restart(): Promise<void>;
  /** Takes it away (kill for mosquitto) without bringing it back. */
  down(): Promise<void>;
  up(): Promise<void>;
  close(): Promise<void>;
}

export async function startAedes(): Promise<TestBroker> {
  const { log } = memoryLogger('info');
  let broker = await startEmbeddedBroker({ host: '127.0.0.1', port: 0, wsPort: 0, log });
  const port = broker.port;
  let running = true;
  const down = async () => {
    if (running) await broker.close();
    running = false;
  };
  const up = async () => {
    broker = await startEmbeddedBroker({ host: '127.0.0.1', port, wsPort: 0, log });
    running = true;
  };
  const untrack = track({ name: `aedes on ${port}`, isOpen: () => running, close: down });
  return {
    kind: 'aedes',
    url: `mqtt://127.0.0.1:${port}`,
    restart: async () => {
      await down();
      await up();
    },
    down,
    up,
    close: async () => {
      untrack();
      await down();
    },
  };
}

export async function startMosquittoBroker(): Promise<TestBroker> {
  const m = await startMosquitto();
  return {
    kind: 'mosquitto',
    url: m.url,
    restart: () => m.restart(),
    down: () => m.kill(),
    up: () => m.restart(),
    close: () => m.stop(),
  };
}
