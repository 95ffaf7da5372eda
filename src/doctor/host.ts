import fs from 'node:fs';
import path from 'node:path';

/**
 * The machine as `carbot doctor` and `carbot jog` read it: files under /etc, /boot, /proc,
 * /sys, /dev and /run. Every one of them is found through these roots, so tests point them at
 * a temporary tree (the fake sysfs, a config.txt, a /proc with made-up processes) and never
 * read the machine they run on.
 */
export interface HostRoots {
  /** What stands in for `/`: CARBOT_SYSTEM_ROOT, default `/`. */
  readonly root: string;
  /** sysfs: CARBOT_SYSFS_ROOT (as the boards use it), else `<root>/sys`. */
  readonly sys: string;
  readonly proc: string;
  readonly dev: string;
  readonly boot: string;
  readonly etc: string;
}

export function hostRoots(env: NodeJS.ProcessEnv = process.env): HostRoots {
  const root = env.CARBOT_SYSTEM_ROOT || '/';
  const under = (dir: string) => path.join(root, dir);
  return {
    root,
    sys: env.CARBOT_SYSFS_ROOT || under('sys'),
    proc: under('proc'),
    dev: under('dev'),
    boot: under('boot'),
    etc: under('etc'),
  };
}

export function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

export function exists(file: string): boolean {
  return fs.existsSync(file);
}

/** /proc/device-tree/model under the roots (what pigpio.ts's readBoardModel reads). */
export const modelPath = (roots: HostRoots): string => path.join(roots.proc, 'device-tree', 'model');

export interface OsRelease {
  /** e.g. "Debian GNU/Linux 13 (trixie)" */
  pretty: string;
  /** e.g. "trixie"; undefined when the file does not say. */
  codename?: string;
  id?: string;
}

/** os-release(5): /etc/os-release, else /usr/lib/os-release. */
export function readOsRelease(roots: HostRoots): OsRelease | undefined {
  const text = readText(path.join(roots.etc, 'os-release')) ?? readText(path.join(roots.root, 'usr', 'lib', 'os-release'));
  if (text === undefined) return undefined;
  const fields: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) fields[m[1]] = m[2].replace(/^(["'])(.*)\1$/, '$2');
  }
  return {
    pretty: fields.PRETTY_NAME ?? fields.NAME ?? 'an unnamed Linux',
    codename: fields.VERSION_CODENAME || undefined,
    id: fields.ID || undefined,
  };
}

export interface HostProcess {
  pid: number;
  /** /proc/<pid>/comm */
  comm: string;
  /** /proc/<pid>/cmdline, split at its NULs. */
  argv: string[];
}

/** Every process /proc shows (as far as hidepid lets this user see them). */
export function listProcesses(roots: HostRoots): HostProcess[] {
  let entries: string[];
  try {
    entries = fs.readdirSync(roots.proc).filter((e) => /^\d+$/.test(e));
  } catch {
    return [];
  }
  const processes: HostProcess[] = [];
  for (const entry of entries) {
    const dir = path.join(roots.proc, entry);
    const comm = readText(path.join(dir, 'comm'));
    if (comm === undefined) continue;
    const argv = (readText(path.join(dir, 'cmdline')) ?? '').split('\0').filter((a) => a !== '');
    processes.push({ pid: Number(entry), comm: comm.trim(), argv });
  }
  return processes.sort((a, b) => a.pid - b.pid);
}

/** Verbs and flags after which `dist/cli.js` does not run the service. */
const NOT_THE_SERVICE = new Set(['send', 'safe-state', 'boards', 'doctor', 'jog', '--check-config', '--help', '-h', '--version', '-v']);

/**
 * carbot services running here: node running carbot's dist/cli.js (how both units, the
 * `carbot` command and `npm start` run it) without a verb, other than `ownPid`.
 */
export function runningCarbots(roots: HostRoots, ownPid = process.pid): HostProcess[] {
  return listProcesses(roots).filter((p) => {
    if (p.pid === ownPid) return false;
    const at = p.argv.findIndex((a) => /(^|\/)dist\/cli\.js$/.test(a));
    if (at < 0) return false;
    return !p.argv.slice(at + 1).some((a) => NOT_THE_SERVICE.has(a));
  });
}

/** config.txt where the firmware reads it: /boot/firmware/ since bookworm, /boot/ before. */
export function findConfigTxt(roots: HostRoots): { path: string; text: string } | undefined {
  for (const file of [path.join(roots.boot, 'firmware', 'config.txt'), path.join(roots.boot, 'config.txt')]) {
    const text = readText(file);
    if (text !== undefined) return { path: file, text };
  }
  return undefined;
}

export interface Account {
  name: string;
  uid: number;
  gid: number;
}

/** A user from <etc>/passwd. */
export function findUser(roots: HostRoots, name: string): Account | undefined {
  for (const line of (readText(path.join(roots.etc, 'passwd')) ?? '').split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid !== undefined) return { name, uid: Number(uid), gid: Number(gid) };
  }
  return undefined;
}

/** Groups of <etc>/group: name -> gid and members. */
export function readGroups(roots: HostRoots): Map<string, { gid: number; members: string[] }> {
  const groups = new Map<string, { gid: number; members: string[] }>();
  for (const line of (readText(path.join(roots.etc, 'group')) ?? '').split('\n')) {
    const [name, , gid, members] = line.split(':');
    if (name && gid !== undefined) groups.set(name, { gid: Number(gid), members: (members ?? '').split(',').filter(Boolean) });
  }
  return groups;
}
