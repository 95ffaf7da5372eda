import { strict as assert } from 'node:assert';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { describeMosquitto, startMosquitto, type Mosquitto } from '../support/mosquitto';
import { spawnCarbot } from '../support/process';

/** A TCP relay to the broker that can stop relaying: the Pi's Wi-Fi stalling, a broker hung. */
async function startRelay(target: number): Promise<{ port: number; freeze(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  let frozen = false;
  const server: Server = createServer((inbound) => {
    const outbound = connect(target, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    inbound.on('data', (d) => frozen || outbound.write(d));
    outbound.on('data', (d) => frozen || inbound.write(d));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    freeze: () => {
      frozen = true;
    },
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describeMosquitto('a broker that stops answering', () => {
  let broker: Mosquitto;
  beforeEach(async () => {
    broker = await startMosquitto();
  });
  afterEach(() => broker.stop());

  it('SIGTERM still closes everything in order and exits 0', async () => {
    const relay = await startRelay(broker.port);
    try {
      const car = spawnCarbot(['--mqtt-url', `mqtt://127.0.0.1:${relay.port}`, '--gpio', 'sim']);
      await car.waitForLine(/subscribed to carbot\/move/);
      relay.freeze();
      const { code } = await car.kill('SIGTERM');
      assert.equal(code, 0);
      // The orderly path, not the last-resort timer: every resource was closed and said so.
      assert.match(car.output(), /motor outputs zeroed, broker connection closed/);
      assert.doesNotMatch(car.output(), /shutdown took over/);
    } finally {
      await relay.close();
    }
  });
});
