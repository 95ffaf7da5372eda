import assert from 'node:assert/strict';
import sinon from 'sinon';
import { onoffInput, openPins } from '../../src/boards/onoff';
import { PigpioBoard } from '../../src/boards/pigpio';
import type { Board } from '../../src/boards/types';
import { openLimitSwitches } from '../../src/sensors/limits';
import type { LimitSwitches, LimitsConfig, TrackEnd } from '../../src/motors/types';
import { fakeHardware, logged, memoryLogger } from '../fakes/hardware';

/** Forward switch on GPIO 23 to ground (pin reads 0 when closed), backward on 24 to 3.3 V. */
const LIMITS: LimitsConfig = {
  forward: { pin: 23, activeLow: true, debounceMs: 20 },
  backward: { pin: 24, activeLow: false, debounceMs: 20 },
};

describe('limit switches', () => {
  let clock: sinon.SinonFakeTimers;
  let switches: LimitSwitches | undefined;
  beforeEach(() => {
    clock = sinon.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  });
  afterEach(async () => {
    await switches?.close();
    switches = undefined;
    clock.restore();
  });

  /** Inputs through onoff alone (as the kernel board opens them) or with pigpio's pull resistors. */
  function boardOf(hw: ReturnType<typeof fakeHardware>, withPigpio: boolean): Board {
    // No udev wait: this fake onoff's pins have no gpioN/ files to wait for (the wait: kernel-hardware.test.ts).
    const deps = { requireModule: hw.requireModule, gpioBase: 0, udevWaitMs: 0 };
    if (withPigpio) return new PigpioBoard('Raspberry Pi 4 Model B', { ...deps, pigpio: hw.pigpio });
    const pins = openPins(deps);
    return { openInput: async (pin: number) => onoffInput(await pins.input(pin)) } as unknown as Board;
  }

  async function open(limits: LimitsConfig = LIMITS, withPigpio = false) {
    const hw = fakeHardware();
    hw.board.levels.set(23, 1);
    hw.board.levels.set(24, 0);
    const changes: [TrackEnd, boolean][] = [];
    switches = await openLimitSwitches(limits, boardOf(hw, withPigpio));
    switches.onChange((end, closed) => changes.push([end, closed]));
    return { ...hw, switches, changes };
  }

  it('opens each switch as an input with both edges, reads where it stands, then watches it', async () => {
    const hw = await open();
    assert.deepEqual(hw.calls.take(), [
      'onoff.Gpio(23,in,both)',
      'onoff.readSync(23)',
      'onoff.watch(23)',
      'onoff.Gpio(24,in,both)',
      'onoff.readSync(24)',
      'onoff.watch(24)',
    ]);
    assert.deepEqual(hw.switches.closed, { forward: false, backward: false });
  });

  it('with pigpio at hand, sets the pull resistor the wiring needs first (sysfs cannot)', async () => {
    const hw = await open(LIMITS, true);
    assert.deepEqual(
      hw.calls.take().filter((c) => c.startsWith('pigpio.Gpio') || c.startsWith('onoff.Gpio')),
      [
        'pigpio.Gpio(23,{mode:INPUT,pullUpDown:PUD_UP})',
        'onoff.Gpio(23,in,both)',
        'pigpio.Gpio(24,{mode:INPUT,pullUpDown:PUD_DOWN})',
        'onoff.Gpio(24,in,both)',
      ],
    );
  });

  it('reports a switch that is already closed at start-up', async () => {
    const hw = fakeHardware();
    hw.board.levels.set(23, 0);
    switches = await openLimitSwitches({ forward: LIMITS.forward }, boardOf(hw, false));
    assert.deepEqual(switches.closed, { forward: true });
  });

  it('ignores a bounce that settles back within the debounce window', async () => {
    const hw = await open();
    hw.board.edge(23, 0);
    clock.tick(5);
    hw.board.edge(23, 1);
    clock.tick(5);
    hw.board.edge(23, 0);
    clock.tick(5);
    hw.board.edge(23, 1);
    clock.tick(100);
    assert.deepEqual(hw.changes, []);
    assert.equal(hw.switches.closed.forward, false);
  });

  it('reports a real change once, debounceMs after the last bounce', async () => {
    const hw = await open();
    hw.board.edge(23, 0);
    clock.tick(3);
    hw.board.edge(23, 1);
    clock.tick(3);
    hw.board.edge(23, 0);
    clock.tick(19);
    assert.deepEqual(hw.changes, []);
    clock.tick(1);
    assert.deepEqual(hw.changes, [['forward', true]]);
    assert.equal(hw.switches.closed.forward, true);
    clock.tick(1000);
    assert.deepEqual(hw.changes, [['forward', true]]);
  });

  it('reports opening again, and an active-high switch the other way round', async () => {
    const hw = await open();
    hw.board.edge(23, 0);
    clock.tick(20);
    hw.board.edge(23, 1);
    clock.tick(20);
    hw.board.edge(24, 1);
    clock.tick(20);
    assert.deepEqual(hw.changes, [
      ['forward', true],
      ['forward', false],
      ['backward', true],
    ]);
    assert.deepEqual(hw.switches.closed, { forward: false, backward: true });
  });

  it('debounceMs 0 reports every settled edge at once', async () => {
    const hw = await open({ forward: { pin: 23, activeLow: true, debounceMs: 0 } });
    hw.board.edge(23, 0);
    assert.deepEqual(hw.changes, [['forward', true]]);
  });

  it('logs an error from the interrupt and carries on', async () => {
    const hw = fakeHardware();
    hw.board.levels.set(23, 1);
    const { log, lines } = memoryLogger();
    const changes: boolean[] = [];
    switches = await openLimitSwitches({ forward: LIMITS.forward }, boardOf(hw, false), log);
    switches.onChange((_end, closed) => changes.push(closed));
    hw.board.fault(23, new Error('EPOLLERR'));
    clock.tick(50);
    hw.board.edge(23, 0);
    clock.tick(50);
    await logged();
    assert.deepEqual(lines, ['warn: limit switch forward (GPIO 23): EPOLLERR', 'debug: limit switch forward closed']);
    assert.deepEqual(changes, [true]);
  });

  it('close gives the pins back, drops a pending change, and is idempotent', async () => {
    const hw = await open();
    hw.calls.take();
    hw.board.edge(23, 0);
    await hw.switches.close();
    await hw.switches.close();
    clock.tick(100);
    assert.deepEqual(hw.changes, []);
    assert.deepEqual(hw.calls.take(), ['onoff.unexport(23)', 'onoff.unexport(24)']);
    assert.equal(hw.board.watched(23), false);
    switches = undefined;
  });

  it('no switches configured: nothing is opened, not even onoff', async () => {
    const openInput = sinon.spy();
    switches = await openLimitSwitches({}, { openInput } as unknown as Board);
    assert.deepEqual(switches.closed, {});
    sinon.assert.notCalled(openInput);
  });

  it('a pin that cannot be opened names the switch, and the ones already open are released', async () => {
    const hw = fakeHardware();
    hw.calls.failOn('onoff.Gpio(24,in,both)', Object.assign(new Error('EACCES: permission denied, open'), { code: 'EACCES' }));
    await assert.rejects(
      openLimitSwitches(LIMITS, boardOf(hw, false)),
      /^Error: limits\.backward: cannot open GPIO 24: EACCES: permission denied, open; add the user carbot runs as to the gpio group \(sudo usermod -aG gpio carbot, then restart carbot\)$/,
    );
    assert.deepEqual(hw.calls.take().slice(-2), ['onoff.Gpio(24,in,both)', 'onoff.unexport(23)']);
  });
});
