import { strict as assert } from 'node:assert';
import { openEncoder } from '../../src/sensors/encoder';
import { openLimitSwitches } from '../../src/sensors/limits';
import { SimTrack, type SimTrackOptions } from '../../src/boards/sim-track';
import type { TrackEnd } from '../../src/motors/types';
import { VirtualClock } from '../support/virtual-clock';

/**
 * The simulated track's physics, read the way carbot reads a car: its pins through limits.ts
 * and encoder.ts. No noise unless a test asks for it, so the numbers can be checked.
 */
const PINS = { switches: { backward: { pin: 23, activeLow: true }, forward: { pin: 24, activeLow: true } }, encoder: 17 };
const QUIET: Partial<SimTrackOptions> = { noise: 0, jitter: 0, asymmetry: 0, seed: 1 };

function rig(options: Partial<SimTrackOptions> = {}) {
  const clock = new VirtualClock();
  const sim = new SimTrack({ ...QUIET, ...options }, PINS, clock);
  const drive = (duty: number) => sim.setOutputs({ left: duty, right: duty });
  const run = (ms: number) => clock.runUntil(() => false, ms);
  return { clock, sim, drive, run };
}

describe('simulated track', () => {
  it('nothing moves in the dead band; above it the speed saturates toward the top speed', () => {
    const { sim, drive, run } = rig({ lagMs: 1, start: 0.1, lengthM: 100 });
    const speedAt = (duty: number) => {
      drive(duty);
      run(1000);
      return sim.speed();
    };
    assert.equal(speedAt(0.1), 0);
    const [quarter, half, full] = [0.25, 0.5, 1].map(speedAt);
    assert.ok(Math.abs(full - 0.3) < 1e-9, `${full}`);
    assert.ok(quarter > 0 && quarter < half && half < full);
    assert.ok(half / full > 0.5 + 0.1, `saturating: half duty gives ${((half / full) * 100).toFixed(0)} % of full speed`);
    drive(-1);
    run(1000);
    assert.ok(Math.abs(sim.speed() + 0.3) < 1e-9, 'backward as fast as forward without asymmetry');
  });

  it('lags its output: half way to its speed after lag × ln 2, and runs on after a stop', () => {
    const { sim, drive, run } = rig({ lagMs: 100, start: 0.2, lengthM: 100 });
    drive(1);
    run(Math.round(100 * Math.LN2));
    assert.ok(Math.abs(sim.speed() - 0.15) < 0.002, `${sim.speed()}`);
    run(2000);
    const at = sim.position();
    drive(0);
    run(2000);
    // A first-order lag runs on by lag × speed.
    assert.ok(Math.abs(sim.position() - at - 0.1 * 0.3) < 0.001, `${sim.position() - at}`);
  });

  it('closes the switch at each end, where limits.ts reads it, and holds the car at the end stop', async () => {
    const { sim, drive, run } = rig({ lagMs: 10, start: 0.5, lengthM: 1, overtravelM: 0.02 });
    const board = { openInput: async (pin: number) => sim.openInput(pin) };
    const limits = await openLimitSwitches({ backward: { pin: 23, activeLow: true, debounceMs: 0 }, forward: { pin: 24, activeLow: true, debounceMs: 0 } }, board);
    const changes: string[] = [];
    // To the millimetre, and a hair before zero is zero.
    const at = (x: number) => (Math.abs(x) < 0.0005 ? 0 : x).toFixed(3);
    limits.onChange((end: TrackEnd, closed: boolean) => changes.push(`${end} ${closed ? 'closed' : 'open'} at ${at(sim.position())}`));
    assert.deepEqual(limits.closed, { backward: false, forward: false });
    drive(1);
    run(5000);
    assert.deepEqual(changes, ['forward closed at 1.000']);
    assert.equal(sim.position(), 1.02, 'pressed against the end stop');
    drive(-1);
    run(10_000);
    assert.deepEqual(changes, ['forward closed at 1.000', 'forward open at 1.000', 'backward closed at 0.000']);
    await limits.close();
  });

  it('gives the encoder one edge per 1/edgesPerMetre of travel', async () => {
    const { sim, drive, run, clock } = rig({ lagMs: 20, start: 0.1, lengthM: 2, edgesPerMetre: 200 });
    const encoder = await openEncoder({ pin: 17, debounceMs: 1, pull: 'up' }, { openInput: async (pin) => sim.openInput(pin) }, undefined, () => clock.now());
    const from = sim.position();
    drive(0.6);
    run(3000);
    drive(0);
    run(1000);
    const travelled = sim.position() - from;
    assert.ok(Math.abs(encoder.edges - travelled * 200) <= 1, `${encoder.edges} edges for ${travelled} m`);
    await encoder.close();
  });

  it('draws a speed factor within ±noise per run, and within ±jitter each time the car sets off', () => {
    const factors = [1, 2, 3, 4, 5, 6, 7, 8].map((seed) => new SimTrack({ seed, noise: 0.05 }, PINS, new VirtualClock()).runFactor);
    assert.ok(factors.every((f) => f >= 0.95 && f <= 1.05), factors.join(', '));
    assert.equal(new Set(factors).size, factors.length);
    const { sim, drive, run } = rig({ jitter: 0.05, lagMs: 1, lengthM: 100, start: 0.01 });
    const speeds = new Set<number>();
    for (let i = 0; i < 5; i++) {
      drive(1);
      run(500);
      speeds.add(Math.round(sim.speed() * 1e6));
      drive(0);
      run(500);
    }
    assert.ok(speeds.size > 1, 'each movement has its own speed');
    assert.ok([...speeds].every((s) => s / 1e6 >= 0.3 * 0.95 && s / 1e6 <= 0.3 * 1.05));
  });

  it('cannot pass a jam (from either side): it stops there, its encoder stops counting, and it drives off again; cleared, it passes', async () => {
    const { sim, drive, run, clock } = rig({ lagMs: 20, start: 0.1, lengthM: 2, edgesPerMetre: 200, jamAt: 0.5 });
    const encoder = await openEncoder({ pin: 17, debounceMs: 0, pull: 'up' }, { openInput: async (pin) => sim.openInput(pin) }, undefined, () => clock.now());
    drive(1);
    run(10_000);
    assert.equal(sim.position(), 1, 'against the jam at 1 m');
    const hit = sim.jammedSince();
    assert.ok(hit !== undefined && hit > 0 && hit < 10_000);
    const edges = encoder.edges;
    run(2000);
    assert.equal(encoder.edges, edges, 'no edge while jammed');
    assert.equal(sim.jammedSince(), hit);
    drive(-1);
    run(1000);
    assert.ok(sim.position() < 0.8);
    assert.equal(sim.jammedSince(), undefined);
    sim.jam(undefined);
    drive(1);
    run(10_000);
    assert.ok(sim.position() > 1.9, 'cleared: on to the far end');
    // The other side of it now.
    sim.jam(0.5);
    drive(-1);
    run(10_000);
    assert.equal(sim.position(), 1);
    await encoder.close();
  });

  it('with bounceMs, a switch chatters an even number of times within it, then reads its true level', async () => {
    const { sim, drive, run, clock } = rig({ lagMs: 10, start: 0.5, lengthM: 1, bounceMs: 5 });
    const levels: [number, number][] = [];
    const input = sim.openInput(24);
    input.watch(() => levels.push([clock.now(), input.read()]));
    drive(1);
    run(5000);
    // Active low: closed is 0. The first report is the contact; the chatter follows within 5 ms.
    assert.ok(levels.length >= 3 && levels.length % 2 === 1, JSON.stringify(levels));
    assert.equal(levels[0][1], 0);
    assert.equal(levels.at(-1)![1], 0, 'settles closed');
    assert.ok(levels.at(-1)![0] - levels[0][0] <= 5, 'within bounceMs');
    for (let i = 1; i < levels.length; i++) assert.notEqual(levels[i][1], levels[i - 1][1], 'every report is a change');
    assert.equal(input.read(), 0);
  });

  it('refuses a pin it has nothing on', () => {
    const { sim } = rig();
    assert.throws(() => sim.openInput(5), /sim track: nothing is wired to pin 5/);
  });
});
