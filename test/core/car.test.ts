import { strict as assert } from 'node:assert';
import type { Command } from '../../src/core/commands';
import { carStep, initialCarState, type CarEffects, type CarEvent, type CarSettings, type CarState } from '../../src/core/car';
import type { SpeedCurve, TrackSettings } from '../../src/core/track';
import { DEFAULT_DRIVE, twoStopTrack } from '../support/drive-settings';

/** The track's curve from test/core/track.test.ts: about 7 s end to end at 50 %. */
const CURVE: SpeedCurve = {
  forward: [
    { duty: 0.3, speed: 0.04 },
    { duty: 0.6, speed: 0.1 },
    { duty: 1, speed: 0.14 },
  ],
  backward: [
    { duty: 0.3, speed: 0.04 },
    { duty: 0.6, speed: 0.1 },
    { duty: 1, speed: 0.14 },
  ],
};

const TRACK: TrackSettings = twoStopTrack(CURVE);

type Event = CarEvent extends infer E ? (E extends { now: number } ? Omit<E, 'now'> : never) : never;

/** The car stepped the way the service steps it: one event, then the one timer. */
class Car {
  state: CarState;
  now = 0;
  last!: CarEffects;
  /** Every pin write so far, and every log line as `level: message`. */
  pins: number[] = [];
  logs: string[] = [];
  /** Every ARRIVED and late RESULT so far. */
  notices: CarEffects['notices'] = [];

  constructor(readonly settings: CarSettings = { drive: DEFAULT_DRIVE, track: TRACK, trackShown: true }) {
    this.state = initialCarState(settings, 0);
  }

  send(event: Event): CarEffects {
    const out = carStep(this.state, { ...event, now: this.now } as CarEvent, this.settings);
    this.state = out.state;
    this.last = out.effects;
    this.pins.push(...out.effects.outputs);
    this.logs.push(...out.effects.logs.map((l) => `${l.level}: ${l.message}`));
    this.notices.push(...out.effects.notices);
    return out.effects;
  }

  command(command: Command | Command['move']): Record<string, unknown> | undefined {
    return this.send({ type: 'command', command: typeof command === 'string' ? { move: command } : command }).result;
  }

  /** Lets time pass, ticking at the wake times asked for. */
  advance(ms: number): void {
    const end = this.now + ms;
    while (this.last?.wakeAt !== undefined && this.last.wakeAt <= end) {
      this.now = this.last.wakeAt;
      this.send({ type: 'tick' });
    }
    this.now = end;
  }

  /** Pins and log lines so far, forgotten. */
  take(): { pins: number[]; logs: string[] } {
    const taken = { pins: this.pins, logs: this.logs };
    this.pins = [];
    this.logs = [];
    return taken;
  }

  homed(): this {
    this.send({ type: 'limit', end: 'backward', closed: true });
    this.send({ type: 'limit', end: 'backward', closed: false });
    this.take();
    return this;
  }
}

describe('the car in one step (core/car.ts)', () => {
  it('a stop during a task reaches the pins before the task is cancelled, and says so', () => {
    const car = new Car().homed();
    car.command({ move: 'goto', to: 'thyme' });
    car.advance(1000);
    assert.equal(car.state.drive.output, 0.5);
    car.take();
    const result = car.command('stop');
    assert.deepEqual(result, { move: 'stop', motion: 'stopped', speed: 50, note: 'goto cancelled' });
    assert.deepEqual(car.last.outputs, [0]);
    const { logs } = car.take();
    assert.deepEqual(logs, ['info: stopped (command)', 'info: goto cancelled: stop']);
    assert.equal(car.state.track.task, undefined);
  });

  it('a drive command by hand cancels the task first: the borrowed speed is given back before it drives', () => {
    const car = new Car();
    car.command('home');
    assert.equal(car.state.drive.output, -0.4);
    car.take();
    const result = car.command('backward');
    assert.deepEqual(result, { move: 'backward', motion: 'backward', speed: 50, note: 'already backward; home cancelled' });
    // One write: the speed given back (the task's end) is what the backward by hand drives at.
    assert.deepEqual(car.last.outputs, [-0.5]);
    assert.deepEqual(car.take().logs, ['info: home cancelled: backward by hand', 'info: backward at 50% (command)']);
  });

  it('a task with a speed that the track refuses leaves the speed as it was', () => {
    const car = new Car();
    const result = car.command({ move: 'goto', to: 0.5, speed: 80 });
    assert.equal(typeof result?.error, 'string');
    assert.equal(result?.speed, 50);
    assert.equal(car.state.drive.speed, 50);
    assert.deepEqual(car.last.outputs, []);
  });

  it('a task with a speed the track takes sets the speed, then drives at it', () => {
    const car = new Car().homed();
    const result = car.command({ move: 'goto', to: 0.5, speed: 80 });
    assert.equal(result?.error, undefined);
    assert.equal(result?.speed, 80);
    assert.deepEqual(car.last.outputs, [0.8]);
  });

  it('converts places in core: metres with track.lengthM in the answer and the arrival', () => {
    const car = new Car({ drive: DEFAULT_DRIVE, track: { ...TRACK, lengthM: 4 }, trackShown: true }).homed();
    const result = car.command({ move: 'goto', to: 'basil' });
    assert.equal(result?.target, 1);
    const notices = [];
    for (let i = 0; i < 200 && notices.length === 0; i++) {
      car.advance(100);
      notices.push(...car.last.notices);
    }
    assert.deepEqual(notices, [{ kind: 'arrived', message: { stop: 'basil', position: 1, target: 1 } }]);
    assert.equal(car.state.drive.output, 0);
  });

  it('wakes once, at the earlier of what the drive and the track wait for', () => {
    const car = new Car({ drive: { ...DEFAULT_DRIVE, accelPercentPerSec: 100 }, track: TRACK, trackShown: true });
    car.command('forward');
    // The ramp's next step (20 ms) comes before the track's progress (250 ms on).
    assert.equal(car.last.wakeAt, 20);
    car.advance(100);
    assert.equal(car.state.driveWakeAt, 120);
    assert.equal(car.state.trackWakeAt, 350);
    assert.equal(car.last.wakeAt, 120);
  });

  it('the home switch closing is a home (lastHomedAt); the far one is not', () => {
    const car = new Car();
    assert.equal(car.send({ type: 'limit', end: 'forward', closed: true }).homed, false);
    assert.equal(car.send({ type: 'limit', end: 'backward', closed: true }).homed, true);
  });

  it('a motor fault stands the car still for good: output 0, no timer, and no command moves it again', () => {
    const car = new Car().homed();
    car.command({ move: 'goto', to: 'thyme' });
    car.take();
    const fault = car.send({ type: 'fault' });
    assert.deepEqual(fault.outputs, []);
    assert.equal(fault.state, 'change');
    assert.equal(fault.wakeAt, undefined);
    assert.equal(car.state.drive.output, 0);
    assert.equal(car.state.drive.motion, 'stopped');
    const result = car.command('forward');
    assert.match(String(result?.error), /motor write failed/);
    assert.deepEqual(car.last.outputs, []);
    assert.equal(car.state.drive.output, 0);
  });

  it('a lost driver ends a task waiting at a stop, though the car already stands still', () => {
    const car = new Car().homed();
    car.command('patrol');
    for (let i = 0; i < 300 && !(car.state.track.task?.legs[0]?.kind === 'dwell' && car.state.track.task.begun); i++) car.advance(50);
    assert.equal(car.state.drive.output, 0);
    car.take();
    const gone = car.send({ type: 'gone', reason: 'disconnect' });
    assert.equal(car.state.track.task, undefined);
    assert.equal(car.state.drive.reason, 'disconnect');
    assert.deepEqual(gone.outputs, []);
    assert.ok(car.take().logs.includes('info: patrol cancelled: disconnect while the car waited'));
  });

  it('a task begun after a lost driver is not taken for that driver lost again', () => {
    const car = new Car({ drive: { ...DEFAULT_DRIVE, initialSpeed: 90 }, track: TRACK, trackShown: true });
    car.command('forward');
    car.send({ type: 'gone', reason: 'disconnect' });
    car.take();
    const result = car.command('home');
    assert.equal(result?.error, undefined);
    assert.equal(car.state.track.task?.name, 'home');
    // Reversing first: the motors may still spin forward.
    car.advance(300);
    assert.equal(car.state.track.task?.name, 'home');
    assert.deepEqual(car.pins, [-0.4]);
    assert.ok(!car.take().logs.some((l) => l.includes('cancelled')));
  });

  it('a task whose driver falls silent for commandTimeoutS is cancelled on the same one timer', () => {
    const car = new Car({ drive: { ...DEFAULT_DRIVE, commandTimeoutS: 2 }, track: { ...TRACK, commandTimeoutS: 2 }, trackShown: true }).homed();
    car.command('patrol');
    car.send({ type: 'accepted' });
    car.advance(1900);
    assert.equal(car.state.track.task?.name, 'patrol');
    car.take();
    car.advance(200);
    assert.equal(car.state.track.task, undefined);
    assert.equal(car.state.drive.output, 0);
    assert.equal(car.state.drive.reason, 'timeout');
    const { pins, logs } = car.take();
    assert.deepEqual(pins, [0]);
    assert.equal(logs[0], 'warn: no command for 2 s during the patrol: stopping the car and cancelling it (commandTimeoutS)');
  });

  /** Time passes (ticks at the wake times asked for); the car must stand still all the while. */
  function staysStill(car: Car, ms: number): void {
    for (let t = 0; t < ms; t += 500) {
      car.advance(500);
      assert.equal(car.state.drive.output, 0);
      assert.equal(car.state.drive.motion, 'stopped');
    }
    assert.deepEqual(car.pins, []);
  }

  it('a switch closing behind the car ends a timed move and stops the car', () => {
    const car = new Car();
    car.command('backward');
    car.advance(1000);
    // Forward for 3 s: the drive first waits for the motor still spinning backward.
    const result = car.command({ move: 'forward', forS: 3 });
    assert.equal(result?.error, undefined);
    assert.equal(car.state.drive.motion, 'reversing');
    car.advance(100);
    car.take();
    // The car, running on backward, meets the switch behind it (it heads forward).
    car.send({ type: 'limit', end: 'backward', closed: true });
    assert.equal(car.state.track.task, undefined);
    assert.equal(car.state.drive.output, 0);
    assert.equal(car.state.drive.motion, 'stopped');
    assert.equal(car.state.drive.reason, 'limit');
    // The track's lines come first, then the drive's for what the track asked of it.
    assert.deepEqual(car.take().logs, ['info: backward limit switch closed', 'info: position known: at the backward end', 'info: move done', 'info: stopped (limit)']);
    staysStill(car, 5000);
  });

  it('a command by hand that the drive refuses (toward a closed switch) leaves no task driving the car', () => {
    const car = new Car();
    car.command('home');
    car.advance(1000);
    // At the home switch: homing backs off it, forward at its speed, the switch still closed.
    car.send({ type: 'limit', end: 'backward', closed: true });
    car.advance(300);
    assert.equal(car.state.drive.output, 0.4);
    assert.equal(car.state.track.task?.legs[0]?.kind, 'backoff');
    car.take();
    const result = car.command('backward');
    assert.deepEqual(result, { move: 'backward', motion: 'stopped', speed: 50, error: 'backward limit switch is closed', note: 'home cancelled' });
    assert.equal(car.state.track.task, undefined);
    assert.deepEqual(car.last.outputs, [0]);
    assert.deepEqual(car.take().logs, ['info: home cancelled: backward by hand', 'info: stopped (command)']);
    staysStill(car, 5000);
  });

  it('a calibration cancelled by faster/slower while its output still ramps from 0 stops the car', () => {
    const car = new Car({ drive: { ...DEFAULT_DRIVE, accelPercentPerSec: 100 }, track: TRACK, trackShown: true });
    car.command('calibrate');
    assert.equal(car.state.drive.motion, 'backward');
    // Before the ramp's first step: the output is still 0.
    car.advance(10);
    assert.equal(car.state.drive.output, 0);
    car.take();
    const result = car.command('faster');
    assert.deepEqual(result, { move: 'faster', motion: 'stopped', speed: 60, note: 'calibrate cancelled' });
    assert.equal(car.state.track.task, undefined);
    assert.equal(car.state.drive.reason, 'command');
    assert.deepEqual(car.take().logs, ['info: calibrate cancelled: faster by hand', 'info: stopped (command)']);
    staysStill(car, 5000);
  });

  it('a goto that arrives (a switch met on the way) while the drive is reversing stops the reversal', () => {
    const car = new Car().homed();
    // Backward past where the estimate has the home switch: the estimate is off.
    car.command('backward');
    car.advance(1000);
    assert.ok(car.state.track.position < 0);
    const result = car.command({ move: 'goto', to: 0.001 });
    assert.equal(result?.error, undefined);
    assert.equal(car.state.drive.motion, 'reversing');
    car.advance(100);
    car.take();
    // Running on backward, the car meets the home switch: that is where it was sent.
    car.send({ type: 'limit', end: 'backward', closed: true });
    assert.equal(car.state.drive.output, 0);
    assert.equal(car.state.drive.motion, 'stopped');
    assert.equal(car.state.drive.reason, 'arrived');
    assert.deepEqual(car.take().logs, [
      'info: backward limit switch closed',
      'warn: goto: met the backward end on the way to 0.001; the estimate was off, going on from there',
      'info: stopped (arrived)',
    ]);
    staysStill(car, 5000);
    assert.deepEqual(car.notices, [{ kind: 'arrived', message: { stop: null, position: 0, target: 0.001 } }]);
    assert.equal(car.state.track.task, undefined);
    assert.deepEqual(car.take().logs, ['info: arrived at 0.001 (position 0)', 'info: goto done']);
  });
});
