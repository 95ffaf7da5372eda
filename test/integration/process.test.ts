import { strict as assert } from 'node:assert';
import { chmodSync, chownSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { againstEachBroker } from '../support/matrix';
import { closeClient, collect, connectClient, type Recorder } from '../support/mqtt';
import { requireRoot } from '../support/privilege';
import { spawnCarbot, spawnProcess, CLI_PATH, REPO_ROOT } from '../support/process';

const EX_CONFIG = 78;

describe('the compiled CLI', () => {
  it('exits 78 naming a bad CARBOT_MQTT_URL, and lists every problem at once', async () => {
    const proc = spawnCarbot(['--max-speed', '500'], { CARBOT_MQTT_URL: 'htp://pi:1883', CARBOT_GPIO: 'arduino' });
    const { code } = await proc.exited;
    assert.equal(code, EX_CONFIG);
    const out = proc.stderr.join('\n');
    assert.match(out, /invalid configuration \(3 problems\)/);
    assert.match(out, /CARBOT_MQTT_URL: "htp:\/\/pi:1883" is not a broker URL/);
    assert.match(out, /CARBOT_GPIO: "arduino" is not one of auto, pigpio, kernel, sim/);
    assert.match(out, /--max-speed: 500 is above the maximum 100/);
  });

  it('--check-config prints the effective configuration with the password redacted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'carbot-cfg-'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ device: 'greenhouse', mqtt: { username: 'car', password: 'hunter2' } }));
    const proc = spawnCarbot(['--check-config', '--config', join(dir, 'config.json'), '--tele-period', '60']);
    assert.equal((await proc.exited).code, 0);
    const printed = JSON.parse(proc.stdout.join('\n'));
    assert.equal(printed.device, 'greenhouse');
    assert.equal(printed.moveTopic, 'greenhouse/move');
    assert.equal(printed.telePeriod, 60);
    assert.equal(printed['mqtt.username'], 'car');
    assert.equal(printed['mqtt.password'], '***');
    assert.ok(!proc.output().includes('hunter2'));
  });

  it('--check-config exits 78 on a bad file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'carbot-cfg-'));
    writeFileSync(join(dir, 'config.json'), '{"speedStep": 0, ');
    const proc = spawnCarbot(['--check-config', '--config', join(dir, 'config.json')]);
    assert.equal((await proc.exited).code, EX_CONFIG);
    assert.match(proc.stderr.join('\n'), /config\.json: not valid JSON/);
  });

  it('--version and --help', async () => {
    const version = spawnCarbot(['--version']);
    assert.equal((await version.exited).code, 0);
    assert.match(version.stdout[0], /^\d+\.\d+\.\d+$/);
    const help = spawnCarbot(['--help']);
    assert.equal((await help.exited).code, 0);
    const text = help.stdout.join('\n');
    for (const s of ['--mqtt-url', 'CARBOT_MQTT_PASSWORD_FILE', 'carbot send <command>', 'carbot doctor', 'carbot jog <motor>', '--embedded-broker', '78']) {
      assert.ok(text.includes(s), s);
    }
  });

  it('exits 78 rather than send a file of several lines as the MQTT password (mqtt.passwordFile=/etc/shadow)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'carbot-cfg-'));
    writeFileSync(join(dir, 'shadow'), 'root:$6$salt$secrethash:19000:0:99999:7:::\npi:*:19000:0:99999:7:::\n');
    const proc = spawnCarbot(['--mqtt-password-file', join(dir, 'shadow'), '--gpio', 'sim']);
    assert.equal((await proc.exited).code, EX_CONFIG);
    assert.match(proc.stderr.join('\n'), /--mqtt-password-file: ".*shadow" holds more than one line: a password file holds the password alone/);
    assert.doesNotMatch(proc.output(), /secrethash/);
  });

  it('as root, exits 78 naming a settings file that another user owns or can write', async function () {
    requireRoot(this, 'carbot as root with a settings file of another user');
    const dir = mkdtempSync(join(tmpdir(), 'carbot-cfg-'));
    const config = join(dir, 'config.json');
    writeFileSync(config, JSON.stringify({ logLevel: 'debug' }));
    chownSync(config, 65534, 65534);
    const proc = spawnCarbot(['--config', config, '--gpio', 'sim', '--mqtt-url', 'mqtt://127.0.0.1:1']);
    assert.equal((await proc.exited).code, EX_CONFIG);
    assert.ok(
      proc.stderr.join('\n').includes(`${config}: carbot runs as root and takes settings from this file, which its owner, uid 65534, can change: sudo chown root ${config}`),
      proc.output(),
    );
    // Root's again, and written by root alone: it runs.
    chownSync(config, 0, 0);
    chmodSync(config, 0o664);
    const group = spawnCarbot(['--config', config, '--check-config']);
    assert.equal((await group.exited).code, EX_CONFIG);
    assert.match(group.stderr.join('\n'), /which its group can change/);
    chmodSync(config, 0o644);
    const fine = spawnCarbot(['--config', config, '--check-config']);
    assert.equal((await fine.exited).code, 0, fine.output());
  });

  it('carbot send reports a broker it cannot reach with exit 69', async () => {
    const proc = spawnProcess(process.execPath, [CLI_PATH, 'send', 'f', '--mqtt-url', 'mqtt://127.0.0.1:1']);
    assert.equal((await proc.exited).code, 69);
    assert.match(proc.stderr.join('\n'), /refused the connection/);
  });
});

againstEachBroker('carbot as a process', (broker) => {
  let client: MqttClient;
  let lwt: Recorder;
  beforeEach(async () => {
    client = await connectClient(broker().url);
    lwt = await collect(client, 'tele/carbot/LWT');
  });
  afterEach(() => closeClient(client));

  const start = async () => {
    const proc = spawnCarbot(['--mqtt-url', broker().url, '--gpio', 'sim', '--mqtt-keepalive', '5']);
    await proc.waitForLine(/subscribed to carbot\/move/);
    await lwt.waitFor((m) => m.payload === 'Online');
    return proc;
  };

  it('SIGTERM: motors zeroed, Offline published, exit 0', async () => {
    const proc = await start();
    const results = await collect(client, 'stat/carbot/RESULT');
    await client.publishAsync('carbot/move', 'forward', { qos: 1 });
    await results.waitFor(() => true);
    const from = lwt.messages.length;
    const { code } = await proc.kill('SIGTERM');
    assert.equal(code, 0);
    assert.equal((await lwt.waitFor(() => true, 3000, from)).payload, 'Offline');
    const out = proc.output();
    assert.match(out, /shutting down \(SIGTERM\)/);
    assert.match(out, /stopped \(shutdown\)/);
    assert.match(out, /motor outputs zeroed/);
  });

  it('SIGINT (Ctrl-C) shuts down like SIGTERM', async () => {
    const proc = await start();
    const from = lwt.messages.length;
    assert.equal((await proc.kill('SIGINT')).code, 0);
    assert.equal((await lwt.waitFor(() => true, 3000, from)).payload, 'Offline');
    assert.match(proc.output(), /shutting down \(SIGINT\)/);
  });

  it('an uncaught error stops the motors, says so, publishes Offline and exits 1', async () => {
    const states = await collect(client, 'tele/carbot/STATE');
    const proc = spawnProcess(
      process.execPath,
      ['--require', join(REPO_ROOT, 'test', 'fixtures', 'throw-later.js'), CLI_PATH, '--mqtt-url', broker().url, '--gpio', 'sim'],
      { CARBOT_HTTP_PORT: '0', CARBOT_TEST_THROW_AFTER_MS: '1500' },
    );
    await proc.waitForLine(/subscribed to carbot\/move/);
    await client.publishAsync('carbot/move', 'forward', { qos: 1 });
    await states.waitFor((m) => JSON.parse(m.payload).motion === 'forward');
    const from = states.messages.length;
    assert.equal((await proc.exited).code, 1);
    assert.match(proc.output(), /uncaught error, motors stopped: Error: simulated bug/);
    const last = JSON.parse((await states.waitFor(() => true, 3000, from)).payload);
    assert.equal(last.motion, 'stopped');
    assert.deepEqual(last.motors, { left: 0, right: 0 });
    assert.equal(lwt.messages.at(-1)?.payload, 'Offline');
  });

  it('republishes STATE every telePeriod seconds without a change', async () => {
    const states = await collect(client, 'tele/carbot/STATE');
    const proc = spawnCarbot(['--mqtt-url', broker().url, '--gpio', 'sim', '--tele-period', '1']);
    await proc.waitForLine(/subscribed to carbot\/move/);
    await states.waitFor(() => states.messages.length >= 3, 5000);
    assert.ok(states.messages.every((m) => JSON.parse(m.payload).motion === 'stopped'));
    assert.equal(new Set(states.messages.map((m) => JSON.parse(m.payload).uptime)).size >= 2, true);
    await proc.kill('SIGTERM');
  });

  it('SIGKILL: the broker publishes the Offline will', async () => {
    const proc = await start();
    const from = lwt.messages.length;
    await proc.kill('SIGKILL');
    const offline = await lwt.waitFor(() => true, 15_000, from);
    assert.equal(offline.payload, 'Offline');
  });

  it('carbot send publishes one command and prints the RESULT', async () => {
    const proc = await start();
    const send = spawnProcess(process.execPath, [CLI_PATH, 'send', 'back', '--mqtt-url', broker().url]);
    assert.equal((await send.exited).code, 0);
    assert.deepEqual(JSON.parse(send.stdout[0]), { move: 'backward', motion: 'backward', speed: 50 });
    await proc.waitForLine(/backward at 50% \(command\)/);
    const bad = spawnProcess(process.execPath, [CLI_PATH, 'send', 'sideways', '--mqtt-url', broker().url]);
    assert.equal((await bad.exited).code, 1);
    assert.deepEqual(JSON.parse(bad.stdout[0]), { error: 'unknown command', payload: 'sideways' });
    await proc.kill('SIGTERM');
  });

  it('carbot send believes no retained RESULT: with carbot not running it says so and exits 69', async () => {
    await client.publishAsync('stat/carbot/RESULT', '{"move":"stop","motion":"stopped","speed":50}', { qos: 1, retain: true });
    const send = spawnProcess(process.execPath, [CLI_PATH, 'send', 'stop', '--mqtt-url', broker().url]);
    assert.equal((await send.exited).code, 69);
    assert.deepEqual(send.stdout, []);
    assert.match(send.stderr.join('\n'), /no RESULT on stat\/carbot\/RESULT within 5 s: is carbot running/);
  });

  it('carbot send prints a RESULT with its control characters escaped: no ESC reaches the terminal', async () => {
    // Something else answers on carbot's topics with escape sequences (clear screen, retitle),
    // as carbot would: on the MQTT 5 response topic with the correlation data (mosquitto), or
    // on RESULT echoing the command's id (aedes speaks only 3.1.1).
    const fake = await connectClient(broker().url, { protocolVersion: broker().kind === 'mosquitto' ? 5 : 4 });
    await fake.subscribeAsync('carbot/move', { qos: 1 });
    fake.on('message', (topic, payload, packet) => {
      if (topic !== 'carbot/move') return;
      const to = packet.properties?.responseTopic;
      const id = to ? undefined : (JSON.parse(payload.toString()) as { id?: string }).id;
      const answer = `{"move":"stop","note":"\x1b[2J\x1b]0;pwned\x07\u202e"${id ? `,"id":"${id}"` : ''}}`;
      fake.publish(to ?? 'stat/carbot/RESULT', answer, { qos: 1, properties: to ? { correlationData: packet.properties?.correlationData } : undefined });
    });
    const send = spawnProcess(process.execPath, [CLI_PATH, 'send', 'stop', '--mqtt-url', broker().url]);
    assert.equal((await send.exited).code, 1);
    assert.doesNotMatch(send.output(), /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202e]/);
    // Not JSON, so the id it echoes (aedes) is printed as it came.
    assert.match(send.stdout[0], /^\{"move":"stop","note":"\\u001b\[2J\\u001b\]0;pwned\\u0007\\u202e"(,"id":"send-[0-9a-f]+")?\}$/);
    assert.match(send.stderr.join('\n'), /the RESULT on stat\/carbot\/RESULT is not JSON/);
    await closeClient(fake);
  });
});

describe('GPIO backend selection in the compiled CLI', () => {
  it('gpio=pigpio off a Raspberry Pi exits 1 saying how to fix it, never falling back to sim', async () => {
    const proc = spawnCarbot(['--gpio', 'pigpio', '--mqtt-url', 'mqtt://127.0.0.1:1']);
    const { code } = await proc.exited;
    assert.equal(code, 1);
    assert.match(proc.output(), /gpio is "pigpio" but this is not a Raspberry Pi .*Set gpio to "auto" or "sim"/);
    assert.doesNotMatch(proc.output(), /GPIO backend: sim/);
  });

  it('gpio=auto off a Pi warns and uses simulated motors', async () => {
    const proc = spawnCarbot(['--gpio', 'auto', '--mqtt-url', 'mqtt://127.0.0.1:1']);
    await proc.waitForLine(/GPIO backend: sim/);
    // Signal handlers go in after the hardware is open (pigpio replaces them); wait for that.
    await proc.waitForLine(/connecting to mqtt/);
    assert.match(proc.output(), /warn .*not a Raspberry Pi .*using simulated motors/);
    assert.equal((await proc.kill('SIGTERM')).code, 0);
  });
});
