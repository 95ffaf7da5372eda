'use strict';
// A .js rather than a .json config for one reason: mocha adds a config file's `spec` to the
// files named on the command line, so with a fixed spec `npx mocha test/x.test.ts` would run
// the whole suite. The default spec (everything but the soak and the benchmark's own tests,
// which `npm run test:soak` and `npm run test:bench` run) applies only when no file is named;
// a named file always runs, test/soak/ and test/bench/ included.
const { loadOptions } = require('mocha/lib/cli/options');

const cli = loadOptions([...process.argv.slice(2), '--no-config', '--no-package']);
const named = cli._.length > 0 || (cli.spec ?? []).length > 0;

module.exports = {
  require: ['test/support/register.js', 'test/support/hooks.ts'],
  extension: ['ts'],
  ...(named ? {} : { spec: ['test/**/*.test.ts'], ignore: ['test/soak/**', 'test/bench/**'] }),
  timeout: 20000,
  recursive: true,
};
