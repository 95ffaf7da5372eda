/** Polls `condition` until it holds; for state that arrives on no event of its own, such as a broker's log. */
export async function waitUntil(condition: () => boolean, explain: () => string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${ms} ms:\n${explain()}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
