'use strict';
// Loaded by .mocharc.json before any TypeScript. Tests compile against tsconfig.test.json
// (it includes test/ and bench/; tsconfig.json is the production build of src/ only).
// Type errors are not checked here: `npx tsc --noEmit -p tsconfig.test.json` checks the
// whole project in one pass (CI runs it), while checking file by file in ts-node would make
// every `npm test` several seconds slower. TS_NODE_TRANSPILE_ONLY=false turns checking back on.
const path = require('node:path');

process.env.TS_NODE_PROJECT ??= path.join(__dirname, '..', '..', 'tsconfig.test.json');
process.env.TS_NODE_TRANSPILE_ONLY ??= 'true';
require('ts-node/register');
