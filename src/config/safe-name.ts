/**
 * A name from the configuration (the device, a stop) as a piece of an MQTT topic, a Home
 * Assistant id or a folder: itself when it is made of `[a-zA-Z0-9_-]`, else those characters
 * kept, the rest as `_`, and 8 hex digits of its SHA-256, so that two names that differ only
 * in the characters replaced ("sweet basil", "sweet_basil", "sweet.basil") never share a topic
 * or a folder, and a name can never be `..` or start with a dot.
 */
export function safeName(name: string): string {
  if (/^[a-zA-Z0-9_-]+$/.test(name)) return name;
  // node:crypto only for such a name: loading it costs every start-up otherwise.
  const { createHash } = require('node:crypto') as typeof import('node:crypto');
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  return `${name.replace(/[^a-zA-Z0-9_-]/g, '_')}_${hash}`;
}
