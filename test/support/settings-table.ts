/**
 * The settings table of docs/configuration.md, generated from the schema so the two cannot drift.
 * `npx ts-node -P tsconfig.test.json test/support/settings-table.ts --write` rewrites it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SETTINGS, envName, flagName } from '../../src/config';

export const CONFIGURATION_DOC = join(__dirname, '..', '..', 'docs', 'configuration.md');
const START = '<!-- settings-table:start -->';
const END = '<!-- settings-table:end -->';

export function settingsTable(): string {
  const rows = SETTINGS.map((s) => {
    const def = s.default === undefined ? '' : `\`${JSON.stringify(s.default)}\``;
    return `| \`${s.key}\` | \`${envName(s.key)}\` | \`${flagName(s.key)}\` | ${def} | ${s.help.replace(/\|/g, '\\|')} |`;
  });
  return ['| setting | environment | flag | default | meaning |', '|---|---|---|---|---|', ...rows].join('\n');
}

export function documentedTable(text: string): string {
  const start = text.indexOf(START);
  const end = text.indexOf(END);
  return start < 0 || end < 0 ? '' : text.slice(start + START.length, end).trim();
}

if (require.main === module && process.argv.includes('--write')) {
  const text = readFileSync(CONFIGURATION_DOC, 'utf8');
  const start = text.indexOf(START) + START.length;
  writeFileSync(CONFIGURATION_DOC, `${text.slice(0, start)}\n${settingsTable()}\n${text.slice(text.indexOf(END))}`);
}
