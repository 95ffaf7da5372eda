/**
 * The layout shows the architecture (docs/development.md): the car's pure core depends on
 * nothing but itself, and the root of src/ holds only the entry points and the shell.
 */
import { strict as assert } from 'node:assert';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

const SRC = path.resolve(__dirname, '..', '..', 'src');

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    return statSync(file).isDirectory() ? tsFiles(file) : name.endsWith('.ts') ? [file] : [];
  });
}

/** Every module a file imports or requires, as written (type-only imports included). */
export function importsOf(source: string): string[] {
  const specs: string[] = [];
  const pattern = /(?:\bfrom\s*|\bimport\s*\(?\s*|\brequire\s*\(\s*)(['"])([^'"]+)\1/g;
  for (const m of source.matchAll(pattern)) specs.push(m[2]);
  return specs;
}

describe('the source layout', () => {
  it('finds imports the way the rule needs: relative, packages, node: built-ins, type-only and require()', () => {
    const specs = importsOf(
      "import type { A } from './a';\nimport b from 'mqtt';\nimport * as fs from 'node:fs';\nconst c = require('../c');\nexport { d } from './d';\nconst e = await import('./e');",
    );
    assert.deepEqual(specs, ['./a', 'mqtt', 'node:fs', '../c', './d', './e']);
  });

  it('src/core/ imports nothing outside itself: no other folder, package or Node module', () => {
    const core = path.join(SRC, 'core');
    const outside: string[] = [];
    for (const file of tsFiles(core)) {
      for (const spec of importsOf(readFileSync(file, 'utf8'))) {
        const inside = spec.startsWith('.') && path.resolve(path.dirname(file), spec).startsWith(core + path.sep);
        if (!inside) outside.push(`${path.relative(SRC, file)} imports ${spec}`);
      }
    }
    assert.ok(tsFiles(core).length >= 3, 'src/core/ holds the car');
    assert.deepEqual(outside, []);
  });

  it('keeps at most four files at the root of src/, the rest in folders by role', () => {
    const root = readdirSync(SRC).filter((name) => statSync(path.join(SRC, name)).isFile());
    assert.ok(root.length <= 4, `src/ holds ${root.join(', ')}`);
  });
});
