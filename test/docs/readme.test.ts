import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CONFIGURATION_DOC, documentedTable, settingsTable } from '../support/settings-table';

const REPO = path.join(__dirname, '..', '..');
const README = path.join(REPO, 'README.md');
const DOCS = path.join(REPO, 'docs');

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function anchor(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchorsOf(file: string): Set<string> {
  const found = new Set<string>();
  let inCode = false;
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (line.startsWith('```')) inCode = !inCode;
    const heading = !inCode && /^#{1,6} (.*)$/.exec(line);
    if (heading) found.add(anchor(heading[1]));
  }
  return found;
}

describe('README and docs/', () => {
  const text = readFileSync(README, 'utf8');

  it('docs/configuration.md lists every setting with its environment variable, flag and default', () => {
    assert.equal(
      documentedTable(readFileSync(CONFIGURATION_DOC, 'utf8')),
      settingsTable(),
      'the settings table is out of date: npx ts-node -P tsconfig.test.json test/support/settings-table.ts --write',
    );
  });

  it('the README shows the two set-up commands', () => {
    assert.ok(text.includes('npm install && npm start'));
    assert.ok(text.includes('npm test'));
  });

  it('the README quotes what npm start runs exactly as package.json has it', () => {
    const start = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;
    const command = start.replace(/^npm run build && /, '');
    assert.ok(text.includes(`\`${command}\``), `README does not show \`${command}\``);
  });

  it('is a front page: short, with the reference in docs/', () => {
    assert.ok(text.split('\n').length < 150, `README.md has ${text.split('\n').length} lines`);
    for (const doc of readdirSync(DOCS).filter((f) => f.endsWith('.md'))) {
      assert.ok(text.includes(`](docs/${doc})`), `README links docs/${doc}`);
    }
  });

  it('every relative link in README.md and docs/*.md leads to a file and heading that exist', () => {
    const files = [README, ...readdirSync(DOCS).filter((f) => f.endsWith('.md')).map((f) => path.join(DOCS, f))];
    const broken: string[] = [];
    for (const file of files) {
      for (const [, target] of readFileSync(file, 'utf8').matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target)) continue;
        const [relative, hash] = target.split('#');
        const resolved = relative === '' ? file : path.resolve(path.dirname(file), relative);
        if (!existsSync(resolved)) broken.push(`${path.relative(REPO, file)}: ${target} (no such file)`);
        else if (hash && resolved.endsWith('.md') && !anchorsOf(resolved).has(hash)) {
          broken.push(`${path.relative(REPO, file)}: ${target} (no such heading)`);
        }
      }
    }
    assert.deepEqual(broken, []);
  });
});

describe('the repository stands on its own', () => {
  it('cites no design file that is not in it: the docs/ pages are the reference', () => {
    const skip = new Set(['node_modules', 'dist', '.git', 'test-artifacts']);
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        skip.has(e.name) ? [] : e.isDirectory() ? files(path.join(dir, e.name)) : /\.(ts|js|md|css|html|sh|service|json)$/.test(e.name) ? [path.join(dir, e.name)] : [],
      );
    const citing = files(REPO)
      .filter((f) => readFileSync(f, 'utf8').includes('DESIGN' + '.md'))
      .map((f) => path.relative(REPO, f));
    assert.deepEqual(citing, []);
  });
});
