/**
 * Tests that start a process as another user (the kernel board as `nobody` in the gpio group,
 * as carbot.service runs it) need root to do so. Here and in CI they run as root; a developer
 * running `npm test` unprivileged gets one loud line per suite instead of a failure, and
 * CARBOT_TEST_ROOT=required (set by .ci/run) makes the missing privilege a failure.
 */
export const IS_ROOT = process.getuid?.() === 0;

export function requireRoot(ctx: Mocha.Context, what: string): void {
  if (IS_ROOT) return;
  const line = `NOT RUN, needs root to start a process as another user (run npm test as root to include it): ${what}`;
  if (process.env.CARBOT_TEST_ROOT === 'required') throw new Error(`${line}; CARBOT_TEST_ROOT=required`);
  console.warn(`\n    ${line}\n`);
  ctx.skip();
}
