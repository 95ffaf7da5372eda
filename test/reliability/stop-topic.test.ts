import { strict as assert } from 'node:assert';
import type { MqttClient } from 'mqtt';
import { describeMosquitto, startMosquitto, type Mosquitto } from '../support/mosquitto';
import { closeClient, collect, connectClient, type ReceivedMessage, type Recorder } from '../support/mqtt';
import { spawnCarbot, type CarbotProcess } from '../support/process';

const parse = (m: ReceivedMessage) => JSON.parse(m.payload) as Record<string, unknown>;

/**
 * Issue 23, finding 1: the stop topic (carbot/move/stop, read on a connection of its own) and
 * the flood guard (a flood of carbot/move stops the car and leaves only stop obeyed there).
 * The compiled service against mosquitto.
 */
describeMosquitto('the stop topic and the flood guard', function () {
  this.timeout(30_000);
  let broker: Mosquitto;
  let car: CarbotProcess;
  let client: MqttClient;
  let results: Recorder;
  let states: Recorder;

  beforeEach(async () => {
    broker = await startMosquitto();
    car = spawnCarbot(['--gpio', 'sim', '--mqtt-url', broker.url, '--tele-period', '0']);
    await car.waitForLine(/subscribed to carbot\/move$/);
    await car.waitForLine(/stop topic: listening on carbot\/move\/stop$/);
    client = await connectClient(broker.url);
    results = await collect(client, 'stat/carbot/RESULT');
    states = await collect(client, 'tele/carbot/STATE');
  });
  afterEach(async () => {
    await closeClient(client);
    await car.kill('SIGKILL');
    await broker.stop();
  });

  async function send(topic: string, payload: string): Promise<Record<string, unknown>> {
    const from = results.messages.length;
    await client.publishAsync(topic, payload, { qos: 1 });
    return parse(await results.waitFor(() => true, 5000, from));
  }

  it('any message on carbot/move/stop stops the car and is answered on RESULT; carbot/move still takes stop', async () => {
    assert.equal((await send('carbot/move', 'forward')).motion, 'forward');
    const seen = states.messages.length;
    assert.deepEqual(await send('carbot/move/stop', '1'), { move: 'stop', motion: 'stopped', speed: 50 });
    const state = parse(await states.waitFor((m) => parse(m).motion === 'stopped', 5000, seen));
    assert.deepEqual([state.reason, state.motors], ['command', { left: 0, right: 0 }]);
    assert.equal((await send('carbot/move', 'forward')).motion, 'forward');
    assert.deepEqual(await send('carbot/move', 'stop'), { move: 'stop', motion: 'stopped', speed: 50 });
  });

  it('a flood of carbot/move stops a moving car (reason flood), refuses all but stop there while it lasts, and lets go after', async () => {
    assert.equal((await send('carbot/move', 'forward')).motion, 'forward');
    const seen = states.messages.length;
    const flooder = await connectClient(broker.url);
    try {
      // 2 000 messages over the 50 a second budget: four times the 500 a second that make a flood.
      // In slices, so the test's own client stays under its socket's listener limit.
      for (let slice = 0; slice < 4; slice++) {
        await Promise.all(Array.from({ length: 500 }, () => flooder.publishAsync('carbot/move', 'faster', { qos: 0 })));
      }
      await car.waitForLine(/warn  flood on carbot\/move: more than 500 messages over commandsPerSecond in a second; stopping the car/);
      const state = parse(await states.waitFor((m) => parse(m).motion === 'stopped', 5000, seen));
      assert.deepEqual([state.reason, state.motors], ['flood', { left: 0, right: 0 }]);
      // Within the budget again (it refills at 50 a second), but the flood is still under way:
      // refused, with where a stop gets through.
      await new Promise((resolve) => setTimeout(resolve, 100));
      const from = results.messages.length;
      await client.publishAsync('carbot/move', 'forward', { qos: 1 });
      assert.deepEqual(parse(await results.waitFor((m) => parse(m).stopTopic !== undefined, 5000, from)), {
        error: 'move topic flooded: only stop is obeyed until the flood ends',
        stopTopic: 'carbot/move/stop',
      });
      assert.equal(parse(await results.waitFor((m) => parse(m).move === 'stop', 5000, (await client.publishAsync('carbot/move', 'stop', { qos: 1 }), from))).motion, 'stopped');
    } finally {
      await closeClient(flooder);
    }
    // A whole second below the limit ends the flood.
    await new Promise((resolve) => setTimeout(resolve, 2100));
    assert.equal((await send('carbot/move', 'forward')).motion, 'forward');
  });
});
