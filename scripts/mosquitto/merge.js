#!/usr/bin/env node
// @ts-check
/**
 * Works out what carbot needs from the mosquitto configuration already on this machine and
 * checks the result, for scripts/install.sh. It never writes below /etc: it prints what it
 * found, writes the drop-in /etc/mosquitto/conf.d/00-carbot.conf should become to --out, and
 * proves mosquitto starts on the merged configuration (every listener moved to a free
 * port on 127.0.0.1, persistence off, logging to stderr) before install.sh switches.
 *
 * What carbot needs, added only where missing:
 *   - set_tcp_nodelay true (mosquitto's default leaves Nagle on: ~40 ms per QoS 1 command);
 *   - max_packet_size 1048576 (mosquitto's default is no limit: one 100 MB publish grew it by
 *     200 MB; carbot takes nothing larger either, src/mqtt/packet-size.ts);
 *   - an MQTT listener on --tcp-port (1883), on 127.0.0.1 when added;
 *   - a websockets listener on --ws-port (9000; 0 = none), on 127.0.0.1 when added;
 *   - anonymous access for the listeners it adds, when nothing says otherwise.
 * A port that any listener already has is never declared again: mosquitto would exit with
 * "Address already in use", and take every other client down with it.
 *
 * Usage: node merge.js --root DIR --out FILE [--tcp-port N] [--ws-port N] [--mosquitto BIN]
 * Exit: 0 a change is needed and mosquitto starts on it (FILE holds the new drop-in; empty
 * means remove it); 10 nothing to change; 11 nothing to do here (no mosquitto installed, no
 * include_dir); 1 mosquitto does not start on the merged configuration (why on stderr);
 * 2 bad usage.
 */
'use strict';

const { spawn } = require('node:child_process');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');

/**
 * carbot's drop-in. mosquitto reads an include_dir's files in name order and the last value of
 * a global setting wins: named 00-, the drop-in comes before any file of the user's, so an
 * `allow_anonymous false` the user writes later, in any file, is not undone by carbot's `true`.
 */
const DROP_IN = '00-carbot.conf';
/** Where an older install.sh wrote it: carbot's, not the user's, when its first line says so. */
const OLD_DROP_IN = 'carbot.conf';
const OURS = "# carbot's additions to mosquitto";

/**
 * Whether `name` in carbot's include_dir `dir` is carbot's own drop-in (this one, or an older
 * install's), which is worked out afresh rather than read as the user's configuration.
 * @param {string} dir
 * @param {string} name
 */
function isDropIn(dir, name) {
  if (name === DROP_IN) return true;
  if (name !== OLD_DROP_IN) return false;
  return fs.readFileSync(path.join(dir, name), 'utf8').startsWith(OURS);
}
/** The same figure as MAX_PACKET_BYTES in src/mqtt/packet-size.ts. */
const MAX_PACKET_BYTES = 1024 * 1024;
const READY_MS = 5000;

/** @typedef {{ port: number, address?: string, protocol: string, file: string }} Listener */

/**
 * @param {string} text
 * @returns {string[][]} each setting line as its words (comments and blank lines left out)
 */
function settings(text) {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => line.split(/\s+/));
}

/**
 * Everything mosquitto would read, as it would read it: the main file, then each
 * include_dir's *.conf in name order. carbot's own drop-in is left out, so what carbot
 * needs is worked out afresh against the rest.
 * @param {string} root
 */
function readConfiguration(root) {
  const main = path.join(root, 'etc/mosquitto/mosquitto.conf');
  if (!fs.existsSync(main)) return undefined;
  const includeDirs = settings(fs.readFileSync(main, 'utf8'))
    .filter((words) => words[0] === 'include_dir' && words[1])
    .map((words) => words[1]);
  /** @type {{ file: string, text: string }[]} */
  const files = [{ file: main, text: fs.readFileSync(main, 'utf8') }];
  for (const dir of includeDirs) {
    const full = path.join(root, dir);
    const names = fs.existsSync(full) ? fs.readdirSync(full).filter((n) => n.endsWith('.conf')).sort() : [];
    for (const name of names) {
      if (dir === includeDirs[0] && isDropIn(full, name)) continue;
      files.push({ file: path.join(full, name), text: fs.readFileSync(path.join(full, name), 'utf8') });
    }
  }
  /** @type {Listener[]} */
  const listeners = [];
  /** @type {Record<string, string>} */
  const global = {};
  for (const { file, text } of files) {
    for (const [key, value, address] of settings(text)) {
      if (key === 'listener' || key === 'port') {
        listeners.push({ port: Number(value), address: key === 'listener' ? address : undefined, protocol: 'mqtt', file });
      } else if (key === 'protocol' && listeners.length > 0) {
        listeners[listeners.length - 1].protocol = value;
      } else if (['set_tcp_nodelay', 'allow_anonymous', 'per_listener_settings', 'password_file', 'max_packet_size'].includes(key)) {
        global[key] = value;
      }
    }
  }
  return { main, includeDirs, files, listeners, global };
}

/**
 * The drop-in carbot needs on top of `config`, with a comment for every line, or '' when
 * it needs nothing. `notes` collects what the user should hear about.
 * @param {NonNullable<ReturnType<typeof readConfiguration>>} config
 * @param {{ tcpPort: number, wsPort: number }} ports
 * @param {string[]} notes
 */
function dropIn(config, { tcpPort, wsPort }, notes) {
  const { listeners, global } = config;
  const where = (/** @type {Listener} */ l) => `${path.basename(l.file)}: listener ${l.port}${l.address ? ` ${l.address}` : ''}`;
  /** @type {string[]} */
  const body = [];

  if (global.set_tcp_nodelay === undefined) {
    body.push(
      '# Without this, mosquitto leaves Nagle\'s algorithm on for client sockets, and a QoS 1 publish',
      '# whose acknowledgement meets the client\'s delayed ACK stalls about 40 ms per command.',
      'set_tcp_nodelay true',
      '',
    );
  } else if (global.set_tcp_nodelay !== 'true') {
    notes.push(`set_tcp_nodelay is ${global.set_tcp_nodelay}: left so, though each QoS 1 command may then wait about 40 ms`);
  }

  if (global.max_packet_size === undefined) {
    body.push(
      '# One MQTT packet is at most 1 MiB (mosquitto\'s default is no limit: a single 100 MB publish',
      '# made it hold 200 MB more); a larger one closes its client\'s connection. carbot takes',
      '# nothing larger either. For all clients of this broker: raise it here if one needs more.',
      `max_packet_size ${MAX_PACKET_BYTES}`,
      '',
    );
  } else if (Number(global.max_packet_size) === 0 || Number(global.max_packet_size) > MAX_PACKET_BYTES) {
    notes.push(`max_packet_size is ${global.max_packet_size}: left so, but carbot closes its connection on a packet over ${MAX_PACKET_BYTES} bytes`);
  }

  const perListener = global.per_listener_settings === 'true';
  const added = [];
  const tcp = listeners.find((l) => l.port === tcpPort);
  if (tcp) {
    notes.push(`keeps the MQTT listener on ${tcpPort} (${where(tcp)})`);
    if (tcp.protocol !== 'mqtt') notes.push(`port ${tcpPort} speaks ${tcp.protocol}: set CARBOT_MQTT_URL=ws://localhost:${tcpPort} for carbot`);
  } else {
    added.push(tcpPort);
    body.push(
      '# MQTT for carbot, on this machine only. To let MQTT Explorer, Node-RED or Home Assistant on',
      '# other machines in, require a password first (see the end of this file), then drop',
      '# "127.0.0.1" from the line below.',
      `listener ${tcpPort} 127.0.0.1`,
      ...(perListener ? ['allow_anonymous true'] : []),
      '',
    );
  }
  if (wsPort !== 0) {
    const ws = listeners.find((l) => l.port === wsPort);
    if (ws) {
      notes.push(`keeps the ${ws.protocol} listener on ${wsPort} (${where(ws)})`);
    } else {
      added.push(wsPort);
      body.push(
        '# MQTT over websockets (ws://<pi>:' + wsPort + ') for browser tools and phone apps, on this machine',
        '# only: mosquitto does not check where a websockets page comes from, so an open',
        '# anonymous websockets port lets any web page a phone on the network opens drive the car.',
        '# carbot\'s own remote page (http://<pi>:8080/) does not need this listener at all.',
        '# To open it safely, see the end of this file.',
        '# socket_domain ipv4 is what makes the address stick: without it the websockets library',
        '# listens on every interface whatever address is given.',
        `listener ${wsPort} 127.0.0.1`,
        'protocol websockets',
        'socket_domain ipv4',
        ...(perListener ? ['allow_anonymous true'] : []),
        '',
      );
    }
  }
  const anonymousAdded = added.length > 0 && !perListener && global.allow_anonymous === undefined && listeners.length === 0;
  if (anonymousAdded) {
    body.push(
      '# Anonymous clients, as mosquitto allows with no listener configured: every listener above',
      '# is on 127.0.0.1, so only programs on this machine (carbot, carbot send) can connect.',
      'allow_anonymous true',
      '',
    );
  } else if (!perListener && global.allow_anonymous !== 'true' && (listeners.length > 0 || global.allow_anonymous === 'false')) {
    // mosquitto 2.0 turns anonymous access off as soon as any listener is configured.
    notes.push('the broker requires a user name and password: give carbot one (CARBOT_MQTT_USERNAME and CARBOT_MQTT_PASSWORD_FILE in /etc/default/carbot)');
  }
  if (body.length === 0) return '';
  return [
    '# carbot\'s additions to mosquitto, written by carbot\'s scripts/install.sh: only what the',
    '# rest of the mosquitto configuration lacked (listeners that already exist are never',
    '# declared twice). Running install.sh again works it out afresh, so edit the other files',
    '# rather than this one. Check: mosquitto_sub -t \'tele/+/LWT\' -v  (carbot says Online).',
    '',
    ...body,
    '# Opening MQTT or websockets to the network safely: a password for every client.',
    '#     sudo mosquitto_passwd -c /etc/mosquitto/passwd phone    (prompts; -c only for the first user)',
    '#     sudo mosquitto_passwd /etc/mosquitto/passwd carbot',
    '#     sudo chown root:mosquitto /etc/mosquitto/passwd && sudo chmod 0640 /etc/mosquitto/passwd',
    '# Declare the listeners you want open in a file of your own, /etc/mosquitto/conf.d/local.conf:',
    '#     listener 1883',
    '#     listener 9000',
    '#     protocol websockets',
    '#     allow_anonymous false',
    '#     password_file /etc/mosquitto/passwd',
    '# put carbot\'s user in /etc/default/carbot (CARBOT_MQTT_USERNAME=carbot and',
    '# CARBOT_MQTT_PASSWORD_FILE=/etc/carbot/mqtt-password), and run carbot\'s scripts/install.sh',
    '# again before restarting anything: it finds those listeners, stops declaring them here and',
    '# restarts mosquitto and carbot (mosquitto would refuse a port declared twice).',
    '',
  ].join('\n');
}

/** @returns {Promise<number>} a port nothing listens on right now */
function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {net.AddressInfo} */ (server.address());
      server.close(() => resolve(port));
    });
  });
}

/** @param {number} port */
function accepting(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/**
 * Starts mosquitto on a copy of the configuration with `candidate` as carbot's drop-in:
 * each listener on a free port of its own on 127.0.0.1, no pid file, no persistence (the
 * live broker's database is not touched), log to stderr. Resolves with '' once every
 * listener accepts connections, or with what mosquitto said when it did not start.
 * @param {NonNullable<ReturnType<typeof readConfiguration>>} config
 * @param {string} root
 * @param {string} candidate
 * @param {string} mosquitto
 */
async function trial(config, root, candidate, mosquitto) {
  // The copies may hold secrets (a bridge's remote_password): the trial's directory is its
  // owner's alone (mkdtemp makes it 0700), its files 0600. mosquitto reads its configuration
  // before it drops to the mosquitto user; the password and ACL files it reads after that are
  // the originals, which the copies name.
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carbot-mosquitto-trial-'));
  /** @type {number[]} */
  const ports = [];
  const rewrite = async (/** @type {string} */ text) => {
    const out = [];
    for (const line of text.split('\n')) {
      const words = line.trim().split(/\s+/);
      if (words[0] === 'listener' || words[0] === 'port') {
        const port = await freePort();
        ports.push(port);
        out.push(words[0] === 'listener' ? `listener ${port} 127.0.0.1` : `port ${port}`);
      } else if (/^(pid_file|persistence|persistence_location|persistence_file|autosave_interval|autosave_on_changes|log_dest|bind_address|bind_interface)$/.test(words[0])) {
        out.push(`# (left out of the trial) ${line}`);
      } else {
        out.push(line);
      }
    }
    return out.join('\n');
  };
  try {
    const mainLines = [];
    let included = 0;
    for (const line of fs.readFileSync(config.main, 'utf8').split('\n')) {
      const words = line.trim().split(/\s+/);
      if (words[0] !== 'include_dir') {
        mainLines.push(await rewrite(line));
        continue;
      }
      const copy = path.join(dir, `include-${included++}`);
      fs.mkdirSync(copy, { mode: 0o700 });
      const from = path.join(root, words[1]);
      const names = fs.existsSync(from) ? fs.readdirSync(from).filter((n) => n.endsWith('.conf')) : [];
      for (const name of names) {
        if (words[1] === config.includeDirs[0] && isDropIn(from, name)) continue;
        fs.writeFileSync(path.join(copy, name), await rewrite(fs.readFileSync(path.join(from, name), 'utf8')), { mode: 0o600 });
      }
      if (words[1] === config.includeDirs[0] && candidate !== '') {
        fs.writeFileSync(path.join(copy, DROP_IN), await rewrite(candidate), { mode: 0o600 });
      }
      mainLines.push(`include_dir ${copy}`);
    }
    mainLines.push('persistence false', 'log_dest stderr');
    const mainCopy = path.join(dir, 'mosquitto.conf');
    fs.writeFileSync(mainCopy, mainLines.join('\n') + '\n', { mode: 0o600 });
    // No listener at all is mosquitto's local-only mode: 1883 on loopback, not movable.
    if (ports.length === 0) return '';

    const child = spawn(mosquitto, ['-c', mainCopy], { cwd: path.dirname(config.main), stdio: ['ignore', 'pipe', 'pipe'] });
    let said = '';
    child.stdout.setEncoding('utf8').on('data', (text) => (said += text));
    child.stderr.setEncoding('utf8').on('data', (text) => (said += text));
    /** @type {string | undefined} */
    let exit;
    const exited = new Promise((resolve) => {
      child.once('error', (err) => {
        exit = `could not run ${mosquitto}: ${err.message}`;
        resolve(undefined);
      });
      child.once('close', (code, signal) => {
        exit ??= `mosquitto exited (code ${code}, signal ${signal})`;
        resolve(undefined);
      });
    });
    const deadline = Date.now() + READY_MS;
    for (;;) {
      if (exit !== undefined) return `${exit}:\n${said.trim()}`;
      if ((await Promise.all(ports.map(accepting))).every(Boolean)) break;
      if (Date.now() > deadline) {
        child.kill('SIGKILL');
        await exited;
        return `mosquitto did not accept connections within ${READY_MS} ms:\n${said.trim()}`;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    child.kill('SIGTERM');
    await exited;
    return '';
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** @param {string[]} argv */
function parseArgs(argv) {
  /** @type {Record<string, string>} */
  const opts = { '--tcp-port': '1883', '--ws-port': '9000', '--mosquitto': '' };
  for (let i = 0; i < argv.length; i += 2) {
    if (!['--root', '--out', '--tcp-port', '--ws-port', '--mosquitto'].includes(argv[i]) || argv[i + 1] === undefined) {
      throw new Error(`unknown option or missing value: ${argv[i]}`);
    }
    opts[argv[i]] = argv[i + 1];
  }
  if (opts['--out'] === undefined) throw new Error('--out is required');
  const port = (/** @type {string} */ name, /** @type {number} */ min) => {
    const n = Number(opts[name]);
    if (!Number.isInteger(n) || n < min || n > 65535) throw new Error(`${name}: not a port: ${opts[name]}`);
    return n;
  };
  return {
    root: opts['--root'] || '/',
    out: opts['--out'],
    tcpPort: port('--tcp-port', 1),
    wsPort: port('--ws-port', 0),
    mosquitto: opts['--mosquitto'] || findMosquitto(),
  };
}

function findMosquitto() {
  for (const dir of ['/usr/sbin', ...(process.env.PATH ?? '').split(':').filter(Boolean)]) {
    const candidate = path.join(dir, 'mosquitto');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return 'mosquitto';
}

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`merge.js: ${/** @type {Error} */ (err).message}\n`);
    return 2;
  }
  const say = (/** @type {string} */ line) => process.stdout.write(`mosquitto: ${line}\n`);
  const config = readConfiguration(opts.root);
  if (!config) {
    say(`not installed (no ${path.join(opts.root, 'etc/mosquitto/mosquitto.conf')}): left alone; after "sudo apt-get install mosquitto", run install.sh again`);
    return 11;
  }
  if (config.includeDirs.length === 0) {
    say(`${config.main} has no include_dir line, so carbot cannot add a file of its own: left alone`);
    return 11;
  }
  /** @type {string[]} */
  const notes = [];
  const candidate = dropIn(config, opts, notes);
  notes.forEach(say);
  const target = path.join(opts.root, config.includeDirs[0], DROP_IN);
  const current = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
  const oldDir = path.join(opts.root, config.includeDirs[0]);
  const oldOne = fs.existsSync(path.join(oldDir, OLD_DROP_IN)) && isDropIn(oldDir, OLD_DROP_IN);
  if (candidate === current && !oldOne) {
    say(current === '' ? 'nothing to add' : `${target} is up to date`);
    return 10;
  }
  const problem = await trial(config, opts.root, candidate, opts.mosquitto);
  if (problem !== '') {
    process.stderr.write(`mosquitto: does not start with carbot's additions, so nothing was changed. ${problem}\n`);
    return 1;
  }
  fs.writeFileSync(opts.out, candidate);
  say(`checked: mosquitto starts with ${candidate === '' ? `${target} removed` : `the new ${target}`}`);
  return 0;
}

if (require.main === module) {
  main().then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`merge.js: ${err.stack ?? err}\n`);
      process.exit(1);
    },
  );
}

module.exports = { readConfiguration, dropIn, trial };
