/**
 * Holds a process to a share of one core, standing in for a slow Pi (a Zero) on a fast
 * machine, for the CPU-capped flood (issue 23). In order of preference:
 *
 * - cgroup v2: a child cgroup with `cpu.max` "30000 100000" (the parent's
 *   `cgroup.subtree_control` gets `+cpu`), the process moved into its `cgroup.procs`;
 * - cgroup v1 (a hybrid hierarchy, where the cpu controller is mounted on its own): the same
 *   with `cpu.cfs_quota_us` / `cpu.cfs_period_us`, the kernel's CFS bandwidth control that
 *   `cpu.max` is the v2 name of (Documentation/scheduler/sched-bwc.rst);
 * - `systemd-run --scope -p CPUQuota=30%` around the command, where systemd runs the machine;
 * - none: the caller says so loudly and skips what needed the cap.
 *
 * Needs root (or a delegated cgroup) for the first two.
 */
import { accessSync, constants, existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

const PERIOD_US = 100_000;

export interface CpuCap {
  /** How the cap is made, for the report: `cgroup v2 cpu.max 30000 100000 (/sys/fs/cgroup/…)`. */
  readonly how: string;
  /** The command to spawn instead (systemd-run wraps it; a cgroup does not). */
  wrap(command: string, args: string[]): [string, string[]];
  /** Puts the spawned process under the cap (a cgroup); throws if the kernel refuses. */
  attach(pid: number): void;
  /** Removes the cgroup (once the process has exited, or after moving what is left out of it). */
  release(): void;
}

interface Mount {
  point: string;
  fstype: string;
  superOptions: string[];
}

function mounts(): Mount[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [left, right = ''] = line.split(' - ');
      const [fstype, , superOptions = ''] = right.split(' ');
      return { point: left.split(' ')[4], fstype, superOptions: superOptions.split(',') };
    });
}

let serial = 0;
const childName = () => `carbot-cpu-cap-${process.pid}-${++serial}`;

/** A cgroup made under `parent`, with the files that set and hold the cap. */
function cgroupCap(parent: string, limit: Record<string, string>, how: string): CpuCap {
  const dir = path.join(parent, childName());
  mkdirSync(dir);
  try {
    for (const [file, value] of Object.entries(limit)) writeFileSync(path.join(dir, file), value);
  } catch (err) {
    rmdirSync(dir);
    throw err;
  }
  return {
    how: `${how} (${dir})`,
    wrap: (command, args) => [command, args],
    attach(pid) {
      writeFileSync(path.join(dir, 'cgroup.procs'), String(pid));
    },
    release() {
      if (!existsSync(dir)) return;
      // Whatever still runs in it goes back to the parent, or the directory cannot go.
      for (const pid of readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) {
        try {
          writeFileSync(path.join(parent, 'cgroup.procs'), pid);
        } catch {
          // It exited meanwhile.
        }
      }
      rmdirSync(dir);
    },
  };
}

function cgroupV2(percent: number): CpuCap {
  const mount = mounts().find((m) => m.fstype === 'cgroup2');
  if (!mount) throw new Error('no cgroup2 file system mounted');
  const controllers = readFileSync(path.join(mount.point, 'cgroup.controllers'), 'utf8').split(/\s+/);
  if (!controllers.includes('cpu')) {
    throw new Error(`the cpu controller is not available in the cgroup2 tree at ${mount.point} (controllers: ${controllers.filter(Boolean).join(' ') || 'none'})`);
  }
  writeFileSync(path.join(mount.point, 'cgroup.subtree_control'), '+cpu');
  const quota = Math.round((PERIOD_US * percent) / 100);
  return cgroupCap(mount.point, { 'cpu.max': `${quota} ${PERIOD_US}` }, `cgroup v2 cpu.max "${quota} ${PERIOD_US}"`);
}

function cgroupV1(percent: number): CpuCap {
  const mount = mounts().find((m) => m.fstype === 'cgroup' && m.superOptions.includes('cpu'));
  if (!mount) throw new Error('no cgroup v1 cpu controller mounted');
  const quota = Math.round((PERIOD_US * percent) / 100);
  return cgroupCap(
    mount.point,
    { 'cpu.cfs_period_us': String(PERIOD_US), 'cpu.cfs_quota_us': String(quota) },
    `cgroup v1 cpu.cfs_quota_us ${quota} per cpu.cfs_period_us ${PERIOD_US}`,
  );
}

function systemdRun(percent: number): CpuCap {
  const args = ['--scope', '--quiet', '--collect', '-p', `CPUQuota=${percent}%`];
  // sd_booted(3): systemd is the init system exactly when /run/systemd/system exists; without
  // it, systemd-run fails ("System has not been booted with systemd as init system").
  if (!existsSync('/run/systemd/system')) throw new Error('systemd is not the init system here (no /run/systemd/system)');
  const onPath = (process.env.PATH ?? '').split(path.delimiter).some((dir) => {
    try {
      accessSync(path.join(dir, 'systemd-run'), constants.X_OK);
      return true;
    } catch {
      return false;
    }
  });
  if (!onPath) throw new Error('systemd-run is not installed');
  return {
    how: `systemd-run ${args.join(' ')}`,
    wrap: (command, commandArgs) => ['systemd-run', [...args, '--', command, ...commandArgs]],
    attach: () => undefined,
    release: () => undefined,
  };
}

/** A cap of `percent` % of one core by the first way that works here, or why none does. */
export function cpuCap(percent: number): { cap: CpuCap } | { skipped: string } {
  const why: string[] = [];
  for (const [name, make] of [
    ['cgroup v2', cgroupV2],
    ['cgroup v1', cgroupV1],
    ['systemd-run', systemdRun],
  ] as const) {
    try {
      return { cap: make(percent) };
    } catch (err) {
      why.push(`${name}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return { skipped: why.join('; ') };
}
