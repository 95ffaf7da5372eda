import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { canConnect } from '../support/ports';
import { CLI_PATH, REPO_ROOT, spawnProcess } from '../support/process';

/**
 * A SIGUSR1 opens Node's inspector on 127.0.0.1:9229, where any local user could run code in
 * carbot (as root, with pigpio). carbot takes the signal with a listener of its own from the
 * bundle's first statement on; before that, during Node's own start-up, the unit's node flags
 * must keep the inspector from listening. Each delay below is a SIGUSR1 sent that long after
 * the start of `node <the unit's flags> dist/cli.js`.
 */
const DELAYS_MS = [0, 15, 30, 45, 60];

/** What ExecStart passes to node before the script, as written in the unit. */
function unitNodeFlags(unit: string): string[] {
  const line = readFileSync(path.join(REPO_ROOT, unit), 'utf8').split('\n').find((l) => l.startsWith('ExecStart='));
  const words = (line ?? '').slice('ExecStart='.length).split(/\s+/);
  return words.slice(1, words.indexOf('/opt/carbot/dist/cli.js'));
}

for (const unit of ['carbot.service', 'carbot-pigpio.service']) {
  describe(`SIGUSR1 at start-up under ${unit}'s node flags`, () => {
    for (const delay of DELAYS_MS) {
      it(`${delay} ms after the start: no inspector listens`, async function () {
        this.timeout(30_000);
        const proc = spawnProcess(process.execPath, [...unitNodeFlags(unit), CLI_PATH, '--gpio', 'sim', '--mqtt-url', 'mqtt://127.0.0.1:1'], {
          CARBOT_HTTP_PORT: '0',
        });
        await new Promise((resolve) => setTimeout(resolve, delay));
        proc.child.kill('SIGUSR1');
        // Running carbot has taken the signal by the time it tries the broker; one killed by
        // it (sent before Node had any handler: the default action) is gone.
        const outcome = await Promise.race([proc.waitForLine(/connecting to mqtt/, 20_000).then(() => 'running', () => 'exited'), proc.exited.then(() => 'exited')]);
        try {
          assert.doesNotMatch(proc.output(), /Debugger listening/);
          assert.equal(await canConnect(9229), false, 'something listens on 127.0.0.1:9229');
          if (outcome === 'exited') assert.equal((await proc.exited).signal, 'SIGUSR1', proc.output());
        } finally {
          if (outcome === 'running') await proc.kill('SIGTERM');
        }
      });
    }
  });
}
