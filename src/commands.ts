/**
 * The boundary where bytes from the broker become a command, or a reasoned rejection.
 * Nothing past this file ever sees an unchecked payload.
 */

export type Move = 'forward' | 'backward' | 'stop' | 'faster' | 'slower';

export interface Command {
  /** `speed` alone (JSON `{"speed":40}`) changes the speed setting without a move. */
  move: Move | 'speed';
  /** Absolute speed in percent, 0–100; the drive clamps it to its own limits. */
  speed?: number;
}

export interface Rejection {
  error: string;
  [detail: string]: unknown;
}

export type Parsed =
  /** `ignored`: what was wrong with the rest of a JSON stop, which is obeyed all the same. */
  | { ok: true; command: Command; ignored?: Rejection }
  | { ok: false; rejection: Rejection };

export const MAX_PAYLOAD_BYTES = 256;
/** How much of a rejected payload is echoed back in RESULT and the log. */
const ECHO_CHARS = 64;

// Without a prototype: `constructor` and `__proto__` would otherwise be found as commands.
const ALIASES: Record<string, Move> = Object.assign(Object.create(null) as Record<string, Move>, {
  forward: 'forward',
  f: 'forward',
  backward: 'backward',
  b: 'backward',
  back: 'backward',
  reverse: 'backward',
  stop: 'stop',
  s: 'stop',
  faster: 'faster',
  '+': 'faster',
  slower: 'slower',
  '-': 'slower',
});

const utf8 = new TextDecoder('utf-8', { fatal: true });
// Control characters other than tab/newline/carriage return mean someone sent binary.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

function reject(error: string, details: Record<string, unknown> = {}): Parsed {
  return { ok: false, rejection: { error, ...details } };
}

function echo(text: string): string {
  return text.length > ECHO_CHARS ? `${text.slice(0, ECHO_CHARS)}…` : text;
}

export function parseCommand(payload: Buffer | string): Parsed {
  const bytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  if (bytes > MAX_PAYLOAD_BYTES) return reject('payload too large', { bytes, limit: MAX_PAYLOAD_BYTES });

  let text: string;
  try {
    text = typeof payload === 'string' ? payload : utf8.decode(payload);
  } catch {
    return reject('invalid UTF-8', { bytes });
  }
  if (CONTROL.test(text)) return reject('binary payload', { bytes });

  const trimmed = text.trim();
  if (trimmed === '') return reject('empty payload');
  if (trimmed.startsWith('{')) return parseJson(trimmed);

  const move = ALIASES[trimmed.toLowerCase()];
  return move ? { ok: true, command: { move } } : reject('unknown command', { payload: echo(trimmed) });
}

function parseJson(text: string): Parsed {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return reject('bad JSON', { payload: echo(text) });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return reject('bad JSON', { payload: echo(text) });
  }
  const fields = value as Record<string, unknown>;
  let move: Move | undefined;
  if (fields.move !== undefined) {
    move = typeof fields.move === 'string' ? ALIASES[fields.move.trim().toLowerCase()] : undefined;
    // JSON.stringify, not String(): {"toString":false} is valid JSON that String() throws on.
    const shown = typeof fields.move === 'string' ? fields.move : JSON.stringify(fields.move);
    if (!move) return reject('unknown command', { payload: echo(shown) });
  }
  const speed = parseSpeed(fields);
  if (typeof speed === 'object') {
    // A stop is obeyed whatever else came with it: refusing it would leave the car moving.
    return move === 'stop' ? { ok: true, command: { move }, ignored: speed } : { ok: false, rejection: speed };
  }
  if (!move && speed === undefined) return reject('missing move', { payload: echo(text) });
  const command: Command = { move: move ?? 'speed' };
  if (speed !== undefined) command.speed = speed;
  return { ok: true, command };
}

/** The speed of a JSON command (undefined if absent), or what is wrong with it and its keys. */
function parseSpeed(fields: Record<string, unknown>): number | undefined | Rejection {
  const unknownKeys = Object.keys(fields).filter((k) => k !== 'move' && k !== 'speed');
  if (unknownKeys.length > 0) return { error: 'unknown key', keys: unknownKeys.map(echo) };
  const speed = fields.speed;
  if (speed === undefined) return undefined;
  if (typeof speed !== 'number' || !Number.isFinite(speed)) {
    return { error: 'speed must be a number', speed: echo(JSON.stringify(speed) ?? String(speed)) };
  }
  if (speed < 0 || speed > 100) return { error: 'speed out of range', speed, range: '0-100' };
  return Math.round(speed);
}
