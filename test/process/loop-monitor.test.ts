import { strict as assert } from 'node:assert';
import { monitorEventLoop } from '../../src/process/loop-monitor';

function busy(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end);
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('event loop monitor', () => {
  it('logs a stall over 100 ms with its length, and sums up the next ones', async () => {
    const lines: string[] = [];
    const monitor = monitorEventLoop({ warn: (m: string) => lines.push(m) }, { windowMs: 60_000 });
    try {
      await sleep(50);
      busy(30);
      await sleep(50);
      assert.deepEqual(lines, [], 'a 30 ms pause is no stall');
      busy(300);
      await sleep(50);
      assert.equal(lines.length, 1, lines.join('\n'));
      const ms = Number(/^event loop blocked for (\d+) ms \(commands, pin writes and watchdog pings waited\)$/.exec(lines[0])?.[1]);
      // The tick measures to within its period (20 ms); the margins are for a busy machine.
      assert.ok(ms >= 250 && ms <= 1000, lines[0]);
      busy(200);
      await sleep(50);
      assert.equal(lines.length, 1, 'within the window, counted');
    } finally {
      monitor.close();
    }
    assert.match(lines[1], /^event loop blocked 1 more time over 100 ms in the last 60 s, longest \d+ ms$/);
  });
});

describe('event loop monitor at rest', () => {
  it('stops ticking once nothing is busy and nothing woke it for awakeMs; a wake, or being busy, keeps it ticking', async () => {
    const lines: string[] = [];
    let moving = false;
    const monitor = monitorEventLoop({ warn: (m: string) => lines.push(m) }, { awakeMs: 100, busy: () => moving });
    try {
      assert.equal(monitor.ticking, true, 'awake at start');
      await sleep(250);
      assert.equal(monitor.ticking, false, 'asleep after awakeMs with nothing to do');
      monitor.wake();
      assert.equal(monitor.ticking, true);
      moving = true;
      await sleep(250);
      assert.equal(monitor.ticking, true, 'the car moves: still ticking');
      moving = false;
      await sleep(250);
      assert.equal(monitor.ticking, false);
      // Awake again, it still measures: a stall after a wake is logged.
      monitor.wake();
      await sleep(30);
      busy(300);
      await sleep(50);
      assert.equal(lines.length, 1, lines.join('\n'));
    } finally {
      monitor.close();
    }
  });
});
