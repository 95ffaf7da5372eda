import { strict as assert } from 'node:assert';
import type { Command } from '../../src/commands';
import {
  curveSpeed,
  currentTarget,
  initialTrackState,
  PROGRESS_MS,
  trackStep,
  uncertainty,
  type Arrival,
  type DriveRequest,
  type SpeedCurve,
  type TrackEvent,
  type TrackSettings,
  type TrackState,
} from '../../src/track';
import type { TrackEnd } from '../../src/motors/types';

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

const SETTINGS: TrackSettings = {
  homeEnd: 'backward',
  switches: ['backward', 'forward'],
  stops: [
    { name: 'basil', at: 0.25 },
    { name: 'thyme', at: 0.6 },
  ],
  dwellMs: 1000,
  homingSpeed: 40,
  calibrationSpeeds: [30, 60, 100],
  speedTable: CURVE,
  settleMs: 300,
  timeoutMarginS: 5,
  homeTimeoutS: 120,
  drift: 0.03,
};

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

  applied(output: number, reason: 'command' | 'limit' | 'arrived' | 'done' | 'timeout' | 'disconnect' = 'command') {
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

    it('stops with reason timeout when it takes longer than expected plus the margin', () => {
      const car = new Track().homed();
      car.command({ move: 'goto', to: 'thyme' });
      car.take();
      // The car is stuck: the drive is told forward but nothing is applied.
      const expected = 0.6 / curveSpeed(CURVE.forward, 0.5);
      car.advance((expected * 1.25 + 5) * 1000 - 1);
      assert.ok(car.state.task);
      car.applied(0.5);
      car.advance(1);
      assert.deepEqual(car.take(), ['stop (timeout)']);
      assert.equal(car.state.task, undefined);
      assert.match(car.logs.join('\n'), /warn: goto stopped: not at thyme in time/);
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

    it('home drives to the home end at the homing speed until its switch closes', () => {
      const car = new Track();
      car.command('home');
      assert.deepEqual(car.take(), ['speed 40', 'backward']);
      car.applied(-0.4);
      car.advance(4000);
      car.limit('backward', true);
      car.applied(0, 'limit');
      car.advance(300);
      assert.deepEqual(car.take(), ['speed 50']);
      assert.deepEqual([car.state.homed, car.state.position, car.state.task], [true, 0, undefined]);
      assert.deepEqual(car.arrived, [], 'home is not an arrival at a stop');
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
      car.advance(SETTINGS.settleMs);
      // Already home: the first leg goes out at the fastest speed.
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
      car.applied(-0.4);
      car.advance(5000);
      car.limit('backward', true);
      car.applied(0, 'limit');
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
