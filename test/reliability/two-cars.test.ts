import { strict as assert } from 'node:assert';
import type { MqttClient } from 'mqtt';
import { describeMosquitto, startMosquitto, type Mosquitto } from '../support/mosquitto';
import { closeClient, collect, connectClient, type Recorder } from '../support/mqtt';
import { spawnCarbot, type CarbotProcess } from '../support/process';

const parse = (m: { payload: string }) => JSON.parse(m.payload) as Record<string, unknown>;

describeMosquitto('two cars on one broker', () => {
  let broker: Mosquitto;
  let client: MqttClient;
  let seen: Recorder;
  let cars: CarbotProcess[] = [];

  beforeEach(async () => {
    broker = await startMosquitto();
    client = await connectClient(broker.url);
    seen = await collect(client, '#');
  });
  afterEach(async () => {
    await Promise.all(cars.map((c) => c.kill('SIGKILL')));
    cars = [];
    await closeClient(client);
    await broker.stop();
  });

  const on = (topic: string) => seen.messages.filter((m) => m.topic === topic);
  async function send(topic: string, command: string, resultTopic: string): Promise<Record<string, unknown>> {
    const from = seen.messages.length;
    await client.publishAsync(topic, command, { qos: 1 });
    return parse(await seen.waitFor((m) => m.topic === resultTopic, 5000, from));
  }

  it('each takes commands only from its own move topic and has its own LWT, STATE and RESULT', async () => {
    const greenhouse = spawnCarbot(['--gpio', 'sim', '--mqtt-url', broker.url, '--device', 'greenhouse']);
    const shed = spawnCarbot(['--gpio', 'sim', '--mqtt-url', broker.url, '--device', 'shed', '--move-topic', 'garden/shed/drive']);
    cars = [greenhouse, shed];
    await greenhouse.waitForLine(/subscribed to greenhouse\/move/);
    await shed.waitForLine(/subscribed to garden\/shed\/drive/);
    await seen.waitFor((m) => m.topic === 'tele/greenhouse/LWT' && m.payload === 'Online');
    await seen.waitFor((m) => m.topic === 'tele/shed/LWT' && m.payload === 'Online');

    assert.deepEqual(await send('greenhouse/move', 'forward', 'stat/greenhouse/RESULT'), { move: 'forward', motion: 'forward', speed: 50 });
    // Had the shed seen that forward, backward would be a reversal.
    assert.deepEqual(await send('garden/shed/drive', 'backward', 'stat/shed/RESULT'), { move: 'backward', motion: 'backward', speed: 50 });
    // And had the greenhouse seen the backward, it would be reversing, not already forward.
    assert.deepEqual(await send('greenhouse/move', 'forward', 'stat/greenhouse/RESULT'), {
      move: 'forward',
      motion: 'forward',
      speed: 50,
      note: 'already forward',
    });
    // Topics that look like theirs reach neither: shed/move is not the shed's move topic.
    const stray = seen.messages.length;
    await client.publishAsync('shed/move', 'stop', { qos: 1 });
    await client.publishAsync('carbot/move', 'stop', { qos: 1 });
    assert.deepEqual(await send('garden/shed/drive', 'faster', 'stat/shed/RESULT'), { move: 'faster', motion: 'backward', speed: 60 });
    assert.deepEqual(
      seen.messages.slice(stray).filter((m) => m.topic.startsWith('stat/')).map((m) => m.topic),
      ['stat/shed/RESULT'],
    );

    await seen.waitFor((m) => m.topic === 'tele/greenhouse/STATE' && parse(m).motion === 'forward');
    await seen.waitFor((m) => m.topic === 'tele/shed/STATE' && parse(m).speed === 60);
    assert.deepEqual(parse(on('tele/greenhouse/STATE').at(-1)!).motors, { left: 0.5, right: 0.5 });
    assert.deepEqual(parse(on('tele/shed/STATE').at(-1)!).motors, { left: -0.6, right: -0.6 });

    // The shed dies: the broker publishes its will; the greenhouse stays Online.
    await shed.kill('SIGKILL');
    await seen.waitFor((m) => m.topic === 'tele/shed/LWT' && m.payload === 'Offline');
    assert.deepEqual(on('tele/greenhouse/LWT').map((m) => m.payload), ['Online']);
    assert.deepEqual(await send('greenhouse/move', 'stop', 'stat/greenhouse/RESULT'), { move: 'stop', motion: 'stopped', speed: 50 });
    // Each car answers in order, so a stray command would show up before its last answer.
    assert.deepEqual(on('stat/greenhouse/RESULT').map((m) => parse(m).move), ['forward', 'forward', 'stop']);
    assert.deepEqual(on('stat/shed/RESULT').map((m) => parse(m).move), ['backward', 'faster']);
  });
});
