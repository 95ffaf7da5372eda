import { strict as assert } from 'node:assert';
import { parse } from 'node:url';
import { brokerOptions } from '../../src/mqtt/broker-url';

/** What mqtt.js's connect(url) took from url.parse() (node_modules/mqtt/build/lib/connect/index.js). */
function asMqttJsParsedIt(url: string) {
  const p = parse(url, true);
  const out: Record<string, unknown> = { protocol: p.protocol?.replace(/:$/, ''), hostname: p.hostname };
  if (p.port != null) out.port = Number(p.port);
  if (String(out.protocol).startsWith('ws')) out.path = p.path;
  if (p.auth) out.username = p.auth;
  return out;
}

describe('the broker URL, parsed with WHATWG URL for mqtt.js', () => {
  for (const url of ['mqtt://localhost:1883', 'mqtt://pi.local', 'mqtts://broker.example:8883', 'ws://127.0.0.1:9000', 'wss://host/mqtt?x=1', 'mqtt://car@pi.local:1883', 'mqtt://[::1]:1883']) {
    it(`${url}: what mqtt.js would have taken from url.parse()`, () => {
      const options = brokerOptions(url);
      const { host, ...rest } = options;
      assert.equal(host, options.hostname);
      assert.deepEqual(rest, asMqttJsParsedIt(url));
    });
  }

  it('the settings win over the URL, and a setting left undefined does not erase the URL\'s user name', () => {
    assert.equal(brokerOptions('mqtt://car@pi.local', { username: undefined }).username, 'car');
    assert.equal(brokerOptions('mqtt://car@pi.local', { username: 'bed' }).username, 'bed');
    assert.equal(brokerOptions('mqtt://pi.local', { keepalive: 10 }).keepalive, 10);
  });
});
