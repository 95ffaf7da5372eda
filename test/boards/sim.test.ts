import { strict as assert } from 'node:assert';
import { loadConfig } from '../../src/config/config';
import { openHardware } from '../../src/motors';
import type { BoardMotorBank } from '../../src/motors/bank';
import { openTrackHardware } from '../../src/sensors/track-hardware';
import { openSimBoard } from '../../src/boards/sim';
import { memoryLogger } from '../support/carbot';
import { VirtualClock } from '../support/virtual-clock';
import { waitUntil } from '../support/wait';

/** Log lines reach the memory logger's array on the real event loop. */
const logged = (lines: string[], pattern: RegExp) => waitUntil(() => lines.some((l) => pattern.test(l)), () => `no line ${pattern}:\n${lines.join('\n')}`, 2000);

/**
 * The simulator is a board: openHardware opens it as it opens pigpio, kernel or a PCA9685
 * (`gpio: "sim"`), the motors are written through it, and with `track.sim` its writes move
 * the simulated car, whose switches and encoder are the board's inputs. What the shell reads
 * of it comes as `hardware.sim`, on no other board.
 */
function config(argv: string[]) {
  return loadConfig({ argv: ['--gpio', 'sim', '--mqtt-url', 'mqtt://127.0.0.1:1', ...argv], env: {}, exists: () => false });
}

const QUIET_TRACK = '{"seed":1,"noise":0,"jitter":0,"start":0.5,"lagMs":1}';

describe('the simulator as a board', () => {
  it('openHardware with gpio sim opens it as the header board: full ahead drives the car to the forward end and closes its switch', async () => {
    const clock = new VirtualClock();
    const { log, lines } = memoryLogger();
    const cfg = config(['--track-sim', QUIET_TRACK, '--track-length-m', '2']);
    const hardware = await openHardware(cfg, log, { clock });
    try {
      assert.equal(hardware.motors.backend, 'sim');
      const board = (hardware.motors as BoardMotorBank).boards.gpio;
      assert.equal(board?.kind, 'sim');
      await logged(lines, /GPIO backend: sim \(motors left, right\)/);
      await logged(lines, /sim track: 2 m, switches on pins 23 \(backward end\) and 24 \(forward end\)/);
      const track = hardware.sim?.track;
      assert.ok(track, 'the simulated track is behind the board');
      assert.equal(hardware.limits?.closed.forward, false);
      assert.equal(hardware.limits?.closed.backward, false);
      const start = track.position();

      hardware.motors.write({ left: 1, right: 1 });
      assert.deepEqual(hardware.sim?.outputs, { left: 1, right: 1 });
      assert.ok(clock.runUntil(() => hardware.limits?.closed.forward === true, 20_000), `switch still open at ${track.position()} m`);
      assert.ok(track.position() >= 2 && start < 2, `the car at ${track.position()} m`);

      // Stopped, the car stays at the end and the switch stays closed.
      hardware.motors.stopAll();
      assert.deepEqual(hardware.sim?.outputs, { left: 0, right: 0 });
      clock.runUntil(() => false, 2000);
      assert.equal(hardware.limits?.closed.forward, true);

      // Backward, it leaves the switch and reaches the other.
      hardware.motors.write({ left: -1, right: -1 });
      assert.ok(clock.runUntil(() => hardware.limits?.closed.backward === true, 20_000));
      assert.equal(hardware.limits?.closed.forward, false);
    } finally {
      await hardware.limits?.close();
      await hardware.motors.close();
    }
  });

  it("its track's encoder is opened on the same board, the way a car's is, and counts as the car moves", async () => {
    const clock = new VirtualClock();
    const { log } = memoryLogger();
    const cfg = config(['--track-sim', QUIET_TRACK, '--track-length-m', '2', '--track-encoder', '{"pin":17,"edgesPerMetre":200}']);
    const hardware = await openHardware(cfg, log, { clock });
    const track = await openTrackHardware(cfg, hardware, log, clock);
    try {
      assert.equal(track.sim, hardware.sim?.track);
      assert.equal(track.encoder?.edges, 0);
      hardware.motors.write({ left: 0.5, right: 0.5 });
      clock.runUntil(() => false, 1000);
      hardware.motors.stopAll();
      clock.runUntil(() => false, 500);
      const moved = track.sim!.position() - 1;
      assert.ok(moved > 0.05, `moved ${moved} m`);
      assert.ok(Math.abs((track.encoder?.edges ?? 0) - moved * 200) <= 2, `${track.encoder?.edges} edges for ${moved} m`);
    } finally {
      await track.encoder?.close();
      await hardware.limits?.close();
      await hardware.motors.close();
    }
  });

  it('without track.sim: motors only, configured switches ignored with a warning, and no input to open', async () => {
    const { log, lines } = memoryLogger();
    const cfg = config(['--limits', '{"forward":{"pin":26}}']);
    const hardware = await openHardware(cfg, log);
    try {
      assert.equal(hardware.limits, undefined);
      assert.equal(hardware.sim?.track, undefined);
      await logged(lines, /limit switches are configured but ignored with simulated motors/);
      hardware.motors.write({ left: 0.3 });
      assert.deepEqual(hardware.sim?.outputs, { left: 0.3, right: 0 });
      const board = (hardware.motors as BoardMotorBank).boards.gpio!;
      await assert.rejects(board.openInput(26, 'up'), /sim: nothing is wired to pin 26/);
      const track = await openTrackHardware(cfg, hardware, log, new VirtualClock());
      assert.deepEqual(track, { limits: undefined });
    } finally {
      await hardware.motors.close();
    }
    assert.throws(() => hardware.motors.write({ left: 1 }), /write after close/);
  });

  it('with recordWrites, every write is traced with the arrival of the command that caused it', async () => {
    const { log } = memoryLogger();
    const hardware = await openHardware(config([]), log, { recordWrites: true });
    const sim = hardware.sim!;
    sim.received = 42n;
    hardware.motors.write({ left: 1, right: 1 });
    sim.received = 43n;
    hardware.motors.write({ left: 0, right: 0 });
    await hardware.motors.close();
    assert.deepEqual(
      sim.writes.map((w) => [w.received, w.outputs]),
      [
        [42n, { left: 1, right: 1 }],
        [43n, { left: 0, right: 0 }],
      ],
    );
    assert.ok(sim.writes.every((w) => typeof w.at === 'bigint'));
  });

  it('opened directly, it is a Board like the others: outputs kept in memory, motors written through its bank', async () => {
    const { log } = memoryLogger();
    const board = openSimBoard({ motors: ['a'] }, log);
    assert.equal(board.kind, 'sim');
    const out = await board.openOutput(4, 1);
    out.write(0);
    out.close();
    const pwm = await board.openPwm(12, 1000);
    pwm.setDuty(0.5);
    pwm.close();
    board.motors.write({ a: -0.4 });
    assert.deepEqual(board.outputs, { a: -0.4 });
    assert.deepEqual(board.close(), []);
  });
});
