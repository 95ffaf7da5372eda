/**
 * Home Assistant MQTT discovery: the retained config messages that make carbot appear in
 * Home Assistant as one device with five buttons and two sensors, and the empty retained
 * messages that remove it again. Pure: the caller publishes what these functions return.
 *
 * Layout (single-component discovery): `<prefix>/<component>/<node_id>/<object_id>/config`,
 * node_id = the device name if it is made of `[a-zA-Z0-9_-]` (else see discoveryNodeId),
 * object_id = the command or sensor.
 * No `object_id`/`default_entity_id` in the payloads: Home Assistant deprecated the former
 * in 2025.10 and derives entity ids from the device name plus the entity name anyway
 * (`button.carbot_forward`, `sensor.carbot_speed`).
 */

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
  /** carbot's version, shown as the device's firmware. */
  version: string;
  /** A car on a track (docs/track.md): a button per stop, home and patrol, and a position sensor. */
  track?: TrackDiscovery;
}

export interface TrackDiscovery {
  stops: readonly string[];
  /** Positions in metres (track.lengthM), else fractions of the track (shown in percent). */
  metres: boolean;
}

export interface DiscoveryMessage {
  topic: string;
  payload: string;
  retain: true;
}

const BUTTONS = [
  { command: 'forward', name: 'Forward', icon: 'mdi:arrow-up-bold' },
  { command: 'backward', name: 'Backward', icon: 'mdi:arrow-down-bold' },
  { command: 'stop', name: 'Stop', icon: 'mdi:stop' },
  { command: 'faster', name: 'Faster', icon: 'mdi:plus' },
  { command: 'slower', name: 'Slower', icon: 'mdi:minus' },
] as const;

/** The values STATE's `motion` takes (docs/mqtt.md); an enum sensor lets automations pick from them. */
const MOTIONS = ['stopped', 'forward', 'backward', 'reversing'];

/**
 * Home Assistant accepts only `[a-zA-Z0-9_-]` in the node_id and object_id topic levels. A
 * device name made of those is its own node_id (entity ids stay as they were); any other name
 * (a `.` in it) gets its characters replaced and a hash of the whole name appended, so that
 * `car.a` and `car_a` never share topics and unique_ids, which would let one car's buttons
 * drive the other.
 */
export function discoveryNodeId(device: string): string {
  if (/^[a-zA-Z0-9_-]+$/.test(device)) return device;
  // node:crypto only for such a name: loading it costs every start-up otherwise.
  const { createHash } = require('node:crypto') as typeof import('node:crypto');
  const hash = createHash('sha256').update(device).digest('hex').slice(0, 8);
  return `${device.replace(/[^a-zA-Z0-9_-]/g, '_')}_${hash}`;
}

function configs(opts: DiscoveryOptions): { topic: string; config: Record<string, unknown> }[] {
  const node = discoveryNodeId(opts.device);
  const shared = {
    availability_topic: opts.lwtTopic,
    payload_available: 'Online',
    payload_not_available: 'Offline',
    device: {
      identifiers: [`carbot_${node}`],
      name: opts.device,
      manufacturer: 'carbot',
      model: 'Raspberry Pi car',
      sw_version: opts.version,
    },
    origin: { name: 'carbot', sw_version: opts.version },
  };
  const topic = (component: string, objectId: string): string =>
    `${opts.prefix}/${component}/${node}/${objectId}/config`;

  const buttons = BUTTONS.map((b) => ({
    topic: topic('button', b.command),
    config: {
      name: b.name,
      unique_id: `carbot_${node}_${b.command}`,
      command_topic: b.command === 'stop' ? opts.stopTopic : opts.moveTopic,
      payload_press: b.command,
      // carbot ignores retained commands (a replay must never drive the car), and a
      // press is worth a delivery guarantee: the subscription is QoS 1 as well.
      retain: false,
      qos: 1,
      icon: b.icon,
      ...shared,
    },
  }));

  const sensors = [
    {
      topic: topic('sensor', 'motion'),
      config: {
        name: 'Motion',
        unique_id: `carbot_${node}_motion`,
        state_topic: opts.stateTopic,
        value_template: '{{ value_json.motion }}',
        device_class: 'enum',
        options: MOTIONS,
        icon: 'mdi:car-side',
        ...shared,
      },
    },
    {
      topic: topic('sensor', 'speed'),
      config: {
        name: 'Speed',
        unique_id: `carbot_${node}_speed`,
        state_topic: opts.stateTopic,
        value_template: '{{ value_json.speed }}',
        unit_of_measurement: '%',
        state_class: 'measurement',
        icon: 'mdi:speedometer',
        ...shared,
      },
    },
  ];

  return [...buttons, ...sensors, ...(opts.track ? trackConfigs(opts.track, node, topic, opts, shared) : [])];
}

/** The track's entities; `{{ value_json.position }}` renders "None" until homed, which Home Assistant shows as unknown. */
function trackConfigs(
  track: TrackDiscovery,
  node: string,
  topic: (component: string, objectId: string) => string,
  opts: DiscoveryOptions,
  shared: Record<string, unknown>,
): { topic: string; config: Record<string, unknown> }[] {
  const button = (objectId: string, name: string, payload: string, icon: string) => ({
    topic: topic('button', objectId),
    config: {
      name,
      unique_id: `carbot_${node}_${objectId}`,
      command_topic: opts.moveTopic,
      payload_press: payload,
      retain: false,
      qos: 1,
      icon,
      ...shared,
    },
  });
  return [
    button('home', 'Home', 'home', 'mdi:home-import-outline'),
    button('patrol', 'Patrol', 'patrol', 'mdi:map-marker-path'),
    ...track.stops.map((stop) => button(`goto_${discoveryNodeId(stop)}`, `Go to ${stop}`, JSON.stringify({ goto: stop }), 'mdi:map-marker')),
    {
      topic: topic('sensor', 'position'),
      config: {
        name: 'Position',
        unique_id: `carbot_${node}_position`,
        state_topic: opts.stateTopic,
        ...(track.metres
          ? { value_template: '{{ value_json.position }}', unit_of_measurement: 'm', device_class: 'distance' }
          : {
              value_template: '{{ (value_json.position * 100) | round(1) if value_json.position is not none else None }}',
              unit_of_measurement: '%',
            }),
        state_class: 'measurement',
        icon: 'mdi:ruler',
        ...shared,
      },
    },
  ];
}

/** Retained discovery configs: five buttons (the commands) and the motion and speed sensors. */
export function discoveryMessages(opts: DiscoveryOptions): DiscoveryMessage[] {
  return configs(opts).map(({ topic, config }) => ({
    topic,
    payload: JSON.stringify(config),
    retain: true,
  }));
}

/**
 * The same topics with an empty retained payload: the broker drops the retained configs and
 * Home Assistant removes the entities (and the device once it has none left).
 */
export function clearMessages(opts: DiscoveryOptions): DiscoveryMessage[] {
  return configs(opts).map(({ topic }) => ({ topic, payload: '', retain: true }));
}

/** Where the latest picture of a stop is published, as JPEG bytes (retained), for its image entity. */
export const photoImageTopic = (photoTopic: string, stopFolder: string): string => `${photoTopic}/${stopFolder}`;

/**
 * With a camera (camera.command): an `image` entity per stop, "<stop> picture", showing the
 * JPEG carbot publishes retained on `stat/<device>/PHOTO/<stop folder>` after each capture,
 * and a "Photo" button (the `photo` command). Kept apart from configs() above: it only adds
 * entities. With `clear`, the same topics emptied (what removes them).
 */
export function cameraDiscoveryMessages(
  opts: Pick<DiscoveryOptions, 'prefix' | 'device' | 'moveTopic' | 'lwtTopic' | 'version'>,
  camera: { photoTopic: string; stops: readonly { name: string; folder: string }[] },
  clear = false,
): DiscoveryMessage[] {
  const node = discoveryNodeId(opts.device);
  const shared = {
    availability_topic: opts.lwtTopic,
    payload_available: 'Online',
    payload_not_available: 'Offline',
    device: { identifiers: [`carbot_${node}`], name: opts.device },
    origin: { name: 'carbot', sw_version: opts.version },
  };
  const entries: { topic: string; config: Record<string, unknown> }[] = [
    {
      topic: `${opts.prefix}/button/${node}/photo/config`,
      config: { name: 'Photo', unique_id: `carbot_${node}_photo`, command_topic: opts.moveTopic, payload_press: 'photo', retain: false, qos: 1, icon: 'mdi:camera', ...shared },
    },
    ...camera.stops.map((stop) => {
      const id = `picture_${discoveryNodeId(stop.name)}`;
      return {
        topic: `${opts.prefix}/image/${node}/${id}/config`,
        config: {
          name: `${stop.name} picture`,
          unique_id: `carbot_${node}_${id}`,
          image_topic: photoImageTopic(camera.photoTopic, stop.folder),
          content_type: 'image/jpeg',
          icon: 'mdi:image',
          ...shared,
        },
      };
    }),
  ];
  return entries.map(({ topic, config }) => ({ topic, payload: clear ? '' : JSON.stringify(config), retain: true }));
}
