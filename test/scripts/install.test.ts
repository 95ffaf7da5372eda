import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from '../support/isolation';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { describeMosquitto, mosquittoPath } from '../support/mosquitto';
import { closeClient, collect, connectClient } from '../support/mqtt';
import { canConnect, freePort } from '../support/ports';
import { requireRoot } from '../support/privilege';
import { spawnProcess, type TrackedProcess } from '../support/process';
import { SYSTEM_NODE_FIRST } from '../support/system-node';

/**
 * scripts/install.sh and uninstall.sh against a temporary root (--root, --no-systemctl).
 * The source tree is a small stand-in for the real checkout: the real scripts, unit and
 * templates, plus a package with one production and one development dependency (local
 * tarballs, so `npm ci` works offline in a second) and a build script that writes
 * dist/cli.js. A real `npm ci` of carbot takes minutes on a Pi; this keeps the test fast.
 */
const REPO = path.join(__dirname, '..', '..');

function run(cmd: string, args: string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, {
    cwd: opts.cwd,
    encoding: 'utf8',
    env: {
      DESTDIR: undefined,
      ...SYSTEM_NODE_FIRST,
      npm_config_update_notifier: 'false',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
      ...opts.env,
    },
  });
}

function ok(result: SpawnSyncReturns<string>, what: string): SpawnSyncReturns<string> {
  assert.equal(result.status, 0, `${what} failed (${result.status}):\n${result.stdout}\n${result.stderr}`);
  return result;
}

function pack(vendor: string, name: string): string {
  const dir = path.join(vendor, name, 'package');
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name, version: '1.0.0', main: 'index.js' }));
  writeFileSync(path.join(dir, 'index.js'), `module.exports = ${JSON.stringify(name)};\n`);
  const tarball = path.join(vendor, `${name}-1.0.0.tgz`);
  ok(run('tar', ['-czf', tarball, '-C', path.join(vendor, name), 'package']), `packing ${name}`);
  rmSync(path.join(vendor, name), { recursive: true });
  return `file:vendor/${name}-1.0.0.tgz`;
}

function makeSourceTree(dir: string): void {
  mkdirSync(path.join(dir, 'scripts'), { recursive: true });
  for (const file of ['install.sh', 'uninstall.sh', 'carbot.default', 'config.example.json', 'mosquitto/merge.js', '60-carbot-i2c.rules']) {
    cpSync(path.join(REPO, 'scripts', file), path.join(dir, 'scripts', file));
  }
  for (const unit of ['carbot.service', 'carbot-pigpio.service', 'carbot-safe-state.service']) cpSync(path.join(REPO, unit), path.join(dir, unit));
  cpSync(path.join(REPO, 'web'), path.join(dir, 'web'), { recursive: true });
  const vendor = path.join(dir, 'vendor');
  mkdirSync(vendor);
  writeFileSync(
    path.join(dir, 'build.js'),
    // The stand-in cli answers `carbot boards` as STUB_BOARDS says (the real one reads the config and the board),
    // and hands `--check-config` to the compiled carbot named by CARBOT_REAL_CLI, when a test sets it.
    `const fs = require('fs');\nfs.mkdirSync('dist', { recursive: true });\nfs.writeFileSync('dist/cli.js', ` +
      `'if (process.argv[2] === "boards") console.log(process.env.STUB_BOARDS || "sim"); ` +
      `else if (process.argv[2] === "--check-config" && process.env.CARBOT_REAL_CLI) process.exit(require("child_process").spawnSync(` +
      `process.execPath, [process.env.CARBOT_REAL_CLI, ...process.argv.slice(2)], { stdio: "inherit" }).status); ` +
      `else console.log(require("prod-dep"));\\n');\n`,
  );
  writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify(
      {
        name: 'carbot',
        version: '9.8.7',
        private: true,
        scripts: { build: 'node build.js' },
        dependencies: { 'prod-dep': pack(vendor, 'prod-dep') },
        devDependencies: { 'dev-dep': pack(vendor, 'dev-dep') },
      },
      null,
      2,
    ),
  );
  ok(run('npm', ['install', '--offline', '--no-audit', '--no-fund'], { cwd: dir }), 'npm install in the fake source tree');
  ok(run('npm', ['run', 'build'], { cwd: dir }), 'building the fake source tree');
}

/** Every file below dir: type, mode, owner and content hash (or link target). */
function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string): void => {
    const full = path.join(dir, rel);
    const st = lstatSync(full);
    const mode = (st.mode & 0o7777).toString(8);
    if (st.isSymbolicLink()) out[rel] = `link ${readlinkSync(full)}`;
    else if (st.isDirectory()) {
      out[rel] = `dir ${mode} ${st.uid}`;
      for (const name of readdirSync(full)) walk(path.join(rel, name));
    } else out[rel] = `file ${mode} ${st.uid} ${createHash('sha256').update(readFileSync(full)).digest('hex')}`;
  };
  walk('.');
  return out;
}

/** Whether the node running the tests has --disable-sigusr1, which install.sh then adds to the unit. */
const nodeHasFlag = spawnSync(process.execPath, ['--disable-sigusr1', '-e', '0']).status === 0;
/** An installed unit as the shipped file reads, but for the --disable-sigusr1 this node may have got. */
const unitAsShipped = (file: string): string => readFileSync(file, 'utf8').replace(/^(Exec\w+=\S+) --disable-sigusr1 /gm, '$1 ');

const mode = (file: string): string => (statSync(file).mode & 0o777).toString(8).padStart(4, '0');

/** The group the tests make carbot's settings readable by: one the test user may hand files to. */
const ADMIN_GROUP = process.getuid?.() === 0 ? 'sudo' : spawnSync('id', ['-gn'], { encoding: 'utf8' }).stdout.trim();
const ADMIN_GID = Number(spawnSync('getent', ['group', ADMIN_GROUP], { encoding: 'utf8' }).stdout.split(':')[2]);

describe('scripts/install.sh and scripts/uninstall.sh', function () {
  this.timeout(60000);
  let tmp: string;
  let src: string;
  let n = 0;

  before(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'carbot-install-'));
    src = path.join(tmp, 'src');
    makeSourceTree(src);
  });

  after(() => {
    rmSync(tmp, { recursive: true, force: true });
  });

  const newRoot = (): string => path.join(tmp, `root${++n}`);
  const install = (...args: string[]): SpawnSyncReturns<string> =>
    run('bash', [path.join(src, 'scripts', 'install.sh'), '--no-systemctl', '--admin-group', ADMIN_GROUP, ...args]);
  const uninstall = (...args: string[]): SpawnSyncReturns<string> =>
    run('bash', [path.join(src, 'scripts', 'uninstall.sh'), '--no-systemctl', ...args]);

  it('builds the source tree and installs carbot, its unit and its settings into an empty root', () => {
    const root = newRoot();
    rmSync(path.join(src, 'dist'), { recursive: true });
    rmSync(path.join(src, 'node_modules'), { recursive: true });

    const installed = ok(install('--root', root), 'install');
    // carbot doctor checks the machine carbot runs on, which a tree being filled is not.
    assert.doesNotMatch(installed.stdout, /carbot doctor/);

    assert.ok(existsSync(path.join(src, 'dist', 'cli.js')), 'npm run build ran in the source tree');
    const opt = path.join(root, 'opt', 'carbot');
    for (const file of ['dist/cli.js', 'package.json', 'package-lock.json', 'web/remote.html', 'web/remote.js']) {
      assert.equal(readFileSync(path.join(opt, file), 'utf8'), readFileSync(path.join(src, file), 'utf8'), file);
    }
    assert.ok(existsSync(path.join(opt, 'node_modules', 'prod-dep', 'index.js')), 'production dependency installed');
    assert.ok(!existsSync(path.join(opt, 'node_modules', 'dev-dep')), 'development dependency left out');
    // The installed service starts and finds its dependency.
    assert.equal(ok(run(process.execPath, [path.join(opt, 'dist', 'cli.js')]), 'the installed cli').stdout, 'prod-dep\n');

    const unit = path.join(root, 'etc', 'systemd', 'system', 'carbot.service');
    assert.equal(unitAsShipped(unit), readFileSync(path.join(REPO, 'carbot.service'), 'utf8'));
    assert.equal(mode(unit), '0644');
    // Both may hold passwords: root and the administrators' group only.
    const defaults = path.join(root, 'etc', 'default', 'carbot');
    assert.equal(readFileSync(defaults, 'utf8'), readFileSync(path.join(REPO, 'scripts', 'carbot.default'), 'utf8'));
    assert.equal(mode(defaults), '0640');
    assert.equal(statSync(defaults).gid, ADMIN_GID);
    const config = path.join(root, 'etc', 'carbot', 'config.json');
    const { http, ...rest } = JSON.parse(readFileSync(config, 'utf8')) as { http: { token: string } };
    assert.deepEqual(rest, JSON.parse(readFileSync(path.join(REPO, 'scripts', 'config.example.json'), 'utf8')));
    assert.match(http.token, /^[0-9a-f]{32}$/);
    assert.equal(mode(config), '0640');
    assert.equal(statSync(config).gid, ADMIN_GID);
    assert.equal(mode(path.join(root, 'etc', 'carbot')), '0755');
    assert.deepEqual(
      readdirSync(path.join(root, 'opt')),
      ['carbot'],
      'no staging directory left behind',
    );
  });

  /** A root with the account files useradd --prefix edits, as on a fresh Raspberry Pi OS without gpio or i2c groups. */
  function rootWithAccounts(): string {
    const root = newRoot();
    mkdirSync(path.join(root, 'etc'), { recursive: true });
    writeFileSync(path.join(root, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/bash\npi:x:1000:1000::/home/pi:/bin/bash\n');
    writeFileSync(path.join(root, 'etc', 'group'), `root:x:0:\n${ADMIN_GROUP}:x:${ADMIN_GID}:pi\npi:x:1000:\n`);
    writeFileSync(path.join(root, 'etc', 'shadow'), 'root:*:19000:0:99999:7:::\npi:*:19000:0:99999:7:::\n');
    writeFileSync(path.join(root, 'etc', 'gshadow'), `root:*::\n${ADMIN_GROUP}:*::pi\npi:*::\n`);
    return root;
  }
  const account = (root: string, file: 'passwd' | 'group', name: string) =>
    readFileSync(path.join(root, 'etc', file), 'utf8').split('\n').find((l) => l.startsWith(`${name}:`))?.split(':');

  it('without pigpio: the unit that runs as the user carbot, created in the gpio and i2c groups, owning its settings', function () {
    requireRoot(this, 'install.sh creating the user carbot (useradd --prefix and chown need root, as install.sh itself does)');
    const root = rootWithAccounts();
    const out = ok(install('--root', root), 'install').stdout;
    assert.match(out, /created the group gpio/);
    assert.match(out, /created the user carbot \(groups gpio, i2c\)/);
    assert.match(out, /installed .*carbot\.service \(from carbot\.service: boards: sim; runs as the user carbot, no root\)/);
    const user = account(root, 'passwd', 'carbot');
    assert.ok(user, 'the user carbot exists');
    assert.equal(user[6], '/usr/sbin/nologin');
    for (const group of ['gpio', 'i2c']) assert.equal(account(root, 'group', group)?.[3], 'carbot', `carbot is in ${group}`);
    const unit = readFileSync(path.join(root, 'etc', 'systemd', 'system', 'carbot.service'), 'utf8');
    assert.match(unit, /^User=carbot$/m);
    const config = path.join(root, 'etc', 'carbot', 'config.json');
    assert.equal(statSync(config).uid, Number(user[2]), 'carbot reads its own settings');
    assert.equal(statSync(config).gid, ADMIN_GID, 'the administrators still read them');
    assert.equal(mode(config), '0640');
    // Again: nothing new, the user is kept.
    const again = ok(install('--root', root), 'second install').stdout;
    assert.doesNotMatch(again, /created the (user|group)/);
  });

  it('with pigpio: the root unit, and it says why', () => {
    const root = newRoot();
    const out = ok(run('bash', [path.join(src, 'scripts', 'install.sh'), '--no-systemctl', '--admin-group', ADMIN_GROUP, '--root', root], {
      env: { STUB_BOARDS: 'pigpio' },
    }), 'install').stdout;
    assert.match(out, /from carbot-pigpio\.service: the pigpio board needs root: it maps \/dev\/mem/);
    const unit = unitAsShipped(path.join(root, 'etc', 'systemd', 'system', 'carbot.service'));
    assert.equal(unit, readFileSync(path.join(REPO, 'carbot-pigpio.service'), 'utf8'));
    assert.doesNotMatch(unit, /^User=/m);
    assert.doesNotMatch(out, /created the user/);
  });

  it('switching to pigpio: the settings the rootless unit’s user owned become root’s, and nobody else’s to write', function () {
    requireRoot(this, 'install.sh creating the user carbot and chowning (useradd --prefix and chown need root, as install.sh itself does)');
    const root = rootWithAccounts();
    ok(install('--root', root), 'install without pigpio');
    const carbotUid = Number(account(root, 'passwd', 'carbot')?.[2]);
    const config = path.join(root, 'etc', 'carbot', 'config.json');
    const defaults = path.join(root, 'etc', 'default', 'carbot');
    assert.equal(statSync(config).uid, carbotUid);
    assert.equal(statSync(defaults).uid, carbotUid);
    chmodSync(defaults, 0o660);

    const out = ok(run('bash', [path.join(src, 'scripts', 'install.sh'), '--no-systemctl', '--admin-group', ADMIN_GROUP, '--root', root], {
      env: { STUB_BOARDS: 'pigpio' },
    }), 'install with pigpio').stdout;

    assert.match(out, /from carbot-pigpio\.service/);
    for (const file of [config, defaults]) {
      assert.equal(statSync(file).uid, 0, `${file} belongs to root`);
      assert.equal(statSync(file).gid, ADMIN_GID, `${file}: the administrators still read it`);
      assert.equal(mode(file), '0640', file);
      assert.ok(out.includes(`install.sh: ${file} now belongs to root: the pigpio unit reads it as root`), out);
    }
    assert.ok(out.includes(`install.sh: ${defaults} is no longer writable by its group or others`), out);
  });

  it('leaves exactly the same files when run a second time', () => {
    const root = newRoot();
    ok(install('--root', root), 'first install');
    const first = snapshot(root);
    ok(install('--root', root), 'second install');
    assert.deepEqual(snapshot(root), first);
  });

  it('never touches an existing /etc/default/carbot or /etc/carbot/config.json', () => {
    const root = newRoot();
    const defaults = path.join(root, 'etc', 'default', 'carbot');
    const config = path.join(root, 'etc', 'carbot', 'config.json');
    mkdirSync(path.dirname(defaults), { recursive: true });
    mkdirSync(path.dirname(config), { recursive: true });
    writeFileSync(defaults, 'CARBOT_MQTT_URL=mqtt://broker.lan:1883\nCARBOT_LOG_LEVEL=debug\n');
    chmodSync(defaults, 0o640);
    writeFileSync(config, '{"device":"car2"}\n');
    chmodSync(config, 0o644);

    const out = ok(install('--root', root, '--skip-build'), 'install').stdout;
    ok(install('--root', root, '--skip-build'), 'second install');

    assert.equal(readFileSync(defaults, 'utf8'), 'CARBOT_MQTT_URL=mqtt://broker.lan:1883\nCARBOT_LOG_LEVEL=debug\n');
    assert.equal(mode(defaults), '0640');
    assert.equal(readFileSync(config, 'utf8'), '{"device":"car2"}\n');
    assert.equal(mode(config), '0644');
    assert.match(out, /kept the existing .*\/etc\/default\/carbot/);
  });

  it('installs files owned by the installing user, whoever owns the checkout', () => {
    const root = newRoot();
    const checkout = path.join(tmp, 'someone-elses-checkout');
    cpSync(src, checkout, { recursive: true });
    // As root (CI, sudo) the checkout belongs to a user who must not be able to change what root runs.
    if (process.getuid?.() === 0) {
      for (const file of Object.keys(snapshot(checkout))) chownSync(path.join(checkout, file), 65534, 65534);
    }
    ok(run('bash', [path.join(checkout, 'scripts', 'install.sh'), '--root', root, '--skip-build']), 'install');

    const owners = new Set(
      Object.keys(snapshot(path.join(root, 'opt', 'carbot'))).map((file) => lstatSync(path.join(root, 'opt', 'carbot', file)).uid),
    );
    assert.deepEqual([...owners], [process.getuid?.()]);
  });

  it('refuses to install without Node 20 and says exactly how to get it', () => {
    const root = newRoot();
    const oldNode = path.join(tmp, 'node18');
    writeFileSync(oldNode, '#!/bin/sh\necho v18.19.0\n');
    chmodSync(oldNode, 0o755);

    // On bookworm: NodeSource. On trixie: Debian's own nodejs, no pipe to bash.
    mkdirSync(path.join(root, 'etc'), { recursive: true });
    writeFileSync(path.join(root, 'etc', 'os-release'), 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_CODENAME=bookworm\n');
    const result = install('--root', root, '--node', oldNode);

    assert.equal(result.status, 1);
    assert.match(result.stderr, /needs Node\.js 20 or newer .*found v18\.19\.0/);
    assert.match(result.stderr, /bookworm's own package \('apt install nodejs'\) is Node 18 or older/);
    assert.match(result.stderr, /curl -fsSL https:\/\/deb\.nodesource\.com\/setup_20\.x \| sudo -E bash -/);
    assert.match(result.stderr, /sudo apt-get install -y nodejs/);
    assert.ok(!existsSync(path.join(root, 'opt')), 'nothing installed');

    writeFileSync(path.join(root, 'etc', 'os-release'), 'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nVERSION_CODENAME=trixie\n');
    const trixie = install('--root', root, '--node', oldNode);
    assert.equal(trixie.status, 1);
    assert.match(trixie.stderr, /On Raspberry Pi OS trixie, Debian's own package is Node 20: sudo apt-get install -y nodejs npm/);
    assert.doesNotMatch(trixie.stderr, /nodesource/);
    assert.ok(!existsSync(path.join(root, 'opt')), 'nothing installed');
  });

  it('honours DESTDIR and writes a --node other than /usr/bin/node into the unit', () => {
    const root = newRoot();
    const node = path.join(tmp, 'bin', 'node');
    mkdirSync(path.dirname(node), { recursive: true });
    writeFileSync(node, `#!/bin/sh\nexec ${JSON.stringify(process.execPath)} "$@"\n`);
    chmodSync(node, 0o755);

    ok(
      run('bash', [path.join(src, 'scripts', 'install.sh'), '--skip-build', '--node', node], { env: { DESTDIR: root } }),
      'install with DESTDIR',
    );

    const unit = readFileSync(path.join(root, 'etc', 'systemd', 'system', 'carbot.service'), 'utf8');
    // The flag only where this node has it (Node 22.14 and newer).
    assert.match(unit, new RegExp(`^ExecStart=${node} ${nodeHasFlag ? '--disable-sigusr1 ' : ''}--inspect-port=192\\.0\\.2\\.1:9229 /opt/carbot/dist/cli.js$`, 'm'));
    assert.ok(existsSync(path.join(root, 'opt', 'carbot', 'dist', 'cli.js')));
  });

  it('runs a node that has --disable-sigusr1 with it, in ExecStart and ExecStopPost', () => {
    const root = newRoot();
    // A node of 22.14 or newer, as far as install.sh can tell: it accepts the flag.
    const node = path.join(tmp, 'bin22', 'node');
    mkdirSync(path.dirname(node), { recursive: true });
    writeFileSync(node, `#!/bin/sh\n[ "$1" = --disable-sigusr1 ] && shift\nexec ${JSON.stringify(process.execPath)} "$@"\n`);
    chmodSync(node, 0o755);
    ok(install('--root', root, '--skip-build', '--node', node), 'install');
    const unit = readFileSync(path.join(root, 'etc', 'systemd', 'system', 'carbot.service'), 'utf8');
    assert.match(unit, new RegExp(`^ExecStart=${node} --disable-sigusr1 --inspect-port=192\\.0\\.2\\.1:9229 /opt/carbot/dist/cli.js$`, 'm'));
    assert.match(unit, new RegExp(`^ExecStopPost=${node} --disable-sigusr1 --inspect-port=192\\.0\\.2\\.1:9229 /opt/carbot/dist/cli.js safe-state$`, 'm'));
  });

  it('uninstalls the program and the unit but keeps the settings until --purge', () => {
    const root = newRoot();
    ok(install('--root', root, '--skip-build'), 'install');
    const dropIn = path.join(root, 'etc', 'systemd', 'system', 'carbot.service.d', 'override.conf');
    mkdirSync(path.dirname(dropIn));
    writeFileSync(dropIn, '[Service]\nEnvironment=CARBOT_LOG_LEVEL=debug\n');

    ok(uninstall('--root', root), 'uninstall');
    assert.ok(!existsSync(path.join(root, 'opt', 'carbot')));
    assert.ok(!existsSync(path.join(root, 'usr', 'local', 'bin', 'carbot')));
    assert.ok(!existsSync(path.join(root, 'etc', 'systemd', 'system', 'carbot.service')));
    assert.ok(existsSync(path.join(root, 'etc', 'default', 'carbot')));
    assert.ok(existsSync(path.join(root, 'etc', 'carbot', 'config.json')));
    assert.ok(existsSync(dropIn));

    ok(uninstall('--root', root), 'uninstalling again');

    ok(uninstall('--root', root, '--purge'), 'uninstall --purge');
    assert.ok(!existsSync(path.join(root, 'etc', 'default', 'carbot')));
    assert.ok(!existsSync(path.join(root, 'etc', 'carbot')));
    assert.ok(!existsSync(path.dirname(dropIn)));
    assert.ok(existsSync(path.join(root, 'etc', 'systemd', 'system')), 'systemd directories stay');
  });
  it('installs the stop at boot (carbot-safe-state.service and the udev rule), enabled into the I2C bus’s device; uninstall removes it', () => {
    const root = newRoot();
    const node = path.join(tmp, 'opt-node', 'bin', 'node');
    mkdirSync(path.dirname(node), { recursive: true });
    symlinkSync(process.execPath, node);
    const out = ok(install('--root', root, '--skip-build', '--node', node), 'install').stdout;
    const systemdDir = path.join(root, 'etc', 'systemd', 'system');
    const bootUnit = path.join(systemdDir, 'carbot-safe-state.service');
    const rule = path.join(root, 'etc', 'udev', 'rules.d', '60-carbot-i2c.rules');
    assert.equal(
      readFileSync(bootUnit, 'utf8'),
      readFileSync(path.join(REPO, 'carbot-safe-state.service'), 'utf8').replace('ExecStart=/usr/bin/node ', `ExecStart=${node} `),
    );
    assert.equal(readFileSync(rule, 'utf8'), readFileSync(path.join(REPO, 'scripts', '60-carbot-i2c.rules'), 'utf8'));
    assert.equal(mode(bootUnit), '0644');
    assert.match(out, /installed .*carbot-safe-state\.service and .*60-carbot-i2c\.rules \(every boot stops the motor outputs before the network comes up\)/);
    // Enabled as systemd sees it: the link in the device's wants, and systemctl says so.
    const link = path.join(systemdDir, 'dev-i2c\\x2d1.device.wants', 'carbot-safe-state.service');
    assert.equal(readlinkSync(link), '/etc/systemd/system/carbot-safe-state.service');
    assert.equal(run('systemctl', ['--root', root, 'is-enabled', 'carbot-safe-state.service']).stdout.trim(), 'enabled');

    // A link for another bus, as `systemctl add-wants 'dev-i2c\\x2d0.device' carbot-safe-state.service` makes it, goes too.
    mkdirSync(path.join(systemdDir, 'dev-i2c\\x2d0.device.wants'));
    symlinkSync('/etc/systemd/system/carbot-safe-state.service', path.join(systemdDir, 'dev-i2c\\x2d0.device.wants', 'carbot-safe-state.service'));
    ok(uninstall('--root', root), 'uninstall');
    for (const gone of [bootUnit, rule, path.dirname(link), path.join(systemdDir, 'dev-i2c\\x2d0.device.wants')]) {
      assert.ok(!existsSync(gone), `${gone} removed`);
    }
    assert.ok(existsSync(path.join(root, 'etc', 'udev', 'rules.d')), 'udev’s directory stays');
  });

  it('enables the stop at boot with the systemctl it is given when it runs systemctl', () => {
    const root = newRoot();
    const state = path.join(root, 'fake-systemd');
    mkdirSync(state, { recursive: true });
    const systemctl = path.join(state, 'systemctl');
    writeFileSync(systemctl, `#!/bin/bash\necho "$*" >>"${state}/calls"\nif [[ "$1" == show ]]; then echo active; fi\nexit 0\n`, { mode: 0o755 });
    ok(install('--root', root, '--skip-build', '--no-mosquitto', '--systemctl', systemctl), 'install');
    const calls = readFileSync(path.join(state, 'calls'), 'utf8').split('\n');
    assert.deepEqual(
      calls.filter((c) => c.startsWith('enable') || c === 'daemon-reload'),
      ['daemon-reload', 'enable carbot.service', 'enable carbot-safe-state.service'],
    );
  });

  it('puts a carbot command on the PATH that runs the installed carbot with the chosen node', () => {
    const root = newRoot();
    ok(install('--root', root, '--skip-build', '--node', process.execPath), 'install');
    const bin = path.join(root, 'usr', 'local', 'bin', 'carbot');
    assert.equal(mode(bin), '0755');
    const script = readFileSync(bin, 'utf8');
    assert.match(script, new RegExp(`^exec '${process.execPath}' /opt/carbot/dist/cli\\.js "\\$@"$`, 'm'));
    // The same script pointed at the tree it was installed into runs the installed program.
    const here = path.join(tmp, `carbot-bin-${n}`);
    writeFileSync(here, script.replace('/opt/carbot/', `${path.join(root, 'opt', 'carbot')}/`), { mode: 0o755 });
    assert.equal(ok(run(here, []), 'the carbot command').stdout, 'prod-dep\n');
  });

  it('creates the config with a fresh token for the remote page and prints its link, with a QR code when qrencode is there', () => {
    const root = newRoot();
    const out = ok(install('--root', root, '--skip-build'), 'install').stdout;
    const { token } = (JSON.parse(readFileSync(path.join(root, 'etc', 'carbot', 'config.json'), 'utf8')) as { http: { token: string } }).http;
    const link = `http://${os.hostname()}.local:8080/?token=${token}`;
    assert.ok(out.includes(`    ${link}\n`), out);
    const qrencode = run('sh', ['-c', 'command -v qrencode']).stdout.trim();
    if (qrencode !== '') assert.ok(out.includes(ok(run(qrencode, ['-t', 'ansiutf8', '-m', '2', link]), 'qrencode').stdout), out);

    // Without qrencode: the link alone, and what to install for the code.
    const bin = path.join(tmp, 'bin-without-qrencode');
    mkdirSync(bin, { recursive: true });
    for (const name of readdirSync('/usr/bin')) {
      if (name !== 'qrencode' && !existsSync(path.join(bin, name))) symlinkSync(path.join('/usr/bin', name), path.join(bin, name));
    }
    const plain = newRoot();
    const nodeDir = path.join(tmp, 'node-only');
    mkdirSync(nodeDir, { recursive: true });
    if (!existsSync(path.join(nodeDir, 'node'))) symlinkSync(process.execPath, path.join(nodeDir, 'node'));
    const withoutQr = run('bash', [path.join(src, 'scripts', 'install.sh'), '--root', plain, '--skip-build', '--admin-group', ADMIN_GROUP], {
      env: { PATH: [bin, nodeDir, '/usr/sbin', '/sbin'].join(':') },
    });
    ok(withoutQr, 'install without qrencode');
    assert.match(withoutQr.stdout, /no QR code: qrencode is not installed \(sudo apt-get install qrencode\)/);
    const second = (JSON.parse(readFileSync(path.join(plain, 'etc', 'carbot', 'config.json'), 'utf8')) as { http: { token: string } }).http.token;
    assert.notEqual(second, token, 'every install makes its own token');

    // Installing again keeps the config, its token, and prints no link.
    const again = ok(install('--root', root, '--skip-build'), 'second install').stdout;
    assert.ok(!again.includes(token));
  });

  it('makes an existing config that only root could read (as an older install.sh left it) readable by the admin group', function () {
    if (process.getuid?.() !== 0) this.skip(); // only root can make the root-owned file an older install left
    const root = newRoot();
    const config = path.join(root, 'etc', 'carbot', 'config.json');
    mkdirSync(path.dirname(config), { recursive: true });
    writeFileSync(config, '{"device":"car2"}\n', { mode: 0o600 });
    chownSync(config, 0, 0);

    const out = ok(install('--root', root, '--skip-build'), 'install').stdout;
    assert.equal(mode(config), '0640');
    assert.equal(statSync(config).gid, ADMIN_GID);
    assert.equal(readFileSync(config, 'utf8'), '{"device":"car2"}\n');
    assert.match(out, /config\.json is now readable by the group sudo too/);
  });

  it('backs up the Python carbot.service it replaces and another unit running carbot.py, says where, and says to disable them', () => {
    const root = newRoot();
    const units = path.join(root, 'etc', 'systemd', 'system');
    mkdirSync(units, { recursive: true });
    const python = '[Unit]\nDescription=carbot\n[Service]\nExecStart=/usr/bin/python3 /home/pi/carbot.py\nRestart=always\n';
    writeFileSync(path.join(units, 'carbot.service'), python);
    writeFileSync(path.join(units, 'carbot-old.service'), '[Service]\nExecStart=/usr/bin/python3 /home/pi/carbot.py\n');

    const out = ok(install('--root', root, '--skip-build'), 'install').stdout;
    const backups = readdirSync(path.join(root, 'var', 'backups', 'carbot')).sort();
    assert.equal(backups.length, 2);
    assert.match(backups[0], /^carbot-old\.service\.\d{8}-\d{6}$/);
    assert.match(backups[1], /^carbot\.service\.\d{8}-\d{6}$/);
    const backup = path.join(root, 'var', 'backups', 'carbot', backups[1]);
    assert.equal(readFileSync(backup, 'utf8'), python);
    assert.ok(out.includes(`was the Python carbot's unit (ExecStart=/usr/bin/python3 /home/pi/carbot.py): backed up to ${backup}`), out);
    // Without systemctl (a tree being filled) it can only say what to run.
    assert.match(out, /warning: not running systemctl, so carbot-old\.service is still enabled.*sudo systemctl disable --now carbot-old\.service/);
    assert.doesNotMatch(out, /so carbot\.service is still enabled/, 'the Python carbot.service in /etc is replaced, not left enabled');
    assert.equal(readFileSync(path.join(units, 'carbot.service'), 'utf8'), readFileSync(path.join(REPO, 'carbot.service'), 'utf8'));

    // carbot's own unit is replaced on an upgrade without a backup.
    const again = ok(install('--root', root, '--skip-build'), 'second install').stdout;
    assert.doesNotMatch(again, /backed up/);
    assert.equal(readdirSync(path.join(root, 'var', 'backups', 'carbot')).length, 2);
  });

  /** A systemctl for a tree: records its calls, and says every unit is active. */
  function fakeSystemctl(root: string): { path: string; calls: () => string[] } {
    const state = path.join(root, 'fake-systemd');
    mkdirSync(state, { recursive: true });
    const systemctl = path.join(state, 'systemctl');
    writeFileSync(systemctl, `#!/bin/bash\necho "$*" >>"${state}/calls"\nif [[ "$1" == show ]]; then echo active; fi\nexit 0\n`, { mode: 0o755 });
    const calls = () => (existsSync(path.join(state, 'calls')) ? readFileSync(path.join(state, 'calls'), 'utf8').split('\n').filter(Boolean) : []);
    return { path: systemctl, calls };
  }

  it("backs up and disables the Python carbot.service in /lib/systemd/system before /etc's unit takes its name, and says so", () => {
    const root = newRoot();
    const lib = path.join(root, 'lib', 'systemd', 'system');
    mkdirSync(lib, { recursive: true });
    // As carbot.py's repository has it: copied to /lib/systemd/system and enabled from there.
    const python = '[Unit]\nDescription=carbot\n[Service]\nExecStart=/usr/bin/python3 /home/pi/carbot/carbot.py\n[Install]\nWantedBy=multi-user.target\n';
    writeFileSync(path.join(lib, 'carbot.service'), python);
    const usrLib = path.join(root, 'usr', 'lib', 'systemd', 'system');
    mkdirSync(usrLib, { recursive: true });
    writeFileSync(path.join(usrLib, 'carbot-py.service'), '[Service]\nExecStart=/usr/bin/python3 /opt/carbot.py\n');
    writeFileSync(path.join(usrLib, 'unrelated.service'), '[Service]\nExecStart=/usr/bin/true\n');
    const systemctl = fakeSystemctl(root);

    const out = ok(install('--root', root, '--skip-build', '--no-mosquitto', '--systemctl', systemctl.path), 'install').stdout;
    const backups = path.join(root, 'var', 'backups', 'carbot');
    const saved = readdirSync(backups).sort();
    assert.deepEqual(saved.map((f) => f.replace(/\.\d{8}-\d{6}$/, '')), ['carbot-py.service', 'carbot.service']);
    assert.equal(readFileSync(path.join(backups, saved[1]), 'utf8'), python);
    assert.ok(
      out.includes(
        `${path.join(lib, 'carbot.service')} was the Python carbot's unit (ExecStart=/usr/bin/python3 /home/pi/carbot/carbot.py): backed up to ${path.join(backups, saved[1])}`,
      ),
      out,
    );
    assert.match(out, /disabled and stopped carbot\.service \(systemctl disable --now carbot\.service\)/);
    assert.match(out, /disabled and stopped carbot-py\.service/);
    assert.match(out, /carbot's unit in \/etc\/systemd\/system takes the name carbot\.service from now on: it does not run again/);
    // Disabled while the name still meant the Python unit; carbot's own enabled after.
    const calls = systemctl.calls();
    const disable = calls.indexOf('disable --now carbot.service');
    assert.ok(disable >= 0 && disable < calls.indexOf('daemon-reload') && calls.indexOf('daemon-reload') < calls.indexOf('enable carbot.service'), calls.join('\n'));
    assert.ok(calls.includes('disable --now carbot-py.service'), calls.join('\n'));
    assert.ok(!calls.some((c) => c.includes('unrelated')), calls.join('\n'));
    assert.equal(readFileSync(path.join(lib, 'carbot.service'), 'utf8'), python, 'left in place, backed up');
    assert.equal(readFileSync(path.join(root, 'etc', 'systemd', 'system', 'carbot.service'), 'utf8'), readFileSync(path.join(REPO, 'carbot.service'), 'utf8'));

    // Once is enough: a second run neither backs up again nor disables carbot's own carbot.service.
    const before = systemctl.calls().length;
    const again = ok(install('--root', root, '--skip-build', '--no-mosquitto', '--systemctl', systemctl.path), 'second install').stdout;
    assert.doesNotMatch(again, /backed up|disabled/);
    assert.equal(readdirSync(backups).length, 2);
    assert.ok(!systemctl.calls().slice(before).some((c) => c.startsWith('disable')), systemctl.calls().join('\n'));
  });

  it('fails with carbot --check-config\'s problems, and exit 78, when the kept settings are ones carbot refuses', () => {
    const root = newRoot();
    mkdirSync(path.join(root, 'etc', 'carbot'), { recursive: true });
    mkdirSync(path.join(root, 'etc', 'default'), { recursive: true });
    // The migration guide's config written over the installer's: the remote page on 0.0.0.0 without a token.
    writeFileSync(path.join(root, 'etc', 'carbot', 'config.json'), '{"gpio": "auto", "motors": "adafruit-servo-hat"}\n');
    writeFileSync(path.join(root, 'etc', 'default', 'carbot'), 'CARBOT_MAX_SPEED="500"\n');
    const systemctl = fakeSystemctl(root);
    const result = run('bash', [path.join(src, 'scripts', 'install.sh'), '--root', root, '--skip-build', '--no-mosquitto', '--admin-group', ADMIN_GROUP, '--systemctl', systemctl.path], {
      env: { CARBOT_REAL_CLI: path.join(REPO, 'dist', 'cli.js') },
    });
    assert.equal(result.status, 78, result.stdout + result.stderr);
    assert.match(result.stderr, /carbot cannot run with its configuration .*carbot --check-config says:/);
    assert.match(result.stderr, /invalid configuration \(2 problems\)/);
    assert.match(result.stderr, /http\.host: the remote page on "0\.0\.0\.0" is reachable from the network and has no token or password/);
    assert.match(result.stderr, /CARBOT_MAX_SPEED: 500 is above the maximum 100/);
    assert.doesNotMatch(result.stdout, /carbot is running/);
    assert.ok(!existsSync(path.join(root, 'etc', 'systemd', 'system', 'carbot.service')), 'no unit installed');
    assert.deepEqual(systemctl.calls(), [], 'nothing enabled or started');

    // Fixed, it installs.
    writeFileSync(path.join(root, 'etc', 'default', 'carbot'), 'CARBOT_HTTP_HOST="127.0.0.1"\n');
    const fixed = run('bash', [path.join(src, 'scripts', 'install.sh'), '--root', root, '--skip-build', '--no-mosquitto', '--admin-group', ADMIN_GROUP, '--systemctl', systemctl.path], {
      env: { CARBOT_REAL_CLI: path.join(REPO, 'dist', 'cli.js') },
    });
    assert.equal(fixed.status, 0, fixed.stdout + fixed.stderr);
    assert.match(fixed.stdout, /carbot is running/);
  });
  describeMosquitto('with mosquitto installed', () => {
    const STOCK =
      'pid_file /run/mosquitto/mosquitto.pid\npersistence true\npersistence_location /var/lib/mosquitto/\n' +
      'log_dest file /var/log/mosquitto/mosquitto.log\ninclude_dir /etc/mosquitto/conf.d\n';
    let brokers: TrackedProcess[] = [];

    afterEach(async () => {
      await Promise.all(brokers.map((b) => b.kill('SIGTERM')));
      brokers = [];
    });

    /** A root whose /etc/mosquitto is Debian's stock file plus `confD`. */
    function mosquittoRoot(confD: Record<string, string>): string {
      const root = newRoot();
      mkdirSync(path.join(root, 'etc', 'mosquitto', 'conf.d'), { recursive: true });
      writeFileSync(path.join(root, 'etc', 'mosquitto', 'mosquitto.conf'), STOCK);
      for (const [name, text] of Object.entries(confD)) writeFileSync(path.join(root, 'etc', 'mosquitto', 'conf.d', name), text);
      return root;
    }

    /** mosquitto on the root's configuration as systemd would start it there (include_dir inside the root). */
    async function startOn(root: string, ports: number[]): Promise<TrackedProcess> {
      const conf = path.join(root, 'run-mosquitto.conf');
      writeFileSync(
        conf,
        readFileSync(path.join(root, 'etc', 'mosquitto', 'mosquitto.conf'), 'utf8')
          .replace(/^include_dir /m, `include_dir ${root}`)
          .replace(/^(pid_file|persistence|persistence_location|log_dest) .*$/gm, '') + 'log_dest stderr\n',
      );
      const broker = spawnProcess(mosquittoPath() ?? 'mosquitto', ['-c', conf]);
      brokers.push(broker);
      await broker.waitForLine(/mosquitto version \S+ running/);
      for (const port of ports) assert.ok(await canConnect(port), `${port} accepts:\n${broker.output()}`);
      return broker;
    }

    it('keeps an existing conf.d with listeners on the MQTT and websockets ports working, adding only set_tcp_nodelay and max_packet_size', async () => {
      // Free ports stand in for the user's 1883 and 9000 (--mqtt-port, --ws-port).
      const [tcp, ws] = [await freePort(), await freePort()];
      const phone = `listener ${tcp} 127.0.0.1\nsocket_domain ipv4\nlistener ${ws} 127.0.0.1\nprotocol websockets\nsocket_domain ipv4\nallow_anonymous true\n`;
      const root = mosquittoRoot({ 'phone.conf': phone });

      const out = ok(install('--root', root, '--skip-build', '--mqtt-port', String(tcp), '--ws-port', String(ws)), 'install').stdout;
      assert.match(out, new RegExp(`keeps the MQTT listener on ${tcp} \\(phone\\.conf: listener ${tcp} 127\\.0\\.0\\.1\\)`));
      assert.match(out, new RegExp(`keeps the websockets listener on ${ws} \\(phone\\.conf`));
      assert.match(out, /checked: mosquitto starts with the new .*carbot\.conf/);
      const added = readFileSync(path.join(root, 'etc', 'mosquitto', 'conf.d', '00-carbot.conf'), 'utf8');
      assert.deepEqual(added.split('\n').filter((l) => l !== '' && !l.startsWith('#')), ['set_tcp_nodelay true', 'max_packet_size 1048576']);
      assert.equal(readFileSync(path.join(root, 'etc', 'mosquitto', 'conf.d', 'phone.conf'), 'utf8'), phone);

      // mosquitto starts on the merged configuration, and both of the user's clients still work.
      const broker = await startOn(root, [tcp, ws]);
      const app = await connectClient(`ws://127.0.0.1:${ws}`);
      const explorer = await connectClient(`mqtt://127.0.0.1:${tcp}`);
      try {
        const moves = await collect(app, 'carbot/move');
        await explorer.publishAsync('carbot/move', 'forward', { qos: 1 });
        await moves.waitFor((m) => m.payload === 'forward');
      } finally {
        await closeClient(explorer);
        await closeClient(app);
      }
      assert.doesNotMatch(broker.output(), /error/i);

      // Nothing to do the second time.
      const again = ok(install('--root', root, '--skip-build', '--mqtt-port', String(tcp), '--ws-port', String(ws)), 'again').stdout;
      assert.match(again, /carbot\.conf is up to date/);
    });

    it('a user’s allow_anonymous false wins over the drop-in’s true, in a file of any name; an older install’s carbot.conf is replaced', async () => {
      const [tcp, ws] = [await freePort(), await freePort()];
      // What an older install.sh left: conf.d/carbot.conf, which auth.conf (sorting earlier) could not override.
      const older = `# carbot's additions to mosquitto, written by carbot's scripts/install.sh\nlistener ${tcp} 127.0.0.1\nallow_anonymous true\n`;
      const root = mosquittoRoot({ 'carbot.conf': older });
      const out = ok(install('--root', root, '--skip-build', '--mqtt-port', String(tcp), '--ws-port', String(ws)), 'install').stdout;
      const confD = path.join(root, 'etc', 'mosquitto', 'conf.d');
      assert.deepEqual(readdirSync(confD), ['00-carbot.conf']);
      assert.ok(out.includes(`install.sh: replaced ${path.join(confD, 'carbot.conf')} (backed up to`), out);
      assert.match(readFileSync(path.join(confD, '00-carbot.conf'), 'utf8'), /^allow_anonymous true$/m);
      // Anonymous clients, as installed; then the user turns them away in a file of their own.
      const first = await startOn(root, [tcp, ws]);
      await closeClient(await connectClient(`mqtt://127.0.0.1:${tcp}`));
      await first.kill();
      writeFileSync(path.join(confD, 'auth.conf'), 'allow_anonymous false\n');
      await startOn(root, [tcp, ws]);
      await assert.rejects(connectClient(`mqtt://127.0.0.1:${tcp}`, { reconnectPeriod: 0 }), /Not authorized|not authorised/i);
    });

    it('leaves mosquitto as it was when it would not start on the merge, and says why', () => {
      const root = mosquittoRoot({ 'broken.conf': 'listener 1883\nmax_qeued_messages 10\n' });
      const before = snapshot(path.join(root, 'etc', 'mosquitto'));

      const result = install('--root', root, '--skip-build');
      assert.equal(result.status, 1, result.stdout + result.stderr);
      assert.match(result.stderr, /mosquitto: does not start with carbot's additions, so nothing was changed\. mosquitto exited \(code \d+[^)]*\):[\s\S]*max_qeued_messages/);
      assert.match(result.stderr, /install\.sh: mosquitto's configuration was left as it was/);
      assert.deepEqual(snapshot(path.join(root, 'etc', 'mosquitto')), before);
      assert.ok(existsSync(path.join(root, 'opt', 'carbot', 'dist', 'cli.js')), 'carbot itself is installed');
    });

    it('puts the old drop-in back when mosquitto does not restart with the new one', async () => {
      const tcp = await freePort();
      // Something that is not mosquitto already holds the websockets port: the trial (on free
      // ports) cannot see that, the real restart fails on it.
      const squatter = createServer();
      await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
      const ws = (squatter.address() as { port: number }).port;
      // What an older install.sh wrote, under the name it used: replaced, and put back with the rest.
      const old = "# carbot's additions to mosquitto (an earlier install)\nset_tcp_nodelay true\n";
      const root = mosquittoRoot({ 'phone.conf': `listener ${tcp} 127.0.0.1\nallow_anonymous true\n`, 'carbot.conf': old });
      const state = path.join(root, 'fake-systemd');
      mkdirSync(state);
      const systemctl = path.join(state, 'systemctl');
      writeFileSync(
        systemctl,
        `#!/bin/bash
# systemctl for a tree: "restart mosquitto.service" starts the real mosquitto on the tree's
# configuration and fails as systemd would when it does not come up.
echo "$*" >>"${state}/calls"
if [[ "$1" == restart && "$2" == mosquitto.service ]]; then
  if [[ -f "${state}/pid" ]]; then kill "$(cat "${state}/pid")"; while kill -0 "$(cat "${state}/pid")" 2>/dev/null; do sleep 0.05; done; rm "${state}/pid"; fi
  sed -e "s#^include_dir #include_dir ${root}#" -e '/^\\(pid_file\\|persistence\\|log_dest\\)/d' "${root}/etc/mosquitto/mosquitto.conf" >"${state}/run.conf"
  echo 'log_dest stderr' >>"${state}/run.conf"
  ${JSON.stringify(mosquittoPath())} -c "${state}/run.conf" >>"${state}/mosquitto.log" 2>&1 </dev/null &
  pid=$!
  for _ in $(seq 1 20); do kill -0 $pid 2>/dev/null || exit 1; sleep 0.05; done
  echo $pid >"${state}/pid"
  exit 0
fi
if [[ "$1" == show ]]; then echo active; fi
exit 0
`,
        { mode: 0o755 },
      );
      try {
        const result = install('--root', root, '--skip-build', '--systemctl', systemctl, '--mqtt-port', String(tcp), '--ws-port', String(ws));
        assert.equal(result.status, 1, result.stdout + result.stderr);
        assert.match(result.stderr, /mosquitto did not restart with carbot's additions: put its configuration back as it was/);
        assert.match(result.stderr, /mosquitto runs again as before/);
        assert.equal(readFileSync(path.join(root, 'etc', 'mosquitto', 'conf.d', 'carbot.conf'), 'utf8'), old);
        assert.ok(!existsSync(path.join(root, 'etc', 'mosquitto', 'conf.d', '00-carbot.conf')));
        const backups = readdirSync(path.join(root, 'var', 'backups', 'carbot')).filter((f) => f.startsWith('mosquitto-carbot.conf.'));
        assert.equal(backups.length, 1);
        assert.match(readFileSync(path.join(state, 'mosquitto.log'), 'utf8'), new RegExp(`Unable to create websockets listener on port ${ws}`));
        assert.deepEqual(
          readFileSync(path.join(state, 'calls'), 'utf8').split('\n').filter((c) => c.startsWith('restart mosquitto')),
          ['restart mosquitto.service', 'restart mosquitto.service'],
        );
        assert.ok(await canConnect(tcp), 'the broker runs again on the old configuration');
      } finally {
        if (existsSync(path.join(state, 'pid'))) process.kill(Number(readFileSync(path.join(state, 'pid'), 'utf8')), 'SIGTERM');
        await new Promise((resolve) => squatter.close(resolve));
      }
    });

    it('opening listeners with passwords as the drop-in says: install.sh stops declaring them, anonymous clients are turned away', async () => {
      const [tcp, ws] = [await freePort(), await freePort()];
      const root = mosquittoRoot({});
      ok(install('--root', root, '--skip-build', '--mqtt-port', String(tcp), '--ws-port', String(ws)), 'first install');
      // As the end of carbot.conf says: users, and the listeners in a file of one's own.
      chmodSync(tmp, 0o755); // mosquitto reads the password file as the mosquitto user
      chmodSync(root, 0o755);
      const passwd = path.join(root, 'etc', 'mosquitto', 'passwd');
      ok(run('mosquitto_passwd', ['-b', '-c', passwd, 'phone', 'grow bed']), 'mosquitto_passwd');
      chmodSync(passwd, 0o644);
      writeFileSync(
        path.join(root, 'etc', 'mosquitto', 'conf.d', 'local.conf'),
        `listener ${tcp} 127.0.0.1\nsocket_domain ipv4\nlistener ${ws} 127.0.0.1\nprotocol websockets\nsocket_domain ipv4\n` +
          `allow_anonymous false\npassword_file ${passwd}\n`,
      );

      const out = ok(install('--root', root, '--skip-build', '--mqtt-port', String(tcp), '--ws-port', String(ws)), 'second install').stdout;
      assert.match(out, /the broker requires a user name and password: give carbot one/);
      const added = readFileSync(path.join(root, 'etc', 'mosquitto', 'conf.d', '00-carbot.conf'), 'utf8');
      assert.deepEqual(added.split('\n').filter((l) => l !== '' && !l.startsWith('#')), ['set_tcp_nodelay true', 'max_packet_size 1048576']);

      await startOn(root, [tcp, ws]);
      await assert.rejects(connectClient(`mqtt://127.0.0.1:${tcp}`, { reconnectPeriod: 0 }), /Not authorized|not authorised/i);
      await assert.rejects(connectClient(`ws://127.0.0.1:${ws}`, { reconnectPeriod: 0 }), /Not authorized|not authorised/i);
      for (const url of [`mqtt://127.0.0.1:${tcp}`, `ws://127.0.0.1:${ws}`]) {
        await closeClient(await connectClient(url, { username: 'phone', password: 'grow bed' }));
      }
    });
  });
});
