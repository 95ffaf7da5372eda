import assert from 'node:assert/strict';
import { spawnSync } from '../support/isolation';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { busWithChips, FileStore, reportChip, writeStateFile, type WorldState } from '../fakes/i2c-bus';
import { removeOnExit } from '../support/cleanup';
import { spawnProcess, CLI_PATH, REPO_ROOT } from '../support/process';

const UNIT = path.join(REPO_ROOT, 'carbot-safe-state.service');
const SHIPPED_NODE = '/usr/bin/node';

/** Every assignment of a section, in order (a key may repeat, as Before= does). */
function assignments(text: string, wanted: string): [string, string][] {
  const out: [string, string][] = [];
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1] ?? '';
      continue;
    }
    const eq = line.indexOf('=');
    if (section === wanted && eq > 0) out.push([line.slice(0, eq), line.slice(eq + 1)]);
  }
  return out;
}
/** The space-separated values of a key, over all its assignments. */
const values = (pairs: [string, string][], key: string) => pairs.filter(([k]) => k === key).flatMap(([, v]) => v.split(/\s+/));
const single = (pairs: [string, string][], key: string) => {
  const found = pairs.filter(([k]) => k === key);
  assert.equal(found.length, 1, `${key}= once`);
  return found[0][1];
};

/**
 * carbot-safe-state.service: the stop at boot. A PCA9685 keeps its outputs through a reboot of
 * the Pi, so this oneshot runs `carbot safe-state` as soon as the I2C bus exists, before the
 * network, without waiting on a bus a machine does not have.
 */
describe('carbot-safe-state.service (the stop at boot)', () => {
  const text = readFileSync(UNIT, 'utf8');
  const unit = assignments(text, 'Unit');
  const service = assignments(text, 'Service');
  const install = assignments(text, 'Install');

  it('passes systemd-analyze verify without a word', function () {
    this.timeout(20000);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'carbot-unit-'));
    try {
      const copy = path.join(dir, 'carbot-safe-state.service');
      // verify checks that ExecStart's program exists; node may live elsewhere on this machine.
      writeFileSync(copy, text.replace(`ExecStart=${SHIPPED_NODE} `, `ExecStart=${process.execPath} `));
      const result = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
      if (result.error) throw new Error(`cannot run systemd-analyze (apt-get install systemd): ${result.error.message}`);
      assert.equal(`${result.stdout}${result.stderr}`, '');
      assert.equal(result.status, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('is a oneshot that runs carbot safe-state with carbot’s settings', () => {
    assert.equal(single(service, 'Type'), 'oneshot');
    assert.equal(single(service, 'ExecStart'), `${SHIPPED_NODE} /opt/carbot/dist/cli.js safe-state`);
    assert.equal(single(service, 'EnvironmentFile'), '-/etc/default/carbot');
    assert.equal(single(service, 'User'), 'carbot');
    assert.deepEqual(values(service, 'SupplementaryGroups'), ['gpio', 'i2c']);
  });

  it('runs early: no default dependencies, after the I2C bus’s device, before anything networked and before carbot', () => {
    assert.equal(single(unit, 'DefaultDependencies'), 'no');
    assert.deepEqual(values(unit, 'After'), ['dev-i2c\\x2d1.device']);
    for (const target of ['network-pre.target', 'carbot.service', 'carbot-pigpio.service', 'shutdown.target']) {
      assert.ok(values(unit, 'Before').includes(target), `Before=${target}`);
    }
    assert.deepEqual(values(unit, 'Wants'), ['network-pre.target']);
    assert.deepEqual(values(unit, 'Conflicts'), ['shutdown.target']);
    // Nothing that would hold the boot for a bus that is not there, nor wait for the network.
    assert.ok(!values(unit, 'Wants').concat(values(unit, 'Requires')).some((u) => u.endsWith('.device')));
    assert.ok(!values(unit, 'After').some((u) => u.startsWith('network')));
    assert.equal(single(service, 'PrivateNetwork'), 'yes');
  });

  it('is started by the bus appearing: enabled into dev-i2c\\x2d1.device, which the shipped udev rule makes a unit', () => {
    assert.deepEqual(values(install, 'WantedBy'), ['dev-i2c\\x2d1.device']);
    const rule = readFileSync(path.join(REPO_ROOT, 'scripts', '60-carbot-i2c.rules'), 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#'));
    assert.deepEqual(rule, ['SUBSYSTEM=="i2c-dev", KERNEL=="i2c-[0-9]*", TAG+="systemd"']);
  });

  describe('its ExecStart, run as the compiled CLI on a HAT a reboot left driving', () => {
    const preload = path.join(REPO_ROOT, 'test', 'fakes', 'i2c-bus-preload.js');
    let removeDir: () => void = () => undefined;
    afterEach(() => removeDir());

    /** A servo HAT whose channels 0 and 1 run at half a period, as a dead carbot left them. */
    function drivingHat(dir: string, faults: NonNullable<WorldState['buses'][string]['chips'][string]['faults']>): string {
      const world: WorldState = { buses: { '1': busWithChips(0x40) } };
      const chip = world.buses['1'].chips['64'];
      chip.registers[0x00] = 0x20; // awake, auto-increment
      for (const ch of [0, 1]) chip.registers.splice(6 + 4 * ch, 4, 0, 0, 0x00, 0x01); // ON 0, OFF 256
      chip.faults = faults;
      return writeStateFile(dir, world);
    }

    for (const [what, faults, line] of [
      ['NAKs its first three tries', { nak: 3 }, /switched off through ALL_LED instead \(attempt 3 of 5\)/],
      ['does not keep the prescale', { prescaleReadBack: 0x1e }, /switched off through ALL_LED instead \(attempt 1 of 5\)/],
    ] as const) {
      it(`a chip that ${what}: every channel full off, exit 0, and the journal says how`, async function () {
        this.timeout(30000);
        const dir = mkdtempSync(path.join(os.tmpdir(), 'carbot-boot-'));
        removeDir = removeOnExit(dir);
        const stateFile = drivingHat(dir, { ...faults });
        const chipNow = () => reportChip(new FileStore(stateFile).load().buses['1'].chips['64']);
        assert.deepEqual(chipNow().channels.slice(0, 2).map((c) => c.output), ['pwm', 'pwm']);

        const [node, ...args] = single(service, 'ExecStart').split(' ');
        assert.equal(node, SHIPPED_NODE);
        assert.equal(args[0], '/opt/carbot/dist/cli.js');
        const boot = spawnProcess(process.execPath, ['--require', preload, CLI_PATH, ...args.slice(1)], {
          CARBOT_FAKE_I2C_STATE: stateFile,
          CARBOT_MOTORS: 'adafruit-servo-hat',
        });
        assert.equal((await boot.exited).code, 0, boot.output());
        assert.match(boot.output(), line);
        const chip = chipNow();
        assert.ok(chip.channels.every((c) => c.fullOff && c.output === 'low'), JSON.stringify(chip.channels.slice(0, 2)));
      });
    }
  });
});
