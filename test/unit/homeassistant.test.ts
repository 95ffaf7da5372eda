import { strict as assert } from 'node:assert';
import { cameraDiscoveryMessages, clearMessages, discoveryMessages, discoveryNodeId, type DiscoveryOptions } from '../../src/homeassistant';

const opts: DiscoveryOptions = {
  prefix: 'homeassistant',
  device: 'carbot',
  moveTopic: 'carbot/move',
  stopTopic: 'carbot/move/stop',
  stateTopic: 'tele/carbot/STATE',
  lwtTopic: 'tele/carbot/LWT',
  version: '1.2.3',
};

type Config = Record<string, unknown>;

function parsed(o: DiscoveryOptions = opts): Map<string, Config> {
  return new Map(discoveryMessages(o).map((m) => [m.topic, JSON.parse(m.payload) as Config]));
}

const BUTTON_TOPICS = ['forward', 'backward', 'stop', 'faster', 'slower'].map(
  (c) => `homeassistant/button/carbot/${c}/config`,
);
const SENSOR_TOPICS = ['motion', 'speed'].map((s) => `homeassistant/sensor/carbot/${s}/config`);

describe('Home Assistant discovery', () => {
  it('publishes five button and two sensor configs, retained, under <prefix>/<component>/<node_id>/<object_id>/config', () => {
    const messages = discoveryMessages(opts);
    assert.deepEqual(
      messages.map((m) => m.topic),
      [...BUTTON_TOPICS, ...SENSOR_TOPICS],
    );
    for (const m of messages) assert.equal(m.retain, true, m.topic);
  });

  it('gives every entity its own unique_id', () => {
    const ids = [...parsed().values()].map((c) => c.unique_id);
    assert.deepEqual(ids, [
      'carbot_carbot_forward',
      'carbot_carbot_backward',
      'carbot_carbot_stop',
      'carbot_carbot_faster',
      'carbot_carbot_slower',
      'carbot_carbot_motion',
      'carbot_carbot_speed',
    ]);
    assert.equal(new Set(ids).size, ids.length);
  });

  it('groups all entities under one identical device block', () => {
    const devices = [...parsed().values()].map((c) => c.device);
    for (const d of devices) {
      assert.deepEqual(d, {
        identifiers: ['carbot_carbot'],
        name: 'carbot',
        manufacturer: 'carbot',
        model: 'Raspberry Pi car',
        sw_version: '1.2.3',
      });
    }
  });

  it('makes each button publish its command word, not retained, to the move topic; Stop to the stop topic', () => {
    const configs = parsed();
    for (const command of ['forward', 'backward', 'stop', 'faster', 'slower']) {
      const c = configs.get(`homeassistant/button/carbot/${command}/config`);
      assert.ok(c, command);
      // A flood of the move topic cannot hold up or lose a press of Stop.
      assert.equal(c.command_topic, command === 'stop' ? 'carbot/move/stop' : 'carbot/move');
      assert.equal(c.payload_press, command);
      // carbot drops retained commands as stale, so a retained press would do nothing.
      assert.equal(c.retain, false);
      assert.equal(typeof c.name, 'string');
    }
  });

  it('reads motion and speed from the STATE JSON, speed in percent', () => {
    const configs = parsed();
    const motion = configs.get('homeassistant/sensor/carbot/motion/config');
    const speed = configs.get('homeassistant/sensor/carbot/speed/config');
    assert.ok(motion && speed);
    assert.equal(motion.state_topic, 'tele/carbot/STATE');
    assert.equal(motion.value_template, '{{ value_json.motion }}');
    assert.deepEqual(motion.options, ['stopped', 'forward', 'backward', 'reversing']);
    assert.equal(speed.state_topic, 'tele/carbot/STATE');
    assert.equal(speed.value_template, '{{ value_json.speed }}');
    assert.equal(speed.unit_of_measurement, '%');
  });

  it('marks every entity unavailable from the LWT topic (Online/Offline)', () => {
    for (const [topic, c] of parsed()) {
      assert.equal(c.availability_topic, 'tele/carbot/LWT', topic);
      assert.equal(c.payload_available, 'Online', topic);
      assert.equal(c.payload_not_available, 'Offline', topic);
    }
  });

  it('does not set the object_id option Home Assistant deprecated in 2025.10', () => {
    for (const [topic, c] of parsed()) assert.equal('object_id' in c, false, topic);
  });

  it('follows the discovery prefix, device and topics it is given', () => {
    const configs = parsed({
      prefix: 'ha-test',
      device: 'car 2/left',
      moveTopic: 'garden/car2/move',
      stopTopic: 'garden/car2/move/stop',
      stateTopic: 'tele/car 2/left/STATE',
      lwtTopic: 'tele/car 2/left/LWT',
      version: '0.1.0',
    });
    // Topic levels and ids accept only [a-zA-Z0-9_-]; a hash of the name keeps them apart from
    // a device really called car_2_left. The device name itself is shown as is.
    const stop = configs.get('ha-test/button/car_2_left_23619de2/stop/config');
    assert.ok(stop, [...configs.keys()].join(', '));
    assert.equal(stop.unique_id, 'carbot_car_2_left_23619de2_stop');
    assert.equal(stop.command_topic, 'garden/car2/move/stop');
    assert.equal(stop.availability_topic, 'tele/car 2/left/LWT');
    assert.deepEqual((stop.device as Config).identifiers, ['carbot_car_2_left_23619de2']);
    assert.equal((stop.device as Config).name, 'car 2/left');
    for (const topic of configs.keys()) {
      assert.match(topic, /^ha-test\/(button|sensor)\/[a-zA-Z0-9_-]+\/[a-zA-Z0-9_-]+\/config$/);
    }
  });

  it('clears every config it published with an empty retained payload', () => {
    const published = discoveryMessages(opts).map((m) => m.topic);
    const cleared = clearMessages(opts);
    assert.deepEqual(
      cleared.map((m) => m.topic),
      published,
    );
    for (const m of cleared) {
      assert.equal(m.payload, '');
      assert.equal(m.retain, true);
    }
  });

  it('gives devices whose names differ only in a character Home Assistant does not take different ids', () => {
    // `.` is allowed in a device name but not in a node_id: car.a and car_a must not share one,
    // or each car's configs overwrite the other's and one car's button drives the other.
    const ids = ['car.a', 'car_a', 'car-a', 'car.a.b', 'car_a.b', 'car.a_b'].map(discoveryNodeId);
    assert.equal(new Set(ids).size, ids.length, ids.join(' '));
    for (const id of ids) assert.match(id, /^[a-zA-Z0-9_-]+$/);
    // Names Home Assistant takes as they are keep their ids (and existing entities) unchanged.
    assert.deepEqual(['carbot', 'car_a', 'car-a', 'Car2'].map(discoveryNodeId), ['carbot', 'car_a', 'car-a', 'Car2']);
    const a = parsed({ ...opts, device: 'car.a', moveTopic: 'car.a/move' });
    const b = parsed({ ...opts, device: 'car_a', moveTopic: 'car_a/move' });
    assert.deepEqual([...a.keys()].filter((topic) => b.has(topic)), []);
    const uniqueIds = (m: Map<string, Config>) => [...m.values()].map((c) => c.unique_id);
    assert.deepEqual(uniqueIds(a).filter((id) => uniqueIds(b).includes(id)), []);
  });

  describe('on a track', () => {
    const onTrack: DiscoveryOptions = { ...opts, track: { stops: ['basil', 'sweet basil'], metres: true } };

    it('adds home, patrol, a button per stop and the position sensor', () => {
      const configs = parsed(onTrack);
      const added = [...configs.keys()].slice(BUTTON_TOPICS.length + SENSOR_TOPICS.length);
      assert.deepEqual(added, [
        'homeassistant/button/carbot/home/config',
        'homeassistant/button/carbot/patrol/config',
        'homeassistant/button/carbot/goto_basil/config',
        // A name with a character Home Assistant does not take gets a hash of it, as a device's does.
        `homeassistant/button/carbot/goto_${discoveryNodeId('sweet basil')}/config`,
        'homeassistant/sensor/carbot/position/config',
      ]);
      const ids = [...configs.values()].map((c) => c.unique_id);
      assert.equal(new Set(ids).size, ids.length);
    });

    it('makes the button of a stop send its goto, not retained', () => {
      const c = parsed(onTrack).get(`homeassistant/button/carbot/goto_${discoveryNodeId('sweet basil')}/config`);
      assert.ok(c);
      assert.equal(c.name, 'Go to sweet basil');
      assert.equal(c.command_topic, 'carbot/move');
      assert.equal(c.payload_press, '{"goto":"sweet basil"}');
      assert.equal(c.retain, false);
      assert.equal(parsed(onTrack).get('homeassistant/button/carbot/patrol/config')?.payload_press, 'patrol');
    });

    it('reads the position from STATE, in metres or as a percentage of the track', () => {
      const metres = parsed(onTrack).get('homeassistant/sensor/carbot/position/config');
      assert.ok(metres);
      assert.equal(metres.value_template, '{{ value_json.position }}');
      assert.equal(metres.unit_of_measurement, 'm');
      assert.equal(metres.device_class, 'distance');
      const fraction = parsed({ ...opts, track: { stops: [], metres: false } }).get('homeassistant/sensor/carbot/position/config');
      assert.equal(fraction?.unit_of_measurement, '%');
      assert.match(String(fraction?.value_template), /value_json.position \* 100/);
    });

    it('clears the track entities too', () => {
      assert.deepEqual(
        clearMessages(onTrack).map((m) => m.topic),
        discoveryMessages(onTrack).map((m) => m.topic),
      );
    });
  });

  describe('with a camera', () => {
    const camera = { photoTopic: 'stat/carbot/PHOTO', stops: [{ name: 'basil', folder: 'basil' }, { name: 'sweet basil', folder: 'sweet_basil' }] };

    it('an image entity per stop, fed by the JPEG retained on stat/<device>/PHOTO/<stop folder>, and a Photo button', () => {
      const messages = cameraDiscoveryMessages(opts, camera);
      assert.ok(messages.every((m) => m.retain));
      const byTopic = new Map(messages.map((m) => [m.topic, JSON.parse(m.payload) as Config]));
      const button = byTopic.get('homeassistant/button/carbot/photo/config')!;
      assert.equal(button.command_topic, 'carbot/move');
      assert.equal(button.payload_press, 'photo');
      const basil = byTopic.get('homeassistant/image/carbot/picture_basil/config')!;
      assert.equal(basil.name, 'basil picture');
      assert.equal(basil.image_topic, 'stat/carbot/PHOTO/basil');
      assert.equal(basil.content_type, 'image/jpeg');
      assert.equal(basil.unique_id, 'carbot_carbot_picture_basil');
      const sweet = [...byTopic.keys()].find((t) => t.includes('picture_sweet_basil_'));
      assert.ok(sweet, [...byTopic.keys()].join('\n'));
      assert.equal(byTopic.get(sweet)!.image_topic, 'stat/carbot/PHOTO/sweet_basil');
    });

    it('cleared: the same topics, empty', () => {
      const cleared = cameraDiscoveryMessages(opts, camera, true);
      assert.deepEqual(cleared.map((m) => m.topic), cameraDiscoveryMessages(opts, camera).map((m) => m.topic));
      assert.ok(cleared.every((m) => m.payload === '' && m.retain));
    });
  });
});
