import { strict as assert } from 'node:assert';
import type { MqttClient } from 'mqtt';
import { COVER_POSITION_TEMPLATE, legacyTopics } from '../../src/mqtt/homeassistant';
import { startCarbot, type RunningCarbot } from '../support/carbot';
import { againstEachBroker } from '../support/matrix';
import { closeClient, collect, connectClient, type ReceivedMessage } from '../support/mqtt';
import { spawnCarbot, type CarbotProcess } from '../support/process';

const COMMANDS = ['forward', 'backward', 'stop', 'faster', 'slower'];
const DEVICE_TOPIC = 'homeassistant/device/carbot/config';

type Config = Record<string, any>;

/** What is retained under `filter` now: a fresh subscription's replay, up to a live marker published after it. */
async function retained(url: string, filter: string): Promise<ReceivedMessage[]> {
  const watcher = await connectClient(url);
  try {
    const got = await collect(watcher, filter);
    const marker = await collect(watcher, 'carbot-test/marker');
    // Retained replays come right after the SUBACK; a live marker published now arrives after them.
    await watcher.publishAsync('carbot-test/marker', 'end of replay', { qos: 1 });
    await marker.waitFor(() => true);
    return got.messages.filter((m) => m.retain);
  } finally {
    await closeClient(watcher);
  }
}

againstEachBroker('Home Assistant discovery on a broker', (broker) => {
  let client: MqttClient;
  let car: RunningCarbot | undefined;
  beforeEach(async () => {
    client = await connectClient(broker().url);
  });
  afterEach(async () => {
    await car?.shutdown();
    car = undefined;
    await closeClient(client);
  });

  it('publishes one retained device config with five buttons, two sensors and a number, and a press drives the car', async () => {
    car = startCarbot(broker().url, ['--homeassistant-enabled']);
    await car.waitForLog(/subscribed to carbot\/move/);
    const configs = await retained(broker().url, 'homeassistant/device/#');
    assert.deepEqual(configs.map((m) => m.topic), [DEVICE_TOPIC]);
    const config = JSON.parse(configs[0].payload) as Config;
    assert.deepEqual(config.dev.identifiers, ['carbot_carbot']);
    assert.equal(config.o.name, 'carbot');
    const cmps = config.cmps as Record<string, Config>;
    assert.deepEqual(Object.keys(cmps), [...COMMANDS, 'motion', 'speed', 'speed_setting']);
    for (const c of Object.values(cmps)) {
      assert.equal(c.availability_topic, 'tele/carbot/LWT');
      assert.equal(c.payload_available, 'Online');
      assert.equal(c.payload_not_available, 'Offline');
    }
    assert.equal(cmps.motion.state_topic, 'tele/carbot/STATE');

    // What Home Assistant does when the Forward button is pressed.
    await client.publishAsync(cmps.forward.command_topic, cmps.forward.payload_press, { qos: 1, retain: Boolean(cmps.forward.retain) });
    await car.waitForLog(/forward at 50% \(command\)/);
    assert.deepEqual(car.motors.outputs, { left: 0.5, right: 0.5 });
    // The Speed setting slider moved to 70: its command_template with value = 70.
    await client.publishAsync(cmps.speed_setting.command_topic, '{"speed":70}', { qos: 1 });
    await car.waitForLog(/forward at 70%/);
    // And Stop, on the stop topic.
    await car.waitForLog(/stop topic: listening on carbot\/move\/stop/);
    await client.publishAsync(cmps.stop.command_topic, cmps.stop.payload_press, { qos: 1, retain: Boolean(cmps.stop.retain) });
    await car.waitForLog(/stopped \(command\)/);
    assert.deepEqual(car.motors.outputs, { left: 0, right: 0 });
  });

  it('publishes the config again within 2 s of homeassistant/status "online", after a reconnect too', async function () {
    this.timeout(20_000);
    car = startCarbot(broker().url, ['--homeassistant-enabled']);
    await car.waitForLog(/subscribed to carbot\/move/);

    const forgetAndAsk = async () => {
      const configs = await collect(client, DEVICE_TOPIC);
      await configs.waitFor((m) => m.payload !== '');
      // A broker that lost its retained messages (or someone clearing them), then Home
      // Assistant starting: its birth message, not retained.
      await client.publishAsync(DEVICE_TOPIC, '', { qos: 1, retain: true });
      await configs.waitFor((m) => m.payload === '');
      assert.deepEqual(await retained(broker().url, DEVICE_TOPIC), []);
      const from = configs.messages.length;
      const asked = Date.now();
      await client.publishAsync('homeassistant/status', 'online', { qos: 1 });
      await configs.waitFor((m) => m.payload !== '', 2000, from);
      assert.ok(Date.now() - asked < 2000);
      const back = await retained(broker().url, DEVICE_TOPIC);
      assert.equal(back.length, 1, 'retained again');
      assert.deepEqual(Object.keys(JSON.parse(back[0].payload)), ['dev', 'o', 'cmps']);
      await configs.stop();
    };
    await forgetAndAsk();
    await car.waitForLog(/Home Assistant is online \(homeassistant\/status\): discovery config published again/);

    // `offline` (Home Assistant stopping) changes nothing.
    const watch = await collect(client, DEVICE_TOPIC);
    await watch.waitFor((m) => m.retain);
    await client.publishAsync('homeassistant/status', 'offline', { qos: 1 });
    await new Promise((resolve) => setTimeout(resolve, 600));
    assert.equal(watch.messages.length, 1, 'only the retained replay');
    await watch.stop();

    // The subscription is made anew on carbot's connection after every reconnect.
    await closeClient(client);
    await broker().restart();
    await car.waitForLog(/lost connection/);
    const subscribed = () => car!.lines.filter((l) => /subscribed to carbot\/move/.test(l)).length;
    const deadline = Date.now() + 10_000;
    while (subscribed() < 2) {
      assert.ok(Date.now() < deadline, `no reconnect:\n${car.lines.join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    client = await connectClient(broker().url);
    await forgetAndAsk();
  });

  it('publishes once for a burst of "online"s, and not for a retained "online" found on connecting', async () => {
    // A retained `online` (someone published Home Assistant's birth with -r) is no news.
    await client.publishAsync('homeassistant/status', 'online', { qos: 1, retain: true });
    const configs = await collect(client, DEVICE_TOPIC);
    car = startCarbot(broker().url, ['--homeassistant-enabled']);
    await car.waitForLog(/subscribed to carbot\/move/);
    await configs.waitFor((m) => m.payload !== '');
    await new Promise((resolve) => setTimeout(resolve, 800));
    assert.equal(configs.messages.length, 1, 'the config as carbot connected, nothing for the retained online');
    await client.publishAsync('homeassistant/status', '', { qos: 1, retain: true });

    for (let i = 0; i < 3; i++) await client.publishAsync('homeassistant/status', 'online', { qos: 1 });
    await configs.waitFor((m) => m.payload !== '', 2000, 1);
    await new Promise((resolve) => setTimeout(resolve, 800));
    assert.equal(configs.messages.length, 2, 'one publish for the three');
  });

  it('clears the per-entity configs an earlier version left, and keeps them cleared', async () => {
    // What an earlier carbot left retained on the broker (single-component discovery).
    const old = legacyTopics({ prefix: 'homeassistant', device: 'carbot' });
    for (const topic of old) await client.publishAsync(topic, '{"name":"old"}', { qos: 1, retain: true });
    assert.equal((await retained(broker().url, 'homeassistant/+/carbot/+/config')).length, old.length);

    car = startCarbot(broker().url, ['--homeassistant-enabled']);
    await car.waitForLog(/subscribed to carbot\/move/);
    // Once carbot has answered a later command, what it published on connecting is in.
    await client.publishAsync('carbot/move', 'stop', { qos: 1 });
    await car.waitForLog(/command from mqtt/);
    assert.deepEqual(await retained(broker().url, 'homeassistant/+/carbot/+/config'), [], 'no per-entity config is left');
    assert.deepEqual((await retained(broker().url, 'homeassistant/#')).map((m) => m.topic), [DEVICE_TOPIC]);
  });

  it('turning the option off removes the configs from the broker', async () => {
    car = startCarbot(broker().url, ['--homeassistant-enabled']);
    await car.waitForLog(/subscribed to carbot\/move/);
    await car.shutdown();
    car = startCarbot(broker().url, ['--no-homeassistant']);
    await car.waitForLog(/subscribed to carbot\/move/);
    // carbot sends its clears as it subscribes; once it has answered a later command, they are in.
    await client.publishAsync('carbot/move', 'stop', { qos: 1 });
    await car.waitForLog(/command from mqtt/);
    assert.deepEqual(await retained(broker().url, 'homeassistant/#'), [], 'no retained discovery config is left');
  });
});

/**
 * COVER_POSITION_TEMPLATE, as Home Assistant renders it (Jinja): empty until homed (the cover
 * ignores that), else the position over the track's length, in percent, rounded to a whole number.
 */
function coverPosition(state: Config): string {
  if (state.position === null || state.position === undefined) return '';
  return String(Math.round((state.position / state.track.length) * 100));
}

againstEachBroker('Home Assistant on a simulated track', (broker) => {
  let client: MqttClient;
  let car: CarbotProcess | undefined;
  afterEach(async () => {
    if (car) assert.equal((await car.kill('SIGTERM')).code, 0);
    car = undefined;
    await closeClient(client);
  });

  it("the cover's position follows the car: home (close), a stop from the select, a position set on the cover", async function () {
    this.timeout(60_000);
    client = await connectClient(broker().url);
    const states = await collect(client, 'tele/carbot/STATE');
    const arrivals = await collect(client, 'stat/carbot/ARRIVED');
    const discovery = await collect(client, DEVICE_TOPIC);
    car = spawnCarbot([
      '--mqtt-url', broker().url, '--gpio', 'sim', '--tele-period', '0', '--homeassistant-enabled',
      '--track-sim', JSON.stringify({ topSpeed: 0.6, lagMs: 20, deadBand: 0.1, seed: 7, start: 0.6 }),
      '--track-length-m', '0.5',
      '--track-stops', JSON.stringify({ basil: 0.1, thyme: 0.3 }),
      '--track-settle-ms', '100',
    ]);
    await car.waitForLine(/subscribed to carbot\/move/);
    const cmps = (JSON.parse((await discovery.waitFor((m) => m.payload !== '')).payload) as Config).cmps as Record<string, Config>;
    const { track: cover, goto: select, arrived: event } = cmps;
    assert.equal(cover.p, 'cover');
    assert.equal(cover.position_template, COVER_POSITION_TEMPLATE);
    assert.equal(cover.position_topic, 'tele/carbot/STATE');
    const parse = (m: ReceivedMessage) => JSON.parse(m.payload) as Config;
    const idle = (s: Config) => s.task === undefined && s.motion === 'stopped';
    // What the cover shows now: the template applied to the newest STATE.
    const shown = () => coverPosition(parse(states.messages[states.messages.length - 1]));

    await states.waitFor(() => true);
    assert.equal(shown(), '', 'unknown until homed');

    // Close: the car goes home, the cover shows 0 %.
    await client.publishAsync(cover.command_topic, cover.payload_close, { qos: 1 });
    await states.waitFor((m) => parse(m).homed === true && idle(parse(m)), 30_000, states.messages.length);
    assert.equal(shown(), '0');

    // The select's option "thyme": its command_template ({{ {"goto": value} | tojson }}) renders this.
    assert.deepEqual(select.options, ['basil', 'thyme']);
    let from = arrivals.messages.length;
    await client.publishAsync(select.command_topic, JSON.stringify({ goto: 'thyme' }), { qos: 1 });
    const moving = states.messages.length;
    const atThyme = parse(await arrivals.waitFor(() => true, 20_000, from));
    assert.equal(atThyme.stop, 'thyme');
    assert.ok(event.event_types.includes(atThyme.stop));
    const there = parse(await states.waitFor((m) => idle(parse(m)), 5000, states.messages.length - 1));
    // On the way the cover moved through the positions between 0 and 60 %.
    const seen = states.messages.slice(moving).map((m) => Number(coverPosition(parse(m))));
    assert.ok(seen.some((p) => p > 5 && p < 55), `positions shown on the way: ${seen.join(' ')}`);
    assert.ok(Math.abs(Number(coverPosition(there)) - 60) <= 2, `at thyme the cover shows ${coverPosition(there)} %`);

    // Set the cover's position to 20 %: set_position_template with position = 20.
    assert.equal(cover.set_position_template, '{"goto":{{ (position / 100 * 0.5) | round(4) }}}');
    from = arrivals.messages.length;
    await client.publishAsync(cover.set_position_topic, '{"goto":0.1}', { qos: 1 });
    const atPlace = parse(await arrivals.waitFor(() => true, 20_000, from));
    assert.equal(atPlace.position !== null, true);
    const after = parse(await states.waitFor((m) => idle(parse(m)), 5000, states.messages.length - 1));
    assert.ok(Math.abs(Number(coverPosition(after)) - 20) <= 2, `after the set the cover shows ${coverPosition(after)} %`);
  });
});
