import { strict as assert } from 'node:assert';
import { Admission } from '../../src/admission/admission';
import { addressKey, CommandBudget, FailureBudget, FloodGuard } from '../../src/admission/budget';

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

  it('knows a stop in every form the parser takes, and nothing else, asked twice (the second time from memory)', () => {
    const admission = new Admission({ warn: () => undefined, info: () => undefined }, 50);
    const isStop = (payload: Buffer | string) => admission.isStop(admission.admitted(payload));
    for (let round = 0; round < 2; round++) {
      for (const stop of ['stop', 's', ' STOP\n', '{"move":"stop"}', '{"move":"s","speed":500}', Buffer.from('Stop')]) assert.equal(isStop(stop), true, String(stop));
      for (const other of ['faster', 'stopp', '{"move":"forward"}', '', Buffer.from([0xff, 0x73])]) assert.equal(isStop(other), false, String(other));
    }
  });
});

describe('flood guard (the move topic)', () => {
  it('a flood begins past 10 x the rate over the budget within a second, and lasts until a second has gone by below it', () => {
    let now = 0;
    const guard = new FloodGuard(5, () => now);
    const begins = Array.from({ length: 52 }, () => guard.over());
    // The 51st message over the budget in the second begins it, once.
    assert.deepEqual(begins.map((b, i) => (b ? i : -1)).filter((i) => i >= 0), [50]);
    assert.equal(guard.flooded, true);
    now = 1500; // the next window, quiet so far: still the second after the flood
    assert.equal(guard.over(), false);
    assert.equal(guard.flooded, true);
    now = 2000;
    assert.equal(guard.flooded, false, 'a whole second below the limit ends it');
    now = 3000;
    const again = Array.from({ length: 51 }, () => guard.over());
    assert.equal(again.at(-1), true, 'a new flood begins anew');
  });

  it('50 over the budget a second, ten seconds long, is no flood', () => {
    let now = 0;
    const guard = new FloodGuard(5, () => now);
    for (; now < 10_000; now += 20) assert.equal(guard.over(), false);
    assert.equal(guard.flooded, false);
  });

  it('with 0, there is no guard', () => {
    const guard = new FloodGuard(0, () => 0);
    for (let i = 0; i < 10_000; i++) assert.equal(guard.over(), false);
    assert.equal(guard.flooded, false);
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
