import { strict as assert } from 'node:assert';
import { addressKey, CommandBudget, FailureBudget, isStop } from '../../src/budget';

describe('command budget', () => {
  it('lets twice the rate through at once, then the rate, and says which refusal is the first', () => {
    let now = 0;
    const budget = new CommandBudget(10, () => now);
    const first = Array.from({ length: 22 }, () => budget.take());
    assert.deepEqual(first.slice(0, 20), Array<string>(20).fill('ok'));
    assert.deepEqual(first.slice(20), ['first', 'over']);
    now += 100; // one token back
    assert.deepEqual([budget.take(), budget.take(), budget.take()], ['ok', 'first', 'over']);
    assert.equal(budget.full, false);
    now += 2000;
    assert.equal(budget.full, true);
  });

  it('with 0, has no limit', () => {
    const budget = new CommandBudget(0, () => 0);
    for (let i = 0; i < 10_000; i++) assert.equal(budget.take(), 'ok');
  });

  it('knows a stop in every form the parser takes, and nothing else', () => {
    for (const stop of ['stop', 's', ' STOP\n', '{"move":"stop"}', '{"move":"s","speed":500}', Buffer.from('Stop')]) assert.equal(isStop(stop), true, String(stop));
    for (const other of ['faster', 'stopp', '{"move":"forward"}', '', Buffer.from([0xff, 0x73])]) assert.equal(isStop(other), false, String(other));
  });
});

describe('failure budget (wrong credentials per address)', () => {
  it('blocks an address after 10 failures and lets it guess again at 30 a minute', () => {
    let now = 0;
    const budget = new FailureBudget(30, 10, 1024, () => now);
    for (let i = 0; i < 10; i++) {
      assert.equal(budget.blocked('10.0.0.7'), false);
      budget.failed('10.0.0.7');
    }
    assert.equal(budget.blocked('10.0.0.7'), true);
    assert.equal(budget.blocked('10.0.0.8'), false, 'another address is not blocked');
    now += 2000;
    assert.equal(budget.blocked('10.0.0.7'), false, 'one guess back after 2 s');
  });

  it('counts an IPv6 home as one address (its /64), and forgets addresses beyond its size', () => {
    let now = 0;
    const budget = new FailureBudget(30, 1, 2, () => now);
    budget.failed('2001:db8:1:2::1');
    assert.equal(budget.blocked('2001:db8:1:2:abcd::9'), true);
    assert.equal(addressKey('2001:db8:1:2::1'), '2001:db8:1:2::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    now += 1;
    budget.failed('10.0.0.1');
    budget.failed('10.0.0.2');
    assert.equal(budget.blocked('2001:db8:1:2::1'), false, 'the oldest was forgotten');
  });
});
