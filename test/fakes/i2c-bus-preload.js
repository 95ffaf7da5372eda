'use strict';
// Preloaded into the compiled CLI by process tests (node --require): `require('i2c-bus')`
// then returns the fake of test/fakes/i2c-bus.ts, whose buses and chips live in the JSON
// file named by CARBOT_FAKE_I2C_STATE (written by the test beforehand, rewritten on every
// I2C transaction), so a test can read what each PCA9685 channel carries after the process
// exited or was killed, and a second process (carbot safe-state) finds the chip as the
// first one left it.
const Module = require('node:module');
const path = require('node:path');

const file = process.env.CARBOT_FAKE_I2C_STATE;
if (!file) throw new Error('CARBOT_FAKE_I2C_STATE must name the fake I2C state file (see test/fakes/i2c-bus.ts)');

require(path.join(__dirname, '..', 'support', 'register.js'));
const { createFakeI2cBus, FileStore } = require('./i2c-bus.ts');
const fake = createFakeI2cBus(new FileStore(file));

const load = Module._load;
Module._load = function loadWithFakeI2c(request, parent, isMain) {
  return request === 'i2c-bus' ? fake : load.call(this, request, parent, isMain);
};
