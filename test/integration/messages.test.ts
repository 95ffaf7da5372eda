/**
 * What carbot says when a user guesses wrong: each line names the mistake and the fix.
 */
import { strict as assert } from 'node:assert';
import { rebuildHint, tryIt } from '../../src/cli';
import { existsSync } from 'node:fs';
import { DEFAULT_CONFIG_PATH, loadConfig } from '../../src/config/config';
import { describeMosquitto, startMosquitto, type Mosquitto } from '../support/mosquitto';
import { freePort } from '../support/ports';
import { spawnCarbot, spawnProcess, CLI_PATH } from '../support/process';

describeMosquitto('messages: a websockets port given as mqtt://', () => {
  let broker: Mosquitto;

  beforeEach(async () => {
    broker = await startMosquitto({ websockets: true });
  });

  afterEach(async () => {
    await broker.stop();
  });

  it('the service says the port looks like websockets and names the ws:// URL, not a PUBACK parse error', async () => {
    const url = `mqtt://127.0.0.1:${broker.wsPort}`;
    const proc = spawnCarbot(['--gpio', 'sim', '--mqtt-url', url]);
    const line = await proc.waitForLine(/did not answer in MQTT/);
    assert.match(
      line,
      new RegExp(`broker at mqtt://127\\.0\\.0\\.1:${broker.wsPort} did not answer in MQTT \\(.*\\): 127\\.0\\.0\\.1:${broker.wsPort} looks like a websockets \\(HTTP\\) port; use ws://127\\.0\\.0\\.1:${broker.wsPort} for it, or the broker's MQTT port \\(usually 1883\\)`),
    );
    assert.equal((await proc.kill('SIGTERM')).code, 0);
  });

  it('carbot send says the same and exits 69; the ws:// URL it names works', async () => {
    const wrong = spawnCarbot(['send', 'stop', '--mqtt-url', `mqtt://127.0.0.1:${broker.wsPort}`]);
    assert.equal((await wrong.exited).code, 69);
    const hint = /use (ws:\/\/\S+) for it/.exec(wrong.output());
    assert.ok(hint, wrong.output());

    const car = spawnCarbot(['--gpio', 'sim', '--mqtt-url', broker.url]);
    await car.waitForLine(/subscribed to carbot\/move/);
    const right = spawnCarbot(['send', 'stop', '--mqtt-url', hint[1]]);
    assert.equal((await right.exited).code, 0, right.output());
    assert.deepEqual(JSON.parse(right.stdout[0]), { move: 'stop', motion: 'stopped', speed: 50 });
    assert.equal((await car.kill('SIGTERM')).code, 0);
  });
});

describe('messages: the command line', () => {
  it('carbot send with two commands is a usage error (64) saying to send one at a time, not an invalid configuration', async () => {
    const proc = spawnCarbot(['send', 'forward', 'backward', '--mqtt-url', 'mqtt://127.0.0.1:1']);
    assert.equal((await proc.exited).code, 64);
    assert.deepEqual(proc.stderr, [
      'carbot: send takes one command, got 2: "forward" "backward". Send them one at a time (carbot send forward), ' +
        `and quote JSON as one argument: carbot send '{"move":"forward","speed":40}'`,
    ]);
    assert.doesNotMatch(proc.output(), /invalid configuration/);
  });

  it('options may come before the command, and a command without send is a usage error that says so', async () => {
    const before = spawnCarbot(['send', '--mqtt-url', 'mqtt://127.0.0.1:1', 'forward']);
    assert.equal((await before.exited).code, 69);
    assert.match(before.output(), /broker at mqtt:\/\/127\.0\.0\.1:1 refused the connection/);

    const bare = spawnCarbot(['forward', '--gpio', 'sim']);
    assert.equal((await bare.exited).code, 64);
    assert.deepEqual(bare.stderr, ['carbot: unexpected argument "forward" (to drive the car: carbot send forward); see carbot --help']);
  });

  it('the try it: line names the port, device and topic carbot really uses, and works as printed', async () => {
    const [port, httpPort] = [await freePort(), await freePort()];
    const proc = spawnCarbot([
      '--embedded-broker-enabled', '--embedded-broker-port', String(port), '--embedded-broker-ws-port', '0',
      '--mqtt-url', `mqtt://127.0.0.1:${port}`, '--device', 'car2', '--move-topic', 'bed 2/move',
      '--gpio', 'sim', '--http-port', String(httpPort), '--http-host', '127.0.0.1',
    ]);
    await proc.waitForLine(/subscribed to bed 2\/move/);
    const line = await proc.waitForLine(/try it:/);
    // carbot runs here with no configuration file; where this machine has carbot's default
    // one (an installed car), send would read it, so the line says --no-config.
    const noConfig = existsSync(DEFAULT_CONFIG_PATH) ? ' --no-config' : '';
    assert.match(
      line,
      new RegExp(
        `try it: node dist/cli\\.js send forward${noConfig} --mqtt-url mqtt://127\\.0\\.0\\.1:${port} --device car2 --move-topic 'bed 2/move'` +
          `   \\(or: mosquitto_pub -h 127\\.0\\.0\\.1 -p ${port} -t 'bed 2/move' -m forward\\)`,
      ),
    );
    // Typed as printed (the shell's quoting undone), it drives this car.
    const args = ['send', 'forward', ...(noConfig ? ['--no-config'] : []), '--mqtt-url', `mqtt://127.0.0.1:${port}`, '--device', 'car2', '--move-topic', 'bed 2/move'];
    const send = spawnProcess(process.execPath, [CLI_PATH, ...args]);
    assert.equal((await send.exited).code, 0, send.output());
    assert.deepEqual(JSON.parse(send.stdout[0]), { move: 'forward', motion: 'forward', speed: 50 });
    assert.equal((await proc.kill('SIGTERM')).code, 0);
  });

  it('the try it: line stays short with the defaults, and says --no-config when carbot ran without the file send would read', () => {
    const config = loadConfig({ argv: ['--embedded-broker-enabled'], env: {} });
    // In this process the program is src/cli.ts; the spawned service above shows dist/cli.js.
    assert.match(tryIt(config, 1883, false), /^try it: node \S+ send forward {3}\(or: mosquitto_pub -h 127\.0\.0\.1 -p 1883 -t carbot\/move -m forward\)$/);
    assert.match(tryIt(config, 1883, true), /send forward --no-config {3}/);
  });
});

describe('messages: rebuilding the pigpio addon', () => {
  it('in a checkout: npm rebuild right there', () => {
    assert.equal(rebuildHint('/home/pi/carbot', true), 'to rebuild it here: cd /home/pi/carbot && npm rebuild pigpio');
  });

  it('in the installed copy: run the installer again from the checkout, not npm rebuild in /opt/carbot', () => {
    const hint = rebuildHint('/opt/carbot', false);
    assert.match(hint, /copy scripts\/install\.sh made in \/opt\/carbot: .*"sudo scripts\/install\.sh" again in your carbot checkout/);
    assert.match(hint, /an npm rebuild inside \/opt\/carbot would be undone by the next install/);
  });
});
