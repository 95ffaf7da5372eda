/**
 * Signals and pipes, against the compiled service: every signal whose default would end
 * carbot gets the orderly shutdown (motors zeroed, Offline, exit 0); SIGUSR1 and SIGUSR2 are
 * ignored, SIGUSR1 above all, which would open Node's inspector in a process running as root;
 * a closed stdout (journald gone) neither crashes carbot nor holds up its shutdown.
 */
import { strict as assert } from 'node:assert';
import { startAedes, type TestBroker } from '../support/carbot';
import { spawnCarbot, type CarbotProcess } from '../support/process';

describe('signals and pipes', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startAedes();
  });
  after(() => broker.close());

  async function startCarbot(extra: string[] = []): Promise<CarbotProcess> {
    const car = spawnCarbot(['--mqtt-url', broker.url, '--gpio', 'sim', ...extra]);
    await car.waitForLine(/subscribed to carbot\/move/);
    return car;
  }

  it('ignores SIGUSR1 instead of opening the inspector, and SIGUSR2 instead of dying', async () => {
    const car = await startCarbot(['--log-level', 'debug']);
    for (const signal of ['SIGUSR1', 'SIGUSR2'] as const) {
      const from = car.lines.length;
      car.child.kill(signal);
      await car.waitForLine(new RegExp(`${signal === 'SIGUSR1' ? 'warn ' : 'debug'} ignored ${signal}: carbot keeps running \\(SIGTERM stops it\\)`), 5000, from);
    }
    assert.doesNotMatch(car.output(), /Debugger listening|inspector/i);
    assert.equal(car.child.exitCode, null);
    assert.equal((await car.kill('SIGTERM')).code, 0);
  });

  for (const signal of ['SIGQUIT', 'SIGALRM', 'SIGPWR'] as const) {
    it(`${signal} gets the orderly shutdown and exit 0`, async () => {
      const car = await startCarbot();
      const { code, signal: killedBy } = await car.kill(signal);
      assert.deepEqual({ code, killedBy }, { code: 0, killedBy: null }, car.output());
      assert.match(car.output(), new RegExp(`shutting down \\(${signal}\\)`));
      assert.match(car.output(), /motor outputs zeroed, broker connection closed/);
    });
  }

  it('keeps running when its stdout is closed, and still shuts down in order', async () => {
    const car = await startCarbot();
    car.child.stdout?.destroy();
    // Something to log into the closed pipe: every line now fails with EPIPE.
    car.child.kill('SIGUSR1');
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(car.child.exitCode, null, car.output());
    const { code } = await car.kill('SIGTERM');
    assert.equal(code, 0, car.output());
    assert.doesNotMatch(car.stderr.join('\n'), /shutdown took over|uncaught/);
    assert.match(car.stderr.join('\n'), /carbot: log output failed \(write EPIPE\); log lines are dropped from now on/);
  });
});
