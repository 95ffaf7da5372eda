/**
 * The settings table of docs/configuration.md, generated from the schema so the two cannot drift.
 * `npx ts-node -P tsconfig.test.json test/support/settings-table.ts --write` rewrites it.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SETTINGS, envName, flagName, type Setting } from '../../src/config/config';

export const CONFIGURATION_DOC = join(__dirname, '..', '..', 'docs', 'configuration.md');
const START = '<!-- settings-table:start -->';
const END = '<!-- settings-table:end -->';

export function settingsTable(): string {
  const settings: readonly Setting[] = SETTINGS;
  const rows = settings.map((s) => {
    const def = s.default === undefined ? '' : `\`${JSON.stringify(s.default)}\``;
    return `| \`${s.key}\` | \`${envName(s.key)}\` | \`${flagName(s.key)}\` | ${def} | ${s.help.replace(/\|/g, '\\|')} |`;
  });
  // Old names: each spelling that differs from the new one's still works, with a warning.
  const renamed = settings.flatMap((s) => {
    if (s.was === undefined) return [];
    const old = (now: string, was: string) => (now === was ? 'unchanged' : `\`${was}\``);
    return [`| \`${s.was}\` | \`${s.key}\` | ${old(envName(s.key), envName(s.was))} | ${old(flagName(s.key), flagName(s.was))} |`];
  });
  return [
    '| setting | environment | flag | default | meaning |',
    '|---|---|---|---|---|',
    ...rows,
    '',
    'Deprecated aliases (old names, still accepted, each with one warning naming the new one):',
    '',
    '| old name | new name | old environment | old flag |',
    '|---|---|---|---|',
    ...renamed,
  ].join('\n');
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
