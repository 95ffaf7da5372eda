'use strict';
// Preloaded into a child process that runs the compiled carbot (or a board script) on a fake
// sysfs: `node --require test/fakes/sysfs-preload.js dist/cli.js ...` with CARBOT_SYSFS_ROOT
// set to FakeSysfs.root. Writes under that root then get the kernel's PWM rules (after the
// operating system's own permission check) and require('onoff') returns the file-backed fake,
// so the test process can read what every pin and PWM channel carries, even after the child
// died. The tree itself (and its "udev") is the FakeSysfs in the test process.
const path = require('node:path');

const root = process.env.CARBOT_SYSFS_ROOT;
if (!root) throw new Error('sysfs-preload.js: CARBOT_SYSFS_ROOT is not set');
require('ts-node').register({ transpileOnly: true, project: path.join(__dirname, '..', '..', 'tsconfig.test.json') });
require('./sysfs.ts').installInProcess(root);
