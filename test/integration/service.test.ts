import { strict as assert } from 'node:assert';
import { randomBytes } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { startCarbot, type RunningCarbot } from '../support/carbot';
import { againstEachBroker } from '../support/matrix';
import { closeClient, collect, connectClient, type Recorder } from '../support/mqtt';

againstEachBroker('carbot over MQTT', (broker) => {
  let client: MqttClient;
  let results: Recorder;
  let states: Recorder;
  let car: RunningCarbot | undefined;

  const parse = (m: { payload: string }) => JSON.parse(m.payload) as Record<string, unknown>;
  async function online(c: RunningCarbot) {
    await c.waitForLog(/subscribed to carbot\/move/);
  }
  async function send(payload: string | Buffer): Promise<Record<string, unknown>> {
    const from = results.messages.length;
    await client.publishAsync('carbot/move', payload, { qos: 1 });
    return parse(await results.waitFor(() => true, 5000, from));
  }

  beforeEach(async () => {
    client = await connectClient(broker().url);
    results = await collect(client, 'stat/carbot/RESULT');
    states = await collect(client, 'tele/carbot/STATE');
  });
  afterEach(async () => {
    await car?.shutdown();
    car = undefined;
    await closeClient(client);
  });

  it('round-trips every command to the motors, RESULT and STATE', async () => {
    car = startCarbot(broker().url);
    await online(car);
    const lwt = await collect(client, 'tele/carbot/LWT');
    assert.equal((await lwt.waitFor(() => true)).payload, 'Online');

    assert.deepEqual(await send('f'), { move: 'forward', motion: 'forward', speed: 50 });
    assert.deepEqual(car.motors.outputs, { left: 0.5, right: 0.5 });
    const state = parse(await states.waitFor((m) => parse(m).motion === 'forward'));
    assert.deepEqual({ ...state, Time: undefined, uptime: undefined }, {
      Time: undefined,
      uptime: undefined,
      motion: 'forward',
      speed: 50,
      reason: 'command',
      motors: { left: 0.5, right: 0.5 },
    });

    assert.deepEqual(await send('FASTER'), { move: 'faster', motion: 'forward', speed: 60 });
    assert.deepEqual(car.motors.outputs, { left: 0.6, right: 0.6 });
    assert.deepEqual(await send(' - '), { move: 'slower', motion: 'forward', speed: 50 });
    let seen = states.messages.length;
    assert.deepEqual(await send('back'), { move: 'backward', motion: 'reversing', speed: 50 });
    assert.deepEqual(car.motors.outputs, { left: 0, right: 0 });
    await states.waitFor((m) => parse(m).motion === 'backward', 5000, seen);
    assert.deepEqual(car.motors.outputs, { left: -0.5, right: -0.5 });
    seen = states.messages.length;
    assert.deepEqual(await send('{"move":"forward","speed":30}'), { move: 'forward', motion: 'reversing', speed: 30 });
    await states.waitFor((m) => parse(m).motion === 'forward', 5000, seen);
    assert.deepEqual(car.motors.outputs, { left: 0.3, right: 0.3 });
    assert.deepEqual(await send('f'), { move: 'forward', motion: 'forward', speed: 30, note: 'already forward' });
    // A stop with something wrong beside it is still a stop.
    assert.deepEqual(await send('{"move":"stop","speed":"fast"}'), {
      move: 'stop',
      motion: 'stopped',
      speed: 30,
      note: 'ignored: speed must be a number',
    });
    assert.deepEqual(car.motors.outputs, { left: 0, right: 0 });
    await car.waitForLog(/^<6>stopped \(command\)$/);
    await car.waitForLog(/^<4>stop from mqtt obeyed, ignored: speed must be a number/);
    assert.ok(car.lines.includes('<6>forward at 50% (command)'));
    assert.ok(car.lines.includes('<6>backward at 50% (command)'));
  });

  it('a motor write that fails: the sender still gets its RESULT with the error, then carbot shuts down', async () => {
    car = startCarbot(broker().url);
    await online(car);
    const running = car;
    // As src/cli.ts does: a fatal error shuts the service down (and the process exits).
    running.service.on('fatal', (err: Error) => void running.service.shutdown(err.message));
    running.motors.write = () => {
      throw new Error('motor "right": EIO');
    };
    const answer = await send('forward');
    assert.equal(answer.motion, 'stopped');
    assert.match(String(answer.error), /^motor write failed: motor "right": EIO/);
    await car.waitForLog(/^<3>motor write failed: motor "right": EIO; all motors stopped/);
    await car.waitForLog(/^<6>shutting down \(motor write failed/);
  });

  it('ignores a retained command that was waiting before carbot started', async () => {
    await client.publishAsync('carbot/move', 'f', { qos: 0, retain: true });
    car = startCarbot(broker().url);
    const result = parse(await results.waitFor(() => true));
    assert.deepEqual(result, { error: 'retained command ignored', payload: 'f' });
    await car.waitForLog(/^<4>ignored retained command "f" on carbot\/move/);
    assert.deepEqual(car.motors.outputs, { left: 0, right: 0 });
    assert.equal(car.service.state().motion, 'stopped');
    // A live publish of the same retained command still drives: only the replay is stale.
    await client.publishAsync('carbot/move', 'f', { qos: 0, retain: true });
    await states.waitFor((m) => parse(m).motion === 'forward');
    await client.publishAsync('carbot/move', '', { qos: 0, retain: true });
  });

  it('takes the empty message that clears a retained command (mosquitto_pub -r -n) quietly: no RESULT, no warning', async () => {
    await client.publishAsync('carbot/move', 'f', { qos: 0, retain: true });
    car = startCarbot(broker().url);
    await results.waitFor((m) => parse(m).error === 'retained command ignored');
    const from = results.messages.length;
    await client.publishAsync('carbot/move', '', { qos: 1, retain: true });
    await car.waitForLog(/^<6>empty message on carbot\/move: a retained command was cleared; nothing to do$/);
    // The next RESULT is the next command's: the empty message had none.
    assert.deepEqual(await send('stop'), { move: 'stop', motion: 'stopped', speed: 50 });
    assert.equal(results.messages.length, from + 1);
    assert.deepEqual(car.lines.filter((l) => l.startsWith('<4>') && !/retained command "f"/.test(l)), []);
    // And it is gone: a carbot starting now finds nothing to ignore.
    await car.shutdown();
    const replays = results.messages.length;
    car = startCarbot(broker().url);
    await online(car);
    assert.deepEqual(await send('stop'), { move: 'stop', motion: 'stopped', speed: 50 });
    assert.equal(results.messages.length, replays + 1);
  });

  it('stops with reason disconnect, not command, when the front end driving the car goes away', async () => {
    car = startCarbot(broker().url);
    await online(car);
    car.service.command('forward', 'remote 10.0.0.7');
    car.service.driverLost('remote 10.0.0.8');
    assert.equal(car.service.state().motion, 'forward', 'a page that only watched changes nothing');
    await states.waitFor((m) => parse(m).motion === 'forward');
    const seen = states.messages.length;
    car.service.driverLost('remote 10.0.0.7');
    assert.deepEqual(car.motors.outputs, { left: 0, right: 0 });
    const state = parse(await states.waitFor((m) => parse(m).motion === 'stopped', 5000, seen));
    assert.equal(state.reason, 'disconnect');
    await car.waitForLog(/^<6>stopped \(disconnect\)$/);
  });

  it('keeps driving when the driving front end goes away with stopOnDisconnect off', async () => {
    car = startCarbot(broker().url, ['--no-stop-on-disconnect']);
    await online(car);
    car.service.command('forward', 'remote 10.0.0.7');
    car.service.driverLost('remote 10.0.0.7');
    assert.equal(car.service.state().motion, 'forward');
    assert.deepEqual(car.motors.outputs, { left: 0.5, right: 0.5 });
  });

  it('stops with reason disconnect when the broker goes away, then reconnects and obeys again', async () => {
    car = startCarbot(broker().url);
    await online(car);
    await send('forward');
    assert.deepEqual(car.motors.outputs, { left: 0.5, right: 0.5 });

    await broker().restart();
    await car.waitForLog(/^<4>lost connection/);
    assert.deepEqual(car.motors.outputs, { left: 0, right: 0 });
    assert.equal(car.service.state().reason, 'disconnect');

    const subscribed = car.lines.filter((l) => /subscribed to carbot\/move/.test(l)).length;
    await car.waitForLog(/reconnecting in 1 s/);
    const deadline = Date.now() + 10_000;
    while (car.lines.filter((l) => /subscribed to carbot\/move/.test(l)).length === subscribed) {
      if (Date.now() > deadline) throw new Error(`carbot did not resubscribe:\n${car.lines.join('\n')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    // Our test client reconnects too; resubscribe its recorders on a fresh connection.
    await closeClient(client);
    client = await connectClient(broker().url);
    results = await collect(client, 'stat/carbot/RESULT');
    states = await collect(client, 'tele/carbot/STATE');
    const stopped = parse(await states.waitFor(() => true));
    assert.equal(stopped.reason, 'disconnect');
    assert.equal(stopped.motion, 'stopped');
    assert.deepEqual(await send('backward'), { move: 'backward', motion: 'backward', speed: 50 });
    assert.deepEqual(car.motors.outputs, { left: -0.5, right: -0.5 });
  });

  it('answers thousands of garbage payloads with errors and does not move (no command budget)', async () => {
    car = startCarbot(broker().url, ['--log-level', 'error', '--commands-per-second', '0']);
    await online(car);
    await send('faster');
    const before = car.service.state();
    const garbage: Buffer[] = [Buffer.alloc(300_000, 0x41), Buffer.from([0xff, 0xfe, 0xfd]), Buffer.from('{"move":'), Buffer.from('sideways')];
    for (let i = 0; i < 2000; i++) garbage.push(randomBytes(1 + (i % 40)));
    // Random bytes that happen to spell a command are not garbage: leave them out.
    const bad = garbage.filter((g) => !/^\s*(f|b|s|\+|-|back|stop)\s*$/i.test(g.toString('latin1')));
    const from = results.messages.length;
    for (const payload of bad) client.publish('carbot/move', payload, { qos: 0 });
    await results.waitFor(() => results.messages.length - from >= bad.length, 20_000, from);
    const answers = results.messages.slice(from).map(parse);
    assert.equal(answers.length, bad.length);
    assert.ok(answers.every((a) => typeof a.error === 'string'), JSON.stringify(answers.find((a) => !a.error)));
    assert.deepEqual(answers[0], { error: 'payload too large', bytes: 300_000, limit: 256 });
    assert.deepEqual(answers[1], { error: 'invalid UTF-8', bytes: 3 });
    const after = car.service.state();
    assert.deepEqual([after.motion, after.speed, after.motors], [before.motion, before.speed, before.motors]);
    assert.deepEqual(car.motors.outputs, { left: 0, right: 0 });
    assert.deepEqual(await send('f'), { move: 'forward', motion: 'forward', speed: 60 });
  });

  it('over the command budget: one answer, one log line and a count, nothing moves, and a stop still stops', async () => {
    car = startCarbot(broker().url, ['--commands-per-second', '10']);
    await online(car);
    assert.equal((await send('forward')).motion, 'forward');
    const from = results.messages.length;
    const logFrom = car.lines.length;
    // 20 of budget (twice the rate at once, one used by the forward), then one answer saying why.
    // Fewer than 10 x the rate over it: more in a second is a flood (stop-topic.test.ts).
    for (let i = 0; i < 110; i++) client.publish('carbot/move', i % 2 ? 'sideways' : 'faster', { qos: 0 });
    client.publish('carbot/move', 'stop', { qos: 0 });
    const stopped = await results.waitFor((m) => parse(m).move === 'stop', 10_000, from);
    assert.equal(parse(stopped).motion, 'stopped');
    assert.deepEqual(car.motors.outputs, { left: 0, right: 0 });
    const answers = results.messages.slice(from).map(parse);
    const refused = answers.filter((a) => a.error === 'too many commands');
    assert.deepEqual(refused[0], { error: 'too many commands', limit: 10 });
    // At most the budget, what refilled meanwhile, one refusal per refill, and the stop: far fewer than 111.
    assert.ok(answers.length < 60, `${answers.length} RESULTs for 111 commands`);
    await car.shutdown();
    const warnings = car.lines.slice(logFrom).filter((l) => l.startsWith('<4>'));
    assert.deepEqual(warnings.slice(0, 1), ['<4>rejected command from mqtt: unknown command (payload "sideways")']);
    assert.match(String(warnings.at(-1)), /^<4>\d+ more rejected from mqtt in the last 10 s$/);
    assert.equal(warnings.length, 2, warnings.join('\n'));
  });
});
