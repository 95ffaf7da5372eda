'use strict';
/**
 * Preloaded (`node -r bench/alloc-probe.js ...`) into carbot by `npm run profile`: V8's
 * sampling heap profiler, started at the first SIGUSR2 and written to $PROFILE_HEAP_OUT at the
 * second, with the objects that garbage collection already took back included, so that it
 * shows what a command allocates, not only what survives (`node --heap-prof` keeps only the
 * latter). Costs nothing until the first signal; carbot itself carries no profiling code.
 */
const { writeFileSync } = require('node:fs');
const inspector = require('node:inspector');

const out = process.env.PROFILE_HEAP_OUT;
let session;

process.on('SIGUSR2', () => {
  if (!session) {
    session = new inspector.Session();
    session.connect();
    session.post('HeapProfiler.startSampling', {
      samplingInterval: 1024,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
    process.stderr.write('alloc-probe: sampling\n');
    return;
  }
  session.post('HeapProfiler.stopSampling', (err, result) => {
    if (!err && out) writeFileSync(out, JSON.stringify(result.profile));
    process.stderr.write(`alloc-probe: ${err ? err.message : `written to ${out}`}\n`);
    session.disconnect();
  });
});
