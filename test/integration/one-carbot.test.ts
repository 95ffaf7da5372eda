import { strict as assert } from 'node:assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import type { OwnerInfo } from '../../src/mqtt/owner';
import { busWithChips, FileStore, reportChip, writeStateFile } from '../fakes/i2c-bus';
import { startCarbot } from '../support/carbot';
import { removeOnExit } from '../support/cleanup';
import { waitUntil } from '../support/wait';
import { describeMosquitto, startMosquitto, type Mosquitto } from '../support/mosquitto';
import { closeClient, collect, connectClient, type Recorder } from '../support/mqtt';
import { CLI_PATH, REPO_ROOT, spawnCarbot, spawnProcess, type CarbotProcess } from '../support/process';

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

  it('on one Pi with a servo HAT, the second carbot leaves the chip alone, and so does its ExecStopPost safe-state', async function () {
    this.timeout(60_000);
    const dir = mkdtempSync(join(tmpdir(), 'carbot-two-'));
    const removeDir = removeOnExit(dir);
    try {
      // One PCA9685 that both processes reach (test/fakes/i2c-bus.ts, its registers in a file).
      const stateFile = writeStateFile(dir, { buses: { '1': busWithChips(0x40) } });
      const chip = () => reportChip(new FileStore(stateFile).load().buses['1'].chips['64']);
      const preload = join(REPO_ROOT, 'test', 'fakes', 'i2c-bus-preload.js');
      const env = { CARBOT_FAKE_I2C_STATE: stateFile, CARBOT_HTTP_PORT: '0', CARBOT_MOTORS: 'adafruit-servo-hat', CARBOT_GPIO: 'auto' };
      const hatCarbot = (clientId: string, extraEnv: Record<string, string> = {}, verb: string[] = []) => {
        const proc = spawnProcess(process.execPath, ['--require', preload, CLI_PATH, ...verb, '--mqtt-url', broker.url, '--mqtt-client-id', clientId], {
          ...env,
          ...extraEnv,
        });
        procs.push(proc);
        return proc;
      };
      const first = hatCarbot('first-carbot');
      await first.waitForLine(/subscribed to carbot\/move/, 30_000);
      await watcher.publishAsync('carbot/move', 'forward', { qos: 1 });
      await car.waitFor((m) => m.topic === 'tele/carbot/STATE' && JSON.parse(m.payload).motion === 'forward');
      const driving = JSON.stringify(chip());

      const second = hatCarbot('second-carbot');
      assert.equal((await second.exited).code, EX_CAR_TAKEN, second.output());
      assert.equal(JSON.stringify(chip()), driving, 'the second carbot touched the chip the first drives');
      // What systemd runs after the second's exit 75: ExecStopPost=carbot safe-state, with the exit in its environment.
      const safe = hatCarbot('second-carbot', { EXIT_CODE: 'exited', EXIT_STATUS: '75', SERVICE_RESULT: 'exit-code' }, ['safe-state']);
      assert.equal((await safe.exited).code, 0, safe.output());
      assert.match(safe.output(), /carbot exited 75: another carbot drives this car, so its outputs are left as they are/);
      assert.equal(JSON.stringify(chip()), driving, 'safe-state stopped the car the first carbot drives');
      assert.equal(JSON.parse(car.messages.filter((m) => m.topic === 'tele/carbot/STATE').at(-1)?.payload ?? '{}').motion, 'forward');
    } finally {
      await Promise.all(procs.splice(0).map((p) => p.kill('SIGTERM')));
      removeDir();
    }
  });

  it('a carbot that finds, on reconnecting, that another took the car meanwhile gives it up (the process exits 75) and publishes nothing', async function () {
    this.timeout(30_000);
    const first = startCarbot(broker.url, ['--mqtt-client-id', 'first-carbot']);
    let taken: OwnerInfo | undefined;
    first.service.on('taken', (owner: OwnerInfo) => (taken = owner));
    try {
      await first.waitForLog(/subscribed to carbot\/move/);
      // The broker goes away (and comes back without the retained Online: no persistence).
      await broker.stop();
      // Its next try is 4 s away: time enough for another carbot to start and take the car.
      await first.waitForLog(/reconnecting in 4 s/, 15_000);
      await broker.restart();
      const before = broker.log().length;
      // Another carbot is started meanwhile and finds the car free.
      const second = carbot('second-carbot');
      await second.waitForLine(/subscribed to carbot\/move/);
      await second.waitForLine(/MQTT client first-carbot-probe asked on cmnd\/carbot\/OWNER who drives the car/, 15_000);
      await waitUntil(() => taken !== undefined, () => `the first never gave the car up:\n${first.lines.join('\n')}`, 10_000);
      assert.equal(taken?.clientId, 'second-carbot');
      assert.equal(first.service.brokerOnline(), false);
      await first.shutdown();
      const since = broker.log().slice(before);
      assert.doesNotMatch(since, /Received PUBLISH from first-carbot /, 'the first published after the second took the car');
      assert.doesNotMatch(since, /New client connected from \S+ as first-carbot /, 'the first connected with its will');
      const fresh = await connectClient(broker.url);
      try {
        const lwt = await collect(fresh, 'tele/carbot/LWT');
        assert.equal((await lwt.waitFor((m) => m.retain)).payload, 'Online');
      } finally {
        await closeClient(fresh);
      }
    } finally {
      await first.shutdown();
    }
  });

  it('two carbots claiming the car at the same moment: the later claim gives it up, publishing no Offline', async () => {
    // A rival that claimed earlier, as a real carbot would answer the question a new owner asks.
    const rival = await connectClient(broker.url, { clientId: 'rival-carbot' });
    try {
      rival.on('message', (_topic, payload) => {
        const ping = JSON.parse(payload.toString()) as { nonce: string; since?: string };
        if (!ping.since) return;
        void rival.publishAsync(
          'stat/carbot/OWNER',
          JSON.stringify({ clientId: 'rival-carbot', host: 'elsewhere', pid: 4242, since: '2000-01-01T00:00:00.000Z', nonce: ping.nonce }),
          { qos: 1 },
        );
      });
      await rival.subscribeAsync('cmnd/carbot/OWNER', { qos: 1 });
      const proc = carbot('late-carbot');
      assert.equal((await proc.exited).code, EX_CAR_TAKEN, proc.output());
      assert.match(proc.output(), /carbot is already driven by carbot pid 4242 on host elsewhere \(MQTT client rival-carbot, driving since 2000-01-01T00:00:00\.000Z\)/);
      // It had claimed the car (Online, STATE) before it learnt of the rival; it leaves with a DISCONNECT, so no will.
      await waitUntil(() => /Received DISCONNECT from late-carbot$/m.test(broker.log()), broker.log);
      assert.ok(!car.messages.some((m) => m.topic === 'tele/carbot/LWT' && m.payload === 'Offline'), 'it published Offline over the rival');
    } finally {
      await closeClient(rival);
    }
  });

  it('two carbots started together: one drives, the other exits 75, one RESULT per command', async () => {
    const a = carbot('carbot-a');
    const b = carbot('carbot-b');
    const loser = await Promise.race([a.exited.then(() => a), b.exited.then(() => b)]);
    const winner = loser === a ? b : a;
    assert.equal((await loser.exited).code, EX_CAR_TAKEN, loser.output());
    await winner.waitForLine(/subscribed to carbot\/move/);
    const results = await collect(watcher, 'stat/carbot/RESULT');
    await watcher.publishAsync('carbot/move', 'forward', { qos: 1 });
    await results.waitFor(() => true);
    await watcher.publishAsync('carbot/move', 'stop', { qos: 1 });
    await results.waitFor((m) => JSON.parse(m.payload).move === 'stop');
    assert.deepEqual(results.messages.map((m) => JSON.parse(m.payload).move), ['forward', 'stop']);
    assert.equal(winner.child.exitCode, null, winner.output());
  });

  it('a carbot that finds the car free claims it without asking', async () => {
    const proc = carbot('only-carbot');
    await proc.waitForLine(/subscribed to carbot\/move/);
    assert.doesNotMatch(proc.output(), /stale/);
    // Nothing retained to ask about: the question is never published.
    assert.deepEqual(publishedBy('only-carbot-probe'), []);
  });
});
