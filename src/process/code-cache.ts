/**
 * V8 code caches for the bundles: compiling mqtt.js, the logger and the rest from source was the
 * largest part of carbot's start-up after Node's own (docs/performance.md). The build
 * (scripts/bundle.js) loads each bundle once and saves what V8 compiled, with the build's id,
 * as dist/<bundle>.js.cache; at start-up a bundle with a cache of the same build is compiled
 * from it instead, which skips parsing. V8 refuses a cache made by another V8 version or other
 * flags, and this module one whose build id differs from the bundle's: either way the bundle
 * is compiled from source as before, only slower. Nothing is written at run time (the service
 * runs from a read-only /opt/carbot).
 *
 * Node 20 has no compile cache of its own (module.enableCompileCache() came in Node 22).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import path from 'node:path';
import vm from 'node:vm';

/** The comment scripts/bundle.js ends every bundle with: `// carbot-build <id>`. */
const BUILD_MARK = '// carbot-build ';

interface Header {
  v8: string;
  build: string;
}

type Compile = (this: Module, content: string, filename: string) => unknown;
interface ModuleInternals {
  prototype: { _compile: Compile };
  wrap(script: string): string;
  wrapper: readonly string[];
  _resolveFilename(request: string, parent: Module, isMain: boolean, options?: { paths?: string[] }): string;
  _cache: Record<string, Module>;
  _extensions: Record<string, unknown>;
}

const internals = Module as unknown as ModuleInternals;

function buildOf(content: string): string | undefined {
  const at = content.lastIndexOf(BUILD_MARK);
  if (at < 0 || at < content.length - 400) return undefined;
  const end = content.indexOf('\n', at);
  return content.slice(at + BUILD_MARK.length, end < 0 ? undefined : end).trim();
}

function readCache(file: string, build: string): Buffer | undefined {
  try {
    const data = readFileSync(file);
    const headerBytes = data.readUInt32LE(0);
    const header = JSON.parse(data.subarray(4, 4 + headerBytes).toString('utf8')) as Header;
    if (header.v8 !== process.versions.v8 || header.build !== build) return undefined;
    return data.subarray(4 + headerBytes);
  } catch {
    // Unreadable or cut short: compiled from source.
    return undefined;
  }
}

function writeCache(file: string, build: string, cache: Buffer): void {
  const header = Buffer.from(JSON.stringify({ v8: process.versions.v8, build } satisfies Header));
  const size = Buffer.alloc(4);
  size.writeUInt32LE(header.length);
  writeFileSync(file, Buffer.concat([size, header, cache]));
}

/** The `require` a CommonJS module gets, as Node makes it. */
function requireFor(module: Module): NodeJS.Require {
  const req = ((id: string) => module.require(id)) as NodeJS.Require;
  req.resolve = ((request: string, options?: { paths?: string[] }) => internals._resolveFilename(request, module, false, options)) as NodeJS.RequireResolve;
  req.main = require.main;
  req.cache = internals._cache as NodeJS.Require['cache'];
  req.extensions = internals._extensions as NodeJS.Require['extensions'];
  return req;
}

/**
 * From now on, a module loaded from `distDir` whose cache file exists is compiled from it.
 * With `make`, the bundles named there (paths) are compiled from source instead and their
 * caches written after they ran (so that what their loading compiled is in them).
 */
export function useCodeCache(distDir: string, make?: ReadonlySet<string>): void {
  const compile = internals.prototype._compile;
  const root = distDir + path.sep;
  internals.prototype._compile = function (this: Module, content: string, filename: string) {
    if (!filename.startsWith(root)) return compile.call(this, content, filename);
    const cacheFile = `${filename}.cache`;
    const making = make?.has(filename) ?? false;
    if (!making && !existsSync(cacheFile)) return compile.call(this, content, filename);
    const build = buildOf(content);
    if (!build) return compile.call(this, content, filename);
    const cachedData = making ? undefined : readCache(cacheFile, build);
    if (!making && !cachedData) return compile.call(this, content, filename);
    // The wrapper Node puts around a module, with the columns of the first line as in the file.
    const script = new vm.Script(internals.wrap(content), {
      filename,
      columnOffset: -internals.wrapper[0].length,
      cachedData,
    });
    const wrapped = script.runInThisContext({ displayErrors: true }) as (...args: unknown[]) => unknown;
    const result = wrapped.call(this.exports, this.exports, requireFor(this), this, filename, path.dirname(filename));
    if (making) writeCache(cacheFile, build, script.createCachedData());
    return result;
  };
}
