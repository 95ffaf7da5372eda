import { closeAll } from './cleanup';
import { isolateFromCaller } from './isolation';
import { reportMissing } from './requirement';

const ignored = isolateFromCaller();
if (ignored.length > 0) {
  console.warn(`harness: ignoring ${ignored.join(', ')} from the environment: tests run with carbot's defaults`);
}

/**
 * Root hooks, loaded by .mocharc.json for every run. The after-all hook is a safety net:
 * suites close their own brokers, clients and processes, and anything they forgot is
 * closed here (and named, so the leak can be fixed) so that mocha exits by itself.
 */
export const mochaHooks = {
  async afterAll(this: Mocha.Context): Promise<void> {
    this.timeout(30000);
    const leftOpen = await closeAll();
    if (leftOpen.length > 0) {
      console.warn(`harness: closed ${leftOpen.length} left open by tests: ${leftOpen.join('; ')}`);
    }
    reportMissing();
  },
};
