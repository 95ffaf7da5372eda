import assert from 'node:assert/strict';
import { spawnSync } from '../support/isolation';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const ROOT = path.join(__dirname, '..', '..');
/** carbot.service runs as the user carbot (kernel, pca9685, sim); carbot-pigpio.service as root. */
const VARIANTS = ['carbot.service', 'carbot-pigpio.service'] as const;
const SHIPPED_NODE = '/usr/bin/node';
/** Node's inspector, should a SIGUSR1 open it before carbot's listener is in, on no address of this machine. */
const NODE_FLAGS = '--inspect-port=192.0.2.1:9229';

/** The [Service] settings of the unit, the last assignment winning as in systemd. */
function serviceSettings(text: string): Map<string, string> {
  const settings = new Map<string, string>();
  let section = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1] ?? '';
      continue;
    }
    const eq = line.indexOf('=');
    if (section === 'Service' && eq > 0) settings.set(line.slice(0, eq), line.slice(eq + 1));
  }
  return settings;
}

for (const variant of VARIANTS) describe(variant, () => {
  const text = readFileSync(path.join(ROOT, variant), 'utf8');
  const service = serviceSettings(text);

  it('passes systemd-analyze verify without a word', function () {
    this.timeout(20000);
    // verify checks that ExecStart's program exists and is executable. The shipped path is
    // where Raspberry Pi OS and NodeSource put node; a machine with node elsewhere checks a
    // copy that differs in that one path.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'carbot-unit-'));
    try {
      const copy = path.join(dir, 'carbot.service');
      writeFileSync(copy, text.replace(`ExecStart=${SHIPPED_NODE} `, `ExecStart=${process.execPath} `));
      const result = spawnSync('systemd-analyze', ['verify', copy], { encoding: 'utf8' });
      if (result.error) {
        throw new Error(`cannot run systemd-analyze (apt-get install systemd): ${result.error.message}`);
      }
      assert.equal(`${result.stdout}${result.stderr}`, '');
      assert.equal(result.status, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runs the compiled service from /opt/carbot with the system node', () => {
    assert.equal(service.get('ExecStart'), `${SHIPPED_NODE} ${NODE_FLAGS} /opt/carbot/dist/cli.js`);
    assert.equal(service.get('EnvironmentFile'), '-/etc/default/carbot');
  });

  it('drives every output to stop after carbot, however it ended (SIGKILL, OOM, watchdog abort)', () => {
    assert.equal(service.get('ExecStopPost'), `${SHIPPED_NODE} ${NODE_FLAGS} /opt/carbot/dist/cli.js safe-state`);
  });

  if (variant === 'carbot.service') {
    it('runs as the user carbot in the gpio and i2c groups, with no capabilities and a private /dev but for I2C', () => {
      assert.equal(service.get('User'), 'carbot');
      assert.equal(service.get('SupplementaryGroups'), 'gpio i2c');
      assert.equal(service.get('CapabilityBoundingSet'), '');
      assert.equal(service.get('PrivateDevices'), 'yes');
      assert.equal(service.get('DeviceAllow'), 'char-i2c rw');
      assert.equal(service.get('ProtectKernelTunables'), 'yes');
      assert.match(service.get('ReadWritePaths') ?? '', /\/sys\/class\/gpio.*\/sys\/class\/pwm/);
    });
  } else {
    it('runs as root, because pigpio maps /dev/mem, and says so', () => {
      assert.equal(service.get('User'), undefined);
      assert.match(text, /pigpio maps\s+(# )?\/dev\/mem/);
    });
  }

  it('waits for readiness, is watched, and restarts on failure but not on a configuration error or a car another carbot drives', () => {
    assert.equal(service.get('Type'), 'notify');
    assert.equal(service.get('NotifyAccess'), 'all');
    assert.equal(service.get('WatchdogSec'), '10s');
    assert.equal(service.get('Restart'), 'on-failure');
    assert.equal(service.get('RestartPreventExitStatus'), '78 75');
  });

  it('gives the 3 s shutdown room before SIGKILL', () => {
    const stop = /^(\d+)s$/.exec(service.get('TimeoutStopSec') ?? '');
    assert.ok(stop && Number(stop[1]) > 3, `TimeoutStopSec=${service.get('TimeoutStopSec')}`);
  });

  it('says why for every setting in the hardening block', () => {
    const lines = text.split('\n');
    const start = lines.findIndex((l) => l.startsWith('# Hardening'));
    const end = lines.findIndex((l) => l.startsWith('# Left out on purpose'));
    assert.ok(start > 0 && end > start);
    const uncommented = lines
      .slice(start + 1, end)
      .filter((line, i, block) => /^\w+=/.test(line) && !(block[i - 1] ?? '').startsWith('#'));
    assert.deepEqual(uncommented, []);
  });
});

/** `systemd-analyze security --offline=true`'s overall exposure of a copy of the unit, or undefined without --offline. */
function exposure(variant: string): number | undefined {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'carbot-exposure-'));
  try {
    const copy = path.join(dir, variant);
    writeFileSync(copy, readFileSync(path.join(ROOT, variant), 'utf8').replaceAll(`=${SHIPPED_NODE} `, `=${process.execPath} `));
    const result = spawnSync('systemd-analyze', ['security', '--offline=true', '--no-pager', copy], { encoding: 'utf8' });
    if (result.error) throw new Error(`cannot run systemd-analyze (apt-get install systemd): ${result.error.message}`);
    const overall = /Overall exposure level for \S+: (\d+\.\d)/.exec(`${result.stdout}${result.stderr}`);
    if (!overall && /offline/.test(result.stderr)) return undefined;
    assert.ok(overall, `${result.stdout}${result.stderr}`);
    return Number(overall[1]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('the pigpio unit against the rootless one', () => {
  it('is exposed at most 1 more (systemd-analyze security --offline=true)', function () {
    this.timeout(30_000);
    const rootless = exposure('carbot.service');
    const pigpio = exposure('carbot-pigpio.service');
    if (rootless === undefined || pigpio === undefined) {
      console.warn('!!! systemd-analyze has no --offline (systemd 252 or newer has it): the units\' exposures were not compared');
      this.skip();
    }
    assert.ok(pigpio! <= rootless! + 1, `carbot-pigpio.service ${pigpio}, carbot.service ${rootless}`);
  });

  it('leaves nothing in /run writable that configures something running as root', () => {
    const service = serviceSettings(readFileSync(path.join(ROOT, 'carbot-pigpio.service'), 'utf8'));
    const readOnly = (service.get('ReadOnlyPaths') ?? '').split(/\s+/).map((p) => p.replace(/^-/, ''));
    for (const dir of ['/run/systemd', '/run/udev', '/run/modprobe.d', '/run/tmpfiles.d', '/run/sysctl.d']) assert.ok(readOnly.includes(dir), dir);
    assert.doesNotMatch(service.get('CapabilityBoundingSet') ?? '', /CAP_DAC_OVERRIDE|CAP_MKNOD/);
  });
});

