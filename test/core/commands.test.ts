import { strict as assert } from 'node:assert';
import { MAX_PAYLOAD_BYTES, parseCommand, type Parsed } from '../../src/core/commands';

const move = (p: Parsed) => (p.ok ? p.command.move : `rejected: ${p.rejection.error}`);
const rejection = (p: Parsed) => {
  assert.equal(p.ok, false, `expected a rejection, got ${JSON.stringify(p)}`);
  return (p as Extract<Parsed, { ok: false }>).rejection;
};

describe('command parser', () => {
  const aliases: Record<string, string[]> = {
    forward: ['forward', 'f'],
    backward: ['backward', 'b', 'back', 'reverse'],
    stop: ['stop', 's'],
    faster: ['faster', '+'],
    slower: ['slower', '-'],
  };
  for (const [command, words] of Object.entries(aliases)) {
    for (const word of words) {
      it(`reads ${JSON.stringify(word)} as ${command}, in any case and with whitespace around`, () => {
        assert.equal(move(parseCommand(Buffer.from(word))), command);
        assert.equal(move(parseCommand(Buffer.from(`  ${word.toUpperCase()}\r\n`))), command);
        assert.equal(move(parseCommand(`\t${word}\n`)), command);
      });
    }
  }

  it('reads the JSON form with and without a speed', () => {
    assert.deepEqual(parseCommand('{"move":"forward","speed":40}'), { ok: true, command: { move: 'forward', speed: 40 } });
    assert.deepEqual(parseCommand(' {"move":"B"} '), { ok: true, command: { move: 'backward' } });
    assert.deepEqual(parseCommand('{"speed":72.6}'), { ok: true, command: { move: 'speed', speed: 73 } });
    assert.deepEqual(parseCommand('{"move":"stop","speed":0}'), { ok: true, command: { move: 'stop', speed: 0 } });
  });

  it('rejects unknown words, naming the payload', () => {
    assert.deepEqual(rejection(parseCommand('sideways')), { error: 'unknown command', payload: 'sideways' });
    assert.equal(rejection(parseCommand('forwards')).error, 'unknown command');
    assert.equal(rejection(parseCommand('f f')).error, 'unknown command');
  });

  it('rejects empty and whitespace-only payloads', () => {
    assert.equal(rejection(parseCommand('')).error, 'empty payload');
    assert.equal(rejection(parseCommand(' \n ')).error, 'empty payload');
  });

  it('rejects payloads over 256 bytes without decoding them', () => {
    const big = Buffer.alloc(300_000, 0x66);
    assert.deepEqual(rejection(parseCommand(big)), { error: 'payload too large', bytes: 300_000, limit: MAX_PAYLOAD_BYTES });
    assert.equal(move(parseCommand(Buffer.from(`${' '.repeat(MAX_PAYLOAD_BYTES - 1)}f`))), 'forward');
    assert.equal(rejection(parseCommand(Buffer.from(`${' '.repeat(MAX_PAYLOAD_BYTES)}f`))).error, 'payload too large');
  });

  it('rejects invalid UTF-8 and binary', () => {
    assert.equal(rejection(parseCommand(Buffer.from([0x66, 0xff, 0xfe]))).error, 'invalid UTF-8');
    assert.equal(rejection(parseCommand(Buffer.from([0xc3]))).error, 'invalid UTF-8');
    assert.equal(rejection(parseCommand(Buffer.from([0x66, 0x00]))).error, 'binary payload');
    assert.equal(rejection(parseCommand(Buffer.from('f\x1b[2J'))).error, 'binary payload');
  });

  it('rejects bad JSON and JSON that is not a command object', () => {
    assert.equal(rejection(parseCommand('{"move":')).error, 'bad JSON');
    assert.equal(rejection(parseCommand('{}')).error, 'missing move');
    assert.equal(rejection(parseCommand('{"move":"sideways"}')).error, 'unknown command');
    assert.equal(rejection(parseCommand('{"move":42}')).error, 'unknown command');
    assert.deepEqual(rejection(parseCommand('{"move":{"toString":false}}')), {
      error: 'unknown command',
      payload: '{"toString":false}',
    });
    assert.deepEqual(rejection(parseCommand('{"move":"f","sped":40}')), { error: 'unknown key', keys: ['sped'] });
  });

  it('obeys a JSON stop whatever else came with it, and says what was ignored', () => {
    assert.deepEqual(parseCommand('{"move":"stop","speed":150}'), {
      ok: true,
      command: { move: 'stop' },
      ignored: { error: 'speed out of range', speed: 150, range: '0-100' },
    });
    assert.deepEqual(parseCommand('{"move":"s","colour":"red"}'), {
      ok: true,
      command: { move: 'stop' },
      ignored: { error: 'unknown key', keys: ['colour'] },
    });
    assert.equal(rejection(parseCommand('{"move":"forward","speed":150}')).error, 'speed out of range');
  });

  it('rejects out-of-range and non-numeric speeds', () => {
    assert.deepEqual(rejection(parseCommand('{"move":"f","speed":150}')), { error: 'speed out of range', speed: 150, range: '0-100' });
    assert.equal(rejection(parseCommand('{"move":"f","speed":-1}')).error, 'speed out of range');
    assert.equal(rejection(parseCommand('{"move":"f","speed":"40"}')).error, 'speed must be a number');
    assert.equal(rejection(parseCommand('{"move":"f","speed":null}')).error, 'speed must be a number');
  });

  describe('track commands', () => {
    it('reads home, calibrate and patrol with their aliases, plain and in JSON', () => {
      for (const [word, move] of [['home', 'home'], ['H', 'home'], ['calibrate', 'calibrate'], [' cal ', 'calibrate'], ['patrol', 'patrol'], ['p', 'patrol']]) {
        assert.deepEqual(parseCommand(word), { ok: true, command: { move } }, word);
      }
      assert.deepEqual(parseCommand('{"move":"patrol","speed":40}'), { ok: true, command: { move: 'patrol', speed: 40 } });
    });

    it('reads a goto to a place or a stop, as JSON and as words', () => {
      assert.deepEqual(parseCommand('{"goto":0.42}'), { ok: true, command: { move: 'goto', to: 0.42 } });
      assert.deepEqual(parseCommand('{"goto":"basil","speed":30}'), { ok: true, command: { move: 'goto', to: 'basil', speed: 30 } });
      assert.deepEqual(parseCommand('goto basil'), { ok: true, command: { move: 'goto', to: 'basil' } });
      assert.deepEqual(parseCommand('Go 1.25'), { ok: true, command: { move: 'goto', to: 1.25 } });
      assert.deepEqual(parseCommand('goto  sweet basil '), { ok: true, command: { move: 'goto', to: 'sweet basil' } });
    });

    it('rejects a goto without a place, or with one that is not a place', () => {
      assert.equal(rejection(parseCommand('goto')).error, 'goto needs a place');
      assert.equal(rejection(parseCommand('{"move":"goto"}')).error, 'goto needs a place');
      assert.deepEqual(rejection(parseCommand('{"goto":-1}')), { error: 'goto must be a place on the track', goto: -1 });
      assert.equal(rejection(parseCommand('goto -0.5')).error, 'goto must be a place on the track');
      assert.equal(rejection(parseCommand('{"goto":true}')).error, 'goto must be a number or a stop name');
      assert.equal(rejection(parseCommand('{"goto":""}')).error, 'goto needs a stop name of 1-32 characters');
      assert.equal(rejection(parseCommand('{"move":"forward","goto":0.5}')).error, 'goto goes alone');
    });

    it('reads a timed move, and rejects a time that is not one', () => {
      assert.deepEqual(parseCommand('{"move":"forward","for":2.5}'), { ok: true, command: { move: 'forward', forS: 2.5 } });
      assert.deepEqual(parseCommand('{"move":"b","for":1,"speed":40}'), { ok: true, command: { move: 'backward', forS: 1, speed: 40 } });
      assert.deepEqual(rejection(parseCommand('{"move":"forward","for":0}')), { error: 'for out of range', for: 0, range: '0-600 s' });
      assert.equal(rejection(parseCommand('{"move":"forward","for":"2"}')).error, 'for must be a number of seconds');
      assert.equal(rejection(parseCommand('{"move":"faster","for":2}')).error, 'for goes with forward or backward');
      assert.equal(rejection(parseCommand('{"for":2}')).error, 'for goes with forward or backward');
    });

    it('reads photo, as a word and as {"photo":true}; a stop carrying one is still a stop', () => {
      assert.deepEqual(parseCommand('photo'), { ok: true, command: { move: 'photo' } });
      assert.deepEqual(parseCommand(' PHOTO '), { ok: true, command: { move: 'photo' } });
      assert.deepEqual(parseCommand('{"photo":true}'), { ok: true, command: { move: 'photo' } });
      assert.equal(rejection(parseCommand('{"photo":1}')).error, 'photo must be true');
      assert.equal(rejection(parseCommand('{"photo":true,"speed":5}')).error, 'photo goes alone');
      assert.deepEqual(parseCommand('{"move":"stop","photo":true}'), { ok: true, command: { move: 'stop' }, ignored: { error: 'unknown key', keys: ['photo'] } });
    });

    it('a stop with a goto or a time beside it is still a stop', () => {
      assert.deepEqual(parseCommand('{"move":"stop","for":2}'), { ok: true, command: { move: 'stop' }, ignored: { error: 'unknown key', keys: ['for'] } });
    });
  });

  it('echoes at most 64 characters of a rejected payload', () => {
    const r = rejection(parseCommand('x'.repeat(200)));
    assert.equal(r.payload, `${'x'.repeat(64)}…`);
  });
});
