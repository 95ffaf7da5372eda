/**
 * The README's demo, as a new user follows it: `npm start` (the arguments read from
 * package.json's start script, so this test cannot drift from it), with the demo's ports moved
 * as the README shows, then `carbot send home` and `carbot send goto basil` from a second
 * shell; the simulated car arrives at basil (stat/carbot/ARRIVED) without any calibrate, on
 * the simulated track's own speed table.
 */
import { strict as assert } from 'node:assert';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import type { MqttClient } from 'mqtt';
import { DEFAULT_CONFIG_PATH } from '../../src/config/config';
import { closeClient, collect, connectClient, type ReceivedMessage } from '../support/mqtt';
import { freePort } from '../support/ports';
import { CLI_PATH, REPO_ROOT, spawnCarbot, spawnProcess, type CarbotProcess } from '../support/process';

/** The words of a shell command line: single and double quotes, backslash escapes, spaces. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '"') {
      let j = i + 1;
      let text = '';
      for (; line[j] !== '"'; j++) text += line[j] === '\\' ? line[++j] : line[j];
      word = (word ?? '') + text;
      i = j;
    } else if (c === '\\') {
      word = (word ?? '') + line[++i];
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** What `npm start` passes to dist/cli.js. */
function startArguments(): string[] {
  const { start } = (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts;
  const node = start.split('&&').map((part) => shellWords(part.trim())).find((words) => words[0] === 'node');
  assert.ok(node, `no "node ..." in the start script: ${start}`);
  const cli = node.findIndex((w) => w.endsWith('dist/cli.js'));
  assert.ok(cli > 0, `the start script does not run dist/cli.js: ${start}`);
  return node.slice(cli + 1);
}

const parse = (m: ReceivedMessage) => JSON.parse(m.payload) as Record<string, unknown>;

describe("the README's demo: npm start, then home, then goto basil", function () {
  this.timeout(90_000);
  let carbot: CarbotProcess | undefined;
  let client: MqttClient | undefined;

  afterEach(async () => {
    if (client) await closeClient(client);
    client = undefined;
    if (carbot) assert.equal((await carbot.kill('SIGTERM')).code, 0, carbot.output());
    carbot = undefined;
  });

  it('shell words as npm hands the script to sh', () => {
    assert.deepEqual(shellWords(`node dist/cli.js --a 'x y' "q\\"z" b\\ c`), ['node', 'dist/cli.js', '--a', 'x y', 'q"z', 'b c']);
  });

  it('arrives at basil with no calibrate, ports moved off 1883/9000/8080 as the README shows', async () => {
    const [mqttPort, wsPort, httpPort] = [await freePort(), await freePort(), await freePort()];
    // README: npm start -- --embedded-broker-port 11883 --embedded-broker-ws-port 19000 --http-port 18080
    const moved = ['--embedded-broker-port', String(mqttPort), '--embedded-broker-ws-port', String(wsPort), '--http-port', String(httpPort)];
    carbot = spawnCarbot([...startArguments(), ...moved]);
    const tryIt = await carbot.waitForLine(/try it: /);
    await carbot.waitForLine(/subscribed to carbot\/move/);
    // On a machine with carbot's default config (an installed car) the line adds --no-config, as `npm start` reads none.
    const noConfig = existsSync(DEFAULT_CONFIG_PATH) ? ' --no-config' : '';
    assert.match(tryIt, new RegExp(`send forward${noConfig} --mqtt-url mqtt://127\\.0\\.0\\.1:${mqttPort}`));
    assert.ok(carbot.output().includes(`http://127.0.0.1:${httpPort}/`), carbot.output());

    client = await connectClient(`mqtt://127.0.0.1:${mqttPort}`);
    const states = await collect(client, 'tele/carbot/STATE');
    const arrivals = await collect(client, 'stat/carbot/ARRIVED');

    // The second shell of the README: carbot send, with the broker the try-it line names.
    const send = async (...command: string[]) => {
      const run = spawnProcess(process.execPath, [CLI_PATH, 'send', ...command, '--no-config', '--mqtt-url', `mqtt://127.0.0.1:${mqttPort}`]);
      const { code } = await run.exited;
      assert.equal(code, 0, run.output());
      return JSON.parse(run.stdout.join('\n')) as Record<string, unknown>;
    };

    assert.deepEqual(await send('home'), { move: 'home', motion: 'backward', speed: 40 });
    await states.waitFor((m) => parse(m).homed === true && parse(m).task === undefined && parse(m).motion === 'stopped', 30_000, 0);

    const answer = await send('goto', 'basil');
    assert.equal(answer.error, undefined, JSON.stringify(answer));
    assert.equal(answer.to, 'basil');
    const arrived = parse(await arrivals.waitFor(() => true, 30_000, 0));
    assert.equal(arrived.stop, 'basil');
    // Not calibrated for this run (the simulation draws a speed factor within ±5 % per run, and
    // the shipped table is its nominal one): near basil (0.2 of the track), within a few percent
    // of the track or the uncertainty carbot itself reports, whichever is larger.
    const there = parse(await states.waitFor((m) => parse(m).reason === 'arrived' && parse(m).motion === 'stopped', 5000, 0));
    const tolerance = Math.max(0.03, Number(there.uncertainty ?? 0));
    assert.ok(
      Math.abs((there.simPosition as number) - 0.2) <= tolerance,
      `the simulated car is at ${String(there.simPosition)}, carbot says ${String(there.position)} ± ${String(there.uncertainty)}`,
    );
  });
});
