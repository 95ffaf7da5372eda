import { strict as assert } from 'node:assert';
import type { MqttClient } from 'mqtt';
import { describeMosquitto, startMosquitto, type Mosquitto } from '../support/mosquitto';
import { closeClient, collect, connectClient, type Recorder } from '../support/mqtt';
import { spawnCarbot, type CarbotProcess } from '../support/process';

/** sysexits EX_TEMPFAIL: the car is taken (src/cli.ts). */
const EX_CAR_TAKEN = 75;

describeMosquitto('one carbot per car (docs/mqtt.md#one-carbot-per-car)', () => {
  let broker: Mosquitto;
  let watcher: MqttClient;
  let car: Recorder;
  const procs: CarbotProcess[] = [];

  const carbot = (clientId: string) => {
    const proc = spawnCarbot(['--mqtt-url', broker.url, '--gpio', 'sim', '--mqtt-client-id', clientId]);
    procs.push(proc);
    return proc;
  };
  /** Whatever the broker took from this client (mosquitto's `log_type all`): "topic" per PUBLISH. */
  const publishedBy = (clientId: string) =>
    [...broker.log().matchAll(/Received PUBLISH from (\S+) \([^)]*, '([^']*)'/g)].filter((m) => m[1] === clientId).map((m) => m[2]);

  beforeEach(async () => {
    broker = await startMosquitto({ extraConfig: 'log_type all' });
    watcher = await connectClient(broker.url);
    // Everything carbot publishes about the car: LWT, STATE, RESULT, OWNER.
    car = await collect(watcher, '+/carbot/#');
  });
  afterEach(async () => {
    await Promise.all(procs.splice(0).map((p) => p.kill('SIGTERM')));
    await closeClient(watcher);
    await broker.stop();
  });

  it('a second carbot for a driven car names the first, publishes nothing of the car and exits 75; the first drives on', async () => {
    const first = carbot('first-carbot');
    await first.waitForLine(/subscribed to carbot\/move/);
    await car.waitFor((m) => m.topic === 'tele/carbot/LWT' && m.payload === 'Online');
    const results = await collect(watcher, 'stat/carbot/RESULT');
    await watcher.publishAsync('carbot/move', 'forward', { qos: 1 });
    await results.waitFor(() => true);
    await car.waitFor((m) => m.topic === 'tele/carbot/STATE' && JSON.parse(m.payload).motion === 'forward');
    const from = car.messages.length;

    const second = carbot('second-carbot');
    const { code } = await second.exited;
    assert.equal(code, EX_CAR_TAKEN, second.output());
    const pid = first.child.pid as number;
    assert.match(
      second.output(),
      new RegExp(`carbot is already driven by carbot \\S+ pid ${pid} on host \\S+ \\(MQTT client first-carbot, driving since [^)]+\\): this carbot does not drive it and exits \\(75\\)`),
    );
    assert.doesNotMatch(second.output(), /connecting to|GPIO backend/, 'the second went on to the hardware or the broker');
    await first.waitForLine(/MQTT client second-carbot-probe asked on cmnd\/carbot\/OWNER who drives the car: answered that this carbot does/);

    // The second's one publish is its question; it set no will, so the broker has no Offline to publish for it.
    assert.deepEqual(publishedBy('second-carbot-probe'), ['cmnd/carbot/OWNER']);
    assert.deepEqual(publishedBy('second-carbot'), []);
    // On the car's topics, only the first's answer to that question.
    assert.deepEqual(
      car.messages.slice(from).map((m) => m.topic),
      ['cmnd/carbot/OWNER', 'stat/carbot/OWNER'],
    );

    // The first goes on: one RESULT per command, the car moves, the LWT still says Online.
    const before = results.messages.length;
    for (const command of ['faster', 'stop', 'backward']) {
      const next = results.messages.length;
      await watcher.publishAsync('carbot/move', command, { qos: 1 });
      await results.waitFor(() => true, 5000, next);
    }
    await watcher.publishAsync('carbot/move', 'stop', { qos: 1 });
    await results.waitFor((m) => JSON.parse(m.payload).move === 'stop', 5000, before + 3);
    assert.deepEqual(
      results.messages.slice(before).map((m) => JSON.parse(m.payload).move),
      ['faster', 'stop', 'backward', 'stop'],
    );
    const fresh = await connectClient(broker.url);
    try {
      const lwt = await collect(fresh, 'tele/carbot/LWT');
      assert.equal((await lwt.waitFor((m) => m.retain)).payload, 'Online');
    } finally {
      await closeClient(fresh);
    }
    assert.ok(!car.messages.slice(from).some((m) => m.topic === 'tele/carbot/LWT'), 'the LWT changed while the first drove');

    // Until the first stops.
    assert.equal((await first.kill('SIGTERM')).code, 0);
    assert.equal((await car.waitFor((m) => m.topic === 'tele/carbot/LWT', 3000, from)).payload, 'Offline');
  });

  it('a retained Online that no live carbot answers is stale: carbot takes the car over after 2 s', async () => {
    // What a broker restarted without publishing a will leaves behind: Online, and nobody.
    const ghost = await connectClient(broker.url);
    await ghost.publishAsync('tele/carbot/LWT', 'Online', { qos: 1, retain: true });
    await closeClient(ghost);

    const proc = carbot('new-carbot');
    await proc.waitForLine(
      /tele\/carbot\/LWT says Online but no carbot answered on cmnd\/carbot\/OWNER within 2 s: that Online is stale .*taking the car over/,
      10_000,
    );
    await proc.waitForLine(/subscribed to carbot\/move/, 10_000);
    const results = await collect(watcher, 'stat/carbot/RESULT');
    await watcher.publishAsync('carbot/move', 'forward', { qos: 1 });
    assert.deepEqual(JSON.parse((await results.waitFor(() => true)).payload), { move: 'forward', motion: 'forward', speed: 50 });
    // Its own Online, published live after the question went unanswered.
    await car.waitFor((m) => m.topic === 'tele/carbot/LWT' && m.payload === 'Online' && !m.retain);
    assert.deepEqual(publishedBy('new-carbot-probe'), ['cmnd/carbot/OWNER']);
  });

  it('a carbot that finds the car free claims it without asking', async () => {
    const proc = carbot('only-carbot');
    await proc.waitForLine(/subscribed to carbot\/move/);
    assert.doesNotMatch(proc.output(), /stale/);
    // Nothing retained to ask about: the question is never published.
    assert.deepEqual(publishedBy('only-carbot-probe'), []);
  });
});
