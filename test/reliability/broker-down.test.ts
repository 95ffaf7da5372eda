import { strict as assert } from 'node:assert';
import type { MqttClient } from 'mqtt';
import { describeMosquitto, startMosquitto, type Mosquitto } from '../support/mosquitto';
import { closeClient, collect, connectClient } from '../support/mqtt';
import { spawnCarbot, type CarbotProcess } from '../support/process';

const parse = (m: { payload: string }) => JSON.parse(m.payload) as Record<string, unknown>;

describeMosquitto('a broker that is down when carbot starts', () => {
  let broker: Mosquitto;
  let carbot: CarbotProcess | undefined;
  let client: MqttClient | undefined;
  afterEach(async () => {
    if (client) await closeClient(client);
    client = undefined;
    await carbot?.kill('SIGKILL');
    await broker.stop();
  });

  it('carbot starts, says it is waiting, keeps the motors stopped, and connects when the broker appears', async () => {
    // A broker that has been started once and killed: its port is known and free.
    broker = await startMosquitto();
    await broker.kill();
    carbot = spawnCarbot(['--gpio', 'sim', '--mqtt-url', broker.url, '--log-level', 'debug']);

    const refused = await carbot.waitForLine(/refused the connection/);
    assert.match(refused, new RegExp(`error broker at ${broker.url.replace(/[.]/g, '\\.')} refused the connection \\(is mosquitto running\\?\\)$`));
    await carbot.waitForLine(/reconnecting in 1 s$/);
    assert.equal(carbot.child.exitCode, null);

    const seen = carbot.lines.length;
    await broker.restart();
    await carbot.waitForLine(/subscribed to carbot\/move/, 5000, seen);
    client = await connectClient(broker.url);
    const states = await collect(client, 'tele/carbot/STATE');
    const state = parse(await states.waitFor(() => true));
    assert.deepEqual([state.motion, state.reason, state.motors], ['stopped', 'startup', { left: 0, right: 0 }]);
    // Nothing but zero was ever written to the motors while it waited.
    const writes = carbot.lines.filter((l) => /sim motors:/.test(l));
    assert.ok(writes.every((l) => /left 0\.00, right 0\.00$/.test(l)), writes.join('\n'));

    const results = await collect(client, 'stat/carbot/RESULT');
    await client.publishAsync('carbot/move', 'forward', { qos: 1 });
    assert.deepEqual(parse(await results.waitFor(() => true)), { move: 'forward', motion: 'forward', speed: 50 });
  });
});
