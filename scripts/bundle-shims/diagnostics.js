'use strict';
/**
 * Bundled in place of `@dabh/diagnostics` (scripts/bundle.js), winston's debug logger, which
 * builds colour tables when it loads. It logs only when DEBUG or DIAGNOSTICS names its
 * namespace; without either in the environment it is never loaded, and its loggers are this
 * function that does nothing. With one set, the real package is loaded as before.
 */
function nope() {
  return false;
}

module.exports = process.env.DEBUG || process.env.DIAGNOSTICS ? require('@dabh/diagnostics') : () => nope;
