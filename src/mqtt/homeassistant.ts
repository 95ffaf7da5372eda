/**
 * Home Assistant MQTT discovery: the one retained device-based config that makes carbot appear
 * in Home Assistant as one device with its entities, the empty retained messages that remove
 * it again, and the empty retained messages that clear the per-entity configs earlier carbot
 * versions published. Pure: the caller publishes what these functions return.
 *
 * Layout (device-based discovery, Home Assistant 2024.11 and later):
 * `<prefix>/device/<node_id>/config`, one JSON object with `dev` (the device), `o` (the origin:
 * the software that publishes it) and `cmps` (the components, each with its platform in `p`).
 * node_id = the device name if it is made of `[a-zA-Z0-9_-]` (else see discoveryNodeId).
 * Key names are checked against Home Assistant's own schema in test/support/ha-discovery-schema.ts.
 * No `object_id`/`default_entity_id` in the payloads: Home Assistant deprecated the former
 * in 2025.10 and derives entity ids from the device name plus the entity name anyway
 * (`button.carbot_forward`, `sensor.carbot_speed`).
 */
import { safeName } from '../config/safe-name';


export interface DiscoveryOptions {
  /** Discovery prefix, Home Assistant's default is `homeassistant`. */
  prefix: string;
  /** carbot's `device` setting (the `<device>` in `tele/<device>/LWT`). */
  device: string;
  /** Where the buttons publish, carbot's `moveTopic`. */
  moveTopic: string;
  /** Where the Stop button publishes: the stop topic, which a flood of the move topic cannot hold up. */
  stopTopic: string;
  /** `tele/<device>/STATE`. */
  stateTopic: string;
  /** `tele/<device>/LWT`, carrying `Online`/`Offline`. */
  lwtTopic: string;
  /** `stat/<device>/ARRIVED`, the track's arrivals (docs/track.md). */
  arrivedTopic: string;
  /** carbot's version, shown as the device's firmware and the origin's version. */
  version: string;
  /** The speed setting's limits (minSpeed, maxSpeed), for the Speed number. */
  speed: { min: number; max: number };
  /** Where to get help, shown by Home Assistant with the origin; left out when carbot has none to give. */
  supportUrl?: string;
  /** A car on a track (docs/track.md): the cover, the stops' select, ARRIVED's event and more. */
  track?: TrackDiscovery;
  /**
   * With a camera (camera.command): an `image` per stop, "<stop> picture", showing the JPEG
   * carbot publishes retained on `stat/<device>/PHOTO/<stop folder>` after each capture, and a
   * "Photo" button (the `photo` command).
   */
  camera?: { photoTopic: string; stops: readonly { name: string; folder: string }[] };
}

export interface TrackDiscovery {
  stops: readonly string[];
  /** Positions in metres (track.lengthM), else fractions of the track (shown in percent). */
  metres: boolean;
  /** The track's length in STATE's unit: track.lengthM, or 1 (fractions). */
  length: number;
  /** Whether `home` works (a limit switch at the home end); else closing the cover is a goto to 0. */
  homeSwitch: boolean;
}

export interface DiscoveryMessage {
  topic: string;
  payload: string;
  retain: true;
}

type Config = Record<string, unknown>;

const BUTTONS = [
  { command: 'forward', name: 'Forward', icon: 'mdi:arrow-up-bold' },
  { command: 'backward', name: 'Backward', icon: 'mdi:arrow-down-bold' },
  { command: 'stop', name: 'Stop', icon: 'mdi:stop' },
  { command: 'faster', name: 'Faster', icon: 'mdi:plus' },
  { command: 'slower', name: 'Slower', icon: 'mdi:minus' },
] as const;

/** The values STATE's `motion` takes (docs/mqtt.md); an enum sensor lets automations pick from them. */
const MOTIONS = ['stopped', 'forward', 'backward', 'reversing'];

/** The event type of an arrival at a place that is not a named stop (`{"goto":0.42}`). */
export const ARRIVED_AT_A_PLACE = 'arrived';

/**
 * The cover's position, 0-100 % from the home end, out of STATE (`position` in metres or as a
 * fraction, `track.length` in the same unit). Empty until the car is homed: Home Assistant's
 * cover ignores an empty position (quietly, where `None` would log a warning each STATE) and
 * leaves it unknown.
 */
export const COVER_POSITION_TEMPLATE =
  "{{ (value_json.position / value_json.track.length * 100) | round(0) | int if value_json.position is not none else '' }}";

/** ARRIVED (`{"stop":"basil","position":0.301,"target":0.3}`) as an event: its type is the stop, or `arrived`. */
export const ARRIVED_EVENT_TEMPLATE =
  `{{ {"event_type": value_json.stop if value_json.stop is not none else "${ARRIVED_AT_A_PLACE}", "position": value_json.position, "target": value_json.target} | tojson }}`;

/**
 * Home Assistant accepts only `[a-zA-Z0-9_-]` in the node_id and object_id topic levels. A
 * device name made of those is its own node_id (entity ids stay as they were); any other name
 * (a `.` in it) gets its characters replaced and a hash of the whole name appended, so that
 * `car.a` and `car_a` never share topics and unique_ids, which would let one car's buttons
 * drive the other.
 */
export function discoveryNodeId(device: string): string {
  return safeName(device);
}

/** Where Home Assistant says `online` when it (re)starts: carbot publishes its config again then. */
export function statusTopic(prefix: string): string {
  return `${prefix}/status`;
}

/** The one device-based discovery topic. */
export function discoveryTopic(opts: Pick<DiscoveryOptions, 'prefix' | 'device'>): string {
  return `${opts.prefix}/device/${discoveryNodeId(opts.device)}/config`;
}

/** The device-based config: `dev`, `o` and `cmps` (each component's platform in `p`). */
export function deviceConfig(opts: DiscoveryOptions): Config {
  const node = discoveryNodeId(opts.device);
  const availability = {
    availability_topic: opts.lwtTopic,
    payload_available: 'Online',
    payload_not_available: 'Offline',
  };
  const id = (objectId: string) => `carbot_${node}_${objectId}`;
  // carbot ignores retained commands (a replay must never drive the car), and a command is
  // worth a delivery guarantee: the subscription is QoS 1 as well.
  const command = { retain: false, qos: 1 };
  const cmps: Record<string, Config> = {};

  for (const b of BUTTONS) {
    cmps[b.command] = {
      p: 'button',
      name: b.name,
      unique_id: id(b.command),
      command_topic: b.command === 'stop' ? opts.stopTopic : opts.moveTopic,
      payload_press: b.command,
      ...command,
      icon: b.icon,
      ...availability,
    };
  }
  cmps.motion = {
    p: 'sensor',
    name: 'Motion',
    unique_id: id('motion'),
    state_topic: opts.stateTopic,
    value_template: '{{ value_json.motion }}',
    device_class: 'enum',
    options: MOTIONS,
    icon: 'mdi:car-side',
    ...availability,
  };
  cmps.speed = {
    p: 'sensor',
    name: 'Speed',
    unique_id: id('speed'),
    state_topic: opts.stateTopic,
    value_template: '{{ value_json.speed }}',
    unit_of_measurement: '%',
    state_class: 'measurement',
    icon: 'mdi:speedometer',
    ...availability,
  };
  cmps.speed_setting = {
    p: 'number',
    name: 'Speed setting',
    unique_id: id('speed_setting'),
    command_topic: opts.moveTopic,
    command_template: '{"speed":{{ value | int }}}',
    ...command,
    state_topic: opts.stateTopic,
    value_template: '{{ value_json.speed }}',
    min: opts.speed.min,
    max: opts.speed.max,
    step: 1,
    mode: 'slider',
    unit_of_measurement: '%',
    icon: 'mdi:speedometer',
    ...availability,
  };

  const track = opts.track;
  if (track) {
    const button = (objectId: string, name: string, payload: string, icon: string): Config => ({
      p: 'button',
      name,
      unique_id: id(objectId),
      command_topic: opts.moveTopic,
      payload_press: payload,
      ...command,
      icon,
      ...availability,
    });
    cmps.home = button('home', 'Home', 'home', 'mdi:home-import-outline');
    cmps.patrol = button('patrol', 'Patrol', 'patrol', 'mdi:map-marker-path');
    cmps.position = {
      p: 'sensor',
      name: 'Position',
      unique_id: id('position'),
      state_topic: opts.stateTopic,
      ...(track.metres
        ? { value_template: '{{ value_json.position }}', unit_of_measurement: 'm', device_class: 'distance' }
        : {
            value_template: '{{ (value_json.position * 100) | round(1) if value_json.position is not none else None }}',
            unit_of_measurement: '%',
          }),
      state_class: 'measurement',
      icon: 'mdi:ruler',
      ...availability,
    };
    // Closed = at home (position 0), open = at the far end; 0-100 % in between. Disabled until
    // the user enables it: "close all covers" (an automation, a voice assistant) would home the
    // car, and the cover's stop goes to the move topic, not the stop topic.
    cmps.track = {
      p: 'cover',
      name: 'Track',
      unique_id: id('track'),
      enabled_by_default: false,
      command_topic: opts.moveTopic,
      payload_open: JSON.stringify({ goto: track.length }),
      payload_close: track.homeSwitch ? 'home' : JSON.stringify({ goto: 0 }),
      payload_stop: 'stop',
      position_topic: opts.stateTopic,
      position_template: COVER_POSITION_TEMPLATE,
      position_open: 100,
      position_closed: 0,
      set_position_topic: opts.moveTopic,
      set_position_template: `{"goto":{{ (position / 100 * ${track.length}) | round(4) }}}`,
      ...command,
      icon: 'mdi:map-marker-distance',
      ...availability,
    };
    if (track.stops.length > 0) {
      cmps.goto = {
        p: 'select',
        name: 'Go to',
        unique_id: id('goto'),
        command_topic: opts.moveTopic,
        command_template: '{{ {"goto": value} | tojson }}',
        ...command,
        options: [...track.stops],
        icon: 'mdi:map-marker',
        ...availability,
      };
    }
    cmps.arrived = {
      p: 'event',
      name: 'Arrived',
      unique_id: id('arrived'),
      state_topic: opts.arrivedTopic,
      value_template: ARRIVED_EVENT_TEMPLATE,
      event_types: [...new Set([...track.stops, ARRIVED_AT_A_PLACE])],
      qos: 1,
      icon: 'mdi:map-marker-check',
      ...availability,
    };
  }

  if (opts.camera) {
    cmps.photo = {
      p: 'button',
      name: 'Photo',
      unique_id: id('photo'),
      command_topic: opts.moveTopic,
      payload_press: 'photo',
      ...command,
      icon: 'mdi:camera',
      ...availability,
    };
    for (const stop of opts.camera.stops) {
      const objectId = `picture_${discoveryNodeId(stop.name)}`;
      cmps[objectId] = {
        p: 'image',
        name: `${stop.name} picture`,
        unique_id: id(objectId),
        image_topic: photoImageTopic(opts.camera.photoTopic, stop.folder),
        content_type: 'image/jpeg',
        icon: 'mdi:image',
        ...availability,
      };
    }
  }

  return {
    dev: {
      identifiers: [`carbot_${node}`],
      name: opts.device,
      manufacturer: 'carbot',
      model: 'Raspberry Pi car',
      sw_version: opts.version,
    },
    o: { name: 'carbot', sw_version: opts.version, ...(opts.supportUrl ? { support_url: opts.supportUrl } : {}) },
    cmps,
  };
}

/** The retained device-based config. */
export function discoveryMessages(opts: DiscoveryOptions): DiscoveryMessage[] {
  return [{ topic: discoveryTopic(opts), payload: JSON.stringify(deviceConfig(opts)), retain: true }];
}

/**
 * The per-entity topics earlier carbot versions published (single-component discovery,
 * `<prefix>/<component>/<node_id>/<object_id>/config`): five buttons and two sensors, and on a
 * track the Home and Patrol buttons, a `goto_<stop>` button per stop and the position sensor.
 * Only the stops configured now can be named: a stop removed before upgrading keeps its button.
 */
export function legacyTopics(opts: Pick<DiscoveryOptions, 'prefix' | 'device' | 'track'>): string[] {
  const node = discoveryNodeId(opts.device);
  const topic = (component: string, objectId: string) => `${opts.prefix}/${component}/${node}/${objectId}/config`;
  const topics = [...BUTTONS.map((b) => topic('button', b.command)), topic('sensor', 'motion'), topic('sensor', 'speed')];
  if (opts.track) {
    topics.push(topic('button', 'home'), topic('button', 'patrol'));
    for (const stop of opts.track.stops) topics.push(topic('button', `goto_${discoveryNodeId(stop)}`));
    topics.push(topic('sensor', 'position'));
  }
  return topics;
}

/** Empty retained payloads on the per-entity topics of earlier versions: the broker drops them, Home Assistant removes those entities. */
export function legacyClearMessages(opts: Pick<DiscoveryOptions, 'prefix' | 'device' | 'track'>): DiscoveryMessage[] {
  return legacyTopics(opts).map((topic) => ({ topic, payload: '', retain: true }));
}

/**
 * Everything carbot may have left on the broker, old per-entity topics first, then the
 * device's: the broker drops the retained configs and Home Assistant removes the entities
 * (and the device once it has none left).
 */
export function clearMessages(opts: Pick<DiscoveryOptions, 'prefix' | 'device' | 'track'>): DiscoveryMessage[] {
  return [...legacyClearMessages(opts), { topic: discoveryTopic(opts), payload: '', retain: true }];
}

/** Where the latest picture of a stop is published, as JPEG bytes (retained), for its image entity. */
export const photoImageTopic = (photoTopic: string, stopFolder: string): string => `${photoTopic}/${stopFolder}`;
