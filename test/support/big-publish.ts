import { strict as assert } from 'node:assert';
import type { MqttClient } from 'mqtt';
import { closeClient, collect, connectClient } from './mqtt';
import type { CarbotProcess } from './process';
import { waitUntil } from './wait';

const BIG = 100 * 1024 * 1024;

/**
 * What a user sees of a 100 MB publish on the move topic while the car moves: the publisher is
 * cut off, carbot never gets it (no "payload too large" RESULT), and a stop from another client
 * stops the car.
 */
export async function bigPublishDoesNotReachCarbot(url: string, proc: CarbotProcess): Promise<void> {
  const driver = await connectClient(url);
  let flooder: MqttClient | undefined;
  try {
    const results = await collect(driver, 'stat/carbot/RESULT');
    await driver.publishAsync('carbot/move', 'forward', { qos: 1 });
    await results.waitFor((m) => JSON.parse(m.payload).move === 'forward');
    flooder = await connectClient(url, { reconnectPeriod: 0 });
    let cut = false;
    flooder.on('close', () => (cut = true));
    flooder.publish('carbot/move', Buffer.alloc(BIG, 0x61), { qos: 0 });
    await waitUntil(() => cut, () => 'the broker to close the connection of the 100 MB publisher', 20_000);
    await driver.publishAsync('carbot/move', 'stop', { qos: 1 });
    const stop = await results.waitFor((m) => JSON.parse(m.payload).move === 'stop', 10_000);
    assert.equal(JSON.parse(stop.payload).motion, 'stopped');
    assert.deepEqual(results.messages.filter((m) => 'error' in JSON.parse(m.payload)), [], 'nothing of the 100 MB reached carbot');
    assert.doesNotMatch(proc.output(), /payload too large|too large/);
  } finally {
    if (flooder) await closeClient(flooder);
    await closeClient(driver);
  }
}
