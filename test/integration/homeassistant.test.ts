import { strict as assert } from 'node:assert';
import type { MqttClient } from 'mqtt';
import { startCarbot, type RunningCarbot } from '../support/carbot';
import { againstEachBroker } from '../support/matrix';
import { closeClient, collect, connectClient } from '../support/mqtt';

const COMMANDS = ['forward', 'backward', 'stop', 'faster', 'slower'];

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

  it('publishes retained configs for five buttons and two sensors of one device, and a press drives the car', async () => {
    car = startCarbot(broker().url, ['--homeassistant']);
    await car.waitForLog(/subscribed to carbot\/move/);
    const watcher = await connectClient(broker().url);
    const configs = await collect(watcher, 'homeassistant/#');
    await configs.waitFor(() => configs.messages.length >= 7);
    await closeClient(watcher);
    assert.ok(configs.messages.every((m) => m.retain), 'every config is retained');
    const byTopic = new Map(configs.messages.map((m) => [m.topic, JSON.parse(m.payload) as Record<string, any>]));
    assert.deepEqual([...byTopic.keys()].sort(), [
      ...COMMANDS.map((c) => `homeassistant/button/carbot/${c}/config`),
      'homeassistant/sensor/carbot/motion/config',
      'homeassistant/sensor/carbot/speed/config',
    ].sort());

    const all = [...byTopic.values()];
    assert.equal(new Set(all.map((c) => c.unique_id)).size, 7, 'unique ids');
    const device = JSON.stringify(all[0].device);
    assert.ok(all.every((c) => JSON.stringify(c.device) === device), 'one device block');
    assert.deepEqual(all[0].device.identifiers, ['carbot_carbot']);
    for (const c of all) {
      assert.equal(c.availability_topic, 'tele/carbot/LWT');
      assert.equal(c.payload_available, 'Online');
      assert.equal(c.payload_not_available, 'Offline');
    }
    for (const command of COMMANDS) {
      const button = byTopic.get(`homeassistant/button/carbot/${command}/config`)!;
      assert.equal(button.command_topic, command === 'stop' ? 'carbot/move/stop' : 'carbot/move');
      assert.equal(button.payload_press, command);
    }
    const motion = byTopic.get('homeassistant/sensor/carbot/motion/config')!;
    assert.equal(motion.state_topic, 'tele/carbot/STATE');
    assert.match(motion.value_template, /value_json\.motion/);
    assert.equal(byTopic.get('homeassistant/sensor/carbot/speed/config')!.unit_of_measurement, '%');

    // What Home Assistant does when the Forward button is pressed.
    const forward = byTopic.get('homeassistant/button/carbot/forward/config')!;
    await client.publishAsync(forward.command_topic, forward.payload_press, { qos: 1, retain: Boolean(forward.retain) });
    await car.waitForLog(/forward at 50% \(command\)/);
    assert.deepEqual(car.motors.outputs, { left: 0.5, right: 0.5 });
    // And Stop, on the stop topic.
    await car.waitForLog(/stop topic: listening on carbot\/move\/stop/);
    const stop = byTopic.get('homeassistant/button/carbot/stop/config')!;
    await client.publishAsync(stop.command_topic, stop.payload_press, { qos: 1, retain: Boolean(stop.retain) });
    await car.waitForLog(/stopped \(command\)/);
    assert.deepEqual(car.motors.outputs, { left: 0, right: 0 });
  });

  it('turning the option off removes the configs from the broker', async () => {
    car = startCarbot(broker().url, ['--homeassistant']);
    await car.waitForLog(/subscribed to carbot\/move/);
    await car.shutdown();
    car = startCarbot(broker().url, ['--no-homeassistant']);
    await car.waitForLog(/subscribed to carbot\/move/);
    // carbot sends its clears as it subscribes; once it has answered a later command, they are in.
    await client.publishAsync('carbot/move', 'stop', { qos: 1 });
    await car.waitForLog(/command from mqtt/);
    const watcher = await connectClient(broker().url);
    const configs = await collect(watcher, 'homeassistant/#');
    // Retained replays come right after the SUBACK; a live marker published now arrives after them.
    await watcher.publishAsync('homeassistant/marker', 'end of replay', { qos: 1 });
    await configs.waitFor((m) => m.topic === 'homeassistant/marker');
    await closeClient(watcher);
    configs.messages.pop();
    assert.deepEqual(configs.messages, [], 'no retained discovery config is left');
  });
});
