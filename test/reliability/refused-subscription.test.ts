import { strict as assert } from 'node:assert';
import { createServer } from 'node:net';
import { startCarbot } from '../support/carbot';

describe('a broker that refuses the move-topic subscription', () => {
  it('logs it once, drops the link, retries with backoff, and comes online once allowed', async () => {
    const { Aedes } = await import('aedes');
    let allowed = false;
    const aedes = await Aedes.createBroker({
      // Refused as a broker ACL would (SUBACK 0x80) until the "ACL is fixed".
      authorizeSubscribe: (_client, sub, done) => done(null, allowed ? sub : null),
    });
    const server = createServer(aedes.handle);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `mqtt://127.0.0.1:${(server.address() as { port: number }).port}`;
    const car = startCarbot(url);
    try {
      await car.waitForLog(/reconnecting in 2 s/, 6000);
      // The move topic's (the stop topic's connection is refused too, and says so in its own line).
      const refusals = car.lines.filter((l) => l.includes('broker refused the subscription to carbot/move '));
      assert.equal(refusals.length, 1, `said once: ${refusals.join(' | ')}`);
      assert.match(refusals[0], /^<3>broker refused the subscription to carbot\/move \(check the ACL\)/);
      assert.ok(!car.lines.some((l) => /subscribed to/.test(l)));
      allowed = true;
      await car.waitForLog(/subscribed to carbot\/move/, 6000);
      assert.equal(car.service.brokerOnline(), true);
    } finally {
      await car.shutdown();
      await new Promise((resolve) => server.close(resolve));
      await new Promise<void>((resolve) => aedes.close(() => resolve()));
    }
  });
});
