import { strict as assert } from 'node:assert';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { describeMosquitto, startMosquitto, type Mosquitto } from '../support/mosquitto';
import { closeClient, connectClient } from '../support/mqtt';
import { spawnCarbot, type CarbotProcess } from '../support/process';

/** docs/mqtt.md: a silent loss stops a moving car within this. */
const STOP_BOUND_MS = 10_000;

/** Drives the car forward through a client of its own, closed again before anything freezes. */
async function driveForward(car: CarbotProcess, url: string): Promise<void> {
  const client = await connectClient(url);
  await client.publishAsync('carbot/move', 'forward', { qos: 1 });
  await car.waitForLine(/forward at 50% \(command\)/);
  await closeClient(client);
}

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

  it(`a frozen mosquitto (SIGSTOP) stops a moving car within ${STOP_BOUND_MS / 1000} s, whatever the keepalive`, async function () {
    this.timeout(70_000);
    const car = spawnCarbot(['--mqtt-url', broker.url, '--gpio', 'sim', '--mqtt-keepalive', '30']);
    await car.waitForLine(/subscribed to carbot\/move/);
    await driveForward(car, broker.url);
    const from = car.lines.length;
    broker.freeze();
    const frozenAt = Date.now();
    try {
      await car.waitForLine(/stopped \(disconnect\)/, 3 * STOP_BOUND_MS, from);
      const tookMs = Date.now() - frozenAt;
      assert.ok(tookMs < STOP_BOUND_MS, `the car stopped ${tookMs} ms after the broker froze`);
      assert.match(car.output(), /no answer from mqtt:\/\/127\.0\.0\.1:\d+ for \d+\.\d s while the car moves: treating the connection as lost/);
    } finally {
      broker.thaw();
    }
    await car.waitForLine(/subscribed to carbot\/move/, 20_000, from);
    assert.equal((await car.kill('SIGTERM')).code, 0);
  });

  it(`a network that goes silent stops a moving car within ${STOP_BOUND_MS / 1000} s`, async function () {
    this.timeout(50_000);
    const relay = await startRelay(broker.port);
    try {
      const url = `mqtt://127.0.0.1:${relay.port}`;
      const car = spawnCarbot(['--mqtt-url', url, '--gpio', 'sim']);
      await car.waitForLine(/subscribed to carbot\/move/);
      await driveForward(car, url);
      const from = car.lines.length;
      relay.freeze();
      const frozenAt = Date.now();
      await car.waitForLine(/stopped \(disconnect\)/, 3 * STOP_BOUND_MS, from);
      const tookMs = Date.now() - frozenAt;
      assert.ok(tookMs < STOP_BOUND_MS, `the car stopped ${tookMs} ms after the network went silent`);
      assert.equal((await car.kill('SIGTERM')).code, 0);
    } finally {
      await relay.close();
    }
  });
});
