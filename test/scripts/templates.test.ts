import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { envName, loadConfig, SETTINGS } from '../../src/config/config';

/** install.sh copies these two templates to /etc on first install: carbot must accept them. */
const SCRIPTS = path.join(__dirname, '..', '..', 'scripts');

describe('the settings templates install.sh copies', () => {
  it('config.example.json is a valid carbot configuration as it is', () => {
    const config = loadConfig({ argv: ['--config', path.join(SCRIPTS, 'config.example.json')], env: {} });
    assert.deepEqual(config.warnings, []);
    assert.equal(config.mqtt.url, 'mqtt://localhost:1883');
  });

  it('carbot.default names only variables carbot knows, all commented out', () => {
    const known = new Set([...SETTINGS.map((s) => envName(s.key)), 'CARBOT_CONFIG']);
    const lines = readFileSync(path.join(SCRIPTS, 'carbot.default'), 'utf8').split('\n');
    const named = lines.map((line) => /^#?(CARBOT_[A-Z0-9_]+)=/.exec(line)?.[1]).filter((n): n is string => !!n);

    assert.ok(named.includes('CARBOT_MQTT_URL') && named.includes('CARBOT_LOG_LEVEL'));
    assert.deepEqual(
      named.filter((n) => !known.has(n)),
      [],
    );
    assert.deepEqual(
      lines.filter((l) => /^CARBOT_/.test(l)),
      [],
      'everything commented out: the defaults apply until the user chooses',
    );
  });
});
