import { strict as assert } from 'node:assert';
import type { MqttClient } from 'mqtt';
import { describeMosquitto, startMosquitto, type Mosquitto } from '../support/mosquitto';
import { closeClient, collect, connectClient, type ReceivedMessage, type Recorder } from '../support/mqtt';
import { CLI_PATH, spawnCarbot, spawnProcess, type CarbotProcess } from '../support/process';

/**
 * The compiled service (dist/cli.js) with simulated motors on a simulated track, over a real
 * mosquitto: home, calibrate, a goto to each stop, a patrol, as a camera script would see
 * them on stat/carbot/ARRIVED and tele/carbot/STATE. The track is short and fast so the suite
 * stays quick; positions are checked against the simulated car's true place with a tolerance,
 * and no test depends on how long anything takes.
 */

const LENGTH_M = 0.5;
const STOPS = { basil: 0.1, thyme: 0.3, sage: 0.45 };
/** How far (metres) the estimate may be from the simulated car's true place at an arrival. */
const TOLERANCE_M = 0.015;

const trackArgs = (url: string, extra: string[] = []) => [
  '--mqtt-url',
  url,
  '--gpio',
  'sim',
  '--tele-period',
  '0',
  '--track-sim',
  JSON.stringify({ topSpeed: 0.6, lagMs: 20, deadBand: 0.1, seed: 7, start: 0.6 }),
  '--track-length-m',
  String(LENGTH_M),
  '--track-stops',
  JSON.stringify(STOPS),
  '--track-calibration-speeds',
  '[50,100]',
  '--track-dwell-s',
  '0.2',
  '--track-settle-ms',
  '100',
  ...extra,
];

const parse = (m: ReceivedMessage) => JSON.parse(m.payload) as Record<string, unknown>;

describeMosquitto('the compiled service on a simulated track (mosquitto)', function () {
  this.timeout(90_000);
  let broker: Mosquitto;
  let client: MqttClient;
  let results: Recorder;
  let states: Recorder;
  let arrivals: Recorder;
  let car: CarbotProcess | undefined;

  beforeEach(async () => {
    broker = await startMosquitto();
    client = await connectClient(broker.url);
    results = await collect(client, 'stat/carbot/RESULT');
    states = await collect(client, 'tele/carbot/STATE');
    arrivals = await collect(client, 'stat/carbot/ARRIVED');
  });
  afterEach(async () => {
    if (car) assert.equal((await car.kill('SIGTERM')).code, 0);
    car = undefined;
    await closeClient(client);
    await broker.stop();
  });

  async function send(payload: string): Promise<Record<string, unknown>> {
    const from = results.messages.length;
    await client.publishAsync('carbot/move', payload, { qos: 1 });
    return parse(await results.waitFor(() => true, 5000, from));
  }

  /** The first STATE from now on for which `predicate` holds. */
  async function stateWhere(predicate: (s: Record<string, unknown>) => boolean, ms = 30_000): Promise<Record<string, unknown>> {
    return parse(await states.waitFor((m) => predicate(parse(m)), ms, 0));
  }

  const idle = (s: Record<string, unknown>) => s.task === undefined && s.motion === 'stopped';

  async function startCar(extra: string[] = []): Promise<CarbotProcess> {
    car = spawnCarbot(trackArgs(broker.url, extra));
    await car.waitForLine(/subscribed to carbot\/move/);
    return car;
  }

  async function homeAndCalibrate(): Promise<void> {
    assert.deepEqual(await send('home'), { move: 'home', motion: 'backward', speed: 40 });
    let from = states.messages.length;
    const homed = parse(await states.waitFor((m) => parse(m).homed === true && idle(parse(m)), 30_000, from));
    assert.ok(Math.abs(homed.position as number) < TOLERANCE_M, `homed at ${String(homed.position)} m`);
    assert.equal(homed.reason, 'limit');
    assert.equal(homed.speed, 50, 'the speed setting is given back after homing');
    assert.ok(Math.abs(homed.simPosition as number) < TOLERANCE_M, `homed, the car is at ${String(homed.simPosition)} m`);

    // At the switch already: calibrate's homing backs off it and touches it again, slowly.
    // (Straight after the slow touch, backward, the drive may still pause before it turns.)
    const calibrate = await send('calibrate');
    assert.ok(calibrate.motion === 'forward' || calibrate.motion === 'reversing', JSON.stringify(calibrate));
    assert.deepEqual({ ...calibrate, motion: 'forward' }, { move: 'calibrate', motion: 'forward', speed: 40 });
    from = states.messages.length;
    const calibrated = parse(
      await states.waitFor((m) => (parse(m).track as { calibrated: boolean }).calibrated && idle(parse(m)), 60_000, from),
    );
    // At home, give or take what an encoder counted as the car ran on past the switch.
    assert.ok(Math.abs(calibrated.position as number) < TOLERANCE_M, `calibrated at ${String(calibrated.position)} m`);
    await car!.waitForLine(/calibrated: forward 50% [\d.]+ m\/s, 100% [\d.]+ m\/s; backward 50% [\d.]+ m\/s, 100% [\d.]+ m\/s/);
  }

  it('refuses a goto before homing; homes, calibrates, goes to each stop and patrols, saying ARRIVED at each', async () => {
    await startCar();
    const first = await stateWhere(() => true);
    assert.deepEqual(
      { position: first.position, homed: first.homed, uncertainty: first.uncertainty, track: first.track },
      // calibrated from the start: the simulated track ships a speed table for its own motors.
      { position: null, homed: false, uncertainty: null, track: { unit: 'm', length: LENGTH_M, stops: STOPS, calibrated: true } },
    );
    assert.ok(Math.abs((first.simPosition as number) - 0.6 * LENGTH_M) < 1e-6);

    assert.deepEqual(await send('{"goto":"basil"}'), {
      move: 'goto',
      to: 'basil',
      motion: 'stopped',
      speed: 50,
      error: 'not homed: send home first',
    });
    await car!.waitForLine(/goto refused: not homed: send home first/);

    await homeAndCalibrate();

    for (const [stop, at] of Object.entries(STOPS)) {
      const fromState = states.messages.length;
      const fromArrival = arrivals.messages.length;
      const answer = await send(`goto ${stop}`);
      // Straight after a leg backward the drive first pauses before it turns (reverseDelayMs).
      assert.ok(answer.motion === 'forward' || answer.motion === 'reversing', JSON.stringify(answer));
      assert.deepEqual({ ...answer, motion: undefined }, { move: 'goto', to: stop, target: at, motion: undefined, speed: 50 });
      const arrived = await arrivals.waitFor(() => true, 20_000, fromArrival);
      assert.equal(arrived.retain, false);
      const payload = parse(arrived);
      assert.equal(payload.stop, stop);
      assert.equal(payload.target, at);
      assert.ok(Math.abs((payload.position as number) - at) < 0.005, `arrived at ${String(payload.position)} for ${stop} at ${at}`);
      const there = parse(await states.waitFor((m) => idle(parse(m)), 5000, fromState));
      assert.equal(there.reason, 'arrived');
      assert.ok(
        Math.abs((there.simPosition as number) - (there.position as number)) < TOLERANCE_M,
        `estimate ${String(there.position)} m, the car is at ${String(there.simPosition)} m`,
      );
      const going = states.messages.slice(fromState).map(parse).find((s) => s.task === 'goto' && s.motion === 'forward');
      assert.ok(going, 'STATE said where the car was going');
      assert.equal(going.target, at);
    }

    const fromArrival = arrivals.messages.length;
    const fromState = states.messages.length;
    // From sage, the furthest stop, the patrol turns back to the first one.
    const patrol = await send('patrol');
    assert.ok(patrol.motion === 'backward' || patrol.motion === 'reversing', JSON.stringify(patrol));
    for (const stop of Object.keys(STOPS)) {
      const arrived = parse(await arrivals.waitFor((m) => parse(m).stop === stop, 20_000, fromArrival));
      assert.equal(arrived.stop, stop);
    }
    assert.deepEqual(
      arrivals.messages.slice(fromArrival).map((m) => parse(m).stop),
      Object.keys(STOPS),
      'one ARRIVED per stop, in order along the track',
    );
    const home = parse(await states.waitFor((m) => idle(parse(m)) && parse(m).position === 0, 30_000, fromState));
    assert.equal(home.homed, true);
    assert.equal(home.reason, 'limit');
    await car!.waitForLine(/patrol done/);
  });

  it('stop cancels a patrol at once; Home Assistant\'s Go to select and carbot send take the new commands', async () => {
    const discovery = await collect(client, 'homeassistant/device/carbot/config');
    await startCar(['--homeassistant-enabled']);
    await homeAndCalibrate();
    const fromArrival = arrivals.messages.length;
    await send('patrol');
    const fromState = states.messages.length;
    await states.waitFor((m) => parse(m).task === 'patrol' && parse(m).motion === 'forward', 10_000, fromState);
    assert.deepEqual(await send('stop'), { move: 'stop', motion: 'stopped', speed: 50, note: 'patrol cancelled' });
    const stopped = parse(await states.waitFor((m) => parse(m).motion === 'stopped', 5000, states.messages.length - 1));
    assert.equal(stopped.task, undefined);
    assert.equal(stopped.target, undefined);
    await car!.waitForLine(/patrol cancelled: stop/);

    // Home Assistant's "Go to" select set to thyme: its command_template ({{ {"goto": value} | tojson }})
    // rendered with value = thyme, on its command topic.
    const cmps = parse(await discovery.waitFor((m) => m.payload !== '', 5000, 0)).cmps as Record<string, Record<string, unknown>>;
    assert.deepEqual(cmps.goto.options, ['basil', 'thyme', 'sage']);
    assert.equal(cmps.goto.command_template, '{{ {"goto": value} | tojson }}');
    await client.publishAsync(String(cmps.goto.command_topic), JSON.stringify({ goto: 'thyme' }), { qos: 1 });
    const atThyme = parse(await arrivals.waitFor((m) => parse(m).stop === 'thyme', 20_000, fromArrival));
    assert.ok(Math.abs((atThyme.position as number) - STOPS.thyme) < 0.005);
    assert.deepEqual([cmps.position.value_template, cmps.position.unit_of_measurement], ['{{ value_json.position }}', 'm']);

    const sent = spawnProcess(process.execPath, [CLI_PATH, 'send', 'goto', 'sage', '--mqtt-url', broker.url]);
    assert.equal((await sent.exited).code, 0);
    assert.deepEqual(JSON.parse(sent.stdout[0]), { move: 'goto', to: 'sage', target: STOPS.sage, motion: 'forward', speed: 50 });
    const arrived = parse(await arrivals.waitFor((m) => parse(m).stop === 'sage', 20_000, fromArrival));
    assert.ok(Math.abs((arrived.position as number) - STOPS.sage) < 0.005);

    const timed = spawnProcess(process.execPath, [CLI_PATH, 'send', '{"move":"backward","for":0.3}', '--mqtt-url', broker.url]);
    assert.equal((await timed.exited).code, 0);
    // Just after driving forward to sage the reversal pause may not be over yet: backward or reversing.
    const timedAnswer = JSON.parse(timed.stdout[0]);
    assert.ok(['backward', 'reversing'].includes(timedAnswer.motion), JSON.stringify(timedAnswer));
    assert.deepEqual({ ...timedAnswer, motion: 'backward' }, { move: 'backward', for: 0.3, motion: 'backward', speed: 50 });
    const done = parse(await states.waitFor((m) => parse(m).reason === 'done', 10_000, 0));
    assert.equal(done.motion, 'stopped');
    assert.ok((done.position as number) < STOPS.sage);

    const refused = spawnProcess(process.execPath, [CLI_PATH, 'send', 'goto', 'parsley', '--mqtt-url', broker.url]);
    assert.equal((await refused.exited).code, 1);
    assert.deepEqual(JSON.parse(refused.stdout[0]), {
      move: 'goto',
      to: 'parsley',
      motion: 'stopped',
      speed: 50,
      error: 'no stop named "parsley"',
      stops: ['basil', 'thyme', 'sage'],
    });
  });

  it('with an encoder, a jam stops a goto with reason stalled, and RESULT says so', async () => {
    // The car starts at 0.3 m; the obstacle sits at 0.35 m, between it and sage.
    const sim = JSON.stringify({ topSpeed: 0.6, lagMs: 20, deadBand: 0.1, seed: 7, start: 0.6, jamAt: 0.7 });
    await startCar(['--track-encoder', '{"pin":17,"edgesPerMetre":400}', '--track-sim', sim]);
    assert.deepEqual(await send('home'), { move: 'home', motion: 'backward', speed: 40 });
    await stateWhere((s) => s.homed === true && idle(s) && s.reason === 'limit');
    const from = results.messages.length;
    const fromState = states.messages.length;
    const answer = await send('goto sage');
    assert.equal(answer.error, undefined);
    const stalled = parse(await states.waitFor((m) => parse(m).reason === 'stalled', 20_000, fromState));
    assert.equal(stalled.motion, 'stopped');
    assert.equal(stalled.task, undefined);
    assert.ok(Math.abs((stalled.simPosition as number) - 0.35) < 0.005, `the car is at ${String(stalled.simPosition)} m`);
    const failure = parse(await results.waitFor((m) => parse(m).error !== undefined, 5000, from + 1));
    assert.deepEqual({ ...failure, error: undefined, position: undefined }, {
      move: 'goto',
      to: 'sage',
      target: STOPS.sage,
      reason: 'stalled',
      motion: 'stopped',
      speed: 50,
      error: undefined,
      position: undefined,
    });
    assert.match(String(failure.error), /^stalled: no encoder edge for 0.3 s at 0.3\d* m while driving to sage$/);
    await car!.waitForLine(/goto stopped: stalled: no encoder edge/);
  });

  it('without an encoder, a jam between the car and home stalls homing', async () => {
    // The car starts at 0.3 m; the obstacle at 0.2 m, between it and the home switch.
    const sim = JSON.stringify({ topSpeed: 0.6, lagMs: 20, deadBand: 0.1, seed: 7, start: 0.6, jamAt: 0.4 });
    await startCar(['--track-sim', sim]);
    const fromState = states.messages.length;
    await send('home');
    const stalled = parse(await states.waitFor((m) => parse(m).reason === 'stalled', 20_000, fromState));
    assert.deepEqual([stalled.motion, stalled.homed, stalled.position], ['stopped', false, null]);
    assert.ok(Math.abs((stalled.simPosition as number) - 0.2) < 0.005, `the car is at ${String(stalled.simPosition)} m`);
    await car!.waitForLine(/home stopped: stalled: the backward limit switch did not close within [\d.]+ s/);
  });

  it('with a wheel encoder, the estimate follows the counted edges', async () => {
    await startCar(['--track-encoder', '{"pin":17,"edgesPerMetre":400}']);
    await car!.waitForLine(/encoder on pin 17 \(400 edges\/m\)/);
    await homeAndCalibrate();
    const fromArrival = arrivals.messages.length;
    await send('{"goto":0.2}');
    const arrived = parse(await arrivals.waitFor(() => true, 20_000, fromArrival));
    assert.equal(arrived.stop, null);
    const there = parse(await states.waitFor((m) => idle(parse(m)) && m !== undefined, 5000, states.messages.length - 1));
    // One edge is 2.5 mm: the estimate is within a couple of edges of the true place.
    assert.ok(
      Math.abs((there.simPosition as number) - (there.position as number)) < 0.006,
      `estimate ${String(there.position)} m, the car is at ${String(there.simPosition)} m`,
    );
  });
});
