import { strict as assert } from 'node:assert';
import { createServer } from 'node:net';
import { freePort } from '../support/ports';
import { closeClient, collect, connectClient } from '../support/mqtt';
import { spawnCarbot } from '../support/process';

describe('--embedded-broker', () => {
  it('serves MQTT on TCP and websockets on 127.0.0.1, and the car answers on both', async () => {
    const [port, wsPort] = [await freePort(), await freePort()];
    const proc = spawnCarbot([
      '--embedded-broker',
      '--embedded-broker-port', String(port),
      '--embedded-broker-ws-port', String(wsPort),
      '--mqtt-url', `mqtt://127.0.0.1:${port}`,
      '--gpio', 'sim',
    ]);
    await proc.waitForLine(/subscribed to carbot\/move/);
    assert.match(proc.output(), new RegExp(`embedded MQTT broker listening on mqtt://127.0.0.1:${port} and ws://127.0.0.1:${wsPort}`));
    assert.match(proc.output(), /try it: node dist\/cli\.js send forward/);

    const phone = await connectClient(`ws://127.0.0.1:${wsPort}`);
    const results = await collect(phone, 'stat/carbot/RESULT');
    await phone.publishAsync('carbot/move', 'f', { qos: 1 });
    assert.deepEqual(JSON.parse((await results.waitFor(() => true)).payload), { move: 'forward', motion: 'forward', speed: 50 });
    await proc.waitForLine(/forward at 50% \(command\)/);
    await closeClient(phone);
    assert.equal((await proc.kill('SIGTERM')).code, 0);
  });

  it('says which port is taken and which setting moves it', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const taken = (blocker.address() as { port: number }).port;
    try {
      const proc = spawnCarbot(['--embedded-broker', '--embedded-broker-port', String(taken), '--embedded-broker-ws-port', '0', '--gpio', 'sim']);
      const { code } = await proc.exited;
      assert.equal(code, 1);
      assert.match(proc.output(), new RegExp(`embedded broker port 127.0.0.1:${taken} is already in use .*set embeddedBrokerPort`));
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });
});
