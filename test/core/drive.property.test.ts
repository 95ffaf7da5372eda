import { strict as assert } from 'node:assert';
import fc from 'fast-check';
import type { Command, Move } from '../../src/core/commands';
import { initialState, step, type DriveEvent, type DriveSettings, type DriveState } from '../../src/core/drive';
import type { TrackEnd } from '../../src/motors/types';

/**
 * Random settings, random sequences of commands, time passing, broker losses and limit
 * switches, run through the pure state machine with the service's timer discipline: one
 * timer, re-armed after every step for the `wakeAt` the machine asks for, firing late by up
 * to `latenessMs` as real timers do. Every property is checked after every step.
 */

type Op =
  | { kind: 'command'; command: Command }
  | { kind: 'advance'; ms: number }
  | { kind: 'disconnect' }
  | { kind: 'limit'; end: TrackEnd; closed: boolean };

interface Scenario {
  settings: DriveSettings;
  latenessMs: number;
  ops: Op[];
}

interface Sample {
  at: number;
  event: DriveEvent['type'];
  state: DriveState;
}

const settingsArb: fc.Arbitrary<DriveSettings> = fc
  .record({
    minSpeed: fc.integer({ min: 0, max: 100 }),
    span: fc.integer({ min: 0, max: 100 }),
    initial: fc.double({ min: 0, max: 1, noNaN: true }),
    speedStep: fc.integer({ min: 1, max: 100 }),
    reverseDelayMs: fc.oneof(fc.constant(250), fc.integer({ min: 0, max: 2000 })),
    accelPercentPerSec: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 1000 })),
    commandTimeoutS: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 3 })),
  })
  .map(({ minSpeed, span, initial, ...rest }) => {
    // The same constraints config.ts enforces: 1 <= maxSpeed, minSpeed <= initialSpeed <= maxSpeed.
    const maxSpeed = Math.max(1, Math.min(100, minSpeed + span));
    const min = Math.min(minSpeed, maxSpeed);
    return { ...rest, minSpeed: min, maxSpeed, initialSpeed: min + Math.round(initial * (maxSpeed - min)) };
  });

const MOVES: readonly Move[] = ['forward', 'backward', 'stop', 'faster', 'slower'];

// The parser's output domain: a move, a move with an absolute speed, or a speed alone.
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...MOVES).map((move) => ({ move })) },
  {
    weight: 1,
    arbitrary: fc.record({ move: fc.constantFrom<Move | 'speed'>(...MOVES, 'speed'), speed: fc.integer({ min: 0, max: 100 }) }),
  },
);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 8, arbitrary: commandArb.map((command) => ({ kind: 'command' as const, command })) },
  {
    weight: 6,
    arbitrary: fc
      .oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 600 }), fc.integer({ min: 0, max: 5000 }))
      .map((ms) => ({ kind: 'advance' as const, ms })),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'disconnect' as const }) },
  {
    weight: 2,
    arbitrary: fc.record({ end: fc.constantFrom<TrackEnd>('forward', 'backward'), closed: fc.boolean() }).map((l) => ({ kind: 'limit' as const, ...l })),
  },
);

const scenarioArb: fc.Arbitrary<Scenario> = fc.record({
  settings: settingsArb,
  latenessMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 30 })),
  ops: fc.array(opArb, { maxLength: 80 }),
});

/** What the service does with the machine, with a virtual clock instead of real timers. */
class Shell {
  now = 1_000_000;
  state: DriveState;
  samples: Sample[] = [];
  private fireAt?: number;
  private lastTickAt?: number;
  private ticksNow = 0;

  constructor(
    readonly settings: DriveSettings,
    private readonly latenessMs: number,
  ) {
    this.state = initialState(settings, this.now);
  }

  apply(event: DriveEvent): void {
    const out = step(this.state, event, this.settings);
    this.state = out.state;
    this.samples.push({ at: this.now, event: event.type, state: out.state });
    // A tick may ask for another at once (a reversal ending just as the command timeout runs
    // out is two steps), but a machine that keeps doing so spins the event loop.
    this.ticksNow = event.type === 'tick' && event.now === this.lastTickAt ? this.ticksNow + 1 : 0;
    if (event.type === 'tick') this.lastTickAt = event.now;
    assert.ok(this.ticksNow < 5, `ticks at ${this.now} keep asking to be woken again at once: a busy loop`);
    this.fireAt = out.wakeAt === undefined ? undefined : Math.max(out.wakeAt, this.now) + this.latenessMs;
  }

  run(op: Op): void {
    switch (op.kind) {
      case 'command':
        return this.apply({ type: 'command', command: op.command, now: this.now });
      case 'disconnect':
        return this.apply({ type: 'disconnect', now: this.now });
      case 'limit':
        return this.apply({ type: 'limit', end: op.end, closed: op.closed, now: this.now });
      case 'advance': {
        const until = this.now + op.ms;
        while (this.fireAt !== undefined && this.fireAt <= until) {
          this.now = this.fireAt;
          this.fireAt = undefined;
          this.apply({ type: 'tick', now: this.now });
        }
        this.now = until;
      }
    }
  }
}

function play(scenario: Scenario, check: (shell: Shell, op: Op) => void): Shell {
  const shell = new Shell(scenario.settings, scenario.latenessMs);
  for (const op of scenario.ops) {
    shell.run(op);
    check(shell, op);
  }
  return shell;
}

const runs = { numRuns: 300 };
const sign = (x: number) => (x > 0 ? 1 : x < 0 ? -1 : 0);

describe('drive state machine, property-based', () => {
  it('outputs stay finite and within −1..1, and follow the motion', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const shell = play(scenario, () => {});
        for (const { state, at } of shell.samples) {
          const where = `at ${at}: ${JSON.stringify(state)}`;
          assert.ok(Number.isFinite(state.output) && state.output >= -1 && state.output <= 1, where);
          assert.ok(Math.abs(state.output) <= state.speed / 100 + 1e-9, `output above the speed setting ${where}`);
          const expected = state.motion === 'forward' ? [0, 1] : state.motion === 'backward' ? [0, -1] : [0];
          assert.ok(expected.includes(sign(state.output)), `output sign does not match the motion ${where}`);
        }
      }),
      runs,
    );
  });

  it('the speed setting stays within [minSpeed, maxSpeed]', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const { minSpeed, maxSpeed } = scenario.settings;
        const shell = play(scenario, () => {});
        for (const { state, at } of shell.samples) {
          assert.ok(Number.isInteger(state.speed), `speed ${state.speed} at ${at}`);
          assert.ok(state.speed >= minSpeed && state.speed <= maxSpeed, `speed ${state.speed} outside ${minSpeed}..${maxSpeed} at ${at}`);
        }
      }),
      runs,
    );
  });

  it('stop zeroes the outputs at once, and nothing but a new direction moves them again', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        let stoppedSince: number | undefined;
        const shell = new Shell(scenario.settings, scenario.latenessMs);
        for (const op of scenario.ops) {
          const from = shell.samples.length;
          shell.run(op);
          if (op.kind === 'command' && op.command.move === 'stop') {
            assert.equal(shell.state.output, 0);
            assert.equal(shell.state.motion, 'stopped');
            stoppedSince = shell.now;
          } else if (op.kind === 'command' && (op.command.move === 'forward' || op.command.move === 'backward')) {
            stoppedSince = undefined;
          }
          if (stoppedSince === undefined) continue;
          for (const sample of shell.samples.slice(from)) {
            assert.equal(sample.state.output, 0, `output ${sample.state.output} at ${sample.at}, after a stop at ${stoppedSince}`);
          }
        }
        shell.apply({ type: 'shutdown', now: shell.now });
        assert.deepEqual([shell.state.output, shell.state.motion, shell.state.reason], [0, 'stopped', 'shutdown']);
      }),
      runs,
    );
  });

  it('a broker disconnect zeroes the outputs at once', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        play(scenario, (shell, op) => {
          if (op.kind === 'disconnect') assert.deepEqual([shell.state.output, shell.state.motion], [0, 'stopped']);
        });
      }),
      runs,
    );
  });

  it('never drives toward a closed limit switch', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const closed: Record<TrackEnd, boolean> = { forward: false, backward: false };
        const shell = new Shell(scenario.settings, scenario.latenessMs);
        for (const op of scenario.ops) {
          const from = shell.samples.length;
          shell.run(op);
          if (op.kind === 'limit') closed[op.end] = op.closed;
          for (const { state, at } of shell.samples.slice(from)) {
            const where = `at ${at} with ${JSON.stringify(closed)}: ${JSON.stringify(state)}`;
            if (closed.forward) {
              assert.ok(state.output <= 0, `forward output toward the closed forward switch ${where}`);
              assert.ok(state.motion !== 'forward' && state.heading !== 'forward', where);
            }
            if (closed.backward) {
              assert.ok(state.output >= 0, `backward output toward the closed backward switch ${where}`);
              assert.ok(state.motion !== 'backward' && state.heading !== 'backward', where);
            }
          }
        }
      }),
      runs,
    );
  });

  // Any change of direction, whatever came between (a stop, a broker loss, a limit switch):
  // the motor may still be spinning, so the output stays at zero for reverseDelayMs.
  it('a change of direction holds the outputs at zero for at least reverseDelayMs', () => {
    fc.assert(
      fc.property(scenarioArb, (scenario) => {
        const shell = play(scenario, () => {});
        let lastSign = 0;
        let zeroSince: number | undefined;
        for (const { state, at } of shell.samples) {
          const s = sign(state.output);
          if (s === 0) {
            zeroSince ??= at;
            continue;
          }
          if (lastSign !== 0 && s !== lastSign) {
            const held = at - (zeroSince ?? at);
            assert.ok(
              held >= scenario.settings.reverseDelayMs,
              `output went from ${lastSign > 0 ? 'forward' : 'backward'} to ${state.output} at ${at} after only ${held} ms at zero (reverseDelayMs ${scenario.settings.reverseDelayMs})`,
            );
          }
          lastSign = s;
          zeroSince = undefined;
        }
      }),
      runs,
    );
  });

  it('with a ramp, the output never rises faster than accelPercentPerSec over any interval', () => {
    fc.assert(
      fc.property(
        scenarioArb.filter((s) => s.settings.accelPercentPerSec > 0),
        (scenario) => {
          const perMs = scenario.settings.accelPercentPerSec / 100 / 1000;
          const shell = play(scenario, () => {});
          // For every pair of output changes i < j on the same side of zero, |out_j| - |out_i| must be
          // at most perMs * (t_j - t_i): kept in O(n) as the least |out_i| - perMs * t_i per side.
          const least = { forward: 0 - perMs * 1_000_000, backward: 0 - perMs * 1_000_000 };
          let previous = 0;
          for (const { state, at } of shell.samples) {
            // A sample that repeats the output is not when that value was set; the ramp moves
            // in steps, so measuring from it would see a whole step in no time.
            if (state.output === previous) continue;
            previous = state.output;
            const side = state.output > 0 ? 'forward' : state.output < 0 ? 'backward' : undefined;
            if (side !== undefined) {
              const allowed = perMs * at + least[side];
              assert.ok(Math.abs(state.output) <= allowed + 1e-3, `output ${state.output} at ${at} is above the ramp's ${allowed}`);
            }
            const own = Math.abs(state.output) - perMs * at;
            if (side !== 'backward') least.forward = Math.min(least.forward, own);
            if (side !== 'forward') least.backward = Math.min(least.backward, own);
          }
        },
      ),
      runs,
    );
  });

  it('with a ramp, a start from stopped reaches the speed setting in speed / accelPercentPerSec seconds', () => {
    fc.assert(
      fc.property(settingsArb, fc.constantFrom<Move>('forward', 'backward'), fc.integer({ min: 0, max: 30 }), (settings, move, latenessMs) => {
        const shell = new Shell({ ...settings, accelPercentPerSec: settings.accelPercentPerSec || 1, commandTimeoutS: 0 }, latenessMs);
        shell.run({ kind: 'command', command: { move } });
        const rampMs = (shell.state.speed / shell.settings.accelPercentPerSec) * 1000;
        shell.run({ kind: 'advance', ms: Math.ceil(rampMs) + 2 * (20 + latenessMs) });
        assert.equal(shell.state.output, (move === 'forward' ? 1 : -1) * shell.state.speed / 100 + 0);
      }),
      // A slow ramp is thousands of ticks.
      { numRuns: 100 },
    );
  });

  it('with commandTimeoutS set, a car never keeps moving longer than that without a command', () => {
    fc.assert(
      fc.property(
        scenarioArb.filter((s) => s.settings.commandTimeoutS > 0),
        (scenario) => {
          let lastCommandAt = 1_000_000;
          const limitMs = scenario.settings.commandTimeoutS * 1000 + scenario.latenessMs;
          play(scenario, (shell, op) => {
            if (op.kind === 'command') lastCommandAt = shell.now;
            if (shell.state.motion !== 'stopped') {
              assert.ok(shell.now - lastCommandAt <= limitMs, `still ${shell.state.motion} ${shell.now - lastCommandAt} ms after the last command`);
            }
          });
        },
      ),
      runs,
    );
  });
});
