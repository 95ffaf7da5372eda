import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import type { OwnerInfo } from '../../src/mqtt/owner';
import { startCarbot, type RunningCarbot } from '../support/carbot';
import { describeMosquitto, startMosquitto, type Mosquitto } from '../support/mosquitto';
import { closeClient, collect, connectClient } from '../support/mqtt';
import { REPO_ROOT } from '../support/process';
import { passwordFile } from './credentials';
import { waitUntil } from '../support/wait';

const SHIPPED_ACL = readFileSync(path.join(REPO_ROOT, 'scripts', 'mosquitto', 'carbot.acl'), 'utf8');
const USERS = { carbot: 'car-secret', phone: 'phone-secret', observer: 'observer-secret', homeassistant: 'ha-secret' };
// Only for the test: someone who sees everything, so that a dropped message can be shown missing;
// and Home Assistant as docs/home-assistant.md says to grant it.
const OBSERVER = '\nuser observer\ntopic read #\n\nuser homeassistant\ntopic read homeassistant/#\ntopic write homeassistant/status\n';

const parse = (m: { payload: string }) => JSON.parse(m.payload) as Record<string, unknown>;

describeMosquitto('carbot under the shipped ACL (scripts/mosquitto/carbot.acl)', () => {
  let broker: Mosquitto;
  let car: RunningCarbot | undefined;
  const clients: MqttClient[] = [];
  const as = async (user: keyof typeof USERS) => {
    const client = await connectClient(broker.url, { username: user, password: USERS[user] });
    clients.push(client);
    return client;
  };
  const carbotLogin = ['--mqtt-username', 'carbot', '--mqtt-password', USERS.carbot];

  beforeEach(async () => {
    broker = await startMosquitto({
      // `log_type all` makes mosquitto log every publish it denies.
      extraConfig: 'allow_anonymous false\npassword_file passwd\nacl_file carbot.acl\nlog_type all',
      files: { passwd: passwordFile(USERS), 'carbot.acl': SHIPPED_ACL + OBSERVER },
    });
  });
  afterEach(async () => {
    await car?.shutdown();
    car = undefined;
    await Promise.all(clients.splice(0).map(closeClient));
    await broker.stop();
  });

  it('carbot subscribes, announces itself and obeys the phone user; the phone sees LWT, STATE and RESULT', async () => {
    const phone = await as('phone');
    const seen = await collect(phone, '+/carbot/#');
    car = startCarbot(broker.url, carbotLogin);
    await car.waitForLog(/subscribed to carbot\/move/);
    await seen.waitFor((m) => m.topic === 'tele/carbot/LWT' && m.payload === 'Online');

    await phone.publishAsync('carbot/move', 'forward', { qos: 1 });
    const result = await seen.waitFor((m) => m.topic === 'stat/carbot/RESULT');
    assert.deepEqual(parse(result), { move: 'forward', motion: 'forward', speed: 50 });
    await seen.waitFor((m) => m.topic === 'tele/carbot/STATE' && parse(m).motion === 'forward');
    assert.deepEqual(car.motors.outputs, { left: 0.5, right: 0.5 });
    // The stop topic, read on carbot's second connection, is granted too.
    await car.waitForLog(/stop topic: listening on carbot\/move\/stop/);
    await phone.publishAsync('carbot/move/stop', 'stop', { qos: 1 });
    await seen.waitFor((m) => m.topic === 'stat/carbot/RESULT' && parse(m).move === 'stop');
    assert.deepEqual(car.motors.outputs, { left: 0, right: 0 });
    assert.ok(!car.lines.some((l) => /refused|not authorised/.test(l)), car.lines.join('\n'));
    // mosquitto logs publishes in the order it takes them: once the RESULT is in its log, so is every verdict before it.
    await waitUntil(() => /Received PUBLISH from carbot-carbot-\S+ .*'stat\/carbot\/RESULT'/.test(broker.log()), broker.log);
    assert.doesNotMatch(broker.log(), /Denied PUBLISH from carbot-/, 'the ACL denied something carbot publishes');
  });

  it('with Home Assistant discovery on, the configs get through too, and Home Assistant\'s status is read', async () => {
    const configs = await collect(await as('observer'), 'homeassistant/#');
    car = startCarbot(broker.url, [...carbotLogin, '--homeassistant-enabled']);
    await car.waitForLog(/subscribed to carbot\/move/);
    // The per-entity configs of earlier versions are cleared first, then the device's goes out.
    await configs.waitFor((m) => m.topic === 'homeassistant/button/carbot/stop/config' && m.payload === '');
    await configs.waitFor((m) => m.topic === 'homeassistant/device/carbot/config' && m.payload !== '');
    // Home Assistant starting: carbot reads its `online` (mosquitto grants a denied subscription
    // but delivers nothing on it, so only the republish shows the ACL lets carbot read it).
    const from = configs.messages.length;
    await (await as('homeassistant')).publishAsync('homeassistant/status', 'online', { qos: 1 });
    await configs.waitFor((m) => m.topic === 'homeassistant/device/carbot/config' && m.payload !== '', 2000, from);
    await car.shutdown();
    await waitUntil(() => /Received DISCONNECT from carbot-carbot-/.test(broker.log()), broker.log);
    assert.doesNotMatch(broker.log(), /Denied PUBLISH from carbot-/, 'the ACL denied something carbot publishes');
  });

  it('drops what the carbot user may not publish: a command to the car, or a state in the phone\'s name', async () => {
    car = startCarbot(broker.url, carbotLogin);
    await car.waitForLog(/subscribed to carbot\/move/);
    const observer = await as('observer');
    const seen = await collect(observer, '#');
    const stolen = await as('carbot');
    // Messages from one client arrive in order: once the allowed marker is in, the forbidden
    // ones before it would have been too.
    await stolen.publishAsync('carbot/move', 'forward', { qos: 1 });
    await stolen.publishAsync('tele/phone/STATE', 'fake', { qos: 1 });
    await stolen.publishAsync('tele/carbot/marker', 'allowed', { qos: 1 });
    await seen.waitFor((m) => m.topic === 'tele/carbot/marker');
    assert.deepEqual(
      seen.messages.filter((m) => m.topic === 'carbot/move' || m.topic === 'tele/phone/STATE'),
      [],
    );
    assert.equal(car.service.state().motion, 'stopped');
    assert.deepEqual(car.motors.outputs, { left: 0, right: 0 });
  });

  it('a second carbot under the carbot user learns that the first drives the car, and gives it up', async () => {
    car = startCarbot(broker.url, carbotLogin);
    await car.waitForLog(/subscribed to carbot\/move/);
    const second = startCarbot(broker.url, carbotLogin);
    let taken: OwnerInfo | undefined;
    second.service.on('taken', (owner: OwnerInfo) => (taken = owner));
    try {
      // The question and the answer both get through: it names the first.
      await waitUntil(() => taken !== undefined, () => `${second.lines.join('\n')}\n${broker.log()}`);
      assert.equal(taken?.clientId, car.config.mqtt.clientId);
      assert.equal(second.service.brokerOnline(), false);
      await car.waitForLog(/asked on cmnd\/carbot\/OWNER who drives the car: answered that this carbot does/);
      assert.doesNotMatch(broker.log(), /Denied (PUBLISH|SUBSCRIBE) from carbot-/, 'the ACL denied something');
    } finally {
      await second.shutdown();
    }
  });

  // mosquitto 2.0 grants a subscription its ACL denies and then delivers nothing, so carbot
  // cannot tell; what shows is that the car never comes Online for tele/+/LWT watchers.
  it('a car whose topics the ACL does not grant never shows as Online, and never drives', async () => {
    const observer = await as('observer');
    const seen = await collect(observer, '#');
    car = startCarbot(broker.url, [...carbotLogin, '--device', 'intruder']);
    await car.waitForLog(/subscribed to intruder\/move/);
    await waitUntil(() => /Denied PUBLISH from carbot-intruder-\S+ \(d0, q1, r1, m\d+, 'tele\/intruder\/LWT'/.test(broker.log()), broker.log);
    assert.deepEqual(seen.messages.filter((m) => m.topic.startsWith('tele/intruder/')), []);
    assert.deepEqual(car.motors.outputs, { left: 0, right: 0 });
  });
});
