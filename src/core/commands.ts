/**
 * The boundary where bytes from the broker become a command, or a reasoned rejection.
 * Nothing past this file ever sees an unchecked payload.
 */

export type Move = 'forward' | 'backward' | 'stop' | 'faster' | 'slower';
/** Work along the track (docs/track.md), carried out by the track model rather than the drive alone. */
export type TaskMove = 'home' | 'calibrate' | 'patrol' | 'goto';

export interface Command {
  /** `speed` alone (JSON `{"speed":40}`) changes the speed setting without a move. */
  move: Move | 'speed' | TaskMove | 'photo';
  /** Absolute speed in percent, 0–100; the drive clamps it to its own limits. */
  speed?: number;
  /** A timed move (`forward`/`backward` only): seconds to drive, then stop. */
  forS?: number;
  /** `goto`: a place on the track (a fraction, or metres with `track.lengthM`) or a stop's name. */
  to?: number | string;
}

export const TASK_MOVES: readonly TaskMove[] = ['home', 'calibrate', 'patrol', 'goto'];

/** Whether the command is work for the track model: a task, or a timed move. */
export function isTask(command: Command): boolean {
  return (TASK_MOVES as readonly string[]).includes(command.move) || command.forS !== undefined;
}

export interface Rejection {
  error: string;
  [detail: string]: unknown;
}

export type Parsed = (
  /** `ignored`: what was wrong with the rest of a JSON stop, which is obeyed all the same. */
  | { ok: true; command: Command; ignored?: Rejection }
  | { ok: false; rejection: Rejection }
) & {
  /** A JSON command's `id`, echoed in its RESULT so that a client can tell its answer from others'. */
  id?: CommandId;
};

/** A JSON command's `id`: a string of 1-64 characters, or a number. */
export type CommandId = string | number;
export const MAX_ID_CHARS = 64;

export const MAX_PAYLOAD_BYTES = 256;
/** How much of a rejected payload is echoed back in RESULT and the log. */
const ECHO_CHARS = 64;

/** The longest timed move: a car that should drive longer is better sent somewhere. */
export const MAX_FOR_S = 600;
const MAX_STOP_NAME = 32;

// Without a prototype: `constructor` and `__proto__` would otherwise be found as commands.
const ALIASES: Record<string, Move | TaskMove> = Object.assign(Object.create(null) as Record<string, Move | TaskMove>, {
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
  home: 'home',
  h: 'home',
  calibrate: 'calibrate',
  cal: 'calibrate',
  patrol: 'patrol',
  p: 'patrol',
  goto: 'goto',
});

/** `goto basil`, `goto 0.42`, `go basil`: the text form of a goto. */
const GOTO_TEXT = /^go(?:to)?\s+(\S.*)$/i;

const utf8 = new TextDecoder('utf-8', { fatal: true });
// Control characters other than tab/newline/carriage return mean someone sent binary.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;

function reject(error: string, details: Record<string, unknown> = {}): Parsed {
  return { ok: false, rejection: { error, ...details } };
}

/**
 * At most ECHO_CHARS of a payload, for an answer or a log line: of a text, its first
 * characters; of raw bytes (a message not parsed, such as a retained one), its first bytes.
 */
export function echo(payload: string | Buffer): string {
  if (typeof payload !== 'string') {
    const text = payload.subarray(0, ECHO_CHARS).toString('utf8');
    return payload.length > ECHO_CHARS ? `${text}…` : text;
  }
  return payload.length > ECHO_CHARS ? `${payload.slice(0, ECHO_CHARS)}…` : payload;
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
  if (move === 'goto' || /^go(to)?$/i.test(trimmed)) return reject('goto needs a place', { example: 'goto basil, goto 0.42' });
  if (move) return { ok: true, command: { move } };
  if (trimmed.toLowerCase() === 'photo') return { ok: true, command: { move: 'photo' } };
  const place = GOTO_TEXT.exec(trimmed);
  if (place) {
    const to = /^[+-]?(\d+\.?\d*|\.\d+)$/.test(place[1]) ? Number(place[1]) : place[1];
    const checked = checkPlace(to);
    return typeof checked === 'object' ? { ok: false, rejection: checked } : { ok: true, command: { move: 'goto', to: checked } };
  }
  return reject('unknown command', { payload: echo(trimmed) });
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
  const id = checkId(fields.id);
  const parsed = parseFields(fields, text, typeof id === 'object' ? id : undefined);
  if (id !== undefined && typeof id !== 'object') parsed.id = id;
  return parsed;
}

/** A JSON command's id (undefined if absent), or what is wrong with it. */
function checkId(id: unknown): CommandId | Rejection | undefined {
  if (id === undefined) return undefined;
  if (typeof id === 'number' && Number.isFinite(id)) return id;
  if (typeof id === 'string' && id.length > 0 && id.length <= MAX_ID_CHARS) return id;
  // Not echoed: a client matching answers by id must not take this one for its own.
  return { error: `id must be a string of 1-${MAX_ID_CHARS} characters or a number` };
}

function parseFields(fields: Record<string, unknown>, text: string, badId: Rejection | undefined): Parsed {
  // With a move, `photo` is an unknown key below (a stop that carries one is still obeyed).
  if (fields.photo !== undefined && fields.move === undefined) {
    if (fields.photo !== true) return reject('photo must be true', { example: '{"photo":true}' });
    const others = Object.keys(fields).filter((k) => k !== 'photo' && k !== 'id');
    if (others.length > 0) return reject('photo goes alone', { keys: others.map(echo) });
    return { ok: true, command: { move: 'photo' } };
  }
  let move: Move | TaskMove | undefined;
  if (fields.move !== undefined) {
    move = typeof fields.move === 'string' ? ALIASES[fields.move.trim().toLowerCase()] : undefined;
    // JSON.stringify, not String(): {"toString":false} is valid JSON that String() throws on.
    const shown = typeof fields.move === 'string' ? fields.move : JSON.stringify(fields.move);
    if (!move) return reject('unknown command', { payload: echo(shown) });
  }
  const problem = checkKeys(fields, move) ?? badId ?? parseSpeed(fields);
  const speed = typeof problem === 'number' ? problem : undefined;
  // A stop is obeyed whatever else came with it: refusing it would leave the car moving.
  if (typeof problem === 'object') return move === 'stop' ? { ok: true, command: { move }, ignored: problem } : { ok: false, rejection: problem };

  const command: Command = { move: move ?? 'speed' };
  if (fields.goto !== undefined) {
    if (move !== undefined && move !== 'goto') return reject('goto goes alone', { move });
    const to = checkPlace(fields.goto);
    if (typeof to === 'object') return { ok: false, rejection: to };
    command.move = 'goto';
    command.to = to;
  } else if (move === 'goto') {
    return reject('goto needs a place', { example: '{"goto":"basil"} or {"goto":0.42}' });
  }
  if (fields.for !== undefined) {
    if (move !== 'forward' && move !== 'backward') return reject('for goes with forward or backward', { example: '{"move":"forward","for":2.5}' });
    const forS = fields.for;
    if (typeof forS !== 'number' || !Number.isFinite(forS)) return reject('for must be a number of seconds', { for: echo(JSON.stringify(forS) ?? String(forS)) });
    if (forS <= 0 || forS > MAX_FOR_S) return reject('for out of range', { for: forS, range: `0-${MAX_FOR_S} s` });
    command.forS = forS;
  }
  if (command.move === 'speed' && speed === undefined) return reject('missing move', { payload: echo(text) });
  if (speed !== undefined) command.speed = speed;
  return { ok: true, command };
}

const JSON_KEYS = ['move', 'speed', 'for', 'goto', 'id'];

/** The keys a JSON command may carry; anything else is a typo worth saying so. */
function checkKeys(fields: Record<string, unknown>, move: Move | TaskMove | undefined): Rejection | undefined {
  const unknownKeys = Object.keys(fields).filter((k) => !JSON_KEYS.includes(k));
  if (unknownKeys.length > 0) return { error: 'unknown key', keys: unknownKeys.map(echo) };
  if (move === 'stop') {
    const extra = Object.keys(fields).filter((k) => k === 'for' || k === 'goto');
    if (extra.length > 0) return { error: 'unknown key', keys: extra };
  }
  return undefined;
}

/** A goto's place: a number (checked against the track by the track model) or a stop's name. */
function checkPlace(to: unknown): number | string | Rejection {
  if (typeof to === 'number') {
    if (!Number.isFinite(to) || to < 0) return { error: 'goto must be a place on the track', goto: to };
    return to;
  }
  if (typeof to === 'string') {
    const name = to.trim();
    if (name === '' || name.length > MAX_STOP_NAME) return { error: 'goto needs a stop name of 1-32 characters', goto: echo(to) };
    return name;
  }
  return { error: 'goto must be a number or a stop name', goto: echo(JSON.stringify(to) ?? String(to)) };
}

/** The speed of a JSON command (undefined if absent), or what is wrong with it. */
function parseSpeed(fields: Record<string, unknown>): number | undefined | Rejection {
  const speed = fields.speed;
  if (speed === undefined) return undefined;
  if (typeof speed !== 'number' || !Number.isFinite(speed)) {
    return { error: 'speed must be a number', speed: echo(JSON.stringify(speed) ?? String(speed)) };
  }
  if (speed < 0 || speed > 100) return { error: 'speed out of range', speed, range: '0-100' };
  return Math.round(speed);
}
