import type { ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';

/**
 * The safety net behind every helper: anything a test opens is registered here, and the
 * root `afterAll` hook (hooks.ts) closes whatever a test forgot, so mocha exits by itself
 * and a forgotten broker cannot leak into the next run.
 */
export interface Resource {
  /** Shown when the safety net had to close it, so the leaking test can be found. */
  readonly name: string;
  isOpen(): boolean;
  close(): Promise<void>;
}

const resources = new Set<Resource>();
const children = new Set<ChildProcess>();
const dirs = new Set<string>();

export function track(resource: Resource): () => void {
  resources.add(resource);
  return () => {
    resources.delete(resource);
  };
}

/**
 * Children are also killed (and temp dirs removed) synchronously when this process exits:
 * a run that crashes or is interrupted never reaches the root hook, and an orphaned
 * mosquitto would keep its port.
 */
export function killOnExit(child: ChildProcess): void {
  children.add(child);
  child.once('exit', () => children.delete(child));
}

export function removeOnExit(dir: string): () => void {
  dirs.add(dir);
  return () => {
    dirs.delete(dir);
    rmSync(dir, { recursive: true, force: true });
  };
}

process.once('exit', () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** Closes everything still registered; returns the names of what was still open. */
export async function closeAll(): Promise<string[]> {
  const pending = [...resources];
  resources.clear();
  const leftOpen = pending.filter((r) => r.isOpen()).map((r) => r.name);
  const results = await Promise.allSettled(pending.map((r) => r.close()));
  for (const [i, result] of results.entries()) {
    if (result.status === 'rejected') {
      console.warn(`harness: closing ${pending[i].name} failed: ${String(result.reason)}`);
    }
  }
  return leftOpen;
}

/** Gives up on a promise after `ms`, with a message that says what was being waited for. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what()}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
