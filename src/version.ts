import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** carbot's version, from the package.json shipped beside dist/. */
export const VERSION: string = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')).version;
