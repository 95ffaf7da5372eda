import { strict as assert } from 'node:assert';
import { closeClient, collect, connectClient } from '../support/mqtt';
import { freePort } from '../support/ports';
import { CLI_PATH, spawnCarbot, spawnProcess } from '../support/process';

/*
 * Whatever Node major runs this (CI runs the suite on 20, 22 and 24), the service and `carbot
 * send` print no Node warning into the journal. --pending-deprecation makes Node 20 and 22 warn
 * about what Node 24 deprecates at run time (url.parse(), DEP0169, which mqtt.js's connect(url)
 * used), so a warning that would reach a Node 24 journal shows on every major.
 */
const NODE_OPTIONS = '--pending-deprecation';
const WARNING = /Warning|DEP0\d{3}/;

describe(`no Node warnings on node ${process.version}`, () => {
  it('the service (embedded broker, websockets, page, track), carbot send over mqtt:// and ws://, and carbot doctor print none', async () => {
    const [port, wsPort, httpPort] = [await freePort(), await freePort(), await freePort()];
    const car = spawnCarbot(
      [
        '--embedded-broker-enabled', '--embedded-broker-port', String(port), '--embedded-broker-ws-port', String(wsPort),
        '--mqtt-url', `ws://127.0.0.1:${wsPort}`,
        '--gpio', 'sim', '--track-sim', 'true', '--track-stops', '{"basil":0.2}',
        '--http-host', '127.0.0.1', '--http-port', String(httpPort),
      ],
      { NODE_OPTIONS },
    );
    await car.waitForLine(/subscribed to carbot\/move/, 15_000);
    const watcher = await connectClient(`mqtt://127.0.0.1:${port}`);
    const results = await collect(watcher, 'stat/carbot/RESULT');
    for (const url of [`mqtt://127.0.0.1:${port}`, `ws://127.0.0.1:${wsPort}/`]) {
      const send = spawnProcess(process.execPath, [CLI_PATH, 'send', 'stop', '--mqtt-url', url], { NODE_OPTIONS });
      assert.equal((await send.exited).code, 0, send.output());
      assert.doesNotMatch(send.output(), WARNING);
    }
    // The doctor finds things to fix on this machine (it is no Pi); its output has no warning either.
    const doctor = spawnProcess(process.execPath, [CLI_PATH, 'doctor', '--mqtt-url', `mqtt://127.0.0.1:${port}`, '--gpio', 'sim'], { NODE_OPTIONS });
    await doctor.exited;
    assert.match(doctor.output(), /broker: connected/);
    assert.doesNotMatch(doctor.output(), WARNING);
    await results.waitFor(() => results.messages.length >= 2);
    await closeClient(watcher);
    assert.equal((await car.kill('SIGTERM')).code, 0);
    assert.deepEqual(car.lines.filter((line) => WARNING.test(line)), []);
  });
});
