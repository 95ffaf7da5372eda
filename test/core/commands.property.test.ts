import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import { MAX_PAYLOAD_BYTES, parseCommand, type Parsed } from '../../src/core/commands';

const MOVES = ['forward', 'backward', 'stop', 'faster', 'slower', 'speed', 'home', 'calibrate', 'patrol', 'goto'];
const ALIASES: Record<string, string> = {
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
};

/** What every parse must look like, whatever went in: a well-formed command or a reasoned rejection. */
function assertWellFormed(parsed: Parsed, bytes: number): void {
  if (parsed.ok) {
    assert.ok(bytes <= MAX_PAYLOAD_BYTES);
    const { command } = parsed;
    assert.ok(MOVES.includes(command.move), JSON.stringify(command));
    assert.deepEqual(Object.keys(command).filter((k) => !['move', 'speed', 'forS', 'to'].includes(k)), []);
    if (command.forS !== undefined) assert.ok(['forward', 'backward'].includes(command.move) && command.forS > 0, JSON.stringify(command));
    assert.equal(command.to !== undefined, command.move === 'goto', JSON.stringify(command));
    if (command.speed !== undefined) {
      assert.ok(Number.isInteger(command.speed) && command.speed >= 0 && command.speed <= 100, JSON.stringify(command));
    } else {
      assert.notEqual(command.move, 'speed');
    }
    return;
  }
  const { rejection } = parsed;
  assert.equal(typeof rejection.error, 'string');
  assert.ok(rejection.error.length > 0);
  // The rejection is published as RESULT and logged: it must serialise, and echo only a bounded
  // part of what was sent.
  const json = JSON.stringify(rejection);
  assert.ok(json.length <= 2048, `a ${json.length}-character RESULT for a ${bytes}-byte payload`);
  if (typeof rejection.payload === 'string') assert.ok(rejection.payload.length <= 65, rejection.payload);
  if (bytes > MAX_PAYLOAD_BYTES) assert.deepEqual(rejection, { error: 'payload too large', bytes, limit: MAX_PAYLOAD_BYTES });
}

function parseChecked(payload: Buffer | string): Parsed {
  const bytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
  let parsed: Parsed | undefined;
  assert.doesNotThrow(() => {
    parsed = parseCommand(payload);
  });
  assertWellFormed(parsed as Parsed, bytes);
  return parsed as Parsed;
}

const runs = { numRuns: 2000 };

// A JSON object with any of the keys a command can have, and values of any type.
const jsonLike = fc
  .record(
    {
      move: fc.oneof(fc.constantFrom(...Object.keys(ALIASES), 'sideways', ' F ', 'STOP'), fc.anything()),
      speed: fc.oneof(fc.integer({ min: -50, max: 150 }), fc.double(), fc.anything()),
      extra: fc.anything(),
    },
    { requiredKeys: [] },
  )
  .map((value) => JSON.stringify(value));

describe('command parser, fuzzed', () => {
  it('any bytes: never throws; a command or a rejection with an error', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        parseChecked(Buffer.from(bytes));
      }),
      runs,
    );
  });

  it('any text, as a string and as its UTF-8 bytes: the same answer', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ unit: 'binary', maxLength: 300 }), fc.string({ maxLength: 300 }), jsonLike), (text) => {
        const fromString = parseChecked(text);
        const encoded = Buffer.from(text, 'utf8');
        // Lone surrogates do not survive UTF-8 encoding; the string and the bytes then differ.
        if (encoded.toString('utf8') !== text) return;
        assert.deepEqual(parseChecked(encoded), fromString);
      }),
      { numRuns: 1000 },
    );
  });

  it('anything over 256 bytes is rejected as too large, whatever it says', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ minLength: MAX_PAYLOAD_BYTES + 1, maxLength: 2000 }).map((b) => Buffer.from(b)),
          fc.integer({ min: 1, max: 500 }).map((pad) => Buffer.from(`${' '.repeat(MAX_PAYLOAD_BYTES + pad)}stop`)),
          fc.integer({ min: 1, max: 500 }).map((pad) => `{"move":"stop","speed":${'0'.repeat(MAX_PAYLOAD_BYTES + pad)}}`),
        ),
        (payload) => {
          const parsed = parseChecked(payload);
          assert.equal(parsed.ok, false);
        },
      ),
      runs,
    );
  });

  it('JSON objects with any keys and values: a command only with a known move and a speed in 0..100', () => {
    fc.assert(
      fc.property(jsonLike, (text) => {
        const parsed = parseChecked(text);
        if (!parsed.ok) return;
        const value = JSON.parse(text) as Record<string, unknown>;
        // A stop is obeyed whatever else came with it; what was wrong is reported, not acted on.
        if (parsed.ignored) {
          assert.deepEqual(parsed.command, { move: 'stop' });
          assert.equal(typeof parsed.ignored.error, 'string');
          return;
        }
        assert.deepEqual(Object.keys(value).filter((k) => k !== 'move' && k !== 'speed'), []);
        if (typeof value.speed === 'number') assert.equal(parsed.command.speed, Math.round(value.speed));
        if (value.move !== undefined) assert.equal(parsed.command.move, ALIASES[String(value.move).trim().toLowerCase()]);
      }),
      runs,
    );
  });

  it('names on Object.prototype are unknown commands, plain and in JSON', () => {
    const names = Object.getOwnPropertyNames(Object.prototype);
    fc.assert(
      fc.property(fc.constantFrom(...names), fc.boolean(), fc.boolean(), (name, lower, asJson) => {
        const word = lower ? name.toLowerCase() : name;
        const parsed = parseChecked(asJson ? JSON.stringify({ move: word }) : word);
        assert.deepEqual(parsed, { ok: false, rejection: { error: 'unknown command', payload: word } });
      }),
      { numRuns: 200 },
    );
  });

  it('every alias in any case with any surrounding whitespace is its command', () => {
    const whitespace = fc.string({ unit: fc.constantFrom(' ', '\t', '\r', '\n'), maxLength: 8 });
    fc.assert(
      fc.property(
        fc.constantFrom(...Object.keys(ALIASES)),
        fc.array(fc.boolean(), { minLength: 7, maxLength: 7 }),
        whitespace,
        whitespace,
        (alias, upper, before, after) => {
          const word = [...alias].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join('');
          const parsed = parseChecked(Buffer.from(`${before}${word}${after}`));
          assert.deepEqual(parsed, { ok: true, command: { move: ALIASES[alias] } });
        },
      ),
      runs,
    );
  });
});
