import { strict as assert } from 'node:assert';
import sinon from 'sinon';
import type { Command } from '../../src/core/commands';
import { DEFAULT_DRIVE } from '../support/drive-settings';
import { initialState, step, type DriveEvent, type DriveSettings, type DriveState } from '../../src/core/drive';

const SETTINGS: DriveSettings = DEFAULT_DRIVE;

/**
 * Drives the pure state machine the way the service does: one real (here: fake) timer for
 * the `wakeAt` the machine asks for, so reversal delays, ramps and timeouts play out in time.
 */
class Car {
  state: DriveState;
  outputs: number[] = [];
  results: Record<string, unknown>[] = [];
  logs: string[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly clock: sinon.SinonFakeTimers,
    readonly settings: DriveSettings = SETTINGS,
  ) {
    this.state = initialState(settings, clock.now);
  }

  send(command: Command | Command['move']) {
    const cmd = typeof command === 'string' ? { move: command } : command;
    return this.apply({ type: 'command', command: cmd, now: this.clock.now });
  }

  apply(event: DriveEvent) {
    const out = step(this.state, event, this.settings);
    if (out.state.output !== this.state.output) this.outputs.push(out.state.output);
    this.state = out.state;
    this.logs.push(...out.logs.map((l) => `${l.level}: ${l.message}`));
    if (out.result) this.results.push(out.result);
    clearTimeout(this.timer);
    if (out.wakeAt !== undefined) {
      this.timer = setTimeout(() => this.apply({ type: 'tick', now: this.clock.now }), out.wakeAt - this.clock.now);
    }
    return out.result;
  }

  get summary() {
    return `${this.state.motion} ${this.state.speed}% out=${this.state.output}`;
  }
}

describe('drive state machine', () => {
  let clock: sinon.SinonFakeTimers;
  beforeEach(() => {
    clock = sinon.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => clock.restore());

  it('starts stopped at the initial speed, reason startup', () => {
    const car = new Car(clock);
    assert.equal(car.summary, 'stopped 50% out=0');
    assert.equal(car.state.reason, 'startup');
  });

  describe('from stopped', () => {
    it('forward drives forward at the setting at once', () => {
      const car = new Car(clock);
      assert.deepEqual(car.send('forward'), { move: 'forward', motion: 'forward', speed: 50 });
      assert.deepEqual(car.outputs, [0.5]);
      assert.deepEqual(car.logs, ['info: forward at 50% (command)']);
    });
    it('backward drives backward at the setting at once', () => {
      const car = new Car(clock);
      car.send('backward');
      assert.equal(car.summary, 'backward 50% out=-0.5');
    });
    it('stop is answered and changes nothing', () => {
      const car = new Car(clock);
      assert.deepEqual(car.send('stop'), { move: 'stop', motion: 'stopped', speed: 50 });
      assert.deepEqual(car.outputs, []);
      assert.equal(car.state.reason, 'startup');
    });
    it('faster and slower change the setting without moving', () => {
      const car = new Car(clock);
      assert.deepEqual(car.send('faster'), { move: 'faster', motion: 'stopped', speed: 60 });
      car.send('slower');
      car.send('slower');
      assert.equal(car.summary, 'stopped 40% out=0');
      assert.deepEqual(car.outputs, []);
    });
  });

  describe('from forward', () => {
    it('forward again is a no-op that is still answered', () => {
      const car = new Car(clock);
      car.send('forward');
      assert.deepEqual(car.send('forward'), { move: 'forward', motion: 'forward', speed: 50, note: 'already forward' });
      assert.deepEqual(car.outputs, [0.5]);
    });
    it('faster and slower apply the new speed at once', () => {
      const car = new Car(clock);
      car.send('forward');
      car.send('faster');
      car.send('faster');
      car.send('slower');
      assert.deepEqual(car.outputs, [0.5, 0.6, 0.7, 0.6]);
      assert.ok(car.logs.includes('info: forward at 70% (command)'));
    });
    it('stop zeroes the output at once', () => {
      const car = new Car(clock);
      car.send('forward');
      assert.deepEqual(car.send('stop'), { move: 'stop', motion: 'stopped', speed: 50 });
      assert.deepEqual(car.outputs, [0.5, 0]);
      assert.equal(car.state.reason, 'command');
    });
    it('backward stops, waits reverseDelayMs in reversing, then drives backward', () => {
      const car = new Car(clock);
      car.send('forward');
      assert.deepEqual(car.send('backward'), { move: 'backward', motion: 'reversing', speed: 50 });
      assert.deepEqual(car.outputs, [0.5, 0]);
      clock.tick(249);
      assert.equal(car.summary, 'reversing 50% out=0');
      clock.tick(1);
      assert.equal(car.summary, 'backward 50% out=-0.5');
      assert.deepEqual(car.outputs, [0.5, 0, -0.5]);
    });
    it('a JSON speed while moving changes the speed at once', () => {
      const car = new Car(clock);
      car.send('forward');
      assert.deepEqual(car.send({ move: 'forward', speed: 80 }), { move: 'forward', motion: 'forward', speed: 80 });
      assert.deepEqual(car.outputs, [0.5, 0.8]);
    });
  });

  describe('from backward', () => {
    it('forward reverses through zero after the delay', () => {
      const car = new Car(clock);
      car.send('backward');
      car.send('forward');
      clock.tick(250);
      assert.deepEqual(car.outputs, [-0.5, 0, 0.5]);
    });
    it('backward again is a no-op', () => {
      const car = new Car(clock);
      car.send('backward');
      assert.equal(car.send('backward')?.note, 'already backward');
    });
  });

  describe('a stop between two directions', () => {
    it('does not cut the reversal pause short', () => {
      const car = new Car(clock);
      car.send('backward');
      clock.tick(1000);
      car.send('stop');
      clock.tick(100);
      assert.deepEqual(car.send('forward'), { move: 'forward', motion: 'reversing', speed: 50 });
      clock.tick(149);
      assert.equal(car.state.output, 0);
      clock.tick(1);
      assert.deepEqual(car.outputs, [-0.5, 0, 0.5]);
    });
    it('after the pause has passed, a direction from stopped starts at once', () => {
      const car = new Car(clock);
      car.send('backward');
      car.send('stop');
      clock.tick(250);
      assert.equal(car.send('forward')?.motion, 'forward');
    });
    it('the same direction again needs no pause', () => {
      const car = new Car(clock);
      car.send('forward');
      car.send('stop');
      assert.equal(car.send('forward')?.motion, 'forward');
    });
  });

  describe('from reversing', () => {
    it('stop cancels the pending direction change', () => {
      const car = new Car(clock);
      car.send('forward');
      car.send('backward');
      clock.tick(100);
      car.send('stop');
      clock.tick(1000);
      assert.equal(car.summary, 'stopped 50% out=0');
      assert.deepEqual(car.outputs, [0.5, 0]);
    });
    it('a new direction replaces the pending one without shortening the pause', () => {
      const car = new Car(clock);
      car.send('forward');
      car.send('backward');
      clock.tick(100);
      assert.equal(car.send('forward')?.motion, 'reversing');
      clock.tick(149);
      assert.equal(car.state.motion, 'reversing');
      clock.tick(1);
      assert.deepEqual(car.outputs, [0.5, 0, 0.5]);
    });
    it('faster while reversing is applied once driving', () => {
      const car = new Car(clock);
      car.send('forward');
      car.send('backward');
      car.send('faster');
      clock.tick(250);
      assert.deepEqual(car.outputs, [0.5, 0, -0.6]);
    });
  });

  describe('speed limits', () => {
    it('clamps faster at max and slower at min, with a note', () => {
      const car = new Car(clock);
      for (let i = 0; i < 7; i++) car.send('faster');
      assert.deepEqual(car.results.at(-1), { move: 'faster', motion: 'stopped', speed: 100, note: 'already at max' });
      for (let i = 0; i < 12; i++) car.send('slower');
      assert.deepEqual(car.results.at(-1), { move: 'slower', motion: 'stopped', speed: 10, note: 'already at min' });
    });
    it('clamps a JSON speed to the configured limits', () => {
      const car = new Car(clock, { ...SETTINGS, minSpeed: 20, maxSpeed: 80 });
      assert.deepEqual(car.send({ move: 'forward', speed: 95 }), {
        move: 'forward',
        motion: 'forward',
        speed: 80,
        note: 'speed clamped to 80%',
      });
      assert.equal(car.send({ move: 'speed', speed: 5 })?.speed, 20);
      assert.deepEqual(car.outputs, [0.8, 0.2]);
    });
    it('steps that do not divide the range end exactly at the limits', () => {
      const car = new Car(clock, { ...SETTINGS, speedStep: 30 });
      car.send('forward');
      car.send('faster');
      car.send('faster');
      assert.deepEqual(car.outputs, [0.5, 0.8, 1]);
    });
  });

  describe('ramp', () => {
    const RAMP = { ...SETTINGS, accelPercentPerSec: 100 };
    it('rises toward the target no faster than accelPercentPerSec', () => {
      const car = new Car(clock, RAMP);
      car.send('forward');
      assert.equal(car.state.output, 0);
      clock.tick(100);
      assert.equal(car.state.output, 0.1);
      clock.tick(300);
      assert.equal(car.state.output, 0.4);
      clock.tick(1000);
      assert.equal(car.state.output, 0.5);
      const steps = car.outputs.length;
      clock.tick(5000);
      assert.equal(car.outputs.length, steps, 'no writes once at the target');
    });
    it('never ramps a stop or a slowdown', () => {
      const car = new Car(clock, RAMP);
      car.send('forward');
      clock.tick(1000);
      car.send('slower');
      assert.equal(car.state.output, 0.4);
      car.send('stop');
      assert.equal(car.state.output, 0);
    });
    it('a ramp starts from where the output is, not from when it last changed', () => {
      const car = new Car(clock, RAMP);
      clock.tick(60_000);
      car.send('forward');
      assert.equal(car.state.output, 0);
    });
    it('after a reversal the new direction ramps up from zero', () => {
      const car = new Car(clock, RAMP);
      car.send('forward');
      clock.tick(1000);
      car.send('backward');
      clock.tick(250);
      assert.equal(car.state.output, 0);
      clock.tick(200);
      assert.equal(car.state.output, -0.2);
    });
  });

  describe('safety stops', () => {
    it('stops on disconnect with reason disconnect, and cancels a reversal', () => {
      const car = new Car(clock);
      car.send('forward');
      car.apply({ type: 'disconnect', now: clock.now });
      assert.equal(car.summary, 'stopped 50% out=0');
      assert.equal(car.state.reason, 'disconnect');
      car.send('backward');
      car.send('forward');
      car.apply({ type: 'disconnect', now: clock.now });
      clock.tick(1000);
      assert.equal(car.summary, 'stopped 50% out=0');
    });
    it('a disconnect while stopped changes nothing', () => {
      const car = new Car(clock);
      const before = car.state;
      car.apply({ type: 'disconnect', now: clock.now });
      assert.equal(car.state, before);
    });
    it('a disconnect while stopped with a task under way (waiting at a stop) says why the task ended', () => {
      const car = new Car(clock);
      car.apply({ type: 'disconnect', now: clock.now, task: true });
      assert.deepEqual([car.state.motion, car.state.reason, car.state.output], ['stopped', 'disconnect', 0]);
    });
    it('a flood stops the car with reason flood', () => {
      const car = new Car(clock);
      car.send('forward');
      car.apply({ type: 'disconnect', now: clock.now, reason: 'flood' });
      assert.equal(car.summary, 'stopped 50% out=0');
      assert.equal(car.state.reason, 'flood');
    });
    it('stops after commandTimeoutS without a command while moving', () => {
      const car = new Car(clock, { ...SETTINGS, commandTimeoutS: 2 });
      car.send('forward');
      clock.tick(1500);
      car.send('faster');
      clock.tick(1999);
      assert.equal(car.state.motion, 'forward');
      clock.tick(1);
      assert.equal(car.summary, 'stopped 60% out=0');
      assert.equal(car.state.reason, 'timeout');
      assert.ok(car.logs.includes('warn: no command for 2 s while moving: stopping'));
    });
    it('the command timeout does not run while stopped', () => {
      const car = new Car(clock, { ...SETTINGS, commandTimeoutS: 1 });
      clock.tick(10_000);
      assert.equal(car.state.reason, 'startup');
      assert.equal(clock.countTimers(), 0);
    });
    it('shutdown stops with reason shutdown', () => {
      const car = new Car(clock);
      car.send('backward');
      car.apply({ type: 'shutdown', now: clock.now });
      assert.equal(car.summary, 'stopped 50% out=0');
      assert.equal(car.state.reason, 'shutdown');
    });
  });

  describe('limit switches', () => {
    it('closing the switch ahead stops the car; motion toward it is refused; away is allowed', () => {
      const car = new Car(clock);
      car.send('forward');
      car.apply({ type: 'limit', end: 'forward', closed: true, now: clock.now });
      assert.equal(car.summary, 'stopped 50% out=0');
      assert.equal(car.state.reason, 'limit');
      assert.deepEqual(car.send('forward'), {
        move: 'forward',
        motion: 'stopped',
        speed: 50,
        error: 'forward limit switch is closed',
      });
      // Away from the switch is allowed, through the reversal pause: the motor was driving forward.
      assert.equal(car.send('backward')?.motion, 'reversing');
      clock.tick(250);
      assert.equal(car.state.motion, 'backward');
      car.apply({ type: 'limit', end: 'forward', closed: false, now: clock.now });
      car.send('stop');
      clock.tick(250);
      assert.equal(car.send('forward')?.motion, 'forward');
    });
    it('the switch behind does not stop the car', () => {
      const car = new Car(clock);
      car.send('forward');
      car.apply({ type: 'limit', end: 'backward', closed: true, now: clock.now });
      assert.equal(car.state.motion, 'forward');
    });
    it('a pending reversal toward a closing switch is cancelled', () => {
      const car = new Car(clock);
      car.send('forward');
      car.send('backward');
      car.apply({ type: 'limit', end: 'backward', closed: true, now: clock.now });
      clock.tick(1000);
      assert.equal(car.summary, 'stopped 50% out=0');
    });
  });
});
