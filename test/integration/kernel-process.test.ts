import { strict as assert } from 'node:assert';
import { FakeSysfs } from '../fakes/sysfs';
import { requireRoot } from '../support/privilege';
import { closeClient, collect, connectClient } from '../support/mqtt';
import { freePort } from '../support/ports';
import { CLI_PATH, spawnProcess } from '../support/process';

const RP1 = '1f00098000.pwm';

/**
 * The compiled service on the kernel board of a (fake) Raspberry Pi 5, run as it runs under
 * carbot.service: an unprivileged user in the gpio group, so every sysfs write meets the
 * operating system's own permission check. Killed with SIGKILL while driving, the kernel keeps
 * the PWM running and the pins high; `carbot safe-state`, as the unit's ExecStopPost= runs it,
 * takes the exported channels over and stops everything.
 */
describe('kernel board: SIGKILL while driving, then ExecStopPost=carbot safe-state (as nobody)', () => {
  let sysfs: FakeSysfs | undefined;
  afterEach(() => {
    sysfs?.close();
    sysfs = undefined;
  });

  it('an L298N car on a Pi 5 killed while driving forward keeps going until safe-state stops it', async function () {
    this.timeout(60_000);
    requireRoot(this, 'the compiled service as nobody on the kernel board');
    const s = (sysfs = new FakeSysfs('pi5'));
    const env = { CARBOT_SYSFS_ROOT: s.root, CARBOT_GPIO: 'kernel' };
    const port = await freePort();
    const car = spawnProcess(
      process.execPath,
      ['--require', FakeSysfs.preload, CLI_PATH, '--embedded-broker-enabled', '--embedded-broker-port', String(port), '--embedded-broker-ws-port', '0', '--mqtt-url', `mqtt://127.0.0.1:${port}`],
      { ...env, CARBOT_HTTP_PORT: '0' },
      s.user,
    );
    await car.waitForLine(/subscribed to carbot\/move/, 30_000);
    assert.match(car.output(), /boards: gpio: kernel sysfs under .* on Raspberry Pi 5 Model B Rev 1\.0/);
    assert.deepEqual(s.channel(RP1, 0).output, { periodNs: 1_000_000, dutyNs: 0 });

    const client = await connectClient(`mqtt://127.0.0.1:${port}`);
    const states = await collect(client, 'tele/carbot/STATE');
    await client.publishAsync('carbot/move', 'forward', { qos: 1 });
    await states.waitFor((m) => JSON.parse(m.payload).motion === 'forward');
    await closeClient(client);
    const driving = { periodNs: 1_000_000, dutyNs: 500_000 };
    assert.deepEqual([s.channel(RP1, 0).output, s.channel(RP1, 1).output], [driving, driving]);
    assert.deepEqual([5, 6, 20, 21].map((p) => s.pin(p)?.level), [1, 0, 1, 0]);

    assert.equal((await car.kill('SIGKILL')).signal, 'SIGKILL');
    assert.deepEqual([s.channel(RP1, 0).output, s.channel(RP1, 1).output], [driving, driving], 'nobody stopped the PWM: the car is still driving');
    assert.deepEqual([5, 20].map((p) => s.pin(p)?.level), [1, 1]);

    const safe = spawnProcess(process.execPath, ['--require', FakeSysfs.preload, CLI_PATH, 'safe-state'], env, s.user);
    assert.equal((await safe.exited).code, 0, safe.output());
    assert.match(safe.output(), /safe state: 2 of 2 motors stopped and released \(kernel\)/);
    assert.deepEqual([s.channel(RP1, 0), s.channel(RP1, 1)].map((c) => [c.exported, c.output]), [[false, 'low'], [false, 'low']]);
    assert.deepEqual([5, 6, 20, 21].map((p) => s.pin(p)?.level), [0, 0, 0, 0]);
  });
});
