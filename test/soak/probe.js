'use strict';
/**
 * Preloaded into carbot by the soak test (`node --expose-gc -r test/soak/probe.js dist/cli.js`):
 * the heap and the event loop's handles can only be read from inside the process, and this
 * keeps carbot's own code free of test hooks. On SIGUSR2 it collects garbage and writes one
 * line to stderr:
 *   soak-probe {"heapUsed":…,"rss":…,"resources":{"TCPSocketWrap":1,"Timeout":2,…}}
 */
const { writeSync } = require('node:fs');

process.on('SIGUSR2', () => {
  // Twice: the first pass can leave objects that only a second one frees (weak callbacks).
  global.gc?.();
  global.gc?.();
  const { heapUsed, heapTotal, rss, external } = process.memoryUsage();
  const resources = {};
  for (const kind of process.getActiveResourcesInfo()) resources[kind] = (resources[kind] ?? 0) + 1;
  writeSync(2, `soak-probe ${JSON.stringify({ heapUsed, heapTotal, rss, external, resources })}\n`);
});
