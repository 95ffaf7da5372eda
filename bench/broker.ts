import { PassThrough } from 'node:stream';
import { createLogger } from '../src/process/log';
import { startEmbeddedBroker } from '../src/mqtt/embedded-broker';
import { mosquittoPath, startMosquitto } from '../test/support/mosquitto';
import { freePort } from '../test/support/ports';

export interface BenchBroker {
  url: string;
  /** What the table header and results.json say about the broker. */
  label: string;
  kind: 'mosquitto' | 'aedes';
  version?: string;
  /** The broker settings that differ from mosquitto's defaults. */
  settings: string[];
  close(): Promise<void>;
}

/**
 * The bench's broker settings beyond the test harness's (own port on 127.0.0.1, no
 * persistence, `set_tcp_nodelay true` as in carbot's sample config):
 * mosquitto holds at most 1000 QoS 1 messages queued per subscriber by default and drops
 * the rest. A 20 000-command burst published faster than a subscriber handles it would then
 * measure that broker policy instead of the subscriber, so the queue is unbounded here.
 */
const BENCH_MOSQUITTO_CONFIG = ['max_queued_messages 0'];

/** mosquitto on a free 127.0.0.1 port; without mosquitto, the in-process aedes broker, labelled as such. */
export async function startBenchBroker(): Promise<BenchBroker> {
  if (mosquittoPath() !== null) {
    const m = await startMosquitto({ extraConfig: BENCH_MOSQUITTO_CONFIG.join('\n') });
    const version = /mosquitto version (\S+)/.exec(m.log())?.[1];
    return {
      url: m.url,
      label: `mosquitto ${version ?? '?'} (own process, 127.0.0.1:${m.port})`,
      kind: 'mosquitto',
      version,
      settings: ['set_tcp_nodelay true', 'persistence false', ...BENCH_MOSQUITTO_CONFIG],
      close: () => m.stop(),
    };
  }
  // aedes runs inside the benchmark process, competing with the client that measures: the
  // figures are good for comparing carbot with the baseline, not with a mosquitto run.
  const log = createLogger({ level: 'error', format: 'text', stream: new PassThrough().resume(), env: {} });
  const port = await freePort();
  const broker = await startEmbeddedBroker({ host: '127.0.0.1', port, wsPort: 0, log });
  return {
    url: `mqtt://127.0.0.1:${broker.port}`,
    label: `FALLBACK: in-process aedes broker (mosquitto not installed) on 127.0.0.1:${broker.port}; not comparable with mosquitto figures`,
    kind: 'aedes',
    settings: [],
    close: () => broker.close(),
  };
}
