/**
 * Home Assistant's MQTT discovery schema, as data: the keys each platform's discovery schema
 * accepts and requires, the shared (common, device, origin) schemas, and the abbreviations
 * discovery expands. Extracted by hand from Home Assistant's own source, repository
 * home-assistant/core, files under homeassistant/components/mqtt/, read at the commits named
 * in SOURCES (the versions the stored copy of the repository held; the newest discovery.py
 * and abbreviations.py were not among them, see DEVICE_DISCOVERY and LATER_KEYS).
 *
 * Only names are taken (voluptuous `vol.Required(...)`/`vol.Optional(...)` keys and dictionary
 * entries), not code. test/mqtt/homeassistant.test.ts holds every payload carbot publishes
 * against it.
 */

export const HA_REPOSITORY = 'home-assistant/core';

/** The files read, and the commit each was read at. */
export const SOURCES = {
  abbreviations: { path: 'homeassistant/components/mqtt/abbreviations.py', commit: '911803bfd294b1ba1f541af01f6d37666ae4e384' },
  discovery: { path: 'homeassistant/components/mqtt/discovery.py', commit: '00b08a436e4de6a7be16b25aa0ee10f7b52aff0c' },
  schemas: { path: 'homeassistant/components/mqtt/schemas.py', commit: 'c6ca7f5f416326437e8e652a5623aa5eff7b3d00' },
  config: { path: 'homeassistant/components/mqtt/config.py', commit: '459c79f295fd592fc7b235e4bcb5a6a3d160754e' },
  button: { path: 'homeassistant/components/mqtt/button.py', commit: '1ecdb9be82be2596c8145d2cf9a3ca3c6daf8d2a' },
  sensor: { path: 'homeassistant/components/mqtt/sensor.py', commit: '17309b787222b2ff5a7496ce85391c3c067138fe' },
  number: { path: 'homeassistant/components/mqtt/number.py', commit: '25c300367f77cbdfe029f7ffdade26e20bd59b15' },
  select: { path: 'homeassistant/components/mqtt/select.py', commit: '20dc1b2cd44bc70ecfbeadbe48e9cd43b5611d24' },
  cover: { path: 'homeassistant/components/mqtt/cover.py', commit: '2d68b37dd558eaf1107b623e62ae93712fb1c61b' },
  event: { path: 'homeassistant/components/mqtt/event.py', commit: '5974c7760ac09b1772ea9f7d88ca5e8368c7260b' },
  image: { path: 'homeassistant/components/mqtt/image.py', commit: '7fd78000bf36b68eecd267abc1488f17f7e277e0' },
} as const;

/**
 * abbreviations.py@911803bf, ABBREVIATIONS: the entries for the keys the platforms below take
 * (the file has some 250; the others are for platforms carbot does not publish).
 */
export const ABBREVIATIONS: Readonly<Record<string, string>> = {
  avty: 'availability',
  avty_mode: 'availability_mode',
  avty_t: 'availability_topic',
  avty_tpl: 'availability_template',
  cmd_t: 'command_topic',
  cmd_tpl: 'command_template',
  dev: 'device',
  dev_cla: 'device_class',
  e: 'encoding',
  en: 'enabled_by_default',
  ent_cat: 'entity_category',
  exp_aft: 'expire_after',
  frc_upd: 'force_update',
  ic: 'icon',
  json_attr_t: 'json_attributes_topic',
  json_attr_tpl: 'json_attributes_template',
  lrst_t: 'last_reset_topic',
  lrst_val_tpl: 'last_reset_value_template',
  max: 'max',
  min: 'min',
  mode: 'mode',
  name: 'name',
  obj_id: 'object_id',
  ops: 'options',
  opt: 'optimistic',
  pl_avail: 'payload_available',
  pl_cls: 'payload_close',
  pl_not_avail: 'payload_not_available',
  pl_open: 'payload_open',
  pl_prs: 'payload_press',
  pl_stop: 'payload_stop',
  pos_clsd: 'position_closed',
  pos_open: 'position_open',
  pos_t: 'position_topic',
  pos_tpl: 'position_template',
  ret: 'retain',
  set_pos_t: 'set_position_topic',
  set_pos_tpl: 'set_position_template',
  stat_cla: 'state_class',
  stat_clsd: 'state_closed',
  stat_closing: 'state_closing',
  stat_open: 'state_open',
  stat_opening: 'state_opening',
  stat_stopped: 'state_stopped',
  stat_t: 'state_topic',
  step: 'step',
  t: 'topic',
  uniq_id: 'unique_id',
  unit_of_meas: 'unit_of_measurement',
  val_tpl: 'value_template',
};

/** abbreviations.py@911803bf, DEVICE_ABBREVIATIONS (all of it). */
export const DEVICE_ABBREVIATIONS: Readonly<Record<string, string>> = {
  cns: 'connections',
  cu: 'configuration_url',
  ids: 'identifiers',
  name: 'name',
  mf: 'manufacturer',
  mdl: 'model',
  hw: 'hw_version',
  sw: 'sw_version',
  sa: 'suggested_area',
};

/**
 * Device-based discovery (Home Assistant 2024.11): `<prefix>/device/[<node_id>/]<object_id>/config`
 * with the device, the origin and the components, each component's platform in `p`. The
 * discovery.py and abbreviations.py versions SOURCES names predate it: they expand
 * ABBREVIATIONS at the top level (so `dev` → `device`), ORIGIN_ABBREVIATIONS in `origin` and
 * DEVICE_ABBREVIATIONS in `device` (discovery.py@00b08a43, _replace_all_abbreviations), and
 * match topics `<component>/[<node_id>/]<object_id>/config` with node_id and object_id of
 * `[a-zA-Z0-9_-]` (its TOPIC_MATCHER).
 *
 * The current discovery.py could be read from the stored copy only by its content, without a
 * commit (it imports CONF_COMPONENTS, DEVICE_DISCOVERY_SCHEMA and SHARED_OPTIONS): for
 * component `device` it expands ABBREVIATIONS at the top level and again inside each
 * component (so `o`, `cmps` and `p` are ABBREVIATIONS' entries there, expanding to origin,
 * components and platform), takes the platform from `platform`, and gives each component the
 * discovery id `<object_id> <component id>` (the device topic's object_id is the components'
 * node_id) — the id a single-component topic `<component>/<node_id>/<object_id>/config` has
 * with node_id = the device's object_id and object_id = the component id. Home Assistant's
 * own test of that (tests/components/mqtt/test_discovery.py,
 * test_discovery_migration_to_device_base, also read without a commit) shows an empty payload
 * on the old single-component topics leaving the entities of a device config alone.
 */
export const DEVICE_DISCOVERY = {
  /** Keys of the device-based payload itself, abbreviated as carbot publishes them → their names. */
  topLevel: { dev: 'device', o: 'origin', cmps: 'components' } as Readonly<Record<string, string>>,
  /**
   * The current schemas.py's DEVICE_DISCOVERY_SCHEMA (quoted from it in the stored copy, without
   * a commit): device, components and origin required; each component needs its platform, and
   * a unique_id when it configures an entity.
   */
  required: ['device', 'components', 'origin'],
  componentRequired: ['platform', 'unique_id'],
  /** The platform of one component. */
  platformKey: { p: 'platform' } as Readonly<Record<string, string>>,
  /** discovery.py@00b08a43, TOPIC_MATCHER: the node_id and object_id levels. */
  idLevel: /^[a-zA-Z0-9_-]+$/,
  /**
   * The discovery id Home Assistant gives a component: of a device config on
   * `<prefix>/device/<object_id>/config`, `<object_id> <component id>`; of a single-component
   * config on `<prefix>/<component>/<node_id>/<object_id>/config`, `<node_id> <object_id>`.
   */
  discoveryId(topic: string, prefix: string, componentId?: string): [platform: string, id: string] {
    const levels = topic.slice(prefix.length + 1).split('/');
    if (levels[0] === 'device') return ['device', `${levels[1]} ${componentId ?? ''}`];
    return [levels[0], `${levels[1]} ${levels[2]}`];
  },
};

/** schemas.py@c6ca7f5f, MQTT_ENTITY_DEVICE_INFO_SCHEMA: keys; at least one of identifiers/connections. */
export const DEVICE_KEYS = [
  'identifiers', 'connections', 'manufacturer', 'model', 'model_id', 'name', 'hw_version',
  'serial_number', 'sw_version', 'via_device', 'suggested_area', 'configuration_url',
];

/** schemas.py@c6ca7f5f, MQTT_ORIGIN_INFO_SCHEMA. */
export const ORIGIN = { required: ['name'], optional: ['sw_version', 'support_url'] };

/**
 * schemas.py@c6ca7f5f, MQTT_ENTITY_COMMON_SCHEMA: MQTT_AVAILABILITY_SINGLE_SCHEMA and
 * MQTT_AVAILABILITY_LIST_SCHEMA, extended with device, origin and the entity options.
 */
export const COMMON_KEYS = [
  'availability_topic', 'availability_template', 'payload_available', 'payload_not_available',
  'availability_mode', 'availability',
  'device', 'origin', 'enabled_by_default', 'entity_category', 'icon',
  'json_attributes_topic', 'json_attributes_template', 'object_id', 'unique_id',
];

/** config.py@459c79f2: SCHEMA_BASE (MQTT_BASE_SCHEMA), MQTT_RO_SCHEMA, MQTT_RW_SCHEMA. */
const BASE = ['qos', 'encoding', 'group'];
const RO = { required: ['state_topic'], optional: [...BASE, 'value_template'] };
const RW = { required: ['command_topic'], optional: [...BASE, 'optimistic', 'retain', 'state_topic'] };

export interface PlatformSchema {
  source: keyof typeof SOURCES;
  required: string[];
  /** Everything else the platform's schema (with COMMON_KEYS) takes. */
  optional: string[];
  /**
   * Keys the platform has gained since the version read: each is a key ABBREVIATIONS (read at a
   * later commit) expands to, which the test checks.
   */
  later?: { key: string; since: string }[];
}

export const PLATFORMS: Readonly<Record<string, PlatformSchema>> = {
  // button.py@1ecdb9be, PLATFORM_SCHEMA_MODERN: MQTT_BASE_SCHEMA + these + MQTT_ENTITY_COMMON_SCHEMA.
  button: {
    source: 'button',
    required: ['command_topic'],
    optional: [...BASE, 'command_template', 'device_class', 'name', 'payload_press', 'retain'],
  },
  // sensor.py@17309b78, PLATFORM_SCHEMA: MQTT_RO_PLATFORM_SCHEMA + these + MQTT_ENTITY_COMMON_SCHEMA.
  sensor: {
    source: 'sensor',
    required: RO.required,
    optional: [
      ...RO.optional, 'device_class', 'expire_after', 'force_update', 'last_reset_topic',
      'last_reset_value_template', 'name', 'state_class', 'unit_of_measurement',
    ],
    later: [{ key: 'options', since: 'enum sensors (device_class enum), Home Assistant 2023.1' }],
  },
  // number.py@25c30036, PLATFORM_SCHEMA: MQTT_RW_PLATFORM_SCHEMA + device, icon, name,
  // optimistic, unique_id + availability + JSON attributes.
  number: {
    source: 'number',
    required: RW.required,
    optional: [...RW.optional, 'name', 'value_template'],
    later: [
      { key: 'command_template', since: 'number command templates' },
      { key: 'min', since: 'number ranges' },
      { key: 'max', since: 'number ranges' },
      { key: 'step', since: 'number ranges' },
      { key: 'mode', since: 'number display modes (box, slider)' },
      { key: 'unit_of_measurement', since: 'number units' },
      { key: 'device_class', since: 'number device classes' },
    ],
  },
  // select.py@20dc1b2c, PLATFORM_SCHEMA_MODERN: MQTT_RW_SCHEMA + these + MQTT_ENTITY_COMMON_SCHEMA.
  select: {
    source: 'select',
    required: [...RW.required, 'options'],
    optional: [...RW.optional, 'command_template', 'name', 'value_template'],
  },
  // cover.py@2d68b37d, PLATFORM_SCHEMA: MQTT_BASE_PLATFORM_SCHEMA + these + availability + JSON attributes.
  cover: {
    source: 'cover',
    required: [],
    optional: [
      'qos', 'command_topic', 'device_class', 'position_topic', 'name', 'optimistic',
      'payload_close', 'payload_open', 'payload_stop', 'position_closed', 'position_open',
      'retain', 'set_position_template', 'set_position_topic', 'state_closed', 'state_closing',
      'state_open', 'state_opening', 'state_topic', 'tilt_closed_value', 'tilt_command_topic',
      'tilt_invert_state', 'tilt_max', 'tilt_min', 'tilt_opened_value', 'tilt_optimistic',
      'tilt_status_topic', 'tilt_status_template', 'value_template',
    ],
    later: [
      { key: 'position_template', since: 'the position read with its own template, not value_template' },
      { key: 'state_stopped', since: 'covers that report stopped' },
    ],
  },
  // event.py@5974c776, _PLATFORM_SCHEMA_BASE: MQTT_RO_SCHEMA + these + MQTT_ENTITY_COMMON_SCHEMA.
  event: {
    source: 'event',
    required: [...RO.required, 'event_types'],
    optional: [...RO.optional, 'device_class', 'name'],
  },
  // image.py@7fd78000, PLATFORM_SCHEMA_BASE: MQTT_BASE_SCHEMA + these + MQTT_ENTITY_COMMON_SCHEMA;
  // validate_topic_required wants image_topic or url_topic (carbot gives image_topic).
  image: {
    source: 'image',
    required: ['image_topic'],
    optional: [...BASE, 'content_type', 'name', 'url_topic', 'image_encoding', 'url_template'],
  },
};

/** Every key a component of this platform may carry (HA's full names). */
export function allowedKeys(platform: string): Set<string> {
  const p = PLATFORMS[platform];
  if (!p) throw new Error(`no schema extracted for platform ${platform}`);
  return new Set([...COMMON_KEYS, ...p.required, ...p.optional, ...(p.later ?? []).map((l) => l.key)]);
}
