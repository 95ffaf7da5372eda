import { strict as assert } from 'node:assert';
import { readFileSync } from 'node:fs';
import { README, readmeTable, settingsTable } from '../support/settings-table';

describe('README', () => {
  const text = readFileSync(README, 'utf8');

  it('lists every setting with its environment variable, flag and default', () => {
    assert.equal(
      readmeTable(text),
      settingsTable(),
      'the settings table is out of date: npx ts-node -P tsconfig.test.json test/support/settings-table.ts --write',
    );
  });

  it('shows the two set-up commands', () => {
    assert.ok(text.includes('npm install && npm start'));
    assert.ok(text.includes('npm test'));
  });
});
