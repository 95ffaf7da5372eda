/**
 * Tests run as if from a clean shell on a machine without carbot installed: a developer's
 * CARBOT_* variables (or a Pi's, under sudo) must not change what a test sees, and
 * /etc/carbot/config.json must never be read — it may be someone's real car, or unreadable.
 */

/** The harness's own switches, which are not carbot settings and stay. */
const HARNESS_SWITCH = /^CARBOT_(TEST_.*|UPDATE_SCREENSHOT)$/;

/**
 * Removes the caller's carbot settings from `env` and sets an empty CARBOT_CONFIG, which
 * tells carbot to read no configuration file at all; a test that wants one names it.
 * Returns the names it removed.
 */
export function isolateFromCaller(env: NodeJS.ProcessEnv = process.env): string[] {
  const removed = Object.keys(env).filter((name) => name.startsWith('CARBOT_') && !HARNESS_SWITCH.test(name));
  for (const name of removed) delete env[name];
  env.CARBOT_CONFIG = '';
  return removed.sort();
}

/** What every process a test starts gets on top of its cleaned environment. */
export const NO_MACHINE_CONFIG = { CARBOT_CONFIG: '' } as const;
