import { realpathSync } from 'node:fs';
import path from 'node:path';

function realpathOr(file: string): string | undefined {
  try {
    return realpathSync(file);
  } catch {
    return undefined;
  }
}

/**
 * install.sh runs carbot with /usr/bin/node unless told otherwise, and refuses to build with
 * another node first on PATH (the native modules would not load). CI runs the suite on Node 22
 * and 24 too, from a node that is not /usr/bin/node: the install tests then run install.sh as
 * a user runs it, with the system's node first on PATH (the environment to add; empty when
 * the suite already runs on /usr/bin/node).
 */
export const SYSTEM_NODE_FIRST: NodeJS.ProcessEnv =
  realpathOr('/usr/bin/node') === realpathSync(process.execPath) ? {} : { PATH: `/usr/bin${path.delimiter}${process.env.PATH ?? ''}` };
