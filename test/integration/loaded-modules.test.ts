import { strict as assert } from 'node:assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { createLogger } from '../../src/process/log';
import { startEmbeddedBroker, type EmbeddedBroker } from '../../src/mqtt/embedded-broker';
import { freePort } from '../support/ports';
import { CLI_PATH, REPO_ROOT, spawnProcess, type TrackedProcess } from '../support/process';

/**
 * Each verb of the compiled CLI loads only what it uses (issue 14): asserted on what the
 * process loaded (require.cache and Node's built-in module list, written at exit by
 * test/fixtures/loaded-modules.js), never on time. The parts are named by their files in
 * dist/ (each a bundle, or tsc's module file if run unbundled) and in node_modules/.
 */
const PARTS = {
  service: [/\/dist\/runtime\.js$/, /\/dist\/service\.js$/],
  'HTTP server': [/\/dist\/http\/remote-server\.js$/, /\/node_modules\/ws\//],
  aedes: [/\/dist\/mqtt\/embedded-broker\.js$/, /\/node_modules\/aedes\//],
  'GPIO libraries': [/\/node_modules\/(pigpio|onoff|i2c-bus|epoll)\//],
  mqtt: [/\/dist\/mqtt\/link\.js$/, /\/node_modules\/mqtt\//],
  logger: [/\/dist\/process\/log\.js$/],
} satisfies Record<string, RegExp[]>;
type Part = keyof typeof PARTS;

interface Loaded {
  files: string[];
  builtins: string[];
}

const FIXTURES = path.join(REPO_ROOT, 'test', 'fixtures');

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'carbot-loaded-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function spawnWatched(args: string[], env: Record<string, string> = {}): { proc: TrackedProcess; loaded: () => Loaded } {
  const out = path.join(dir, `loaded-${Math.random().toString(36).slice(2)}.json`);
  const proc = spawnProcess(process.execPath, ['--require', path.join(FIXTURES, 'loaded-modules.js'), CLI_PATH, ...args], {
    CARBOT_HTTP_PORT: '0',
    CARBOT_TEST_LOADED_OUT: out,
    ...env,
  });
  return { proc, loaded: () => JSON.parse(readFileSync(out, 'utf8')) as Loaded };
}

async function run(args: string[], expectedCode = 0): Promise<Loaded> {
  const { proc, loaded } = spawnWatched(args);
  const { code } = await proc.exited;
  assert.equal(code, expectedCode, proc.output());
  return loaded();
}

function partsIn(loaded: Loaded): Set<Part> {
  const found = new Set<Part>();
  for (const [part, patterns] of Object.entries(PARTS) as [Part, RegExp[]][]) {
    if (loaded.files.some((f) => patterns.some((p) => p.test(f)))) found.add(part);
  }
  // The HTTP server is also Node's http module, loaded by nothing else carbot runs.
  if (loaded.builtins.includes('http')) found.add('HTTP server');
  return found;
}

function assertLoads(loaded: Loaded, expected: Part[], what: string): void {
  assert.deepEqual([...partsIn(loaded)].sort(), [...expected].sort(), `${what} loaded:\n${loaded.files.join('\n')}`);
}

describe('what each verb loads (compiled CLI)', () => {
  it('--version, --help and --check-config load none of the service, HTTP server, aedes, GPIO libraries, mqtt or logger', async () => {
    assertLoads(await run(['--version']), [], '--version');
    assertLoads(await run(['--help']), [], '--help');
    assertLoads(await run(['--check-config', '--no-config', '--gpio', 'pigpio']), [], '--check-config');
  });

  it('send loads the MQTT client and nothing else of the service', async () => {
    const port = await freePort();
    // Nothing listens there: send fails with 69 after trying, which is all this needs.
    assertLoads(await run(['send', 'stop', '--no-config', '--mqtt-url', `mqtt://127.0.0.1:${port}`], 69), ['mqtt'], 'send');
  });

  it('safe-state loads the logger and, with simulated motors, no GPIO library; boards not even the logger', async () => {
    assertLoads(await run(['safe-state', '--no-config', '--gpio', 'sim']), ['logger'], 'safe-state');
    assertLoads(await run(['boards', '--no-config', '--gpio', 'sim']), [], 'boards');
  });

  it('doctor loads the MQTT client for its broker check and nothing else of the service; jog with simulated motors the logger', async () => {
    const port = await freePort();
    // An empty machine (CARBOT_SYSTEM_ROOT): not a Pi, no broker on that port, so doctor exits 1 after every check.
    const doctor = spawnWatched(['doctor', '--no-config', '--mqtt-url', `mqtt://127.0.0.1:${port}`], { CARBOT_SYSTEM_ROOT: dir });
    assert.equal((await doctor.proc.exited).code, 1, doctor.proc.output());
    assertLoads(doctor.loaded(), ['mqtt'], 'doctor');
    const jog = spawnWatched(['jog', 'left', '--no-config', '--gpio', 'sim'], { CARBOT_SYSTEM_ROOT: dir });
    assert.equal((await jog.proc.exited).code, 0, jog.proc.output());
    assertLoads(jog.loaded(), ['logger'], 'jog');
  });

  describe('the service', () => {
    let broker: EmbeddedBroker;
    before(async () => {
      const log = createLogger({ level: 'error', format: 'text', stream: new PassThrough().resume(), env: {} });
      broker = await startEmbeddedBroker({ host: '127.0.0.1', port: 0, wsPort: 0, log });
    });
    after(() => broker.close());

    async function serve(args: string[]): Promise<Loaded> {
      const { proc, loaded } = spawnWatched(['--no-config', '--mqtt-url', `mqtt://127.0.0.1:${broker.port}`, '--gpio', 'sim', ...args]);
      await proc.waitForLine(/subscribed to carbot\/move/);
      assert.equal((await proc.kill('SIGTERM')).code, 0, proc.output());
      return loaded();
    }

    it('loads the page server only when the page is on', async () => {
      assertLoads(await serve(['--http-port', '0']), ['service', 'mqtt', 'logger'], 'the service without the page');
      assertLoads(await serve(['--http-host', '127.0.0.1', '--http-port', String(await freePort())]), ['service', 'mqtt', 'logger', 'HTTP server'], 'the service with the page');
    });

    it('loads the embedded broker only when it is on', async () => {
      const { proc, loaded } = spawnWatched(['--no-config', '--embedded-broker-enabled', '--embedded-broker-port', '0', '--embedded-broker-ws-port', '0', '--gpio', 'sim']);
      await proc.waitForLine(/subscribed to carbot\/move/);
      assert.equal((await proc.kill('SIGTERM')).code, 0, proc.output());
      assert.ok(partsIn(loaded()).has('aedes'), 'the embedded broker was loaded');
    });
  });
});

describe('stack traces of the bundled build', () => {
  it('name the src/ file and line of a bug inside a bundle', async () => {
    const log = createLogger({ level: 'error', format: 'text', stream: new PassThrough().resume(), env: {} });
    const broker = await startEmbeddedBroker({ host: '127.0.0.1', port: 0, wsPort: 0, log });
    try {
      const proc = spawnProcess(
        process.execPath,
        ['--require', path.join(FIXTURES, 'bundle-error.js'), CLI_PATH, '--no-config', '--mqtt-url', `mqtt://127.0.0.1:${broker.port}`, '--gpio', 'sim'],
        { CARBOT_HTTP_PORT: '0', CARBOT_TEST_THROW_AFTER_MS: '300' },
      );
      await proc.waitForLine(/subscribed to carbot\/move/);
      assert.equal((await proc.exited).code, 1);
      const out = proc.output();
      assert.match(out, /uncaught error, motors stopped: TypeError: /);
      // The frame of CarService's constructor, as a place in src/, not in dist/runtime.js.
      assert.match(out, new RegExp(`at new CarService \\(${REPO_ROOT.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/src/service\\.ts:\\d+:\\d+\\)`));
      assert.doesNotMatch(out, /dist\/runtime\.js:\d+/);
    } finally {
      await broker.close();
    }
  });
});
