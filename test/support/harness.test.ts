import assert from 'node:assert/strict';
import { execFileSync, isolatedEnv } from './isolation';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { MqttClient } from 'mqtt';
import { CHROMIUM_MISSING } from './browser';
import { MOSQUITTO_MISSING, describeMosquitto, startMosquitto, type Mosquitto } from './mosquitto';
import { closeClient, collect, connectClient } from './mqtt';
import { canConnect } from './ports';
import { REPO_ROOT, spawnProcess } from './process';

function nextConnect(client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.once('connect', () => resolve()));
}

function refusedConnections(client: MqttClient, count: number): Promise<void> {
  return new Promise((resolve) => {
    let seen = 0;
    const onError = (err: Error & { code?: string | number }): void => {
      if (err.code !== 'ECONNREFUSED' || ++seen < count) return;
      client.off('error', onError);
      resolve();
    };
    client.on('error', onError);
  });
}

describeMosquitto('test harness: mosquitto', () => {
  let broker: Mosquitto;
  const clients: MqttClient[] = [];
  const client = async (url: string, opts = {}): Promise<MqttClient> => {
    const c = await connectClient(url, opts);
    clients.push(c);
    return c;
  };

  afterEach(async () => {
    await Promise.all(clients.splice(0).map(closeClient));
    await broker?.stop();
  });

  it('runs its own broker on a free 127.0.0.1 port from a config in a temp dir', async () => {
    broker = await startMosquitto();
    const config = readFileSync(broker.configPath, 'utf8');
    assert.match(config, new RegExp(`^listener ${broker.port} 127\\.0\\.0\\.1$`, 'm'));
    assert.match(config, /^set_tcp_nodelay true$/m);
    assert.match(config, /^persistence false$/m);
    assert.equal(path.dirname(broker.configPath), broker.dir);
    assert.ok(broker.dir.startsWith(os.tmpdir()));
    assert.equal(broker.url, `mqtt://127.0.0.1:${broker.port}`);
    assert.match(broker.log(), /mosquitto version \S+ running/);

    await broker.stop();
    assert.equal(broker.running(), false);
    assert.equal(await canConnect(broker.port), false);
  });

  it('carries a message from a publisher to a subscriber', async () => {
    broker = await startMosquitto();
    const subscriber = await client(broker.url);
    const publisher = await client(broker.url);
    const received = await collect(subscriber, 'harness/+/echo');

    await publisher.publishAsync('harness/a/echo', 'hello', { qos: 1 });
    await publisher.publishAsync('harness/a/other', 'not recorded', { qos: 1 });
    await publisher.publishAsync('harness/b/echo', 'second', { qos: 1 });

    const second = await received.waitFor((m) => m.payload === 'second');
    assert.deepEqual(second, { topic: 'harness/b/echo', payload: 'second', retain: false, qos: 1 });
    assert.deepEqual(
      received.messages.map((m) => m.payload),
      ['hello', 'second'],
    );
    await assert.rejects(
      received.waitFor((m) => m.payload === 'never sent', 50),
      /no matching message on harness\/\+\/echo within 50 ms; 2 arrived:\n  harness\/a\/echo: hello\n/,
    );
  });

  // persistence is false so that every test starts from an empty broker: a restart is a
  // clean slate, as for a broker whose store was lost. Retained messages do not survive it.
  it('forgets retained messages on restart, because persistence is off', async () => {
    broker = await startMosquitto();
    const publisher = await client(broker.url);
    await publisher.publishAsync('harness/retained/cmd', 'f', { qos: 1, retain: true });
    const before = await collect(await client(broker.url), 'harness/retained/#');
    assert.deepEqual(await before.waitFor(() => true), { topic: 'harness/retained/cmd', payload: 'f', retain: true, qos: 1 });

    await Promise.all(clients.splice(0).map(closeClient));
    await broker.restart();

    // Retained messages are sent right after the SUBACK, so a marker published afterwards
    // arriving first proves that nothing retained was left.
    const subscriber = await client(broker.url);
    const after = await collect(subscriber, 'harness/retained/#');
    await subscriber.publishAsync('harness/retained/marker', 'marker', { qos: 1 });
    await after.waitFor((m) => m.payload === 'marker');
    assert.deepEqual(after.messages.map((m) => m.payload), ['marker']);
  });

  it('restarts on the same port at once after SIGKILL or SIGTERM; clients reconnect and resubscribe', async () => {
    broker = await startMosquitto();
    const subscriber = await client(broker.url);
    const received = await collect(subscriber, 'harness/restart');

    for (const [round, halt] of [['kill', () => broker.kill()], ['stop', () => broker.stop()]] as const) {
      const refused = refusedConnections(subscriber, 3);
      const reconnected = nextConnect(subscriber);
      await halt();
      assert.equal(await canConnect(broker.port), false);
      // The client keeps retrying while the broker is down, and its refused attempts must
      // not end the run.
      await refused;
      // A connected client left the broker's side of its socket in TIME_WAIT: rebinding
      // right away works only because mosquitto sets SO_REUSEADDR.
      await broker.restart();
      await reconnected;

      const publisher = await client(broker.url);
      // mqtt.js resubscribes after the CONNACK; a message published before that SUBACK
      // would be lost, so publish until one arrives.
      const from = received.messages.length;
      const arrived = received.waitFor((m) => m.payload === `after ${round}`, 5000, from);
      const timer = setInterval(() => void publisher.publishAsync('harness/restart', `after ${round}`, { qos: 1 }), 50);
      try {
        await arrived;
      } finally {
        clearInterval(timer);
      }
    }
    assert.match(broker.log(), /harness: SIGKILL[\s\S]*mosquitto version \S+ running[\s\S]*harness: SIGTERM/);
  });

  it('serves MQTT over websockets, also after a restart on the same ports', async () => {
    broker = await startMosquitto({ websockets: true });
    assert.ok(broker.wsPort !== undefined && broker.wsUrl === `ws://127.0.0.1:${broker.wsPort}`);
    assert.match(readFileSync(broker.configPath, 'utf8'), /^protocol websockets$/m);

    const wsClient = await client(broker.wsUrl);
    const tcpClient = await client(broker.url);
    const overWs = await collect(wsClient, 'harness/ws');
    const overTcp = await collect(tcpClient, 'harness/tcp');
    await tcpClient.publishAsync('harness/ws', 'tcp to ws', { qos: 1 });
    await wsClient.publishAsync('harness/tcp', 'ws to tcp', { qos: 1 });
    await overWs.waitFor((m) => m.payload === 'tcp to ws');
    await overTcp.waitFor((m) => m.payload === 'ws to tcp');

    await Promise.all(clients.splice(0).map(closeClient));
    const open = await client(broker.wsUrl);
    await broker.kill();
    await broker.restart();
    await closeClient(open);
    const again = await client(broker.wsUrl);
    assert.equal(again.connected, true);
  });

  it('applies extraConfig and files: a password file turns anonymous clients away', async () => {
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'carbot-passwd-'));
    let passwd: string;
    try {
      const file = path.join(scratch, 'passwd');
      execFileSync('mosquitto_passwd', ['-c', '-b', file, 'car', 's3cret'], { stdio: 'ignore' });
      passwd = readFileSync(file, 'utf8');
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
    broker = await startMosquitto({
      extraConfig: 'allow_anonymous false\npassword_file passwd',
      files: { passwd },
    });
    assert.doesNotMatch(readFileSync(broker.configPath, 'utf8'), /allow_anonymous true/);

    await assert.rejects(connectClient(broker.url, { reconnectPeriod: 0 }), /Not authorized/);
    await assert.rejects(
      connectClient(broker.url, { username: 'car', password: 'wrong', reconnectPeriod: 0 }),
      /Not authorized/,
    );
    const authorised = await client(broker.url, { username: 'car', password: 's3cret' });
    assert.equal(authorised.connected, true);
  });
});

const WITHOUT = [
  { what: 'mosquitto', fixture: 'needs-mosquitto.ts', hide: 'CARBOT_TEST_MOSQUITTO_BIN', switch: 'CARBOT_TEST_MOSQUITTO', line: MOSQUITTO_MISSING },
  { what: 'chromium', fixture: 'needs-chromium.ts', hide: 'CARBOT_TEST_CHROMIUM_BIN', switch: 'CARBOT_TEST_BROWSER', line: CHROMIUM_MISSING },
];

for (const missing of WITHOUT) {
  describe(`test harness: without ${missing.what}`, () => {
    const fixture = path.join('test', 'support', 'fixtures', missing.fixture);
    const mocha = path.join('node_modules', 'mocha', 'bin', 'mocha.js');
    const runFixture = async (env: Record<string, string>): Promise<{ code: number | null; output: string }> => {
      const run = spawnProcess(process.execPath, [mocha, fixture], { [missing.hide]: `/nonexistent/${missing.what}`, ...env });
      const { code } = await run.exited;
      return { code, output: run.output() };
    };

    it(`says so loudly and registers nothing, or fails when ${missing.switch}=required`, async () => {
      const [optional, required] = await Promise.all([runFixture({}), runFixture({ [missing.switch]: 'required' })]);

      assert.equal(optional.code, 0, optional.output);
      assert.ok(optional.output.includes(missing.line), optional.output);
      // Once where the suite loads, once more at the end of the run.
      assert.equal(optional.output.split(missing.line).length - 1, 2, optional.output);
      assert.match(optional.output, /1 passing/);
      assert.doesNotMatch(optional.output, /pending|would (talk to|drive)/);

      assert.equal(required.code, 1, required.output);
      assert.ok(required.output.includes(missing.line), required.output);
      assert.match(required.output, new RegExp(`1 failing[\\s\\S]*runs with ${missing.what} \\(${missing.switch}=required\\)`));
    });
  });
}

describe('test harness: isolation from the machine', () => {
  it("ignores the caller's CARBOT_* variables and never lets carbot read /etc/carbot, and says so", async () => {
    const mocha = path.join('node_modules', 'mocha', 'bin', 'mocha.js');
    const fixture = path.join('test', 'support', 'fixtures', 'from-a-shell.ts');
    const run = spawnProcess(process.execPath, [mocha, fixture], {
      CARBOT_MQTT_URL: 'mqtt://from-the-shell:1',
      CARBOT_LOG_LEVEL: 'debug',
      // A file that would fail every test that read it.
      CARBOT_CONFIG: '/nonexistent/carbot/config.json',
    });
    const { code } = await run.exited;
    assert.equal(code, 0, run.output());
    assert.match(run.output(), /harness: ignoring CARBOT_CONFIG, CARBOT_LOG_LEVEL, CARBOT_MQTT_URL from the environment/);
    assert.match(run.output(), /1 passing/);
  });

  it('gives every process it starts an empty CARBOT_CONFIG: carbot then reads no configuration file', async () => {
    const proc = spawnProcess(process.execPath, ['-e', 'console.log(JSON.stringify(process.env.CARBOT_CONFIG))']);
    await proc.exited;
    assert.deepEqual(proc.stdout, ['""']);
  });

  it('starts every process with the caller\'s carbot, systemd and NODE_OPTIONS variables removed, adding only what it is given', () => {
    const saved = { ...process.env };
    try {
      Object.assign(process.env, { CARBOT_DEVICE: 'bad/name', JOURNAL_STREAM: '8:1', NOTIFY_SOCKET: '/run/x', NODE_OPTIONS: '--require /etc/evil.js' });
      const env = isolatedEnv({ CARBOT_MQTT_URL: 'mqtt://127.0.0.1:1' });
      assert.deepEqual(
        Object.keys(env).filter((k) => /^(CARBOT_|JOURNAL_|NOTIFY_|NODE_OPTIONS)/.test(k)).sort(),
        ['CARBOT_CONFIG', 'CARBOT_MQTT_URL'],
      );
      assert.equal(env.CARBOT_CONFIG, '');
      assert.equal(env.PATH, process.env.PATH);
    } finally {
      for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
  });

  it('is the only way tests and the benchmark start processes: nothing else in test/ or bench/ imports child_process', () => {
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory() ? files(path.join(dir, e.name)) : /\.(ts|js)$/.test(e.name) ? [path.join(dir, e.name)] : [],
      );
    // An import or a require of the module by the file itself (a stand-in program a test writes
    // out as text is not the test starting processes).
    const uses = /^\s*(?:import\s+(?!type\b)[^;]*?from\s*|(?:const|let|var)\s[^=]*=\s*require\(\s*)['"](?:node:)?child_process['"]/m;
    const offenders = ['test', 'bench']
      .flatMap((dir) => files(path.join(REPO_ROOT, dir)))
      .filter((f) => path.relative(REPO_ROOT, f) !== path.join('test', 'support', 'isolation.ts'))
      .filter((f) => uses.test(readFileSync(f, 'utf8')))
      .map((f) => path.relative(REPO_ROOT, f));
    assert.deepEqual(offenders, [], 'start processes through test/support/isolation.ts (spawn, spawnSync, execFileSync)');
  });
});

describe('test harness: processes', () => {
  const script = [
    'console.log("starting");',
    'console.error("to stderr");',
    'process.on("SIGTERM", () => { console.log("terminating"); process.exit(3); });',
    'setInterval(() => {}, 1000);',
    'console.log("ready");',
  ].join('\n');

  it('captures lines, waits for them and reports the exit', async () => {
    const proc = spawnProcess(process.execPath, ['-e', script]);
    assert.equal(await proc.waitForLine(/^ready$/), 'ready');
    assert.equal(await proc.waitForLine(/^start/), 'starting');
    // stdout and stderr are separate pipes: one line's arrival says nothing about the other's.
    assert.equal(await proc.waitForLine(/stderr/), 'to stderr');
    assert.deepEqual(proc.stdout, ['starting', 'ready']);
    assert.deepEqual(proc.stderr, ['to stderr']);

    const from = proc.lines.length;
    assert.deepEqual(await proc.kill('SIGTERM'), { code: 3, signal: null });
    assert.equal(await proc.waitForLine(/terminating/, 1000, from), 'terminating');
    await assert.rejects(proc.waitForLine(/never printed/), /exited with code 3[\s\S]*ready/);
  });
});
