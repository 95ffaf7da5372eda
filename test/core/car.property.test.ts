import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import type { Command } from '../../src/core/commands';
import { carStep, initialCarState, type CarEvent, type CarSettings, type CarState, type CarStep, type GoneReason } from '../../src/core/car';
import type { DriveSettings, TrackEnd } from '../../src/core/drive';
import type { CurvePoint, SpeedCurve, TrackSettings } from '../../src/core/track';

/**
 * The car's one step (drive and track together), driven the way the service drives it: one
 * event at a time, one timer for the `wakeAt` each step asks for, ticks delivered at those
 * times. Random settings (with and without switches, stops and a speed table) and random
 * sequences of commands, switches, faults, lost drivers and time; the properties are checked
 * after every step, on what a user notices: the pins.
 */

type Op =
  | { kind: 'command'; command: Command }
  | { kind: 'advance'; ms: number }
  | { kind: 'limit'; end: TrackEnd }
  | { kind: 'gone'; reason: GoneReason }
  | { kind: 'fault' };

const pointsArb: fc.Arbitrary<CurvePoint[]> = fc
  .uniqueArray(fc.integer({ min: 10, max: 100 }), { minLength: 2, maxLength: 4 })
  .chain((duties) =>
    fc.array(fc.double({ min: 0.01, max: 0.2, noNaN: true }), { minLength: duties.length, maxLength: duties.length }).map((steps) => {
      const sorted = [...duties].sort((a, b) => a - b);
      let speed = 0;
      return sorted.map((d, i) => ({ duty: d / 100, speed: (speed += steps[i]) }));
    }),
  );

const driveArb: fc.Arbitrary<DriveSettings> = fc.record({
  initialSpeed: fc.integer({ min: 20, max: 100 }),
  speedStep: fc.constantFrom(10, 25),
  minSpeed: fc.constant(10),
  maxSpeed: fc.constant(100),
  reverseDelayMs: fc.constantFrom(0, 250, 800),
  accelPercentPerSec: fc.constantFrom(0, 0, 200),
  commandTimeoutS: fc.constantFrom(0, 0, 2),
});

const trackArb = (commandTimeoutS: number): fc.Arbitrary<TrackSettings> =>
  fc
    .record({
      homeEnd: fc.constantFrom<TrackEnd>('backward', 'forward'),
      switches: fc.constantFrom<TrackEnd[]>([], ['backward'], ['forward'], ['backward', 'forward']),
      stops: fc.constantFrom(
        [],
        [
          { name: 'basil', at: 0.25 },
          { name: 'thyme', at: 0.6 },
        ],
      ),
      curve: fc.option(fc.record({ forward: pointsArb, backward: pointsArb }), { nil: undefined }),
      lengthM: fc.option(fc.constantFrom(2, 3.5), { nil: undefined }),
      settleMs: fc.integer({ min: 0, max: 500 }),
      dwellMs: fc.integer({ min: 0, max: 2000 }),
    })
    .map(({ curve, lengthM, ...rest }) => ({
      ...rest,
      ...(lengthM === undefined ? {} : { lengthM }),
      ...(curve === undefined ? {} : { speedTable: curve as SpeedCurve }),
      homingSpeed: 40,
      calibrationSpeeds: [30, 100],
      timeoutMarginS: 5,
      homeTimeoutS: 30,
      drift: 0.03,
      commandTimeoutS,
    }));

const settingsArb: fc.Arbitrary<CarSettings> = driveArb.chain((drive) =>
  fc.record({ drive: fc.constant(drive), track: trackArb(drive.commandTimeoutS), trackShown: fc.boolean() }),
);

const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom<Command['move']>('forward', 'backward', 'stop', 'faster', 'slower').map((move) => ({ move })) },
  { weight: 1, arbitrary: fc.record({ move: fc.constantFrom<Command['move']>('forward', 'backward', 'speed'), speed: fc.integer({ min: 0, max: 100 }) }) },
  { weight: 3, arbitrary: fc.constantFrom<Command['move']>('home', 'patrol', 'calibrate').map((move) => ({ move })) },
  { weight: 3, arbitrary: fc.record({ move: fc.constant('goto' as const), to: fc.oneof(fc.double({ min: 0, max: 1, noNaN: true }), fc.constantFrom('basil', 'thyme')) }) },
  { weight: 1, arbitrary: fc.record({ move: fc.constant('goto' as const), to: fc.double({ min: 0, max: 1, noNaN: true }), speed: fc.integer({ min: 0, max: 100 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({ move: fc.constantFrom<'forward' | 'backward'>('forward', 'backward'), forS: fc.double({ min: 0.1, max: 5, noNaN: true }) }),
  },
);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: commandArb.map((command) => ({ kind: 'command' as const, command })) },
  { weight: 5, arbitrary: fc.integer({ min: 1, max: 6000 }).map((ms) => ({ kind: 'advance' as const, ms })) },
  { weight: 2, arbitrary: fc.integer({ min: 6000, max: 30_000 }).map((ms) => ({ kind: 'advance' as const, ms })) },
  { weight: 1, arbitrary: fc.constantFrom<TrackEnd>('forward', 'backward').map((end) => ({ kind: 'limit' as const, end })) },
  { weight: 1, arbitrary: fc.constantFrom<GoneReason>('disconnect', 'flood', 'timeout').map((reason) => ({ kind: 'gone' as const, reason })) },
  { weight: 1, arbitrary: fc.constant({ kind: 'fault' as const }) },
);

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** What a step was given and gave back, for the properties. */
interface Seen {
  before: CarState;
  event: CarEvent;
  out: CarStep;
  /** A drive command by hand that moves (forward, backward) accepted since the last stop, fault or lost driver. */
  live: boolean;
  /** A stop came since the last command that may move the car (forward, backward, a task). */
  stopped: boolean;
  faulted: boolean;
}

/**
 * Plays the ops through carStep with the service's one-timer discipline; `check` sees every
 * step. A car with a home switch starts on it (it closes, then opens), so tasks get somewhere.
 */
function play(settings: CarSettings, ops: Op[], check: (seen: Seen) => void): void {
  let state = initialCarState(settings, 0);
  let now = 0;
  let wakeAt: number | undefined;
  const limits: Record<TrackEnd, boolean> = { forward: false, backward: false };
  let live = false;
  let stopped = false;
  let faulted = false;
  const send = (event: CarEvent): CarStep => {
    const before = deepFreeze(state);
    const out = carStep(before, event, settings);
    if (event.type === 'command') {
      const { move, forS } = event.command;
      const accepted = out.effects.result?.error === undefined;
      if (move === 'stop') {
        live = false;
        stopped = true;
      } else if (accepted && (move === 'forward' || move === 'backward') && forS === undefined) {
        live = true;
        stopped = false;
      } else if (accepted && ['home', 'patrol', 'calibrate', 'goto'].includes(move)) {
        live = false;
        stopped = false;
      } else if (accepted && forS !== undefined) {
        live = false;
        stopped = false;
      }
    } else if (event.type === 'gone' || event.type === 'fault') {
      live = false;
    }
    if (event.type === 'fault') faulted = true;
    check({ before, event, out, live, stopped, faulted });
    state = out.state;
    wakeAt = out.effects.wakeAt;
    return out;
  };
  const { homeEnd, switches } = settings.track;
  const start: Op[] = switches.includes(homeEnd) ? [{ kind: 'limit', end: homeEnd }, { kind: 'limit', end: homeEnd }] : [];
  for (const op of [...start, ...ops]) {
    switch (op.kind) {
      case 'command':
        // As the shell does: an accepted command keeps a task's driver watch (commandTimeoutS).
        if (send({ type: 'command', command: op.command, now }).effects.result?.error === undefined) send({ type: 'accepted', now });
        break;
      case 'limit':
        // Only the ends that have a switch, and only real changes, as the debounced switches give them.
        if (!settings.track.switches.includes(op.end)) break;
        limits[op.end] = !limits[op.end];
        send({ type: 'limit', end: op.end, closed: limits[op.end], now });
        break;
      case 'gone':
        send({ type: 'gone', reason: op.reason, now });
        break;
      case 'fault':
        send({ type: 'fault', now });
        break;
      case 'advance': {
        const end = now + op.ms;
        let ticks = 0;
        while (wakeAt !== undefined && wakeAt <= end) {
          assert.ok(++ticks < 10_000, 'the car keeps waking without end');
          now = Math.max(now, wakeAt);
          send({ type: 'tick', now });
        }
        now = end;
        break;
      }
    }
  }
}

const RUNS = { numRuns: 300 };
const ops = fc.array(opArb, { maxLength: 40, size: 'medium' });

describe('the car (drive and track in one step), any sequence', () => {
  it('the output is never non-zero without a live command or a task under way', () => {
    fc.assert(
      fc.property(settingsArb, ops, (settings, list) => {
        play(settings, list, ({ out, live }) => {
          const { drive, track } = out.state;
          if (!live && track.task === undefined) assert.equal(drive.output, 0, `output ${drive.output} with no command by hand and no task (${drive.motion}, ${drive.reason})`);
        });
      }),
      RUNS,
    );
  });

  it('a stop always wins: the pins go to 0 at once and stay there until a command that moves', () => {
    fc.assert(
      fc.property(settingsArb, ops, (settings, list) => {
        play(settings, list, ({ event, out, stopped }) => {
          const { outputs } = out.effects;
          if (event.type === 'command' && event.command.move === 'stop') {
            if (outputs.length > 0) assert.equal(outputs[0], 0, 'the stop reaches the pins first');
          }
          if (stopped) {
            assert.deepEqual(outputs.filter((o) => o !== 0), [], `after a stop: ${JSON.stringify(event)} wrote ${outputs}`);
            assert.equal(out.state.drive.output, 0);
          }
        });
      }),
      RUNS,
    );
  });

  it('after a motor fault the output is 0 and stays 0, whatever comes', () => {
    fc.assert(
      fc.property(settingsArb, ops, (settings, list) => {
        play(settings, list, ({ out, faulted }) => {
          if (!faulted) return;
          assert.deepEqual(out.effects.outputs, []);
          assert.equal(out.state.drive.output, 0);
          assert.equal(out.state.drive.motion, 'stopped');
          assert.equal(out.effects.wakeAt, undefined);
        });
      }),
      RUNS,
    );
  });

  it('is deterministic and pure: the same state and event give the same step, and nothing given is changed', () => {
    fc.assert(
      fc.property(settingsArb, ops, (settings, list) => {
        // The states are frozen before each step (play), so a write to one would throw.
        play(settings, list, ({ before, event, out }) => {
          assert.deepEqual(carStep(before, event, settings), out);
        });
      }),
      { numRuns: 60 },
    );
  });

  it('asks to be woken never in the past, and the pins end where the drive is', () => {
    fc.assert(
      fc.property(settingsArb, ops, (settings, list) => {
        play(settings, list, ({ before, event, out }) => {
          const { wakeAt, outputs } = out.effects;
          if (wakeAt !== undefined) assert.ok(wakeAt >= event.now, `wakeAt ${wakeAt} before now ${event.now}`);
          const last = outputs.at(-1);
          if (last !== undefined) assert.equal(last, out.state.drive.output);
          else if (event.type !== 'fault') assert.equal(out.state.drive.output, before.drive.output, 'an output changed without a write');
          for (let i = 1; i < outputs.length; i++) assert.notEqual(outputs[i], outputs[i - 1], 'a write that changes nothing');
        });
      }),
      RUNS,
    );
  });
});
