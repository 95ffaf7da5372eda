import { strict as assert } from 'node:assert';
import type { MqttClient } from 'mqtt';
import { startMosquitto, describeMosquitto, type Mosquitto } from '../support/mosquitto';
import { closeClient, collect, connectClient } from '../support/mqtt';
import { createNotifyStub, type NotifyStub } from '../support/notify-stub';
import { spawnCarbot, type CarbotProcess } from '../support/process';

const PRIORITY: Record<string, string> = { '3': 'error', '4': 'warn', '6': 'info', '7': 'debug' };

/** The compiled service as systemd runs it: NOTIFY_SOCKET, WATCHDOG_USEC, JOURNAL_STREAM. */
describeMosquitto('carbot under systemd (compiled, notify stub, journald stream)', () => {
  let broker: Mosquitto;
  let stub: NotifyStub;
  let client: MqttClient;
  let proc: CarbotProcess | undefined;

  beforeEach(async () => {
    broker = await startMosquitto();
    stub = createNotifyStub();
    client = await connectClient(broker.url);
  });
  afterEach(async () => {
    if (proc) await proc.kill('SIGTERM');
    proc = undefined;
    await closeClient(client);
    await broker.stop();
    stub.remove();
  });

  function start(extra: string[] = []) {
    const env = stub.env({ JOURNAL_STREAM: '8:123456', WATCHDOG_USEC: '400000' }) as Record<string, string>;
    proc = spawnCarbot(['--mqtt-url', broker.url, '--gpio', 'sim', '--log-level', 'debug', ...extra], env);
    return proc;
  }

  it('sends READY only once subscribed, STATUS that follows the car, watchdog pings, STOPPING at shutdown', async () => {
    await broker.stop();
    const car = start();
    await car.waitForLine(/refused the connection/);
    await stub.until('a STATUS while connecting', () => stub.statuses().length > 0);
    assert.ok(!stub.assignments().includes('READY=1'), 'not ready while the broker is down');
    assert.equal(stub.pings().length, 0);

    await broker.restart();
    await car.waitForLine(/subscribed to carbot\/move/, 10_000);
    await stub.until('READY=1', () => stub.assignments().includes('READY=1'));
    const assignments = stub.assignments();
    assert.ok(assignments.indexOf('READY=1') > assignments.indexOf(`STATUS=connecting to ${broker.url}`));
    await stub.until('STATUS after connect', () => stub.statuses().includes('stopped (speed 50%), broker connected'));

    const results = await collect(client, 'stat/carbot/RESULT');
    await client.publishAsync('carbot/move', 'forward', { qos: 1 });
    await results.waitFor(() => true);
    await stub.until('STATUS forward', () => stub.statuses().includes('forward at 50%, broker connected'));
    await stub.until('two watchdog pings', () => stub.pings().length >= 2);

    const { code } = await car.kill('SIGTERM');
    proc = undefined;
    assert.equal(code, 0);
    await stub.until('STOPPING=1', () => stub.assignments().includes('STOPPING=1'));
  });

  it('with JOURNAL_STREAM set, a configuration error is an error entry on every line', async () => {
    const car = spawnCarbot(['--max-speed', '500', '--gpio', 'arduino'], { JOURNAL_STREAM: '8:123456' });
    assert.equal((await car.exited).code, 78);
    assert.ok(car.stderr.length >= 3);
    for (const line of car.stderr) assert.match(line, /^<3>/, line);
  });

  it('with JOURNAL_STREAM set, every line carries its syslog priority and no timestamp', async () => {
    const car = start();
    await car.waitForLine(/subscribed to carbot\/move/);
    await client.publishAsync('carbot/move', 'sideways', { qos: 1 });
    await client.publishAsync('carbot/move', 'f', { qos: 1 });
    await car.waitForLine(/forward at 50%/);
    await car.kill('SIGTERM');
    proc = undefined;
    const lines = car.stdout;
    assert.ok(lines.length > 5);
    for (const line of lines) {
      assert.match(line, /^<[3467]>/, line);
      assert.doesNotMatch(line, /^<\d>\d{4}-\d\d-\d\d/, `no timestamp: ${line}`);
    }
    const levelOf = (pattern: RegExp) => PRIORITY[lines.find((l) => pattern.test(l))!.slice(1, 2)];
    assert.equal(levelOf(/rejected command from mqtt: unknown command/), 'warn');
    assert.equal(levelOf(/forward at 50% \(command\)/), 'info');
    assert.equal(levelOf(/^<\d>command from mqtt: /), 'debug');
    assert.equal(levelOf(/subscribed to carbot\/move/), 'info');
  });
});
