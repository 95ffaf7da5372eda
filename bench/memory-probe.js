'use strict';
/**
 * Preloaded (`node -r bench/memory-probe.js ...`) into carbot and the baseline by the
 * benchmark: the V8 heap can only be read from inside a process, and this keeps carbot's own
 * code free of benchmark hooks. It costs nothing until asked: on SIGUSR2 it writes one line,
 * `bench-memory {"rss":…,"heapTotal":…,"heapUsed":…,"external":…}` (bytes), to stderr.
 */
const { writeSync } = require('node:fs');

process.on('SIGUSR2', () => {
  const { rss, heapTotal, heapUsed, external } = process.memoryUsage();
  writeSync(2, `bench-memory ${JSON.stringify({ rss, heapTotal, heapUsed, external })}\n`);
});
// Until this line, SIGUSR2 would still end the process (its default action): on a loaded
// machine a process can be asked before it has run this file.
writeSync(2, 'bench-memory-probe ready\n');
