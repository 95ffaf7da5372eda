#!/usr/bin/env node
'use strict';
/**
 * The second half of `npm run build`: after tsc has written dist/ module by module, esbuild
 * bundles each of the modules below, with everything it imports, into one file at the same
 * place (dist/cli.js, dist/runtime.js, …), overwriting what tsc wrote there. A module of this
 * list that another one requires stays a require() of its own bundle, so each is loaded only
 * by the verb that needs it (src/cli.ts) and exists once in a process. Why: Node spends most
 * of carbot's start-up finding, reading and compiling some 300 small files of mqtt.js and
 * the logger; one file per part is read and compiled in one go (docs/performance.md).
 *
 * Left outside, loaded from node_modules/ as before: the native GPIO modules (their .node
 * addons cannot be bundled), and aedes, an ES module imported only for the embedded broker.
 * Each bundle has a source map (sourcesContent left out, it points at src/), so that under
 * `node --enable-source-maps`, as the units and `npm start` run it, stack traces name src/
 * files and lines.
 *
 * Then it loads the bundles on the way of a start-up once and saves V8's code cache of each
 * beside it (src/process/code-cache.ts), which the next start-ups compile from instead of the source.
 *
 * The other files tsc wrote stay in dist/, unused by the bundles; tests load some of them
 * (dist/boards/kernel.js) directly.
 */
const { randomUUID } = require('node:crypto');
const { readdirSync, readFileSync, rmSync } = require('node:fs');
const path = require('node:path');
const esbuild = require('esbuild');

const ROOT = path.resolve(__dirname, '..');
const SRC = path.join(ROOT, 'src');
const DIST = path.join(ROOT, 'dist');

/** Module ids under src/, without extension: each becomes dist/<id>.js. */
const BUNDLES = ['cli', 'process/log', 'runtime', 'process/safe-state', 'mqtt/link', 'http/remote-server', 'mqtt/embedded-broker', 'doctor/index'];

/**
 * The bundles that get a V8 code cache (src/process/code-cache.ts): those on the way of a start-up.
 * Not cli.js, which Node itself loads before the cache can be used, nor the embedded broker,
 * whose import() of aedes a cached script could not make.
 */
const CACHED = ['runtime', 'process/log', 'mqtt/link', 'http/remote-server', 'process/safe-state'];

/** Ties each cache to the bundles of the same build. */
const BUILD = randomUUID();

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

/**
 * `debug`, which mqtt.js calls dozens of times per packet, and `@dabh/diagnostics`, winston's
 * debug logger, which builds colour tables when it loads, replaced by shims that load them only
 * when DEBUG (or DIAGNOSTICS) is set: switched off, they still cost every call or their loading
 * (scripts/bundle-shims/).
 */
const quietDebug = {
  name: 'quiet-debug',
  setup(build) {
    const shims = { debug: 'debug.js', '@dabh/diagnostics': 'diagnostics.js' };
    build.onResolve({ filter: /^(debug|@dabh\/diagnostics)$/ }, (args) => {
      // The shim's own require of the real package: from node_modules/, when DEBUG asks for it.
      if (args.importer.startsWith(path.join(__dirname, 'bundle-shims'))) return { path: args.path, external: true };
      return { path: path.join(__dirname, 'bundle-shims', shims[args.path]) };
    });
  },
};

/**
 * readable-stream 3 (winston's) and 4 (mqtt.js's streams) replaced by Node's own, as
 * READABLE_STREAM=disable would (scripts/bundle-shims/readable-stream.js), and the copy of
 * Writable that winston-transport takes from readable-stream 3's lib/ by Node's Writable.
 */
const coreStreams = {
  name: 'core-streams',
  setup(build) {
    const shim = path.join(__dirname, 'bundle-shims', 'readable-stream.js');
    build.onResolve({ filter: /^readable-stream$/ }, async (args) => {
      if (args.pluginData === 'core-streams') return undefined;
      const resolved = await build.resolve(args.path, { kind: args.kind, resolveDir: args.resolveDir, pluginData: 'core-streams' });
      if (resolved.errors.length > 0) return undefined;
      const pkg = path.join(resolved.path.slice(0, resolved.path.lastIndexOf('readable-stream') + 'readable-stream'.length), 'package.json');
      return /^[34]\./.test(JSON.parse(readFileSync(pkg, 'utf8')).version) ? { path: shim } : undefined;
    });
    build.onResolve({ filter: /^readable-stream\/lib\/_stream_writable(\.js)?$/ }, () => ({ path: path.join(__dirname, 'bundle-shims', 'stream-writable.js') }));
  },
};

/**
 * mqtt.js's code rewritten as it is bundled, so that what a connection does not use is neither
 * loaded nor bundled: at the first connect mqtt.js loads every transport it has (websockets
 * with the ws package, http and https, TLS) whatever the URL; its TCP transport loads the SOCKS
 * proxy client (with an IP address parser that builds tables as it loads) for every
 * connection; its timers load a browser worker-timer library. Here each is loaded when a URL,
 * option or platform of its kind asks for it; the websockets and SOCKS transports and the
 * worker timers then come from node_modules/ as before, unbundled. If mqtt.js no longer has the
 * code a patch expects, the build says so and bundles that file unchanged.
 */
const MQTT_PATCHES = [
  {
    file: /[\\/]mqtt[\\/]build[\\/]lib[\\/]connect[\\/]index\.js$/,
    what: 'transports loaded on first use',
    apply: (source) =>
      source.replace(
        /^(\s*)protocols\.(\w+) = (require\('\.\/(\w+)'\)\.\w+|protocols\.\w+);$/gm,
        (_, indent, name, value) =>
          `${indent}Object.defineProperty(protocols, '${name}', { enumerable: true, configurable: true, get: () => ${value.replace("require('./ws')", "require('mqtt/lib/connect/ws')")} });`,
      ),
  },
  {
    file: /[\\/]mqtt[\\/]build[\\/]lib[\\/]connect[\\/](tcp|tls)\.js$/,
    what: 'SOCKS client loaded on first use',
    apply: (source) =>
      source.replace(
        'const socks_1 = __importDefault(require("./socks"));',
        'const socks_1 = { get default() { return __importDefault(require("mqtt/lib/connect/socks")).default; } };',
      ),
  },
  {
    file: /[\\/]mqtt[\\/]build[\\/]lib[\\/]get-timer\.js$/,
    what: 'worker timers loaded on first use',
    apply: (source) =>
      source
        .replace('const worker_timers_1 = require("worker-timers");', 'const worker_timers_1 = { get w() { return require("worker-timers"); } };')
        .replace('set: worker_timers_1.setInterval,', 'set: (func, time) => worker_timers_1.w.setInterval(func, time),')
        .replace('clear: worker_timers_1.clearInterval,', 'clear: (timerId) => worker_timers_1.w.clearInterval(timerId),'),
  },
];

/** What the patches above leave to node_modules/. */
const UNBUNDLED = /^(mqtt\/lib\/connect\/(ws|socks)|worker-timers)$/;

const lazyMqtt = {
  name: 'lazy-mqtt',
  setup(build) {
    build.onResolve({ filter: UNBUNDLED }, (args) => ({ path: args.path, external: true }));
    for (const patch of MQTT_PATCHES) {
      build.onLoad({ filter: patch.file }, (args) => {
        const source = readFileSync(args.path, 'utf8');
        const contents = patch.apply(source);
        if (contents === source) {
          process.stderr.write(`bundle: warning: ${args.path} is not what scripts/bundle.js expects (${patch.what}); bundled unchanged\n`);
        }
        return { contents, loader: 'js' };
      });
    }
  },
};

/**
 * The ws package, which the remote page and the embedded broker use as a server, loads https,
 * TLS and zlib for what only a websockets client (or compression, which carbot leaves off)
 * does, and node:crypto for a page's handshake: in its bundles each is a stand-in that loads the
 * real module at first use. ws takes functions out of crypto as it loads (createHash,
 * randomFillSync, randomBytes): that stand-in hands out functions that call the real ones.
 */
const LAZY_FOR_WS = new Set(['https', 'tls', 'zlib', 'crypto']);
const lazyBuiltins = {
  name: 'lazy-builtins',
  setup(build) {
    build.onResolve({ filter: /^(https|tls|zlib|crypto)$/ }, (args) => {
      if (!LAZY_FOR_WS.has(args.path) || !/[\\/]node_modules[\\/]ws[\\/]/.test(args.importer)) return undefined;
      return { path: args.path, namespace: 'lazy-builtin' };
    });
    build.onLoad({ filter: /.*/, namespace: 'lazy-builtin' }, (args) => ({
      contents:
        `let real;\nconst load = () => real || (real = require('node:${args.path}'));\n` +
        (args.path === 'crypto'
          ? 'module.exports = new Proxy({}, { get: (_, key) => (...a) => load()[key](...a) });\n'
          : 'module.exports = new Proxy({}, {\n' +
            '  get: (_, key) => load()[key],\n' +
            '  has: (_, key) => key in load(),\n' +
            '  ownKeys: () => Reflect.ownKeys(load()),\n' +
            '  getOwnPropertyDescriptor: (_, key) => ({ ...Object.getOwnPropertyDescriptor(load(), key), configurable: true }),\n' +
            '});\n'),
      loader: 'js',
    }));
  },
};

/**
 * The first statement of dist/cli.js, before any module of it loads: a listener of SIGUSR1,
 * which takes the signal from Node's inspector (a SIGUSR1 would open it on 127.0.0.1:9229, in
 * a process that may run as root). src/cli.ts puts its own in and takes this one out. It
 * leaves only Node's own start-up unguarded, which `--disable-sigusr1` in the unit's ExecStart
 * covers where node has it (docs/security.md).
 */
const EARLY_SIGUSR1 = '"use strict";process.on("SIGUSR1",function carbotEarlySigusr1(){});';

async function bundle(entry) {
  const result = await esbuild.build({
    entryPoints: [path.join(SRC, `${entry}.ts`)],
    outfile: path.join(DIST, `${entry}.js`),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    external: EXTERNAL,
    plugins: [otherBundles(entry), quietDebug, coreStreams, lazyMqtt, lazyBuiltins],
    // Less to read and parse at every start; names are kept, so profiles and traces read.
    minifyWhitespace: true,
    minifySyntax: true,
    sourcemap: 'linked',
    sourcesContent: false,
    logLevel: 'warning',
    metafile: true,
    footer: { js: `// carbot-build ${BUILD}` },
    ...(entry === 'cli' ? { banner: { js: EARLY_SIGUSR1 } } : {}),
  });
  const bytes = Object.values(result.metafile.outputs).find((o) => o.entryPoint)?.bytes ?? 0;
  return `${entry}.js ${(bytes / 1024).toFixed(0)} KB`;
}

/** Every *.cache under dist/: a cache must never outlive its bundle. */
function removeCaches(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name);
    if (entry.isDirectory()) removeCaches(file);
    else if (entry.name.endsWith('.js.cache')) rmSync(file);
  }
}

/** Loads each cached bundle once, as a start-up would, and saves what V8 compiled. */
function makeCaches() {
  const files = CACHED.map((id) => path.join(DIST, `${id}.js`));
  require(path.join(DIST, 'process', 'code-cache.js')).useCodeCache(DIST, new Set(files));
  for (const file of files) require(file);
}

removeCaches(DIST);
Promise.all(BUNDLES.map(bundle)).then(
  (lines) => {
    makeCaches();
    process.stdout.write(`bundled: ${lines.join(', ')}; code caches for ${CACHED.join(', ')}\n`);
  },
  (err) => {
    process.stderr.write(`bundle: ${err.stack ?? err.message}\n`);
    process.exit(1);
  },
);
