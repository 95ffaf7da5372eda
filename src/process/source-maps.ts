/**
 * Stack traces that name src/ files although the build runs bundles (scripts/bundle.js): each
 * frame in a dist/ file that has a source map beside it is shown at its place in src/.
 *
 * Node's own `--enable-source-maps` does the same but reads and parses every bundle's map as
 * the bundle loads, which cost carbot about 5 ms of start-up and 4 MB of RSS (docs/performance.md).
 * Here nothing happens until a stack trace is formatted (V8 formats `error.stack` when it is
 * first read): only then is the map of a bundle in it read, once, with Node's own parser
 * (module.SourceMap). A frame without a map, or whose map cannot be read, is shown as V8 would.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { SourceMap } from 'node:module';

const maps = new Map<string, { map: SourceMap; dir: string } | null>();

function mapOf(file: string): { map: SourceMap; dir: string } | null {
  let found = maps.get(file);
  if (found !== undefined) return found;
  found = null;
  try {
    const mapFile = `${file}.map`;
    if (existsSync(mapFile)) {
      const { SourceMap: Parser } = require('node:module') as typeof import('node:module');
      found = { map: new Parser(JSON.parse(readFileSync(mapFile, 'utf8'))), dir: path.dirname(mapFile) };
    }
  } catch {
    found = null;
  }
  maps.set(file, found);
  return found;
}

/** `file:line:column` (1-based) in the original source, or undefined when there is none. */
export function originalPosition(file: string, line: number, column: number): string | undefined {
  const source = mapOf(file);
  if (!source) return undefined;
  const entry = source.map.findEntry(line - 1, column - 1) as { originalSource?: string; originalLine?: number; originalColumn?: number };
  if (entry.originalSource === undefined || entry.originalLine === undefined || entry.originalColumn === undefined) return undefined;
  const original = entry.originalSource.startsWith('file://') ? new URL(entry.originalSource).pathname : path.resolve(source.dir, entry.originalSource);
  return `${original}:${entry.originalLine + 1}:${entry.originalColumn + 1}`;
}

const POSITION = /(\/[^\s()]+\.js):(\d+):(\d+)/;

function frame(site: NodeJS.CallSite): string {
  const text = String(site);
  const file = site.getFileName();
  if (!file || !file.startsWith(root) || !file.endsWith('.js')) return text;
  return text.replace(POSITION, (whole, name: string, line: string, column: string) => originalPosition(name, Number(line), Number(column)) ?? whole);
}

let root = '';

/** Installs the mapping for the bundles under `distDir`; the rest of the stack is left as it is. */
export function mapStackTraces(distDir: string): void {
  root = distDir + path.sep;
  Error.prepareStackTrace = (error: Error, sites: NodeJS.CallSite[]) => {
    let head: string;
    try {
      head = Error.prototype.toString.call(error);
    } catch {
      head = '<error>';
    }
    return `${head}${sites.map((site) => `\n    at ${frame(site)}`).join('')}`;
  };
}
