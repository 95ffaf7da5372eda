#!/usr/bin/env node
'use strict';
/**
 * The second half of `npm run build`: after tsc has written dist/ module by module, esbuild
 * bundles each of the modules below, with everything it imports, into one file at the same
 * place (dist/cli.js, dist/runtime.js, …), overwriting what tsc wrote there. A module of this
 * list that another one requires stays a require() of its own bundle, so each is loaded only
 * by the verb that needs it (src/cli.ts) and exists once in a process. Why: Node spends most
 * of carbot's start-up finding, reading and compiling some 300 small files of mqtt.js and
 * winston; one file per part is read and compiled in one go (docs/performance.md).
 *
 * Left outside, loaded from node_modules/ as before: the native GPIO modules (their .node
 * addons cannot be bundled), and aedes, an ES module imported only for the embedded broker.
 * Each bundle has a source map (sourcesContent left out, it points at src/), so that under
 * `node --enable-source-maps`, as the units and `npm start` run it, stack traces name src/
 * files and lines.
 *
 * The other files tsc wrote stay in dist/, unused by the bundles; tests load some of them
 * (dist/boards/kernel.js) directly.
 */
const path = require('node:path');
const esbuild = require('esbuild');

const ROOT = path.resolve(__dirname, '..');
const SRC = path.join(ROOT, 'src');
const DIST = path.join(ROOT, 'dist');

/** Module ids under src/, without extension: each becomes dist/<id>.js. */
const BUNDLES = ['cli', 'log', 'runtime', 'safe-state', 'mqtt/link', 'http/remote-server', 'mqtt/embedded-broker'];

/** Native addons, optional native helpers of ws, and the ES module aedes: required at run time. */
const EXTERNAL = ['pigpio', 'onoff', 'i2c-bus', 'epoll', 'bufferutil', 'utf-8-validate', 'aedes'];

/** A require of another bundle's module stays a require, of that bundle's file. */
function otherBundles(entry) {
  return {
    name: 'other-bundles',
    setup(build) {
      build.onResolve({ filter: /^\.\.?\// }, (args) => {
        const target = path.relative(SRC, path.resolve(args.resolveDir, args.path)).replace(/\.(ts|js)$/, '');
        if (target === entry || !BUNDLES.includes(target)) return undefined;
        let from = path.relative(path.dirname(path.join(DIST, entry)), path.join(DIST, target));
        if (!from.startsWith('.')) from = `./${from}`;
        return { path: from, external: true };
      });
    },
  };
}

async function bundle(entry) {
  const result = await esbuild.build({
    entryPoints: [path.join(SRC, `${entry}.ts`)],
    outfile: path.join(DIST, `${entry}.js`),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: EXTERNAL,
    plugins: [otherBundles(entry)],
    // Less to read and parse at every start; names are kept, so profiles and traces read.
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'linked',
    sourcesContent: false,
    logLevel: 'warning',
    metafile: true,
  });
  const bytes = Object.values(result.metafile.outputs).find((o) => o.entryPoint)?.bytes ?? 0;
  return `${entry}.js ${(bytes / 1024).toFixed(0)} KB`;
}

Promise.all(BUNDLES.map(bundle)).then(
  (lines) => process.stdout.write(`bundled: ${lines.join(', ')}\n`),
  (err) => {
    process.stderr.write(`bundle: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
