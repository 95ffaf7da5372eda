import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import type { IClientOptions, MqttClient } from 'mqtt';
import { describeMosquitto, startMosquitto, type Mosquitto } from '../support/mosquitto';
import { closeClient, collect, connectClient } from '../support/mqtt';
import { spawnCarbot, type CarbotProcess } from '../support/process';
import { makeTestPki, passwordFile, secretFile, type TestPki } from './credentials';
import { waitUntil } from '../support/wait';

const USER = 'carbot';
const PASSWORD = 'Tr0ub4dor&3-not-in-logs';

/** Publishes `command` on carbot/move and resolves with carbot's RESULT. */
async function roundTrip(url: string, command: string, opts: IClientOptions = {}): Promise<Record<string, unknown>> {
  const client = await connectClient(url, opts);
  try {
    const results = await collect(client, 'stat/carbot/RESULT');
    await client.publishAsync('carbot/move', command, { qos: 1 });
    return JSON.parse((await results.waitFor(() => true)).payload) as Record<string, unknown>;
  } finally {
    await closeClient(client);
  }
}

describeMosquitto('carbot against a broker that requires a password', () => {
  let broker: Mosquitto;
  let carbot: CarbotProcess | undefined;
  beforeEach(async () => {
    broker = await startMosquitto({
      extraConfig: 'allow_anonymous false\npassword_file passwd',
      files: { passwd: passwordFile({ [USER]: PASSWORD, phone: 'phone-secret' }) },
    });
  });
  afterEach(async () => {
    await carbot?.kill('SIGKILL');
    carbot = undefined;
    await broker.stop();
  });
  const asPhone = { username: 'phone', password: 'phone-secret' };

  it('connects with CARBOT_MQTT_USERNAME and CARBOT_MQTT_PASSWORD, and never prints the password', async () => {
    carbot = spawnCarbot(['--gpio', 'sim'], { CARBOT_MQTT_URL: broker.url, CARBOT_MQTT_USERNAME: USER, CARBOT_MQTT_PASSWORD: PASSWORD });
    await carbot.waitForLine(/subscribed to carbot\/move/);
    assert.deepEqual(await roundTrip(broker.url, 'f', asPhone), { move: 'forward', motion: 'forward', speed: 50 });
    assert.match(carbot.output(), /"mqtt\.password":"\*\*\*"/);
    assert.ok(!carbot.output().includes(PASSWORD));
  });

  it('reads the password from CARBOT_MQTT_PASSWORD_FILE (a trailing newline is not part of it)', async () => {
    carbot = spawnCarbot(['--gpio', 'sim'], {
      CARBOT_MQTT_URL: broker.url,
      CARBOT_MQTT_USERNAME: USER,
      CARBOT_MQTT_PASSWORD_FILE: secretFile(`${PASSWORD}\n`),
    });
    await carbot.waitForLine(/subscribed to carbot\/move/);
    assert.deepEqual(await roundTrip(broker.url, 'b', asPhone), { move: 'backward', motion: 'backward', speed: 50 });
    assert.ok(!carbot.output().includes(PASSWORD));
  });

  it('a wrong password: one clear error line without the password, retries at growing delays, stays up', async () => {
    const wrong = 'wr0ng-Passw0rd!';
    carbot = spawnCarbot(['--gpio', 'sim'], { CARBOT_MQTT_URL: broker.url, CARBOT_MQTT_USERNAME: USER, CARBOT_MQTT_PASSWORD: wrong });
    await carbot.waitForLine(/reconnecting in 2 s/, 5000);
    const out = carbot.output();
    const errors = carbot.lines.filter((l) => /error/.test(l) && /127\.0\.0\.1/.test(l));
    assert.equal(errors.length, 1, `the same failure is reported once, not per attempt:\n${out}`);
    const expected = `error broker at ${broker.url} says carbot is not authorised to connect (check mqtt.username and the password)`;
    assert.ok(errors[0].endsWith(expected), errors[0]);
    const delays = carbot.lines.flatMap((l) => /reconnecting in (\d+) s/.exec(l)?.[1] ?? []);
    assert.deepEqual(delays, ['1', '2']);
    // Both attempts reached the broker and were refused there; the process is the same one.
    await waitUntil(() => broker.log().match(/not authori[sz]ed/gi)?.length === 2, () => broker.log());
    assert.ok(!out.includes(wrong), `the password appears in:\n${out}`);
    assert.equal(carbot.child.exitCode, null);
    assert.equal((await carbot.kill('SIGTERM')).code, 0);
  });
});

describeMosquitto('carbot over TLS (mqtts://) with a CA made by the test', () => {
  let pki: TestPki;
  let broker: Mosquitto | undefined;
  let carbot: CarbotProcess | undefined;
  before(() => {
    pki = makeTestPki();
  });
  after(() => pki.remove());
  afterEach(async () => {
    await carbot?.kill('SIGKILL');
    carbot = undefined;
    await broker?.stop();
    broker = undefined;
  });

  const tlsBroker = async (clientCertificates: boolean) =>
    startMosquitto({
      extraConfig: ['cafile ca.crt', 'certfile server.crt', 'keyfile server.key', `require_certificate ${clientCertificates}`].join('\n'),
      files: pki.brokerFiles(),
    });
  const clientTls = (): IClientOptions => ({
    ca: readFileSync(pki.ca),
    cert: readFileSync(pki.clientCert),
    key: readFileSync(pki.clientKey),
  });

  it('verifies the broker with CARBOT_MQTT_CA', async () => {
    broker = await tlsBroker(false);
    assert.match(broker.url, /^mqtts:\/\/127\.0\.0\.1:\d+$/);
    carbot = spawnCarbot(['--gpio', 'sim'], { CARBOT_MQTT_URL: broker.url, CARBOT_MQTT_CA: pki.ca });
    await carbot.waitForLine(/subscribed to carbot\/move/);
    assert.deepEqual(await roundTrip(broker.url, 'f', { ca: readFileSync(pki.ca) }), { move: 'forward', motion: 'forward', speed: 50 });
  });

  it('presents a client certificate with CARBOT_MQTT_CERT and CARBOT_MQTT_KEY when the broker requires one', async () => {
    broker = await tlsBroker(true);
    carbot = spawnCarbot(['--gpio', 'sim'], {
      CARBOT_MQTT_URL: broker.url,
      CARBOT_MQTT_CA: pki.ca,
      CARBOT_MQTT_CERT: pki.clientCert,
      CARBOT_MQTT_KEY: pki.clientKey,
    });
    await carbot.waitForLine(/subscribed to carbot\/move/);
    assert.deepEqual(await roundTrip(broker.url, 'b', clientTls()), { move: 'backward', motion: 'backward', speed: 50 });
  });

  it('without the client certificate the broker turns carbot away: a TLS error naming the settings', async () => {
    broker = await tlsBroker(true);
    carbot = spawnCarbot(['--gpio', 'sim'], { CARBOT_MQTT_URL: broker.url, CARBOT_MQTT_CA: pki.ca });
    const line = await carbot.waitForLine(/^.*error.*127\.0\.0\.1/);
    assert.match(line, /TLS to mqtts:\/\/127\.0\.0\.1:\d+ failed: .*\(check mqtt\.ca, mqtt\.cert and mqtt\.key\)/);
    await carbot.waitForLine(/reconnecting in 1 s/);
    assert.equal(carbot.child.exitCode, null);
    // OpenSSL's multi-line message would leave a line without a timestamp (or, under journald, a priority).
    assert.ok(carbot.lines.every((l) => /^\d{4}-\d\d-\d\d /.test(l)), carbot.output());
  });

  it('a CA that did not sign the broker certificate: a clear error, no connection', async () => {
    broker = await tlsBroker(false);
    carbot = spawnCarbot(['--gpio', 'sim'], { CARBOT_MQTT_URL: broker.url, CARBOT_MQTT_CA: pki.otherCa });
    const line = await carbot.waitForLine(/^.*error.*127\.0\.0\.1/);
    assert.match(line, /TLS to mqtts:\/\/127\.0\.0\.1:\d+ failed: .*certificate.*\(check mqtt\.ca, mqtt\.cert and mqtt\.key\)/i);
    await carbot.waitForLine(/reconnecting in 1 s/);
    assert.doesNotMatch(carbot.output(), /subscribed to/);
  });
});

describeMosquitto('carbot over websockets (ws://), as the phone app connects', () => {
  let broker: Mosquitto;
  let carbot: CarbotProcess | undefined;
  let phone: MqttClient | undefined;
  afterEach(async () => {
    if (phone) await closeClient(phone);
    phone = undefined;
    await carbot?.kill('SIGKILL');
    carbot = undefined;
    await broker.stop();
  });

  it('connects to a mosquitto websockets listener and takes commands from a websockets client', async () => {
    broker = await startMosquitto({ websockets: true });
    const wsUrl = broker.wsUrl as string;
    carbot = spawnCarbot(['--gpio', 'sim', '--mqtt-url', wsUrl]);
    await carbot.waitForLine(new RegExp(`connected to ${wsUrl.replace(/[.]/g, '\\.')}`));
    await carbot.waitForLine(/subscribed to carbot\/move/);

    phone = await connectClient(wsUrl);
    const states = await collect(phone, 'tele/carbot/STATE');
    // The phone client's habit: single letters, QoS 0, retained.
    await phone.publishAsync('carbot/move', 'f', { qos: 0, retain: true });
    const state = await states.waitFor((m) => JSON.parse(m.payload).motion === 'forward');
    assert.deepEqual(JSON.parse(state.payload).motors, { left: 0.5, right: 0.5 });
    await phone.publishAsync('carbot/move', '', { qos: 0, retain: true });
  });
});
