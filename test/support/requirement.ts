import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/**
 * A Debian package some suites need and a fresh machine may lack (mosquitto, Chromium).
 * Without it those suites are not registered at all rather than skipped, a loud line says
 * what to install when they load and again at the end of the run, and `<switch>=required`
 * (set by CI) puts a failing test in their place so the run cannot pass without it.
 */
export interface Requirement {
  /** What the failing stand-in test names, e.g. "mosquitto". */
  readonly what: string;
  /** The loud line, starting with "!!!". */
  readonly missing: string;
  /** e.g. CARBOT_TEST_MOSQUITTO: "required" turns a missing package into a failure. */
  readonly switchVariable: string;
  available(): boolean;
}

const notRun = new Map<Requirement, string[]>();

/** `describe` for a suite that needs every one of `requirements`. */
export function describeWith(requirements: Requirement | Requirement[], title: string, fn: (this: Mocha.Suite) => void): void {
  const missing = [requirements].flat().filter((r) => !r.available());
  if (missing.length === 0) {
    describe(title, fn);
    return;
  }
  for (const requirement of missing) {
    notRun.set(requirement, [...(notRun.get(requirement) ?? []), title]);
    console.warn(`${requirement.missing}: "${title}"`);
  }
  const required = missing.filter((r) => process.env[r.switchVariable] === 'required');
  if (required.length > 0) {
    describe(title, () => {
      for (const requirement of required) {
        it(`runs with ${requirement.what} (${requirement.switchVariable}=required)`, () => {
          throw new Error(`${requirement.missing}, and ${requirement.switchVariable}=required`);
        });
      }
    });
  }
}

/** Called from the root after hook so the warnings are not lost above the test output. */
export function reportMissing(): void {
  for (const [requirement, titles] of notRun) {
    console.warn(`\n${requirement.missing}\n    not run: ${titles.join(', ')}\n`);
  }
}

/**
 * The program `name`: the path in `variable` if that is set (a path that is not executable
 * makes the program count as missing, which is how CI hides it), else the first executable
 * one in `dirs` and on the PATH.
 */
export function findProgram(name: string, variable: string, dirs: string[] = []): string | null {
  const chosen = process.env[variable];
  if (chosen !== undefined && chosen !== '') return isExecutable(chosen) ? chosen : null;
  for (const dir of [...dirs, ...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean)]) {
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return null;
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
