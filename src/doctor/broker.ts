import type { MqttClient } from 'mqtt';
import type { CheckLine, Facts } from './checks';

/**
 * The broker, reached as the service would reach it (its URL, user, password, certificates),
 * and the retained `tele/<device>/LWT` there: `Online` means a carbot is driving this device
 * now. One connection for both, closed before returning.
 */
export async function checkBroker(f: Facts): Promise<CheckLine[]> {
  const { config, options } = f;
  const { mqtt: settings, topics } = config;
  // Loaded only here: the other checks and `carbot jog` need no MQTT client.
  const { oneShotClient, describeMqttError } = require('../mqtt/link') as typeof import('../mqtt/link');
  const as = settings.username ? ` as ${settings.username}` : '';
  const client = oneShotClient(settings, options.brokerTimeoutMs ?? 3000, `carbot-doctor-${config.device}-${Math.random().toString(16).slice(2, 8)}`);
  try {
    const problem = await connected(client, options.brokerTimeoutMs ?? 3000, (err) => describeMqttError(err, settings.url));
    if (problem !== undefined) {
      if (config.embeddedBroker.enabled && f.carbots.length === 0) {
        return [
          { mark: 'info', text: `broker: carbot's embedded broker (${settings.url}) runs only while carbot runs; start carbot, then run carbot doctor again` },
          { mark: 'info', text: `another carbot: not checked without the broker` },
        ];
      }
      return [
        { mark: 'fail', text: `broker: ${problem}`, fix: brokerFix(problem) },
        { mark: 'info', text: 'another carbot: not checked without the broker' },
      ];
    }
    const lines: CheckLine[] = [{ mark: 'pass', text: `broker: connected to ${settings.url}${as}` }];
    const lwt = await retained(client, topics.lwt, options.lwtWaitMs ?? 1000);
    if (lwt === REFUSED) {
      lines.push({ mark: 'info', text: `another carbot: not checked, the broker refused a subscription to ${topics.lwt}${as} (its ACL)` });
    } else if (lwt !== 'Online') {
      lines.push({ mark: 'pass', text: `another carbot: none Online for device "${config.device}" (${topics.lwt} ${lwt === undefined ? 'empty' : `= ${lwt}`})` });
    } else if (f.carbots.length > 0) {
      lines.push({ mark: 'pass', text: `another carbot: ${topics.lwt} = Online, the carbot running here (pid ${f.carbots[0].pid})` });
    } else {
      lines.push({
        mark: 'fail',
        text: `another carbot: ${topics.lwt} = Online, and no carbot runs on this machine: another one drives device "${config.device}"`,
        fix: 'give each car its own device name (device in config.json, or CARBOT_DEVICE), or stop the other carbot',
      });
    }
    return lines;
  } finally {
    await client.endAsync(true).catch(() => undefined);
  }
}

function brokerFix(problem: string): string {
  if (/refused the connection/.test(problem)) return 'start the broker (sudo systemctl enable --now mosquitto), or set mqtt.url to where it runs';
  if (/not found/.test(problem)) return 'set mqtt.url to the broker\'s host name or address';
  if (/user name or password|not authorised/.test(problem)) return 'set mqtt.username and mqtt.password (or mqtt.passwordFile) to an account of the broker';
  if (/TLS/.test(problem)) return 'set mqtt.ca to the CA that signed the broker\'s certificate (and mqtt.cert, mqtt.key if it asks for one)';
  return 'check mqtt.url and that the broker runs (docs/mqtt.md)';
}

/** Resolves undefined once connected, or with what went wrong. */
function connected(client: MqttClient, timeoutMs: number, describe: (err: Error) => string): Promise<string | undefined> {
  return new Promise((resolve) => {
    let last: string | undefined;
    const timer = setTimeout(() => finish(last ?? `no answer within ${timeoutMs} ms`), timeoutMs + 500);
    const finish = (result: string | undefined) => {
      clearTimeout(timer);
      client.removeListener('connect', onConnect);
      client.removeListener('error', onError);
      client.removeListener('close', onClose);
      resolve(result);
    };
    const onConnect = () => finish(undefined);
    const onError = (err: Error) => (last = describe(err));
    const onClose = () => finish(last ?? 'the broker closed the connection');
    client.on('connect', onConnect);
    client.on('error', onError);
    client.on('close', onClose);
  });
}

const REFUSED = Symbol('subscription refused');

/** The retained message on `topic`, if the broker has one: it comes right after the subscription is granted. */
function retained(client: MqttClient, topic: string, waitMs: number): Promise<string | typeof REFUSED | undefined> {
  return new Promise((resolve) => {
    let timer: NodeJS.Timeout | undefined;
    const onMessage = (t: string, payload: Buffer, packet: { retain?: boolean }) => {
      if (t !== topic || !packet.retain) return;
      finish(payload.toString('utf8'));
    };
    const finish = (value: string | typeof REFUSED | undefined) => {
      clearTimeout(timer);
      client.removeListener('message', onMessage);
      resolve(value);
    };
    client.on('message', onMessage);
    client.subscribe(topic, { qos: 0 }, (err, granted) => {
      if (err || granted?.some((g) => g.qos === 128)) finish(REFUSED);
      else timer = setTimeout(() => finish(undefined), waitMs);
    });
  });
}
