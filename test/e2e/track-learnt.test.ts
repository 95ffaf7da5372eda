/**
 * What the car learns is kept, and the picture at every stop: the compiled service on the
 * simulated track over a real mosquitto. Calibrate, restart with the same state directory
 * ($STATE_DIRECTORY, as systemd's StateDirectory= sets it), home and goto with no new
 * calibration; a corrupt state file is a warning, never fatal. A fake camera command (a node
 * script writing a generated JPEG to {file}) gives PHOTO, the picture and its sidecar; a
 * failing one gives PHOTO with an error and the patrol still completes.
 */
import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { MqttClient } from 'mqtt';
import { describeMosquitto, startMosquitto, type Mosquitto } from '../support/mosquitto';
import { closeClient, collect, connectClient, type ReceivedMessage, type Recorder } from '../support/mqtt';
import { spawnCarbot, type CarbotProcess } from '../support/process';

import { FAKE_CAMERA, SMALL_TRACK_ARGS as TRACK, SMALL_TRACK_STOPS as STOPS } from '../support/small-track';
const parse = (m: ReceivedMessage) => JSON.parse(m.payload) as Record<string, unknown>;
const idle = (s: Record<string, unknown>) => s.task === undefined && s.motion === 'stopped';

describeMosquitto('what the car learns is kept, and the picture at each stop (compiled service, simulated track)', function () {
  this.timeout(60_000);
  let broker: Mosquitto;
  let client: MqttClient;
  let states: Recorder;
  let arrivals: Recorder;
  let photos: Recorder;
  let results: Recorder;
  let dir: string;
  let carbot: CarbotProcess | undefined;

  const start = async (args: string[], env: Record<string, string> = {}) => {
    carbot = spawnCarbot([...TRACK, '--mqtt-url', broker.url, ...args], env);
    await carbot.waitForLine(/subscribed to carbot\/move/, 10_000);
    return carbot;
  };
  const stopCarbot = async () => {
    const { code } = await carbot!.kill();
    assert.equal(code, 0, carbot!.output());
    carbot = undefined;
  };
  /** Sends a command and waits for the car to be idle again after it. */
  const run = async (command: string, ms = 20_000) => {
    const from = states.messages.length;
    const fromResult = results.messages.length;
    await client.publishAsync('carbot/move', command);
    const result = parse(await results.waitFor(() => true, 5000, fromResult));
    assert.equal(result.error, undefined, JSON.stringify(result));
    const busy = await states.waitFor((m) => parse(m).task !== undefined, 5000, from);
    return parse(await states.waitFor((m) => idle(parse(m)), ms, states.messages.indexOf(busy) + 1));
  };

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'carbot-learnt-'));
    broker = await startMosquitto();
    client = await connectClient(broker.url);
    states = await collect(client, 'tele/carbot/STATE');
    arrivals = await collect(client, 'stat/carbot/ARRIVED');
    photos = await collect(client, 'stat/carbot/PHOTO');
    results = await collect(client, 'stat/carbot/RESULT');
  });

  afterEach(async () => {
    if (carbot) await carbot.kill();
    carbot = undefined;
    await closeClient(client);
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('calibrate, restart with the same state directory, home: a goto arrives with no new calibration', async () => {
    const env = { STATE_DIRECTORY: dir };
    let c = await start([], env);
    await run('home');
    await run('calibrate', 40_000);
    await c.waitForLine(/calibration kept in .*track\.json for the next start/);
    const saved = JSON.parse(readFileSync(path.join(dir, 'track.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(saved.kind, 'carbot track state');
    assert.equal(saved.device, 'carbot');
    assert.equal(saved.lengthM, 0.5);
    const curve = saved.curve as Record<string, { duty: number; speed: number }[]>;
    assert.deepEqual(curve.forward.map((p) => p.duty), [0.5, 1]);
    assert.equal(typeof saved.lastHomedAt, 'number');
    assert.deepEqual(readdirSync(dir), ['track.json'], 'no temporary file left behind');
    await stopCarbot();

    c = await start([], env);
    await c.waitForLine(/loaded from .*track\.json: the calibration, the last home/);
    await run('home');
    const from = arrivals.messages.length;
    const there = await run('goto thyme');
    assert.equal(parse(await arrivals.waitFor(() => true, 1000, from)).stop, 'thyme');
    assert.equal(there.reason, 'arrived');
    assert.ok(Math.abs((there.simPosition as number) - STOPS.thyme) < 0.015, `the simulated car is at ${String(there.simPosition)} m`);
    assert.ok(!c.lines.some((l) => /calibrated: /.test(l)), 'no calibration after the restart');
    await stopCarbot();
  });

  it('a corrupt or foreign state file is a warning naming the file and what is wrong; carbot starts all the same', async () => {
    const file = path.join(dir, 'track.json');
    writeFileSync(file, '{"kind": "carbot track sta');
    let c = await start(['--state-dir', dir]);
    await c.waitForLine(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: not valid JSON .*ignored`));
    await run('home');
    await stopCarbot();

    writeFileSync(file, JSON.stringify({ some: 'other program' }));
    c = await start(['--state-dir', dir]);
    await c.waitForLine(/track\.json: not carbot's track state .*ignored/);
    await run('home');
    // Homing wrote it anew, as carbot's: 2 s after the home, or at the latest as carbot stops.
    await stopCarbot();
    assert.equal((JSON.parse(readFileSync(file, 'utf8')) as { kind: string }).kind, 'carbot track state');
  });

  it('a patrol photographs every stop: PHOTO, the picture and its sidecar, an image for Home Assistant; photo on command too', async () => {
    const pictures = path.join(dir, 'pictures');
    const c = await start(['--camera-command', JSON.stringify([process.execPath, FAKE_CAMERA, '{file}']), '--camera-dir', pictures, '--camera-keep', '2', '--homeassistant-enabled']);
    await run('home');
    for (let round = 0; round < 3; round++) {
      const from = photos.messages.length;
      await run('patrol');
      const taken = photos.messages.slice(from).map(parse);
      assert.deepEqual(taken.map((p) => p.stop), ['basil', 'thyme', 'sage']);
      for (const photo of taken) {
        assert.equal(photo.error, undefined, JSON.stringify(photo));
        const file = photo.file as string;
        assert.ok(file.startsWith(path.join(pictures, photo.stop as string) + path.sep), file);
        assert.deepEqual([...readFileSync(file).subarray(0, 3)], [0xff, 0xd8, 0xff], 'a JPEG');
        const sidecar = JSON.parse(readFileSync(file.replace(/\.jpg$/, '.json'), 'utf8')) as Record<string, unknown>;
        assert.equal(sidecar.stop, photo.stop);
        assert.equal(sidecar.position, photo.position);
        assert.ok(Math.abs((photo.position as number) - STOPS[photo.stop as keyof typeof STOPS]) < 0.01);
        assert.equal(typeof sidecar.uncertainty, 'number');
        assert.equal(sidecar.unit, 'm');
        assert.ok(!Number.isNaN(Date.parse(sidecar.time as string)));
        assert.ok(!Number.isNaN(Date.parse(sidecar.lastHomed as string)));
      }
    }
    // camera.keep 2: the oldest of three rounds is gone, with its sidecar.
    assert.equal(readdirSync(path.join(pictures, 'basil')).length, 4);

    // Home Assistant: an image entity per stop, fed by the latest picture's bytes, retained.
    // In the device's config, each an `image` component.
    const discovery = await collect(client, 'homeassistant/device/carbot/config');
    await discovery.waitFor(() => discovery.messages.length >= 1);
    const cmps = Object.values(parse(discovery.messages.at(-1)!).cmps as Record<string, Record<string, unknown>>);
    assert.deepEqual(cmps.filter((c) => c.p === 'image').map((c) => c.image_topic).sort(), ['stat/carbot/PHOTO/basil', 'stat/carbot/PHOTO/sage', 'stat/carbot/PHOTO/thyme']);
    const images = new Map<string, Buffer>();
    client.on('message', (topic, payload) => {
      if (topic.startsWith('stat/carbot/PHOTO/')) images.set(topic, payload);
    });
    await client.subscribeAsync('stat/carbot/PHOTO/+');
    const lastBasil = photos.messages.map(parse).filter((p) => p.stop === 'basil').pop()!;
    const deadline = Date.now() + 5000;
    while (images.size < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(images.get('stat/carbot/PHOTO/basil'), readFileSync(lastBasil.file as string));

    const from = photos.messages.length;
    await run('goto thyme');
    assert.equal(parse(await photos.waitFor(() => true, 5000, from)).stop, 'thyme');
    const fromResult = results.messages.length;
    await client.publishAsync('carbot/move', '{"photo":true}');
    assert.deepEqual(parse(await results.waitFor(() => true, 5000, fromResult)), { move: 'photo', motion: 'stopped', speed: 50, stop: 'thyme' });
    const photo = parse(await photos.waitFor(() => true, 5000, from + 1));
    assert.equal(photo.stop, 'thyme');
    assert.ok(existsSync(photo.file as string));
    await c.waitForLine(/photo at thyme: /);
  });

  it('a failing or hanging camera: PHOTO with error, a warning, and the patrol completes', async () => {
    const c = await start([
      '--camera-command', JSON.stringify([process.execPath, FAKE_CAMERA, '--fail-at', 'thyme', '--hang-at', 'sage', '{file}']),
      '--camera-dir', path.join(dir, 'pictures'),
      '--camera-timeout-s', '1',
    ]);
    await run('home');
    const from = photos.messages.length;
    const fromArrival = arrivals.messages.length;
    const end = await run('patrol');
    assert.equal(end.position, 0, 'home again after the round');
    assert.deepEqual(arrivals.messages.slice(fromArrival).map((m) => parse(m).stop), ['basil', 'thyme', 'sage']);
    const [basil, thyme, sage] = photos.messages.slice(from).map(parse);
    assert.equal(basil.error, undefined);
    assert.match(thyme.error as string, /exited with code 3: no picture at thyme/);
    assert.match(sage.error as string, /did not finish within 1 s \(killed\)/);
    assert.equal(thyme.file, undefined);
    await c.waitForLine(/photo at thyme failed: .*exited with code 3/);
    await c.waitForLine(/photo at sage failed: .*did not finish within 1 s/);
    assert.deepEqual(readdirSync(path.join(dir, 'pictures', 'sage')), [], 'no partial picture left');
  });
});
