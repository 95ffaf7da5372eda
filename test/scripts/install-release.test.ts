import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from '../support/isolation';
import { SYSTEM_NODE_FIRST } from '../support/system-node';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * scripts/install.sh on the releases a maker flashes: trixie (Debian 13, no pigpio package,
 * Node 20 of its own) and bookworm (pigpio, Node from NodeSource), against a temporary root
 * holding the release's os-release, a Raspberry Pi 4's device tree and (on bookworm) the
 * pigpio C library. The compiled carbot (dist/, `npm run build` first) answers `carbot
 * boards` and `carbot config-txt` about that root, as on the Pi; under --root install.sh
 * only prints the apt-get commands, it never runs apt.
 */
const REPO = path.join(__dirname, '..', '..');

function run(cmd: string, args: string[], opts: { cwd?: string } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, {
    cwd: opts.cwd,
    encoding: 'utf8',
    env: { DESTDIR: undefined, ...SYSTEM_NODE_FIRST, npm_config_update_notifier: 'false', npm_config_audit: 'false', npm_config_fund: 'false' },
  });
}

function ok(result: SpawnSyncReturns<string>, what: string): SpawnSyncReturns<string> {
  assert.equal(result.status, 0, `${what} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  return result;
}

const PI4 = { model: 'Raspberry Pi 4 Model B Rev 1.4\0', compatible: 'raspberrypi,4-model-b\0brcm,bcm2711\0' };

describe('scripts/install.sh per release (trixie, bookworm) with the compiled carbot', function () {
  this.timeout(120_000);
  let tmp: string;
  let src: string;
  let n = 0;

  before(function () {
    assert.ok(existsSync(path.join(REPO, 'dist', 'cli.js')), 'run npm run build first');
    tmp = mkdtempSync(path.join(os.tmpdir(), 'carbot-install-release-'));
    src = path.join(tmp, 'src');
    // The checkout as install.sh sees it with --skip-build: the real scripts, units, page and
    // compiled service, and a node_modules/ holding only pigpio as npm builds it on a Pi whose
    // pigpio C library was installed first (its addon links libpigpio.so.1).
    mkdirSync(src);
    // Every unit at the root: the service's two variants and the stop at boot.
    for (const entry of ['scripts', 'web', 'dist', ...readdirSync(REPO).filter((f) => f.endsWith('.service'))]) {
      cpSync(path.join(REPO, entry), path.join(src, entry), { recursive: true });
    }
    const vendor = path.join(src, 'vendor', 'pigpio', 'package');
    mkdirSync(path.join(vendor, 'build', 'Release'), { recursive: true });
    writeFileSync(path.join(vendor, 'package.json'), JSON.stringify({ name: 'pigpio', version: '3.3.1', main: 'pigpio.js' }));
    writeFileSync(path.join(vendor, 'pigpio.js'), 'module.exports = {};\n');
    writeFileSync(path.join(vendor, 'build', 'Release', 'pigpio.node'), 'ELF NEEDED libpigpio.so.1 gpioInitialise');
    ok(run('tar', ['-czf', path.join(src, 'vendor', 'pigpio-3.3.1.tgz'), '-C', path.dirname(vendor), 'package']), 'packing pigpio');
    rmSync(path.dirname(vendor), { recursive: true });
    writeFileSync(
      path.join(src, 'package.json'),
      JSON.stringify({ name: 'carbot', version: '9.8.7', private: true, dependencies: { pigpio: 'file:vendor/pigpio-3.3.1.tgz' } }, null, 2),
    );
    ok(run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: src }), 'npm install in the stand-in checkout');
  });

  after(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** A root with the release's os-release, a Pi 4's device tree and, when given, the pigpio C library. */
  function piRoot(release: 'trixie' | 'bookworm', withPigpio: boolean, configTxt?: string): string {
    const root = path.join(tmp, `root${++n}`);
    mkdirSync(path.join(root, 'etc'), { recursive: true });
    const version = release === 'trixie' ? '13' : '12';
    writeFileSync(path.join(root, 'etc', 'os-release'), `PRETTY_NAME="Debian GNU/Linux ${version} (${release})"\nVERSION_ID="${version}"\nVERSION_CODENAME=${release}\nID=debian\n`);
    const dt = path.join(root, 'proc', 'device-tree');
    mkdirSync(dt, { recursive: true });
    writeFileSync(path.join(dt, 'model'), PI4.model);
    writeFileSync(path.join(dt, 'compatible'), PI4.compatible);
    mkdirSync(path.join(root, 'usr', 'lib'), { recursive: true });
    if (withPigpio) writeFileSync(path.join(root, 'usr', 'lib', 'libpigpio.so.1'), 'ELF');
    if (configTxt !== undefined) {
      mkdirSync(path.join(root, 'boot', 'firmware'), { recursive: true });
      writeFileSync(path.join(root, 'boot', 'firmware', 'config.txt'), configTxt);
    }
    return root;
  }

  const install = (root: string) =>
    run('bash', [path.join(src, 'scripts', 'install.sh'), '--skip-build', '--no-mosquitto', '--node', process.execPath, '--root', root]);

  it('trixie on a Pi 4: no pigpio package, Debian\'s nodejs; the kernel board, and the config.txt lines its pins need', () => {
    const root = piRoot('trixie', false);
    const out = ok(install(root), 'install').stdout;
    assert.match(out, /^install\.sh: release: trixie \(no pigpio package: the kernel board or a PCA9685 HAT\)$/m);
    // The Node 20+ that runs carbot is there already (--node): no nodejs package on top of it.
    assert.match(out, /^ {4}sudo apt-get install -y git build-essential python3 mosquitto mosquitto-clients qrencode$/m);
    assert.doesNotMatch(out, /pigpio\b(?! package)/, 'no pigpio to install or disable');
    // The default car: L298N enables on GPIO 12 and 13.
    assert.match(out, /installed .*carbot\.service \(from carbot\.service: boards: kernel; runs as the user carbot, no root\)/);
    assert.match(
      out,
      /install\.sh: the kernel board drives the motors' PWM here: add to \/boot\/firmware\/config\.txt, then reboot:\n {4}dtoverlay=pwm-2chan,pin=12,func=4,pin2=13,func2=4\n {4}dtparam=audio=off\n/,
    );
    const unit = readFileSync(path.join(root, 'etc', 'systemd', 'system', 'carbot.service'), 'utf8');
    assert.match(unit, /^User=carbot$/m);
  });

  it('trixie without Node 20: Debian\'s own nodejs and npm, no NodeSource', () => {
    const root = piRoot('trixie', false);
    const result = run('bash', [path.join(src, 'scripts', 'install.sh'), '--skip-build', '--no-mosquitto', '--node', path.join(root, 'no-node'), '--root', root]);
    assert.equal(result.status, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /^ {4}sudo apt-get install -y git build-essential python3 mosquitto mosquitto-clients qrencode nodejs npm$/m);
    assert.match(result.stderr, /Debian's own package is Node 20: sudo apt-get install -y nodejs npm/);
    assert.doesNotMatch(result.stderr, /nodesource/);
  });

  it('trixie with the lines already in config.txt: says so instead of asking again', () => {
    const root = piRoot('trixie', false, '[all]\ndtoverlay=pwm-2chan,pin=12,func=4,pin2=13,func2=4\ndtparam=audio=off\n');
    const out = ok(install(root), 'install').stdout;
    assert.match(out, /install\.sh: \/boot\/firmware\/config\.txt has the lines the kernel board needs/);
    assert.doesNotMatch(out, /then reboot/);
  });

  it('bookworm on a Pi 4 with the pigpio C library: pigpio installed and its daemon disabled, the root unit, no config.txt line', () => {
    const root = piRoot('bookworm', true);
    const out = ok(install(root), 'install').stdout;
    assert.match(out, /^install\.sh: release: bookworm \(pigpio available\)$/m);
    assert.match(out, /^ {4}sudo apt-get install -y git build-essential python3 mosquitto mosquitto-clients qrencode pigpio$/m);
    assert.match(out, /^ {4}sudo systemctl disable --now pigpiod/m);
    assert.match(out, /from carbot-pigpio\.service: the pigpio board needs root/);
    assert.doesNotMatch(out, /dtoverlay/);
  });

  it('bookworm on a Pi 4 before apt-get install pigpio: the kernel board, as without the library pigpio cannot run', () => {
    const root = piRoot('bookworm', false);
    const out = ok(install(root), 'install').stdout;
    assert.match(out, /boards: kernel; runs as the user carbot/);
    assert.match(out, /dtoverlay=pwm-2chan,pin=12,func=4,pin2=13,func2=4/);
  });
});
