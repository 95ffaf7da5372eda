import { strict as assert } from 'node:assert';
import {
  ARRIVED_EVENT_TEMPLATE,
  COVER_POSITION_TEMPLATE,
  clearMessages,
  deviceConfig,
  discoveryMessages,
  discoveryNodeId,
  discoveryTopic,
  legacyClearMessages,
  legacyTopics,
  statusTopic,
  type DiscoveryOptions,
} from '../../src/mqtt/homeassistant';
import {
  ABBREVIATIONS,
  allowedKeys,
  DEVICE_ABBREVIATIONS,
  DEVICE_DISCOVERY,
  DEVICE_KEYS,
  ORIGIN,
  PLATFORMS,
  SOURCES,
} from '../support/ha-discovery-schema';

const opts: DiscoveryOptions = {
  prefix: 'homeassistant',
  device: 'carbot',
  moveTopic: 'carbot/move',
  stopTopic: 'carbot/move/stop',
  stateTopic: 'tele/carbot/STATE',
  lwtTopic: 'tele/carbot/LWT',
  arrivedTopic: 'stat/carbot/ARRIVED',
  version: '1.2.3',
  speed: { min: 10, max: 100 },
};
const onTrack: DiscoveryOptions = { ...opts, track: { stops: ['basil', 'sweet basil'], metres: true, length: 2.4, homeSwitch: true } };

type Config = Record<string, any>;
const components = (o: DiscoveryOptions): Record<string, Config> => deviceConfig(o).cmps as Record<string, Config>;

const BUTTONS = ['forward', 'backward', 'stop', 'faster', 'slower'];

describe('Home Assistant discovery', () => {
  it('publishes one retained device-based config on <prefix>/device/<node_id>/config', () => {
    const messages = discoveryMessages(opts);
    assert.equal(messages.length, 1);
    assert.equal(messages[0].topic, 'homeassistant/device/carbot/config');
    assert.equal(messages[0].retain, true);
    assert.deepEqual(JSON.parse(messages[0].payload), deviceConfig(opts));
    assert.equal(statusTopic('homeassistant'), 'homeassistant/status');
  });

  it('names the device once (dev) and carbot as the origin (o), with their versions', () => {
    const config = deviceConfig(opts);
    assert.deepEqual(Object.keys(config), ['dev', 'o', 'cmps']);
    assert.deepEqual(config.dev, {
      identifiers: ['carbot_carbot'],
      name: 'carbot',
      manufacturer: 'carbot',
      model: 'Raspberry Pi car',
      sw_version: '1.2.3',
    });
    assert.deepEqual(config.o, { name: 'carbot', sw_version: '1.2.3' });
    assert.deepEqual(deviceConfig({ ...opts, supportUrl: 'https://example.org/carbot' }).o, {
      name: 'carbot',
      sw_version: '1.2.3',
      support_url: 'https://example.org/carbot',
    });
  });

  it('has five buttons, the motion and speed sensors and the Speed setting number, each with its own unique_id', () => {
    const cmps = components(opts);
    assert.deepEqual(Object.keys(cmps), [...BUTTONS, 'motion', 'speed', 'speed_setting']);
    assert.deepEqual(
      Object.values(cmps).map((c) => c.p),
      ['button', 'button', 'button', 'button', 'button', 'sensor', 'sensor', 'number'],
    );
    // The unique_ids earlier versions gave these entities: Home Assistant keeps their entity ids.
    assert.deepEqual(Object.values(cmps).map((c) => c.unique_id), [
      'carbot_carbot_forward',
      'carbot_carbot_backward',
      'carbot_carbot_stop',
      'carbot_carbot_faster',
      'carbot_carbot_slower',
      'carbot_carbot_motion',
      'carbot_carbot_speed',
      'carbot_carbot_speed_setting',
    ]);
  });

  it('makes each button publish its command word, not retained, to the move topic; Stop to the stop topic', () => {
    const cmps = components(opts);
    for (const command of BUTTONS) {
      const c = cmps[command];
      // A flood of the move topic cannot hold up or lose a press of Stop.
      assert.equal(c.command_topic, command === 'stop' ? 'carbot/move/stop' : 'carbot/move');
      assert.equal(c.payload_press, command);
      // carbot drops retained commands as stale, so a retained press would do nothing.
      assert.equal(c.retain, false);
      assert.equal(typeof c.name, 'string');
    }
  });

  it('reads motion and speed from the STATE JSON, speed in percent', () => {
    const { motion, speed } = components(opts);
    assert.equal(motion.state_topic, 'tele/carbot/STATE');
    assert.equal(motion.value_template, '{{ value_json.motion }}');
    assert.deepEqual(motion.options, ['stopped', 'forward', 'backward', 'reversing']);
    assert.equal(speed.state_topic, 'tele/carbot/STATE');
    assert.equal(speed.value_template, '{{ value_json.speed }}');
    assert.equal(speed.unit_of_measurement, '%');
  });

  it('sets the speed with {"speed":N} from a number between minSpeed and maxSpeed that shows STATE\'s speed', () => {
    const n = components({ ...opts, speed: { min: 20, max: 90 } }).speed_setting;
    assert.equal(n.command_topic, 'carbot/move');
    assert.equal(n.command_template, '{"speed":{{ value | int }}}');
    assert.equal(n.retain, false);
    assert.equal(n.state_topic, 'tele/carbot/STATE');
    assert.equal(n.value_template, '{{ value_json.speed }}');
    assert.deepEqual([n.min, n.max, n.step, n.unit_of_measurement], [20, 90, 1, '%']);
  });

  it('marks every entity unavailable from the LWT topic (Online/Offline)', () => {
    for (const [key, c] of Object.entries(components(onTrack))) {
      assert.equal(c.availability_topic, 'tele/carbot/LWT', key);
      assert.equal(c.payload_available, 'Online', key);
      assert.equal(c.payload_not_available, 'Offline', key);
    }
  });

  it('does not set the object_id option Home Assistant deprecated in 2025.10', () => {
    for (const [key, c] of Object.entries(components(onTrack))) assert.equal('object_id' in c, false, key);
  });

  it('follows the discovery prefix, device and topics it is given', () => {
    const other: DiscoveryOptions = {
      ...opts,
      prefix: 'ha-test',
      device: 'car 2/left',
      moveTopic: 'garden/car2/move',
      stopTopic: 'garden/car2/move/stop',
      stateTopic: 'tele/car 2/left/STATE',
      lwtTopic: 'tele/car 2/left/LWT',
    };
    // Topic levels and ids accept only [a-zA-Z0-9_-]; a hash of the name keeps them apart from
    // a device really called car_2_left. The device name itself is shown as is.
    assert.equal(discoveryTopic(other), 'ha-test/device/car_2_left_23619de2/config');
    const config = deviceConfig(other);
    const stop = (config.cmps as Record<string, Config>).stop;
    assert.equal(stop.unique_id, 'carbot_car_2_left_23619de2_stop');
    assert.equal(stop.command_topic, 'garden/car2/move/stop');
    assert.equal(stop.availability_topic, 'tele/car 2/left/LWT');
    assert.deepEqual((config.dev as Config).identifiers, ['carbot_car_2_left_23619de2']);
    assert.equal((config.dev as Config).name, 'car 2/left');
    assert.equal(statusTopic('ha-test'), 'ha-test/status');
  });

  it('gives devices whose names differ only in a character Home Assistant does not take different ids', () => {
    // `.` is allowed in a device name but not in a node_id: car.a and car_a must not share one,
    // or each car's configs overwrite the other's and one car's button drives the other.
    const ids = ['car.a', 'car_a', 'car-a', 'car.a.b', 'car_a.b', 'car.a_b'].map(discoveryNodeId);
    assert.equal(new Set(ids).size, ids.length, ids.join(' '));
    for (const id of ids) assert.match(id, /^[a-zA-Z0-9_-]+$/);
    // Names Home Assistant takes as they are keep their ids (and existing entities) unchanged.
    assert.deepEqual(['carbot', 'car_a', 'car-a', 'Car2'].map(discoveryNodeId), ['carbot', 'car_a', 'car-a', 'Car2']);
    const a = deviceConfig({ ...opts, device: 'car.a', moveTopic: 'car.a/move' });
    const b = deviceConfig({ ...opts, device: 'car_a', moveTopic: 'car_a/move' });
    assert.notEqual(discoveryTopic({ prefix: 'homeassistant', device: 'car.a' }), discoveryTopic({ prefix: 'homeassistant', device: 'car_a' }));
    const uniqueIds = (c: Config) => Object.values(c.cmps as Record<string, Config>).map((x) => x.unique_id);
    assert.deepEqual(uniqueIds(a).filter((id) => uniqueIds(b).includes(id)), []);
  });

  describe('the per-entity topics of earlier versions', () => {
    it('are the seven of a car without a track', () => {
      assert.deepEqual(legacyTopics(opts), [
        ...BUTTONS.map((c) => `homeassistant/button/carbot/${c}/config`),
        'homeassistant/sensor/carbot/motion/config',
        'homeassistant/sensor/carbot/speed/config',
      ]);
    });

    it('add home, patrol, a goto button per stop and the position sensor on a track', () => {
      assert.deepEqual(legacyTopics(onTrack).slice(7), [
        'homeassistant/button/carbot/home/config',
        'homeassistant/button/carbot/patrol/config',
        'homeassistant/button/carbot/goto_basil/config',
        `homeassistant/button/carbot/goto_${discoveryNodeId('sweet basil')}/config`,
        'homeassistant/sensor/carbot/position/config',
      ]);
    });

    it("share Home Assistant's discovery id with the device config's component that replaces each, so it takes the entity over", () => {
      const cmps = components(onTrack);
      const replaced = legacyTopics(onTrack).filter((topic) => !topic.includes('/goto_'));
      for (const topic of replaced) {
        const [platform, id] = DEVICE_DISCOVERY.discoveryId(topic, 'homeassistant');
        const componentId = topic.split('/')[3];
        assert.equal(cmps[componentId]?.p, platform, topic);
        assert.deepEqual(DEVICE_DISCOVERY.discoveryId(discoveryTopic(onTrack), 'homeassistant', componentId)[1], id, topic);
      }
      // The per-stop buttons are gone: the Go to select replaces them.
      assert.equal(legacyTopics(onTrack).filter((topic) => topic.includes('/goto_')).length, 2);
    });

    it('are cleared with empty retained payloads', () => {
      for (const m of legacyClearMessages(onTrack)) {
        assert.equal(m.payload, '');
        assert.equal(m.retain, true);
      }
    });
  });

  it('turning it off clears the old per-entity topics and the device topic', () => {
    const cleared = clearMessages(onTrack);
    assert.deepEqual(cleared.map((m) => m.topic), [...legacyTopics(onTrack), 'homeassistant/device/carbot/config']);
    for (const m of cleared) {
      assert.equal(m.payload, '');
      assert.equal(m.retain, true);
    }
  });

  describe('on a track', () => {
    it('adds home and patrol buttons, the position sensor, the Track cover, the Go to select and the Arrived event', () => {
      const cmps = components(onTrack);
      assert.deepEqual(Object.keys(cmps).slice(8), ['home', 'patrol', 'position', 'track', 'goto', 'arrived']);
      assert.deepEqual(Object.values(cmps).slice(8).map((c) => c.p), ['button', 'button', 'sensor', 'cover', 'select', 'event']);
      const ids = Object.values(cmps).map((c) => c.unique_id);
      assert.equal(new Set(ids).size, ids.length);
    });

    it('maps the cover: close = home, open = the far end, stop = stop, a position = a goto', () => {
      const { track } = components(onTrack);
      assert.equal(track.command_topic, 'carbot/move');
      assert.equal(track.payload_close, 'home');
      assert.equal(track.payload_open, '{"goto":2.4}');
      assert.equal(track.payload_stop, 'stop');
      assert.equal(track.retain, false);
      assert.equal(track.position_topic, 'tele/carbot/STATE');
      assert.equal(track.position_template, COVER_POSITION_TEMPLATE);
      assert.equal(track.set_position_topic, 'carbot/move');
      assert.equal(track.set_position_template, '{"goto":{{ (position / 100 * 2.4) | round(4) }}}');
      // Fractions of the track, and a car with no switch at the home end (goto 0 instead of home).
      const fraction = components({ ...opts, track: { stops: [], metres: false, length: 1, homeSwitch: false } }).track;
      assert.equal(fraction.payload_open, '{"goto":1}');
      assert.equal(fraction.payload_close, '{"goto":0}');
      assert.equal(fraction.set_position_template, '{"goto":{{ (position / 100 * 1) | round(4) }}}');
    });

    it('sends a goto of the chosen stop from the select', () => {
      const { goto } = components(onTrack);
      assert.deepEqual(goto.options, ['basil', 'sweet basil']);
      assert.equal(goto.command_topic, 'carbot/move');
      assert.equal(goto.command_template, '{{ {"goto": value} | tojson }}');
      assert.equal(goto.retain, false);
      // No stops, no select (Home Assistant requires options).
      assert.equal('goto' in components({ ...opts, track: { stops: [], metres: false, length: 1, homeSwitch: true } }), false);
    });

    it('fires the Arrived event from ARRIVED, its type the stop or "arrived"', () => {
      const { arrived } = components(onTrack);
      assert.equal(arrived.state_topic, 'stat/carbot/ARRIVED');
      assert.deepEqual(arrived.event_types, ['basil', 'sweet basil', 'arrived']);
      assert.equal(arrived.value_template, ARRIVED_EVENT_TEMPLATE);
      assert.match(arrived.value_template, /"event_type": value_json\.stop if value_json\.stop is not none else "arrived"/);
    });

    it('reads the position from STATE, in metres or as a percentage of the track', () => {
      const metres = components(onTrack).position;
      assert.equal(metres.value_template, '{{ value_json.position }}');
      assert.equal(metres.unit_of_measurement, 'm');
      assert.equal(metres.device_class, 'distance');
      const fraction = components({ ...opts, track: { stops: [], metres: false, length: 1, homeSwitch: true } }).position;
      assert.equal(fraction.unit_of_measurement, '%');
      assert.match(String(fraction.value_template), /value_json.position \* 100/);
    });
  });

  describe('with a camera', () => {
    const camera = { photoTopic: 'stat/carbot/PHOTO', stops: [{ name: 'basil', folder: 'basil' }, { name: 'sweet basil', folder: 'sweet_basil' }] };

    it('an image entity per stop, fed by the JPEG retained on stat/<device>/PHOTO/<stop folder>, and a Photo button, in the device config', () => {
      const cmps = components({ ...onTrack, camera });
      assert.equal(cmps.photo.p, 'button');
      assert.equal(cmps.photo.command_topic, 'carbot/move');
      assert.equal(cmps.photo.payload_press, 'photo');
      const basil = cmps.picture_basil;
      assert.equal(basil.p, 'image');
      assert.equal(basil.name, 'basil picture');
      assert.equal(basil.image_topic, 'stat/carbot/PHOTO/basil');
      assert.equal(basil.content_type, 'image/jpeg');
      assert.equal(basil.unique_id, 'carbot_carbot_picture_basil');
      assert.equal(basil.availability_topic, 'tele/carbot/LWT');
      const sweet = Object.keys(cmps).find((k) => k.startsWith('picture_sweet_basil'));
      assert.ok(sweet, Object.keys(cmps).join('\n'));
      assert.equal(cmps[sweet].image_topic, 'stat/carbot/PHOTO/sweet_basil');
      // Without a camera, none of them.
      assert.equal(Object.keys(components(onTrack)).filter((k) => k === 'photo' || k.startsWith('picture_')).length, 0);
    });
  });
});

describe("carbot's discovery payloads against Home Assistant's schema", () => {
  // Extracted from home-assistant/core (test/support/ha-discovery-schema.ts names each file and commit).
  const variants: [string, DiscoveryOptions][] = [
    ['no track', opts],
    ['a track in metres with stops', onTrack],
    ['a track in fractions, no stops, no home switch', { ...opts, track: { stops: [], metres: false, length: 1, homeSwitch: false } }],
    ['an odd device name and a support URL', { ...opts, device: 'car.a', supportUrl: 'https://example.org/carbot' }],
    ['a track with a camera', { ...onTrack, camera: { photoTopic: 'stat/carbot/PHOTO', stops: [{ name: 'basil', folder: 'basil' }] } }],
  ];

  it('cites the files and commits it was extracted from', () => {
    for (const s of Object.values(SOURCES)) {
      assert.match(s.path, /^homeassistant\/components\/mqtt\/[a-z_]+\.py$/);
      assert.match(s.commit, /^[0-9a-f]{40}$/);
    }
  });

  for (const [name, o] of variants) {
    describe(name, () => {
      const config = deviceConfig(o);

      it('uses only the top-level keys of device-based discovery, abbreviated as Home Assistant expands them', () => {
        for (const key of Object.keys(config)) assert.ok(key in DEVICE_DISCOVERY.topLevel, key);
        const present = Object.keys(config).map((key) => DEVICE_DISCOVERY.topLevel[key]);
        for (const key of DEVICE_DISCOVERY.required) assert.ok(present.includes(key), key);
        // `dev` is ABBREVIATIONS' own entry, read from abbreviations.py.
        assert.equal(ABBREVIATIONS.dev, DEVICE_DISCOVERY.topLevel.dev);
        assert.match(discoveryTopic(o).split('/')[2], DEVICE_DISCOVERY.idLevel);
        assert.equal(discoveryTopic(o).split('/')[1], 'device');
      });

      it('gives a device Home Assistant accepts: known keys, at least one identifier', () => {
        const dev = config.dev as Config;
        for (const key of Object.keys(dev)) assert.ok(DEVICE_KEYS.includes(DEVICE_ABBREVIATIONS[key] ?? key), key);
        assert.ok(dev.identifiers?.length > 0 || dev.connections?.length > 0);
      });

      it('gives an origin with its required name and only known keys', () => {
        const origin = config.o as Config;
        for (const key of ORIGIN.required) assert.ok(key in origin, key);
        for (const key of Object.keys(origin)) assert.ok([...ORIGIN.required, ...ORIGIN.optional].includes(key), key);
      });

      it("gives every component a platform whose schema takes each of its keys and has its required ones", () => {
        const cmps = config.cmps as Record<string, Config>;
        for (const [objectId, c] of Object.entries(cmps)) {
          assert.match(objectId, DEVICE_DISCOVERY.idLevel);
          const platform = c[Object.keys(DEVICE_DISCOVERY.platformKey)[0]] as string;
          const allowed = allowedKeys(platform);
          for (const key of Object.keys(c)) {
            if (key in DEVICE_DISCOVERY.platformKey) continue;
            // A key that is an abbreviation means what ABBREVIATIONS says, whatever carbot meant.
            const full = ABBREVIATIONS[key] ?? key;
            assert.ok(allowed.has(full), `${objectId} (${platform}): ${key} is not in Home Assistant's ${platform} schema`);
          }
          for (const key of PLATFORMS[platform].required) assert.ok(key in c, `${objectId} (${platform}) lacks ${key}`);
          const expanded = Object.keys(c).map((key) => DEVICE_DISCOVERY.platformKey[key] ?? ABBREVIATIONS[key] ?? key);
          for (const key of DEVICE_DISCOVERY.componentRequired) assert.ok(expanded.includes(key), `${objectId} lacks ${key}`);
          assert.equal(typeof c.unique_id, 'string', objectId);
        }
      });
    });
  }

  it('only relies on keys newer than the platform files read where abbreviations.py knows them', () => {
    const known = new Set(Object.values(ABBREVIATIONS));
    for (const [platform, schema] of Object.entries(PLATFORMS)) {
      for (const { key } of schema.later ?? []) assert.ok(known.has(key), `${platform}: ${key}`);
    }
  });
});
