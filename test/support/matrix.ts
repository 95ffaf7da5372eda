import { startAedes, startMosquittoBroker, type TestBroker } from './carbot';
import { describeMosquitto } from './mosquitto';

/**
 * Registers the same suite against the in-process aedes broker and a real mosquitto,
 * each test with a broker of its own.
 */
export function againstEachBroker(title: string, fn: (broker: () => TestBroker) => void): void {
  const register = (start: () => Promise<TestBroker>) =>
    function (this: Mocha.Suite) {
      let broker: TestBroker | undefined;
      beforeEach(async () => {
        broker = await start();
      });
      afterEach(async () => {
        await broker?.close();
        broker = undefined;
      });
      fn(() => {
        if (!broker) throw new Error('no broker');
        return broker;
      });
    };
  describe(`${title} (aedes)`, register(startAedes));
  describeMosquitto(`${title} (mosquitto)`, register(startMosquittoBroker));
}
