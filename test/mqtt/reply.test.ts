import { strict as assert } from 'node:assert';
import { isOurAnswer, withId } from '../../src/cli';
import { loadConfig } from '../../src/config/config';
import { replyProblem } from '../../src/mqtt/reply';

describe('response topics carbot answers on (src/mqtt/reply.ts)', () => {
  const { topics } = loadConfig({ argv: ['--gpio', 'sim'], env: {} });
  const problem = (responseTopic: string, correlationData?: Buffer) => replyProblem({ responseTopic, correlationData }, topics, 'homeassistant');

  it('answers on a topic of the sender\'s', () => {
    for (const topic of ['stat/carbot/reply/me', 'app/replies/1', 'stat/carbot/RESULT/x']) assert.equal(problem(topic), undefined, topic);
  });

  it('not on carbot\'s own topics, wildcards, $ topics, or past 256 bytes', () => {
    for (const topic of ['carbot/move', 'carbot/move/stop', 'carbot/move/x', 'tele/carbot/STATE', 'tele/carbot/LWT', 'cmnd/carbot/OWNER',
      'stat/carbot/RESULT', 'stat/carbot/ARRIVED', 'stat/carbot/OWNER', 'stat/carbot/PHOTO', 'stat/carbot/PHOTO/basil',
      'homeassistant/button/carbot/forward/config']) {
      assert.match(problem(topic) ?? '', /is one of carbot's own/, topic);
    }
    assert.match(problem('a/+/b') ?? '', /wildcard/);
    assert.match(problem('a/#') ?? '', /wildcard/);
    assert.match(problem('$SYS/x') ?? '', /starts with \$/);
    assert.match(problem('') ?? '', /1-256 bytes/);
    assert.match(problem('x'.repeat(257)) ?? '', /1-256 bytes/);
    assert.match(problem('a/b', Buffer.alloc(257)) ?? '', /correlation data over 256 bytes/);
  });
});

describe('carbot send on an MQTT 3.1.1 broker: the command with an id (withId)', () => {
  it('a text command goes out as its JSON form with the id', () => {
    assert.deepEqual(withId('back', 'send-1'), { payload: '{"move":"backward","id":"send-1"}', id: 'send-1' });
    assert.deepEqual(withId(' F ', 'send-1'), { payload: '{"move":"forward","id":"send-1"}', id: 'send-1' });
    assert.deepEqual(withId('goto basil', 'send-1'), { payload: '{"goto":"basil","id":"send-1"}', id: 'send-1' });
    assert.deepEqual(withId('goto 0.5', 'send-1'), { payload: '{"goto":0.5,"id":"send-1"}', id: 'send-1' });
  });

  it('a JSON command gets the id, or keeps its own', () => {
    assert.deepEqual(withId('{"move":"forward","speed":40}', 's'), { payload: '{"move":"forward","speed":40,"id":"s"}', id: 's' });
    assert.deepEqual(withId('{"move":"stop","id":7}', 's'), { payload: '{"move":"stop","id":7}', id: 7 });
  });

  it('none for what carbot refuses anyway, or what would grow past 256 bytes', () => {
    assert.equal(withId('sideways', 's'), undefined);
    assert.equal(withId('{bad json', 's'), undefined);
    assert.equal(withId('[1]', 's'), undefined);
    assert.equal(withId(`{"goto":"${'x'.repeat(240)}"}`, 's'), undefined);
  });

  it('takes only its own answer: not retained, after sending, with its id or correlation data', () => {
    const json = (o: unknown) => Buffer.from(JSON.stringify(o));
    assert.equal(isOurAnswer({}, json({ id: 's' }), { sent: false, id: 's' }), false);
    assert.equal(isOurAnswer({ retain: true }, json({ id: 's' }), { sent: true, id: 's' }), false);
    assert.equal(isOurAnswer({}, json({ id: 'other' }), { sent: true, id: 's' }), false);
    assert.equal(isOurAnswer({}, json({ move: 'stop' }), { sent: true, id: 's' }), false);
    assert.equal(isOurAnswer({}, json({ move: 'stop', id: 's' }), { sent: true, id: 's' }), true);
    assert.equal(isOurAnswer({}, json({ id: 7 }), { sent: true, id: 7 }), true);
    const correlation = Buffer.from('c1');
    assert.equal(isOurAnswer({ properties: { correlationData: Buffer.from('c2') } }, json({}), { sent: true, correlation }), false);
    assert.equal(isOurAnswer({}, json({}), { sent: true, correlation }), false);
    assert.equal(isOurAnswer({ properties: { correlationData: Buffer.from('c1') } }, json({}), { sent: true, correlation }), true);
    // MQTT 5 with an id as well: a carbot on 3.1.1 answers on RESULT alone, found by the id.
    assert.equal(isOurAnswer({}, json({ move: 'stop', id: 's' }), { sent: true, correlation, id: 's' }), true);
    assert.equal(isOurAnswer({}, json({ move: 'stop', id: 'x' }), { sent: true, correlation, id: 's' }), false);
  });
});
