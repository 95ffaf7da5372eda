import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import type { Command } from '../../src/core/commands';
import { DEFAULT_DRIVE } from '../support/drive-settings';
import { initialState, step, type DriveEvent, type DriveSettings, type DriveState, type Reason } from '../../src/core/drive';
import type { TrackEnd } from '../../src/motors/types';
import { curveSpeed, initialTrackState, trackStep, velocity, type CurvePoint, type SpeedCurve, type TrackEvent, type TrackSettings, type TrackState } from '../../src/core/track';

/**
 * The drive and the track model wired by hand, the way the service wired them before
 * src/core/car.ts joined them (car.property.test.ts checks carStep itself): a command by hand goes to the drive and tells the track; a task goes to the
 * track, whose requests go to the drive; whatever the drive applies goes back to the track.
 * One timer each for the `wakeAt` they ask for. Random settings, curves and sequences of
 * commands, switches and time; the properties are checked at the end.
 */

const DRIVE: DriveSettings = DEFAULT_DRIVE;

class Rig {
  drive: DriveState;
  track: TrackState;
  now = 0;
  driveWake?: number;
  trackWake?: number;
  /** Every output the drive applied, with when: what the estimate must integrate. */
  applied: { at: number; output: number }[] = [{ at: 0, output: 0 }];
  /** When a switch last closed and which end: the integral starts there. */
  anchor?: { at: number; position: number };
  limits: Record<TrackEnd, boolean> = { forward: false, backward: false };
  /** A leg stalled since a switch last closed: without an encoder the position is then unknown. */
  stalled = false;

  constructor(
    readonly driveSettings: DriveSettings,
    readonly settings: TrackSettings,
  ) {
    this.drive = initialState(driveSettings, 0);
    this.track = initialTrackState(0, this.drive.speed, settings);
  }

  driveApply(event: DriveEvent): void {
    const before = this.drive;
    const out = step(before, event, this.driveSettings);
    this.drive = out.state;
    this.driveWake = out.wakeAt;
    const d = out.state;
    if (d.output !== before.output) this.applied.push({ at: this.now, output: d.output });
    if (d.output !== before.output || d.motion !== before.motion || d.speed !== before.speed || d.reason !== before.reason) {
      this.trackApply({ type: 'drive', output: d.output, motion: d.motion, reason: d.reason, speed: d.speed, now: this.now });
    }
    if (event.type === 'limit') this.trackApply({ type: 'limit', end: event.end, closed: event.closed, now: this.now });
  }

  trackApply(event: TrackEvent): Record<string, unknown> | undefined {
    const out = trackStep(this.track, event, this.settings);
    this.track = out.state;
    this.trackWake = out.wakeAt;
    if (out.failed?.reason === 'stalled') this.stalled = true;
    for (const r of out.drive) {
      const reason: Reason | undefined = r.command.move === 'speed' ? this.drive.reason : r.reason;
      this.driveApply({ type: 'command', command: r.command, reason, now: this.now });
    }
    return out.result;
  }

  /** A task's RESULT from the track; nothing for a command by hand. */
  command(command: Command): Record<string, unknown> | undefined {
    const task = ['home', 'calibrate', 'patrol', 'goto'].includes(command.move) || command.forS !== undefined;
    if (task) return this.trackApply({ type: 'command', command, now: this.now });
    if (command.move === 'stop') {
      this.driveApply({ type: 'command', command, now: this.now });
      this.trackApply({ type: 'manual', command, now: this.now });
    } else {
      this.trackApply({ type: 'manual', command, now: this.now });
      this.driveApply({ type: 'command', command, now: this.now });
    }
    return undefined;
  }

  limit(end: TrackEnd, closed: boolean): void {
    if (this.limits[end] === closed) return;
    this.limits[end] = closed;
    if (closed) {
      this.anchor = { at: this.now, position: end === this.settings.homeEnd ? 0 : 1 };
      this.stalled = false;
    }
    this.driveApply({ type: 'limit', end, closed, now: this.now });
  }

  advance(ms: number): void {
    assert.ok(Number.isFinite(ms), `advance(${ms})`);
    const end = this.now + ms;
    for (;;) {
      const next = Math.min(this.driveWake ?? Infinity, this.trackWake ?? Infinity);
      if (next > end) break;
      this.now = Math.max(this.now, next);
      if (next === this.driveWake) this.driveApply({ type: 'tick', now: this.now });
      else this.trackApply({ type: 'tick', now: this.now });
    }
    this.now = end;
  }

  /** The anchor plus the applied outputs since it, through the curve. */
  integral(until: number): number {
    const from = this.anchor!;
    let position = from.position;
    for (let i = 0; i < this.applied.length; i++) {
      const start = Math.max(this.applied[i].at, from.at);
      const stop = Math.min(this.applied[i + 1]?.at ?? until, until);
      if (stop > start) position += (velocity(this.track.curve, this.settings, this.applied[i].output) * (stop - start)) / 1000;
    }
    return position;
  }
}

const pointsArb: fc.Arbitrary<CurvePoint[]> = fc
  .uniqueArray(fc.integer({ min: 10, max: 100 }), { minLength: 2, maxLength: 4 })
  .chain((duties) =>
    fc.array(fc.double({ min: 0.01, max: 0.1, noNaN: true }), { minLength: duties.length, maxLength: duties.length }).map((steps) => {
      const sorted = [...duties].sort((a, b) => a - b);
      let speed = 0;
      return sorted.map((d, i) => ({ duty: d / 100, speed: (speed += steps[i]) }));
    }),
  );

const settingsArb: fc.Arbitrary<TrackSettings> = fc.record({
  homeEnd: fc.constantFrom<TrackEnd>('backward', 'forward'),
  forward: pointsArb,
  backward: pointsArb,
  settleMs: fc.integer({ min: 0, max: 500 }),
  dwellMs: fc.integer({ min: 0, max: 2000 }),
}).map(({ forward, backward, ...rest }) => ({
  ...rest,
  switches: ['backward', 'forward'],
  stops: [
    { name: 'basil', at: 0.25 },
    { name: 'thyme', at: 0.6 },
  ],
  homingSpeed: 40,
  calibrationSpeeds: [30, 100],
  speedTable: { forward, backward } as SpeedCurve,
  timeoutMarginS: 5,
  homeTimeoutS: 120,
  drift: 0.03,
}));

type Op = { kind: 'command'; command: Command } | { kind: 'advance'; ms: number } | { kind: 'limit'; end: TrackEnd; closed: boolean };

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  fc.constantFrom<Command['move']>('forward', 'backward', 'stop', 'faster', 'slower', 'home', 'patrol').map((move) => ({ move })),
  fc.double({ min: 0, max: 1, noNaN: true }).map((to) => ({ move: 'goto' as const, to })),
  fc.constantFrom('basil', 'thyme').map((to) => ({ move: 'goto' as const, to })),
  fc.record({ move: fc.constantFrom<'forward' | 'backward'>('forward', 'backward'), forS: fc.double({ min: 0.1, max: 5, noNaN: true }) }),
);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: commandArb.map((command) => ({ kind: 'command' as const, command })) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 8000 }).map((ms) => ({ kind: 'advance' as const, ms })) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('limit' as const), end: fc.constantFrom<TrackEnd>('forward', 'backward'), closed: fc.boolean() }) },
);

function play(settings: TrackSettings, ops: Op[]): Rig {
  const rig = new Rig(DRIVE, settings);
  // Homed first: the estimate starts from a switch.
  rig.limit(settings.homeEnd, true);
  for (const op of ops) {
    if (op.kind === 'command') rig.command(op.command);
    else if (op.kind === 'advance') rig.advance(op.ms);
    else rig.limit(op.end, op.closed);
  }
  return rig;
}

describe('track model, any sequence', () => {
  it('the estimate is the integral of the applied outputs through the curve since the last switch, until a stall', () => {
    fc.assert(
      fc.property(settingsArb, fc.array(opArb, { maxLength: 40 }), (settings, ops) => {
        const rig = play(settings, ops);
        // Bring the estimate up to now, as any event does.
        rig.trackApply({ type: 'tick', now: rig.now });
        // A stall since the last switch forgets the position (the integral counted motion that did not happen).
        assert.ok(rig.track.homed || rig.stalled);
        if (!rig.track.homed) return;
        const expected = rig.integral(rig.now);
        assert.ok(Math.abs(rig.track.position - expected) < 1e-9, `estimate ${rig.track.position}, integral ${expected}`);
      }),
      { numRuns: 300 },
    );
  });

  it('a stop ends every task at once, and the car stays stopped', () => {
    fc.assert(
      fc.property(settingsArb, fc.array(opArb, { maxLength: 40 }), fc.integer({ min: 0, max: 60_000 }), (settings, ops, later) => {
        const rig = play(settings, ops);
        rig.command({ move: 'stop' });
        assert.equal(rig.drive.output, 0);
        assert.equal(rig.track.task, undefined);
        rig.advance(later);
        assert.equal(rig.drive.output, 0);
        assert.equal(rig.drive.motion, 'stopped');
      }),
      { numRuns: 300 },
    );
  });

  it('every goto ends stopped: arrived, cancelled or timed out; refused, it changes nothing', () => {
    fc.assert(
      fc.property(settingsArb, fc.array(opArb, { maxLength: 20 }), fc.double({ min: 0, max: 1, noNaN: true }), (settings, ops, to) => {
        const rig = play(settings, ops);
        const before = { task: rig.track.task, output: rig.drive.output };
        const result = rig.command({ move: 'goto', to });
        if (result?.error) {
          assert.deepEqual({ task: rig.track.task, output: rig.drive.output }, before);
          return;
        }
        // Longer than the goto may take: its distance (a car driven on by hand past an end without
        // switches may be far out) at the slower direction's speed, plus the margin.
        const slowest = Math.min(...(['forward', 'backward'] as const).map((d) => curveSpeed(settings.speedTable![d], rig.drive.speed / 100)));
        // (A speed in the dead band is refused: nothing moves then.)
        const distance = Math.max(1, Math.abs(rig.track.position - to));
        rig.advance(slowest > 0 ? 1000 * ((distance / slowest) * 1.25 + settings.timeoutMarginS + 1) : 1000);
        assert.equal(rig.track.task, undefined);
        assert.equal(rig.drive.output, 0);
      }),
      { numRuns: 200 },
    );
  });

  it('with a jam anywhere, a goto always ends, arrived or stalled, and the output is 0 after it', () => {
    // The car follows the applied output through the curve exactly (no lag), cannot pass the
    // jam, closes a switch at each end, and turns an encoder when the settings have one.
    const arb = fc.record({
      settings: settingsArb,
      encoder: fc.option(fc.integer({ min: 50, max: 1000 }), { nil: undefined }),
      start: fc.double({ min: 0, max: 1, noNaN: true }),
      jam: fc.double({ min: 0.001, max: 0.999, noNaN: true }),
      to: fc.double({ min: 0, max: 1, noNaN: true }),
    });
    fc.assert(
      fc.property(arb, ({ settings: base, encoder, start, jam, to }) => {
        const settings: TrackSettings = { ...base, encoder: encoder === undefined ? undefined : { edgesPerTrack: encoder }, stallS: 0.3 };
        const rig = new Rig(DRIVE, settings);
        let x = 0;
        let jamAt: number | undefined;
        let side = -1;
        const STEP = 20;
        const physics = () => {
          const before = x;
          x += (velocity(settings.speedTable, settings, rig.drive.output) * STEP) / 1000;
          if (jamAt !== undefined) x = side < 0 ? Math.min(x, jamAt) : Math.max(x, jamAt);
          x = Math.min(1, Math.max(0, x));
          if (encoder !== undefined) {
            for (let n = Math.abs(Math.floor(x * encoder) - Math.floor(before * encoder)); n > 0; n--) rig.trackApply({ type: 'edge', now: rig.now });
          }
          rig.limit(settings.homeEnd, x <= 0);
          rig.limit(settings.homeEnd === 'backward' ? 'forward' : 'backward', x >= 1);
        };
        const runGoto = (place: number) => {
          const result = rig.command({ move: 'goto', to: place });
          if (result?.error) return result;
          const slowest = Math.min(...(['forward', 'backward'] as const).map((d) => curveSpeed(settings.speedTable![d], rig.drive.speed / 100)));
          const limit = 1000 * ((1 / slowest) * 1.25 + settings.timeoutMarginS + 1);
          for (let t = 0; t < limit && (rig.track.task !== undefined || rig.drive.output !== 0); t += STEP) {
            rig.advance(STEP);
            physics();
          }
          return result;
        };
        rig.limit(settings.homeEnd, true);
        // Somewhere first, with no jam; then the jam, on either side of the car.
        runGoto(start);
        rig.advance(1000);
        jamAt = jam;
        side = x < jam ? -1 : 1;
        const result = runGoto(to);
        if (result?.error || String(result?.note).includes('already there')) return;
        assert.equal(rig.track.task, undefined, `a goto to ${to} with a jam at ${jam} from ${x} did not end`);
        assert.equal(rig.drive.output, 0);
        rig.advance(2000);
        assert.equal(rig.drive.output, 0);
        assert.ok(['arrived', 'stalled', 'limit'].includes(rig.drive.reason), rig.drive.reason);
        // Blocked before its target with an encoder, it is stalled; never "arrived" short of it.
        const blocked = side < 0 ? jam < to - 0.01 : jam > to + 0.01;
        if (encoder !== undefined && blocked) assert.equal(rig.drive.reason, 'stalled', `jam ${jam}, to ${to}, at ${x}`);
      }),
      { numRuns: 100 },
    );
  });

  it('the curve is monotone between monotone points and goes through each', () => {
    fc.assert(
      fc.property(pointsArb, fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (points, a, b) => {
        const [lo, hi] = a < b ? [a, b] : [b, a];
        assert.ok(curveSpeed(points, lo) <= curveSpeed(points, hi) + 1e-12);
        for (const p of points) assert.ok(Math.abs(curveSpeed(points, p.duty) - p.speed) < 1e-12);
      }),
      { numRuns: 500 },
    );
  });
});
