import { strict as assert } from 'node:assert';
import type { Command } from '../../src/core/commands';
import {
  curveSpeed,
  currentTarget,
  HOME_BACKOFF,
  initialTrackState,
  PROGRESS_MS,
  slowHomingSpeed,
  trackStep,
  uncertainty,
  type Arrival,
  type DriveRequest,
  type SpeedCurve,
  type TrackEvent,
  type TrackSettings,
  type TrackState,
} from '../../src/core/track';
import type { TrackEnd } from '../../src/motors/types';
import { twoStopTrack } from '../support/drive-settings';

/** A saturating motor: 0.05 track/s at 30 %, 0.11 at 60 %, 0.15 at full; backward 5 % slower. */
const CURVE: SpeedCurve = {
  forward: [
    { duty: 0.3, speed: 0.05 },
    { duty: 0.6, speed: 0.11 },
    { duty: 1, speed: 0.15 },
  ],
  backward: [
    { duty: 0.3, speed: 0.0475 },
    { duty: 0.6, speed: 0.1045 },
    { duty: 1, speed: 0.1425 },
  ],
};

const SETTINGS: TrackSettings = twoStopTrack(CURVE);

type Event = TrackEvent extends infer E ? (E extends { now: number } ? Omit<E, 'now'> : never) : never;

/**
 * The track model alone, fed the way the service feeds it, with the drive played by the test:
 * `applied(x)` is the drive writing x to the motors. Records what the model asks for.
 */
class Track {
  state: TrackState;
  now = 0;
  requests: DriveRequest[] = [];
  arrived: Arrival[] = [];
  failed: Record<string, unknown>[] = [];
  logs: string[] = [];
  wakeAt?: number;
  speed = 50;

  constructor(readonly settings: TrackSettings = SETTINGS) {
    this.state = initialTrackState(0, this.speed, settings);
  }

  send(event: Event) {
    const out = trackStep(this.state, { ...event, now: this.now } as TrackEvent, this.settings);
    this.state = out.state;
    this.requests.push(...out.drive);
    if (out.arrived) this.arrived.push(out.arrived);
    if (out.failed) this.failed.push(out.failed);
    this.logs.push(...out.logs.map((l) => `${l.level}: ${l.message}`));
    this.wakeAt = out.wakeAt;
    for (const r of out.drive) if (r.command.move === 'speed') this.speed = r.command.speed!;
    // The drive obeys a stop at once, as drive.ts does; moves the test applies itself.
    const stop = out.drive.find((r) => r.command.move === 'stop');
    if (stop && this.state.output !== 0) this.applied(0, (stop.reason ?? 'command') as 'command');
    return out;
  }

  command(command: Command | Command['move']) {
    return this.send({ type: 'command', command: typeof command === 'string' ? { move: command } : command }).result;
  }

  applied(output: number, reason: 'command' | 'limit' | 'arrived' | 'done' | 'timeout' | 'disconnect' | 'stalled' = 'command') {
    const motion = output > 0 ? 'forward' : output < 0 ? 'backward' : 'stopped';
    this.send({ type: 'drive', output, motion, reason, speed: this.speed });
  }

  limit(end: TrackEnd, closed: boolean) {
    this.send({ type: 'limit', end, closed });
  }

  /** Lets time pass, delivering the ticks the model asked for on the way. */
  advance(ms: number) {
    const end = this.now + ms;
    while (this.wakeAt !== undefined && this.wakeAt <= end) {
      this.now = Math.max(this.now, this.wakeAt);
      this.send({ type: 'tick' });
    }
    this.now = end;
  }

  /** Delivers the ticks the model asks for until `done()`. */
  advanceUntil(done: () => boolean, limitMs = 120_000) {
    const end = this.now + limitMs;
    while (!done()) {
      if (this.wakeAt === undefined || this.wakeAt > end) throw new Error(`not done within ${limitMs} ms`);
      this.now = Math.max(this.now, this.wakeAt);
      this.send({ type: 'tick' });
    }
  }

  /** Drive requests so far, as words, and forgets them. */
  take(): string[] {
    const words = this.requests.map((r) => `${r.command.move}${r.command.speed !== undefined ? ` ${r.command.speed}` : ''}${r.reason ? ` (${r.reason})` : ''}`);
    this.requests = [];
    return words;
  }

  homed() {
    this.limit('backward', true);
    this.take();
    return this;
  }

  /**
   * Homing from its first request on (`speed 40`, `backward` taken): the fast touch after
   * `fastMs`, the back-off, and the slow touch when the estimate says the car is back at the
   * switch. Returns the drive requests on the way, as words.
   */
  touchTwice(fastMs: number, homing = 40): string[] {
    const seen: string[] = [];
    this.applied(-homing / 100);
    this.advance(fastMs);
    this.limit('backward', true);
    this.applied(0, 'limit');
    seen.push(...this.take());
    this.applied(homing / 100);
    this.advance(100);
    this.limit('backward', false);
    this.advanceUntil(() => this.requests.length > 0);
    seen.push(...this.take());
    const slow = slowHomingSpeed(this.settings, this.state);
    this.applied(-slow / 100);
    this.advanceUntil(() => this.state.position <= 0);
    this.limit('backward', true);
    this.applied(0, 'limit');
    return seen;
  }
}

const close = (actual: number, expected: number, eps = 1e-9) =>
  assert.ok(Math.abs(actual - expected) <= eps, `${actual} is not ${expected} (±${eps})`);

describe('track model', () => {
  describe('speed curve', () => {
    it('goes through the calibrated points, flat above the last, down through a dead band below the first', () => {
      for (const p of CURVE.forward) close(curveSpeed(CURVE.forward, p.duty), p.speed);
      assert.equal(curveSpeed(CURVE.forward, 1.5), 0.15);
      assert.equal(curveSpeed(CURVE.forward, 0), 0);
      const low = curveSpeed(CURVE.forward, 0.2);
      assert.ok(low > 0 && low < 0.05, `${low}`);
      assert.equal(curveSpeed(CURVE.forward, 0.05), 0, 'nothing moves in the dead band');
    });

    it('follows a saturating motor between points better than straight lines do', () => {
      // The simulated motor: speed ∝ (1 − e^(−2z)) above a 15 % dead band.
      const motor = (d: number) => (d <= 0.15 ? 0 : (1 - Math.exp((-2 * (d - 0.15)) / 0.85)) / (1 - Math.exp(-2)));
      const points = [0.3, 0.6, 1].map((duty) => ({ duty, speed: motor(duty) }));
      for (const d of [0.4, 0.5, 0.7, 0.8, 0.9]) {
        const error = Math.abs(curveSpeed(points, d) - motor(d)) / motor(d);
        assert.ok(error < 0.02, `${(error * 100).toFixed(2)} % off at ${d}`);
      }
    });
  });

  describe('dead reckoning', () => {
    it('moves the estimate by the applied outputs through the curve, ramps and pauses included', () => {
      const car = new Track().homed();
      car.applied(0.3);
      car.advance(2000);
      car.applied(0.6);
      car.advance(1000);
      car.applied(0);
      car.advance(250);
      car.applied(-1);
      car.advance(500);
      car.applied(0);
      close(car.state.position, 0.05 * 2 + 0.11 * 1 - 0.1425 * 0.5);
      close(uncertainty(car.state, SETTINGS)!, 0.03 * (0.05 * 2 + 0.11 + 0.1425 * 0.5));
    });

    it('re-zeroes at whichever switch closes, and counts the uncertainty from there', () => {
      const car = new Track();
      assert.equal(car.state.homed, false);
      assert.equal(uncertainty(car.state, SETTINGS), null);
      car.limit('forward', true);
      assert.deepEqual([car.state.homed, car.state.position], [true, 1]);
      car.limit('forward', false);
      car.applied(-0.6);
      car.advance(2000);
      close(car.state.position, 1 - 0.209);
      car.limit('backward', true);
      assert.deepEqual([car.state.position, uncertainty(car.state, SETTINGS)], [0, 0]);
    });

    it('without a curve, a move loses the position until a switch', () => {
      const car = new Track({ ...SETTINGS, speedTable: undefined }).homed();
      car.applied(0.5);
      assert.equal(car.state.homed, false);
      assert.match(car.logs.join('\n'), /position unknown until the car meets a switch again/);
    });

    it('with an encoder, counts edges the way the car was driven', () => {
      const car = new Track({ ...SETTINGS, encoder: { edgesPerTrack: 400 } }).homed();
      car.applied(0.5);
      for (let i = 0; i < 100; i++) car.send({ type: 'edge' });
      car.applied(0);
      // Running on after the stop still counts forward.
      car.send({ type: 'edge' });
      close(car.state.position, 101 / 400);
      car.applied(-0.5);
      for (let i = 0; i < 21; i++) car.send({ type: 'edge' });
      close(car.state.position, 80 / 400);
    });
  });

  describe('goto', () => {
    it('is refused before homing, with the reason, driving nothing', () => {
      const car = new Track();
      assert.deepEqual(car.command({ move: 'goto', to: 'basil' }), { move: 'goto', to: 'basil', error: 'not homed: send home first' });
      assert.deepEqual(car.take(), []);
      assert.equal(car.state.task, undefined);
    });

    it('refuses a stop it does not know and a place off the track', () => {
      const car = new Track().homed();
      assert.deepEqual(car.command({ move: 'goto', to: 'parsley' }), {
        move: 'goto',
        to: 'parsley',
        error: 'no stop named "parsley"',
        stops: ['basil', 'thyme'],
      });
      assert.match(String(car.command({ move: 'goto', to: 1.5 })?.error), /off the track/);
      const metres = new Track({ ...SETTINGS, lengthM: 2.5 }).homed();
      assert.equal(metres.command({ move: 'goto', to: 3 })?.error, '3 m is beyond the 2.5 m track');
      assert.deepEqual(car.take(), []);
    });

    it('drives toward the stop, stops when the estimate is there, and arrives after settling', () => {
      const car = new Track().homed();
      assert.deepEqual(car.command({ move: 'goto', to: 'Basil' }), { move: 'goto', to: 'Basil', target: 0.25 });
      assert.deepEqual(car.take(), ['forward']);
      assert.deepEqual(currentTarget(car.state, SETTINGS), { at: 0.25, stop: 'basil' });
      car.applied(0.5);
      const v = curveSpeed(CURVE.forward, 0.5);
      car.advance((0.25 / v) * 1000 - 1);
      assert.deepEqual(car.take(), [], 'not there yet');
      car.advance(1);
      assert.deepEqual(car.take(), ['stop (arrived)']);
      car.advance(299);
      assert.equal(car.arrived.length, 0);
      car.advance(1);
      assert.equal(car.arrived.length, 1);
      assert.equal(car.arrived[0].stop, 'basil');
      close(car.arrived[0].position, 0.25, 1e-6);
      assert.equal(car.state.task, undefined);
      assert.equal(car.wakeAt, undefined, 'nothing left to wake for');
    });

    it('goes backward to a place behind the car, and to a numeric place', () => {
      const car = new Track().homed();
      car.limit('backward', false);
      car.state = { ...car.state, position: 0.8 };
      car.command({ move: 'goto', to: 0.42 });
      assert.deepEqual(car.take(), ['backward']);
      car.applied(-0.5);
      car.advance(10_000);
      assert.deepEqual(car.take(), ['stop (arrived)']);
      car.advance(300);
      close(car.arrived[0].position, 0.42, 1e-6);
      assert.equal(car.arrived[0].stop, null);
    });

    it('to an end with a switch, drives on until the switch closes', () => {
      const car = new Track().homed();
      car.command({ move: 'goto', to: 1 });
      car.applied(0.5);
      car.advance(15_000);
      assert.deepEqual(car.take(), ['forward'], 'the estimate alone does not stop it');
      car.limit('forward', true);
      car.applied(0, 'limit');
      car.advance(300);
      assert.deepEqual(car.arrived, [{ stop: null, position: 1, target: 1 }]);
    });

    it('stops as stalled when the drive does not get it going within its expected time × 1.25 plus the margin', () => {
      const car = new Track().homed();
      car.command({ move: 'goto', to: 'thyme' });
      car.take();
      // The drive is told forward but nothing is applied (it never turns the wheels).
      car.state = { ...car.state, motion: 'reversing' };
      const expected = 0.6 / curveSpeed(CURVE.forward, 0.5);
      car.advance((expected * 1.25 + 5) * 1000 - 1);
      assert.ok(car.state.task);
      car.advance(1);
      assert.deepEqual(car.take(), ['stop (stalled)']);
      assert.equal(car.state.task, undefined);
      assert.match(car.logs.join('\n'), /warn: goto stopped: stalled: not at thyme in time/);
      assert.deepEqual(car.failed, [{ move: 'goto', to: 'thyme', target: 0.6, reason: 'stalled', error: 'stalled: not at thyme in time (position 0)', position: 0 }]);
    });

    it('with an encoder, a goto that counts no edge for track.stallS while driven is stalled at once', () => {
      const car = new Track({ ...SETTINGS, encoder: { edgesPerTrack: 400 }, stallS: 0.3 }).homed();
      car.command({ move: 'goto', to: 'thyme' });
      car.take();
      car.applied(0.5);
      const v = curveSpeed(CURVE.forward, 0.5);
      // Edges as the car goes, 0.2 of the track; then it meets an obstacle and they stop.
      for (let i = 0; i < 80; i++) {
        car.advance(1000 / (v * 400));
        car.send({ type: 'edge' });
      }
      assert.deepEqual(car.take(), []);
      close(car.state.position, 0.2);
      car.advance(299);
      assert.deepEqual(car.take(), [], 'not yet: 0.3 s without an edge');
      car.advance(1);
      assert.deepEqual(car.take(), ['stop (stalled)']);
      assert.equal(car.state.task, undefined);
      assert.deepEqual(car.failed, [{ move: 'goto', to: 'thyme', target: 0.6, reason: 'stalled', error: 'stalled: no encoder edge for 0.3 s at 0.2 while driving to thyme', position: 0.2 }]);
    });

    it('with an encoder, the stall time is three edges at a slow speed, and the time before the output moves the car does not count', () => {
      const car = new Track({ ...SETTINGS, encoder: { edgesPerTrack: 40 }, stallS: 0.3 }).homed();
      car.command({ move: 'goto', to: 'thyme' });
      car.take();
      // In the dead band by the curve (below 0.3 the line goes down to 0 at about 0.08): no stall clock.
      car.applied(0.05);
      car.advance(5000);
      assert.ok(car.state.task);
      car.applied(0.3);
      const window = 3 / (curveSpeed(CURVE.forward, 0.3) * 40);
      assert.ok(window > 0.3);
      car.advance(window * 1000 - 1);
      assert.deepEqual(car.take(), []);
      car.advance(1);
      assert.deepEqual(car.take(), ['stop (stalled)']);
    });

    it('the deadline counts from when the drive applies the output: a reversal pause takes nothing from it', () => {
      const car = new Track().homed();
      car.limit('backward', false);
      car.state = { ...car.state, position: 0.8 };
      car.command({ move: 'goto', to: 'basil' });
      assert.deepEqual(car.take(), ['backward']);
      car.state = { ...car.state, motion: 'reversing' };
      // 0.55 at 0.5: about 6 s expected, 12.6 s allowed from the command.
      car.advance(8000);
      assert.ok(car.state.task, 'still waiting for the drive');
      car.applied(-0.5);
      car.advanceUntil(() => car.requests.length > 0);
      assert.deepEqual(car.take(), ['stop (arrived)']);
    });

    it('the switch it leaves bouncing (closing again within BOUNCE_MS of opening) is not met again', () => {
      const car = new Track().homed();
      car.command({ move: 'goto', to: 'thyme' });
      assert.deepEqual(car.take(), ['forward']);
      car.applied(0.5);
      car.advance(20);
      for (let i = 0; i < 3; i++) {
        car.limit('backward', false);
        car.advance(2);
        car.limit('backward', true);
        car.advance(2);
      }
      car.limit('backward', false);
      assert.deepEqual(car.take(), [], 'no replan, no stop');
      assert.doesNotMatch(car.logs.join('\n'), /met the backward end/);
      car.advanceUntil(() => car.requests.length > 0);
      assert.deepEqual(car.take(), ['stop (arrived)']);
    });

    it('meeting a switch short of the target, goes on from the re-zeroed position', () => {
      const car = new Track().homed();
      car.command({ move: 'goto', to: 'thyme' });
      car.take();
      car.applied(0.5);
      car.advance(1000);
      car.limit('forward', true);
      car.applied(0, 'limit');
      assert.deepEqual(car.take(), ['backward']);
      assert.match(car.logs.join('\n'), /met the forward end on the way to thyme/);
    });
  });

  describe('stop and other commands', () => {
    it('a stop by hand cancels any task and gives back the speed a task borrowed', () => {
      const car = new Track().homed();
      car.limit('backward', false);
      car.command('home');
      assert.deepEqual(car.take(), ['speed 40', 'backward']);
      car.applied(-0.4);
      car.send({ type: 'manual', command: { move: 'stop' } });
      assert.deepEqual(car.take(), ['speed 50']);
      assert.equal(car.state.task, undefined);
      assert.match(car.logs.join('\n'), /home cancelled: stop/);
    });

    it('a forward by hand ends a goto; faster does not', () => {
      const car = new Track().homed();
      car.command({ move: 'goto', to: 'thyme' });
      car.send({ type: 'manual', command: { move: 'faster' } });
      assert.ok(car.state.task);
      car.send({ type: 'manual', command: { move: 'forward' } });
      assert.equal(car.state.task, undefined);
    });

    it('the car stopping for a lost broker, a command timeout or shutdown cancels the task', () => {
      for (const reason of ['disconnect', 'timeout'] as const) {
        const car = new Track().homed();
        car.command('patrol');
        car.applied(0.5);
        car.applied(0, reason);
        assert.equal(car.state.task, undefined, reason);
      }
    });

    it('a new task replaces the one under way', () => {
      const car = new Track().homed();
      car.command({ move: 'goto', to: 'thyme' });
      assert.deepEqual(car.command({ move: 'goto', to: 'basil' }), { move: 'goto', to: 'basil', target: 0.25, note: 'replaces goto' });
    });

    it('a timed move stops with reason done', () => {
      const car = new Track();
      assert.deepEqual(car.command({ move: 'forward', forS: 2.5 }), { move: 'forward', for: 2.5 });
      assert.deepEqual(car.take(), ['forward']);
      car.applied(0.5);
      car.advance(2499);
      assert.deepEqual(car.take(), []);
      car.advance(1);
      assert.deepEqual(car.take(), ['stop (done)']);
    });
  });

  describe('home, calibrate, patrol', () => {
    it('home needs a switch at the home end', () => {
      const car = new Track({ ...SETTINGS, switches: ['forward'] });
      assert.equal(car.command('home')?.error, 'no limit switch at the home end: configure limits.backward');
    });

    it('home touches the switch twice: fast, back off, slow; the second touch is home', () => {
      const car = new Track();
      car.command('home');
      assert.deepEqual(car.take(), ['speed 40', 'backward']);
      const slow = slowHomingSpeed(SETTINGS, car.state);
      assert.equal(slow, 30, 'half the homing speed, not below the slowest point of the curve');
      assert.deepEqual(car.touchTwice(4000), ['forward', 'stop', `speed ${slow}`, 'backward']);
      assert.equal(car.state.task?.legs[0]?.kind, 'settle');
      car.advance(300);
      assert.deepEqual(car.take(), ['speed 50']);
      assert.deepEqual([car.state.homed, car.state.position, car.state.task], [true, 0, undefined]);
      assert.deepEqual(car.arrived, [], 'home is not an arrival at a stop');
    });

    it('homing backs off until the switch is open and the car is HOME_BACKOFF from it', () => {
      const car = new Track();
      car.command('home');
      car.take();
      car.applied(-0.4);
      car.advance(1000);
      car.limit('backward', true);
      car.applied(0, 'limit');
      assert.deepEqual(car.take(), ['forward']);
      car.applied(0.4);
      // Past the distance by the estimate, but the switch is still closed: on until it opens.
      car.advance((HOME_BACKOFF / curveSpeed(CURVE.forward, 0.4)) * 1000 + 500);
      assert.deepEqual(car.take(), []);
      car.limit('backward', false);
      assert.deepEqual(car.take(), ['stop', 'speed 30', 'backward']);
    });

    it('a home whose switch does not close in its expected time × 1.25 plus the margin is stalled, and says so like a RESULT', () => {
      const car = new Track().homed();
      car.limit('backward', false);
      car.state = { ...car.state, position: 0.5 };
      car.command('home');
      assert.deepEqual(car.take(), ['speed 40', 'backward']);
      car.applied(-0.4);
      const allowed = (0.5 / curveSpeed(CURVE.backward, 0.4)) * 1.25 + 5;
      car.advance(allowed * 1000 - 1);
      assert.deepEqual(car.take(), []);
      car.advance(1);
      assert.deepEqual(car.take(), ['stop (stalled)', 'speed 50']);
      assert.equal(car.state.task, undefined);
      assert.equal(car.failed.length, 1);
      assert.deepEqual({ ...car.failed[0], position: undefined }, {
        move: 'home',
        target: 0,
        reason: 'stalled',
        error: `stalled: the backward limit switch did not close within ${Math.round(allowed * 1000) / 1000} s`,
        position: undefined,
      });
    });

    it('homing that meets the other end stops there and says the switches may be swapped', () => {
      const car = new Track();
      car.command('home');
      car.take();
      car.applied(-0.4);
      car.advance(2000);
      // The drive does not stop for a switch behind it: the track model does.
      car.limit('forward', true);
      assert.deepEqual(car.take(), ['stop (limit)', 'speed 50']);
      assert.equal(car.state.task, undefined);
      assert.match(car.logs.join('\n'), /warn: home stopped: met the forward end instead of the backward end: are the switches swapped\?/);
    });

    it('calibrate needs both switches', () => {
      const car = new Track({ ...SETTINGS, switches: ['backward'] });
      assert.match(String(car.command('calibrate')?.error), /calibrate needs a limit switch at each end/);
    });

    it('calibrate learns the curve from the legs between the switches, timed from the switch opening', () => {
      const car = new Track({ ...SETTINGS, speedTable: undefined, calibrationSpeeds: [30, 100] }).homed();
      car.command('calibrate');
      // Already at the switch: homing backs off and touches it again, slowly.
      assert.deepEqual(car.take(), ['speed 40', 'forward']);
      car.applied(0.4);
      car.limit('backward', false);
      car.advanceUntil(() => car.requests.length > 0);
      assert.deepEqual(car.take(), ['stop', 'speed 20', 'backward'], 'no curve: half the homing speed');
      car.applied(-0.2);
      car.advance(2000);
      car.limit('backward', true);
      car.applied(0, 'limit');
      car.advance(SETTINGS.settleMs);
      // Home: the first leg goes out at the fastest speed.
      assert.deepEqual(car.take(), ['speed 100', 'forward']);
      const leg = (out: boolean, output: number, beforeOpenMs: number, seconds: number) => {
        car.applied(output);
        car.advance(beforeOpenMs);
        car.limit(out ? 'backward' : 'forward', false);
        car.advance(seconds * 1000);
        car.limit(out ? 'forward' : 'backward', true);
        car.applied(0, 'limit');
        car.advance(SETTINGS.settleMs);
      };
      leg(true, 1, 100, 6);
      assert.deepEqual(car.take(), ['backward']);
      leg(false, -1, 100, 7);
      assert.deepEqual(car.take(), ['speed 30', 'forward']);
      leg(true, 0.3, 300, 20);
      leg(false, -0.3, 300, 25);
      assert.deepEqual(car.take(), ['backward', 'speed 50']);
      assert.deepEqual(car.state.curve, {
        forward: [
          { duty: 0.3, speed: 1 / 20 },
          { duty: 1, speed: 1 / 6 },
        ],
        backward: [
          { duty: 0.3, speed: 1 / 25 },
          { duty: 1, speed: 1 / 7 },
        ],
      });
      assert.match(car.logs.join('\n'), /calibrated: forward 30% 0.05\/s, 100% 0.167\/s; backward 30% 0.04\/s, 100% 0.143\/s/);
      assert.ok(
        car.logs.includes('info: to keep this calibration after a restart, set track.speedTable to {"forward":{"30":0.05,"100":0.1667},"backward":{"30":0.04,"100":0.1429}}'),
        car.logs.join('\n'),
      );
    });

    it('patrol visits every stop in order, dwelling at each, then goes home', () => {
      const car = new Track().homed();
      car.limit('backward', false);
      assert.deepEqual(car.command('patrol'), { move: 'patrol' });
      for (const stop of SETTINGS.stops) {
        assert.deepEqual(car.take(), ['forward'], stop.name);
        car.applied(0.5);
        car.advanceUntil(() => car.requests.length > 0);
        assert.deepEqual(car.take(), ['stop (arrived)']);
        car.advance(SETTINGS.settleMs);
        assert.equal(car.arrived.at(-1)?.stop, stop.name);
        car.advance(SETTINGS.dwellMs - 1);
        assert.deepEqual(car.take(), [], 'dwelling');
        car.advance(1);
      }
      assert.deepEqual(car.take(), ['speed 40', 'backward']);
      assert.deepEqual(car.touchTwice(5000), ['forward', 'stop', 'speed 30', 'backward']);
      car.advance(SETTINGS.settleMs);
      assert.deepEqual(car.take(), ['speed 50']);
      assert.equal(car.state.task, undefined);
      assert.deepEqual(car.arrived.map((a) => a.stop), ['basil', 'thyme']);
      assert.match(car.logs.join('\n'), /info: patrol done/);
    });

    it('a patrol waiting at a stop dies with its driver: cancelled, nothing drives after the dwell', () => {
      for (const lose of ['drive', 'lost'] as const) {
        const car = new Track().homed();
        car.limit('backward', false);
        car.command('patrol');
        car.take();
        car.applied(0.5);
        car.advanceUntil(() => car.requests.length > 0);
        car.take();
        car.advance(SETTINGS.settleMs + 10);
        assert.equal(car.arrived.at(-1)?.stop, 'basil', 'dwelling at basil');
        // The drive says so (its reason changed to disconnect), or the shell does directly.
        if (lose === 'drive') car.applied(0, 'disconnect');
        else car.send({ type: 'lost', reason: 'disconnect' });
        assert.equal(car.state.task, undefined, lose);
        assert.match(car.logs.join('\n'), /info: patrol cancelled: disconnect while the car waited/, lose);
        car.advance(SETTINGS.dwellMs * 2);
        assert.deepEqual(car.take(), [], `nothing drives after the dwell (${lose})`);
      }
    });

    it('patrol without stops is refused', () => {
      const car = new Track({ ...SETTINGS, stops: [] }).homed();
      assert.equal(car.command('patrol')?.error, 'no stops: set track.stops');
    });
  });

  it('wakes while moving so the estimate (and STATE) keep up', () => {
    const car = new Track().homed();
    car.applied(0.3);
    assert.equal(car.wakeAt, PROGRESS_MS);
    car.applied(0);
    assert.equal(car.wakeAt, undefined);
  });
});
