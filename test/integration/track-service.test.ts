import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Camera, type CaptureRunner } from '../../src/sensors/camera';
import { loadConfig } from '../../src/config/config';
import { openHardware } from '../../src/motors';
import { CarService } from '../../src/service';
import { openTrackHardware } from '../../src/sensors/track-hardware';
import { memoryLogger } from '../support/carbot';
import { VirtualClock } from '../support/virtual-clock';

/**
 * The service with simulated motors on the simulated track, on a virtual clock: what takes
 * minutes of driving is checked in milliseconds, through the same code as the compiled
 * service (CarService, the drive, the track model, limits.ts, encoder.ts). No broker: the
 * commands go in as the remote page's do.
 */
async function car(argv: string[], runner?: (clock: VirtualClock) => CaptureRunner) {
  const clock = new VirtualClock();
  const config = loadConfig({ argv: ['--gpio', 'sim', '--mqtt-url', 'mqtt://127.0.0.1:1', '--tele-period', '0', ...argv], env: {}, exists: () => false });
  const { log, lines } = memoryLogger();
  // The simulator opened as carbot opens it: the car's board, the track behind it.
  const opened = await openHardware(config, log, { clock });
  const hardware = await openTrackHardware(config, opened, log, clock);
  const motors = opened.sim!;
  const camera = config.camera && runner ? new Camera(config.camera, runner(clock)) : undefined;
  const service = new CarService({ config, log, motors: opened.motors, ...hardware, clock, camera });
  const idle = () => service.state().task === undefined && service.state().motion === 'stopped';
  const run = (command: string, limitMs = 600_000) => {
    const result = service.command(command, 'test');
    assert.ok(clock.runUntil(idle, limitMs), `${command} did not finish`);
    return result;
  };
  return { clock, service, motors, lines, idle, run, sim: hardware.sim! };
}

describe('the service on a simulated track (virtual time)', () => {
  let shutdown: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await shutdown?.();
    shutdown = undefined;
  });

  it('a refused goto leaves the speed as it was', async () => {
    const c = await car(['--track-sim', '{"seed":1}', '--track-stops', '{"basil":0.2}', '--track-speed-table', '{"30":0.1,"100":0.3}']);
    shutdown = () => c.service.shutdown('test over');
    const answer = c.service.command('{"goto":"nowhere","speed":95}', 'test');
    assert.equal(answer.error, 'not homed: send home first');
    assert.equal(answer.speed, 50);
    assert.equal(c.service.state().speed, 50);
    c.run('home');
    const unknown = c.service.command('{"goto":"nowhere","speed":95}', 'test');
    assert.equal(unknown.error, 'no stop named "nowhere"');
    assert.equal(c.service.state().speed, 50);
  });

  it('a timed move may not outlast commandTimeoutS: refused, and the car does not move', async () => {
    const c = await car(['--command-timeout-s', '2', '--track-sim', '{"seed":1}']);
    shutdown = () => c.service.shutdown('test over');
    const answer = c.service.command('{"move":"forward","for":9}', 'test');
    assert.deepEqual(answer, { move: 'forward', for: 9, motion: 'stopped', speed: 50, error: 'for is longer than commandTimeoutS', commandTimeoutS: 2 });
    assert.deepEqual(c.motors.outputs, { left: 0, right: 0 });
    c.run('{"move":"forward","for":1.5}');
    assert.equal(c.service.state().reason, 'done');
    // The log is written in 10 ms batches.
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(c.lines.some((l) => l.includes('forward refused: for is longer than commandTimeoutS')), c.lines.join('\n'));
  });

  it('with commandTimeoutS, a task dies like driving by hand when its driver falls silent, moving or waiting at a stop; a driver who confirms keeps it going', async () => {
    const c = await car([
      '--command-timeout-s', '1',
      '--track-sim', '{"seed":1,"start":0.01}',
      '--track-length-m', '2',
      '--track-speed-table', '{"30":0.1,"100":0.3}',
      '--track-stops', '{"basil":0.5,"thyme":0.9}',
      '--track-dwell-s', '5',
    ]);
    shutdown = () => c.service.shutdown('test over');
    /** What a phone page or Home Assistant sends to keep a long task going: the speed it has. */
    const confirmUntil = (done: () => boolean, limitMs: number): boolean => {
      for (let waited = 0; waited < limitMs; waited += 500) {
        if (c.clock.runUntil(done, 500)) return true;
        assert.equal(c.service.command(`{"speed":${c.service.state().speed}}`, 'test').error, undefined);
      }
      return done();
    };
    c.service.command('home', 'test');
    assert.ok(confirmUntil(c.idle, 120_000), c.lines.join('\n'));
    assert.equal(c.service.state().homed, true);
    c.service.command('{"goto":"thyme"}', 'test');
    assert.ok(confirmUntil(c.idle, 120_000), c.lines.join('\n'));
    assert.equal(c.service.state().reason, 'arrived');

    // Silent while the car drives: stopped and cancelled after 1 s, not at the far end.
    const from = c.lines.length;
    const sent = c.clock.now();
    c.service.command('{"goto":"basil"}', 'test');
    assert.ok(c.clock.runUntil(c.idle, 60_000));
    assert.equal(c.service.state().reason, 'timeout');
    assert.equal(c.service.state().task, undefined);
    assert.ok(c.clock.now() - sent < 1500, `stopped after ${c.clock.now() - sent} ms`);
    assert.deepEqual(c.motors.outputs, { left: 0, right: 0 });
    // The log lines reach the logger's stream on the real event loop.
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(c.lines.slice(from).some((l) => /no command for 1 s (during the goto: stopping the car and cancelling it|while moving: stopping)/.test(l)), JSON.stringify(c.lines.slice(from)));
    assert.ok(c.lines.slice(from).some((l) => l.includes('goto cancelled')), c.lines.slice(from).join('\n'));

    // Silent while a patrol waits at a stop (motors at 0): cancelled there; the car never drives on.
    c.service.command('patrol', 'test');
    const waiting = () => c.service.state().task === 'patrol' && c.motors.outputs.left === 0 && c.service.state().reason === 'arrived';
    assert.ok(confirmUntil(waiting, 120_000), c.lines.join('\n'));
    let moved = false;
    c.motors.onWrite((outputs) => (moved ||= outputs.left !== 0));
    assert.ok(c.clock.runUntil(() => c.service.state().task === undefined, 1500), 'the patrol outlived its silent driver');
    assert.equal(c.service.state().reason, 'timeout');
    c.clock.runUntil(() => false, 10_000);
    assert.deepEqual(c.motors.outputs, { left: 0, right: 0 });
    assert.equal(moved, false);

    // Driving by hand: as before.
    c.service.command('backward', 'test');
    c.clock.runUntil(c.idle, 5000);
    assert.equal(c.service.state().reason, 'timeout');
  });

  it('a goto whose car does not move stops as stalled: its encoder counts nothing for track.stallS', async () => {
    // The car does not move at 50 % (its dead band is 90 %), but the stated table says it
    // does; the encoder, counting nothing, keeps the estimate where it is. (This was a
    // timeout after the expected time x1.25 + 2 s before stalls were detected.)
    const c = await car([
      '--track-sim', '{"seed":1,"deadBand":0.9}',
      '--track-length-m', '2',
      '--track-speed-table', '{"30":0.1,"100":0.3}',
      '--track-encoder', '{"pin":17,"edgesPerMetre":200}',
      '--track-timeout-margin-s', '2',
    ]);
    shutdown = () => c.service.shutdown('test over');
    c.service.command('{"move":"backward","speed":100}', 'test');
    c.clock.runUntil(() => c.service.state().homed === true, 60_000);
    c.run('{"speed":50}');
    // Past the reversal pause after driving backward.
    c.clock.runUntil(() => false, 300);
    const started = c.clock.now();
    const answer = c.service.command('{"goto":1.5}', 'test');
    assert.deepEqual(answer, { move: 'goto', to: 1.5, target: 1.5, motion: 'forward', speed: 50 });
    assert.ok(c.clock.runUntil(c.idle, 120_000));
    const state = c.service.state();
    assert.equal(state.reason, 'stalled');
    assert.equal(state.task, undefined);
    assert.deepEqual(c.motors.outputs, { left: 0, right: 0 });
    // track.stallS (0.3 s) after the output began, well before the deadline (1.5 m at the table's 50 %, ×1.25 + 2 s).
    const seconds = (c.clock.now() - started) / 1000;
    assert.ok(seconds >= 0.3 && seconds < 1, `stopped after ${seconds} s`);
    // The log is written in 10 ms batches.
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(c.lines.some((l) => /^<4>goto stopped: stalled: no encoder edge for 0.3 s at -?0.0\d+ m while driving to 1.5 m$/.test(l)), c.lines.join('\n'));
  });

  /** A car homed on a 2 m track, with a jam placed at `jamAt` once it is home. */
  async function jammed(extra: string[], jamAt: number) {
    const c = await car(['--track-sim', '{"seed":3,"start":0.3}', '--track-length-m', '2', '--track-stops', '{"basil":0.4,"thyme":1.2,"sage":1.6}', ...extra]);
    shutdown = () => c.service.shutdown('test over');
    c.run('home');
    assert.equal(c.service.state().reason, 'limit');
    c.sim.jam(jamAt);
    const failed: Record<string, unknown>[] = [];
    c.service.on('failed', (f: Record<string, unknown>) => failed.push(f));
    return { ...c, failed };
  }

  it('with an encoder, a jam on the way stops the car within 0.5 s, stalled, and the task fails on RESULT', async () => {
    const c = await jammed(['--track-encoder', '{"pin":17,"edgesPerMetre":200}'], 0.35);
    const answer = c.run('{"goto":"thyme"}');
    assert.equal(answer.error, undefined);
    const state = c.service.state();
    assert.equal(state.reason, 'stalled');
    assert.deepEqual(c.motors.outputs, { left: 0, right: 0 });
    const hit = c.sim.jammedSince();
    assert.ok(hit !== undefined, 'the car met the jam');
    assert.ok(Math.abs((state.simPosition as number) - 0.7) < 0.01, `the car is at ${String(state.simPosition)} m`);
    assert.equal(c.failed.length, 1);
    const { position, ...rest } = c.failed[0];
    assert.deepEqual(rest, { move: 'goto', to: 'thyme', target: 1.2, reason: 'stalled', error: rest.error, motion: 'stopped', speed: 50 });
    assert.match(String(rest.error), /^stalled: no encoder edge for 0.3 s at 0.7\d* m while driving to thyme$/);
    assert.ok(Math.abs((position as number) - 0.7) < 0.01);
  });

  it('without an encoder, a jam between the car and the switch stalls homing within 1.5x the leg\'s expected time; cleared, homing works', async () => {
    const c = await jammed([], 0.2);
    // Past the jam first: sage, with nothing in the way.
    c.sim.jam(undefined);
    c.run('{"goto":"sage"}');
    assert.equal(c.service.state().reason, 'arrived');
    c.sim.jam(0.2);
    const started = c.clock.now();
    c.run('home');
    assert.equal(c.service.state().reason, 'stalled');
    assert.equal(c.service.state().task, undefined);
    // 1.6 m at 40 % backward by the sim's own table, ×1.25 + 0.5 s.
    const expected = 1.6 / 2 / (c.sim.nominalSpeedTable().backward.find((p) => p.duty === 0.4)!.speed);
    const seconds = (c.clock.now() - started) / 1000;
    assert.ok(seconds > expected && seconds <= 1.5 * expected, `stalled after ${seconds} s, expected ${expected} s`);
    assert.match(String(c.failed[0]?.error), /^stalled: the backward limit switch did not close within [\d.]+ s$/);
    c.sim.jam(undefined);
    c.run('home');
    assert.equal(c.service.state().reason, 'limit');
    assert.equal(c.service.state().position, 0);
  });

  it('a patrol that stalls stops there: no further stop, no homing', async () => {
    const c = await jammed(['--track-encoder', '{"pin":17,"edgesPerMetre":200}', '--track-dwell-s', '0.5'], 0.45);
    const arrivals: unknown[] = [];
    c.service.on('arrived', (a: unknown) => arrivals.push(a));
    c.run('patrol');
    assert.equal(c.service.state().reason, 'stalled');
    assert.deepEqual(arrivals.map((a) => (a as { stop: string }).stop), ['basil']);
    assert.equal(c.failed[0]?.move, 'patrol');
    assert.equal(c.failed[0]?.to, 'thyme');
    c.clock.runUntil(() => false, 30_000);
    assert.deepEqual(c.motors.outputs, { left: 0, right: 0 });
    assert.equal(arrivals.length, 1);
  });

  it('homing with switch bounce touches twice and comes to rest at the switch', async () => {
    const c = await car(['--track-sim', '{"seed":5,"start":0.6,"bounceMs":5}', '--track-length-m', '2']);
    shutdown = () => c.service.shutdown('test over');
    for (let i = 0; i < 3; i++) {
      c.run('home');
      const state = c.service.state();
      assert.equal(state.reason, 'limit');
      assert.equal(state.homed, true);
      assert.ok(Math.abs(state.simPosition as number) < 0.01, `home ${i}: the car is at ${String(state.simPosition)} m`);
      c.run('{"goto":1.1}');
    }
    // The log is written in 10 ms batches.
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(c.lines.filter((l) => l.includes('home done')).length === 3, c.lines.join('\n'));
  });

  describe('the camera and the state directory', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(path.join(tmpdir(), 'carbot-track-service-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    /** A camera that takes `ms` of virtual time, then writes the picture (or fails at `failAt`). */
    const slowCamera = (ms: number, failAt?: string) => (clock: VirtualClock): CaptureRunner => (command, _timeoutMs, done) => {
      const file = command[command.length - 1];
      clock.setTimeout(() => {
        if (file.includes(`/${failAt}/`)) return done('fake exited with code 1');
        writeFileSync(file, 'jpeg');
        done();
      }, ms);
    };

    it("a patrol's dwell ends only once the capture has: the car stands still until then", async () => {
      const c = await car(
        ['--track-sim', '{"seed":1}', '--track-stops', '{"basil":0.3,"sage":0.7}', '--track-dwell-s', '1', '--camera-command', '["cam","{file}"]', '--camera-dir', dir],
        slowCamera(8000, 'sage'),
      );
      shutdown = () => c.service.shutdown('test over');
      c.run('home');
      const events: string[] = [];
      let arrivedAt = 0;
      c.service.on('arrived', (a: { stop: string }) => {
        events.push(`arrived ${a.stop}`);
        arrivedAt = c.clock.now();
      });
      c.service.on('photo', (p: { stop: string; error?: string }) => events.push(`photo ${p.stop}${p.error ? ` error: ${p.error}` : ''} after ${Math.round((c.clock.now() - arrivedAt) / 1000)} s`));
      c.service.on('state', (s: { motion: string }) => {
        if (s.motion !== 'stopped' && events.at(-1) !== 'moving') events.push('moving');
      });
      c.run('patrol');
      assert.deepEqual(events, ['moving', 'arrived basil', 'photo basil after 8 s', 'moving', 'arrived sage', 'photo sage error: fake exited with code 1 after 8 s', 'moving']);
      assert.equal(c.service.state().position, 0);
    });

    it('photo: refused without a camera, while the car moves, and while a task waits at a stop (it would drive off mid-capture)', async () => {
      const bare = await car(['--track-sim', '{"seed":1}']);
      assert.equal(bare.service.command('photo', 'test').error, 'no camera: set camera.command');
      await bare.service.shutdown('test over');
      const c = await car(
        ['--track-sim', '{"seed":1}', '--camera-command', '["cam","{file}"]', '--camera-dir', dir, '--track-stops', '{"basil":0.3,"sage":0.7}', '--track-dwell-s', '5'],
        slowCamera(100),
      );
      shutdown = () => c.service.shutdown('test over');
      c.service.command('forward', 'test');
      assert.equal(c.service.command('{"photo":true}', 'test').error, 'the car is moving: a picture is taken standing still');
      c.service.command('stop', 'test');
      c.run('home');
      c.service.command('patrol', 'test');
      const dwelling = () => c.service.state().task === 'patrol' && c.service.state().motion === 'stopped' && c.motors.outputs.left === 0 && c.service.state().reason === 'arrived';
      assert.ok(c.clock.runUntil(dwelling, 120_000));
      // Past the stop's own picture (100 ms), still in the dwell.
      c.clock.runUntil(() => false, 1000);
      assert.equal(c.service.command('photo', 'test').error, 'a patrol is under way: it takes the pictures at its stops');
    });

    it("the saved calibration is used after a restart, unless track.speedTable is set; another device's file is ignored with a warning", async () => {
      const argv = ['--track-sim', '{"seed":3}', '--state-dir', dir];
      const first = await car(argv);
      first.run('home');
      first.run('calibrate', 3_600_000);
      await first.service.shutdown('test over');
      const saved = JSON.parse(readFileSync(path.join(dir, 'track.json'), 'utf8')) as { curve: unknown };

      const again = await car(argv);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.ok(again.lines.some((l) => /^<6>loaded from .*track\.json: the calibration, the last home/.test(l)), again.lines.join('\n'));
      await again.service.shutdown('test over');

      const stated = await car([...argv, '--track-speed-table', '{"30":0.1,"100":0.3}']);
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.ok(stated.lines.some((l) => l.includes('nothing of the calibration (track.speedTable is set and wins)')), stated.lines.join('\n'));
      stated.run('home');
      await stated.service.shutdown('test over');
      // The learnt curve stays in the file for when the configuration no longer states one.
      assert.ok(saved.curve);
      assert.deepEqual((JSON.parse(readFileSync(path.join(dir, 'track.json'), 'utf8')) as { curve: unknown }).curve, saved.curve);

      const other = await car([...argv, '--device', 'car2']);
      shutdown = () => other.service.shutdown('test over');
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.ok(other.lines.some((l) => /^<4>.*track\.json: written for device "carbot", this is "car2"; ignored/.test(l)), other.lines.join('\n'));
    });
  });
});
