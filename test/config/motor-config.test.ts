import assert from 'node:assert/strict';
import { DEFAULT_MOTORS, parseMotorConfig, PIGPIO_PWM_FREQUENCIES, type MotorConfigInput } from '../../src/config/motor-config';

function errorsOf(raw: unknown): string[] {
  return parseMotorConfig(raw as MotorConfigInput).errors;
}

const hbridge = (extra: Record<string, unknown> = {}) => ({ name: 'left', driver: 'hbridge', pwm: 12, in1: 5, in2: 6, ...extra });
const servo = (extra: Record<string, unknown> = {}) => ({ name: 'left', driver: 'servo', pin: 18, ...extra });

describe('motor configuration', () => {
  describe('defaults', () => {
    it('no motors setting means a two-motor L298N on GPIO 12/5/6 and 13/20/21 at 1000 Hz, no limit switches', () => {
      const result = parseMotorConfig({});
      assert.deepEqual(result, {
        motors: [
          { name: 'left', driver: 'hbridge', board: 'gpio', pwm: 12, in1: 5, in2: 6, brake: false, pwmFrequency: 1000, invert: false },
          { name: 'right', driver: 'hbridge', board: 'gpio', pwm: 13, in1: 20, in2: 21, brake: false, pwmFrequency: 1000, invert: false },
        ],
        limits: {},
        errors: [],
        warnings: [],
        pca9685Frequency: 50,
      });
      assert.deepEqual(result.motors, DEFAULT_MOTORS);
      assert.notEqual(result.motors[0], DEFAULT_MOTORS[0]);
    });

    it('fills in each driver\'s optional settings', () => {
      const result = parseMotorConfig({
        motors: [hbridge(), servo({ name: 'right' }), { name: 'spare', driver: 'sim' }],
        limits: { forward: { pin: 23 } },
      });
      assert.deepEqual(result, {
        motors: [
          { name: 'left', driver: 'hbridge', board: 'gpio', pwm: 12, in1: 5, in2: 6, brake: false, pwmFrequency: 1000, invert: false },
          // 1500 ± 750 µs: ServoKit's continuous_servo throttle, so a car from carbot.py keeps its speeds.
          { name: 'right', driver: 'servo', board: 'gpio', pin: 18, neutralUs: 1500, spanUs: 750, trimUs: 0, invert: false },
          { name: 'spare', driver: 'sim', invert: false },
        ],
        limits: { forward: { pin: 23, activeLow: true, debounceMs: 20 } },
        errors: [],
        warnings: [],
        pca9685Frequency: 50,
      });
    });

    it('accepts the README examples as they are', () => {
      const tb6612 = {
        motors: [
          { name: 'left', driver: 'hbridge', pwm: 12, in1: 5, in2: 6, standby: 25, brake: true },
          { name: 'right', driver: 'hbridge', pwm: 13, in1: 20, in2: 21, standby: 25 },
        ],
      };
      assert.deepEqual(errorsOf(tb6612), []);
      const servos = {
        motors: [
          { name: 'left', driver: 'servo', pin: 18 },
          { name: 'right', driver: 'servo', pin: 19, invert: true, trimUs: -15 },
        ],
        limits: { forward: { pin: 23 }, backward: { pin: 24, debounceMs: 30 } },
      };
      assert.deepEqual(errorsOf(servos), []);
    });
  });

  describe('pins', () => {
    it('must be whole BCM numbers 0–27', () => {
      assert.deepEqual(errorsOf({ motors: [hbridge({ pwm: 28, in1: -1, in2: 3.5, standby: '7' })] }), [
        'motors[0].pwm: must be a BCM pin number 0–27, got 28',
        'motors[0].in1: must be a BCM pin number 0–27, got -1',
        'motors[0].in2: must be a BCM pin number 0–27, got 3.5',
        'motors[0].standby: must be a BCM pin number 0–27, got "7"',
      ]);
      assert.deepEqual(errorsOf({ motors: [hbridge({ pwm: 0, in1: 27 })], allowUnsafePins: [0] }), []);
    });

    it('are required where the driver needs them', () => {
      assert.deepEqual(errorsOf({ motors: [{ name: 'a', driver: 'hbridge' }, { name: 'b', driver: 'servo' }] }), [
        'motors[0].pwm: required (a BCM pin number 0–27)',
        'motors[0].in1: required (a BCM pin number 0–27)',
        'motors[0].in2: required (a BCM pin number 0–27)',
        'motors[1].pin: required (a BCM pin number 0–27)',
      ]);
    });

    it('are never used twice across motors, naming the first use', () => {
      assert.deepEqual(
        errorsOf({ motors: [hbridge(), hbridge({ name: 'right', pwm: 13, in1: 20, in2: 6 }), servo({ name: 'c', pin: 12 })] }),
        ['motors[1].in2: pin 6 is already used by motors[0].in2', 'motors[2].pin: pin 12 is already used by motors[0].pwm'],
      );
      assert.deepEqual(errorsOf({ motors: [hbridge({ in2: 5 })] }), ['motors[0].in2: pin 5 is already used by motors[0].in1']);
    });

    it('a standby pin may be shared by the two motors of one TB6612, and by nothing else', () => {
      assert.deepEqual(errorsOf({ motors: [hbridge({ standby: 25 }), hbridge({ name: 'right', pwm: 13, in1: 20, in2: 21, standby: 25 })] }), []);
      assert.deepEqual(errorsOf({ motors: [hbridge({ standby: 25 }), hbridge({ name: 'right', pwm: 13, in1: 20, in2: 25 })] }), [
        'motors[1].in2: pin 25 is already used by motors[0].standby',
      ]);
      assert.deepEqual(errorsOf({ motors: [hbridge({ standby: 25 })], limits: { forward: { pin: 25 } } }), [
        'limits.forward.pin: pin 25 is already used by motors[0].standby',
      ]);
    });

    it('are never shared between a motor and a limit switch, or two switches', () => {
      assert.deepEqual(
        errorsOf({ limits: { forward: { pin: 5 }, backward: { pin: 5 } } }),
        ['limits.forward.pin: pin 5 is already used by motors[0].in1', 'limits.backward.pin: pin 5 is already used by motors[0].in1'],
      );
      assert.deepEqual(
        errorsOf({ limits: { forward: { pin: 23 }, backward: { pin: 23 } } }),
        ['limits.backward.pin: pin 23 is already used by limits.forward.pin'],
      );
    });
  });

  describe('PWM frequency', () => {
    it('accepts every frequency pigpio generates at 5 µs', () => {
      assert.deepEqual(PIGPIO_PWM_FREQUENCIES, [8000, 4000, 2000, 1600, 1000, 800, 500, 400, 320, 250, 200, 160, 100, 80, 50, 40, 20, 10]);
      for (const pwmFrequency of PIGPIO_PWM_FREQUENCIES) {
        assert.deepEqual(errorsOf({ motors: [hbridge({ pwmFrequency })] }), [], `${pwmFrequency} Hz`);
      }
    });

    it('refuses any other, listing the ones that work', () => {
      const list = '8000, 4000, 2000, 1600, 1000, 800, 500, 400, 320, 250, 200, 160, 100, 80, 50, 40, 20, 10';
      for (const [pwmFrequency, shown] of [[1200, '1200'], [20000, '20000'], ['1000', '"1000"'], [0, '0']] as const) {
        assert.deepEqual(errorsOf({ motors: [hbridge({ pwmFrequency })] }), [
          `motors[0].pwmFrequency: ${shown} Hz is not a frequency pigpio can generate at its 5 µs sample rate; use one of ${list}`,
        ]);
      }
    });
  });

  describe('servo pulse widths', () => {
    it('keeps neutral + trim ± span within 500–2500 µs', () => {
      assert.deepEqual(errorsOf({ motors: [servo({ neutralUs: 1500, spanUs: 1000 })] }), []);
      assert.deepEqual(errorsOf({ motors: [servo({ spanUs: 900, trimUs: 200 })] }), [
        'motors[0].spanUs: neutralUs + 200 ± spanUs = 1500 + 200 ± 900 reaches 800–2600 µs; servo pulses must stay within 500–2500 µs',
      ]);
      assert.deepEqual(errorsOf({ motors: [servo({ trimUs: -1 , spanUs: 1000 })] }), [
        'motors[0].spanUs: neutralUs − 1 ± spanUs = 1500 − 1 ± 1000 reaches 499–2499 µs; servo pulses must stay within 500–2500 µs',
      ]);
      assert.deepEqual(errorsOf({ motors: [servo({ trimUs: 600, spanUs: 500 })] }), [
        'motors[0].spanUs: neutralUs + 600 ± spanUs = 1500 + 600 ± 500 reaches 1600–2600 µs; servo pulses must stay within 500–2500 µs',
      ]);
      assert.deepEqual(errorsOf({ motors: [servo({ trimUs: 600 })] }), [
        'motors[0].trimUs: neutralUs + 600 ± spanUs = 1500 + 600 ± 750 reaches 1350–2850 µs; servo pulses must stay within 500–2500 µs',
      ]);
      assert.deepEqual(errorsOf({ motors: [servo({ neutralUs: 2200 })] }), [
        'motors[0].neutralUs: neutralUs + 0 ± spanUs = 2200 + 0 ± 750 reaches 1450–2950 µs; servo pulses must stay within 500–2500 µs',
      ]);
    });

    it('takes whole microseconds in range for each setting', () => {
      assert.deepEqual(errorsOf({ motors: [servo({ neutralUs: 400, spanUs: 0, trimUs: 1.5 })] }), [
        'motors[0].neutralUs: must be a whole number of µs from 500 to 2500, got 400',
        'motors[0].spanUs: must be a whole number of µs from 1 to 1000, got 0',
        'motors[0].trimUs: must be a whole number of µs from -2000 to 2000, got 1.5',
      ]);
    });
  });

  describe('names, drivers and keys', () => {
    it('names are required, short and unique', () => {
      assert.deepEqual(errorsOf({ motors: [hbridge({ name: undefined }), hbridge({ name: 'left wheel', pwm: 13, in1: 20, in2: 21 })] }), [
        'motors[0].name: required (for example "left")',
        'motors[1].name: must be 1–32 letters, digits, "_" or "-", got "left wheel"',
      ]);
      assert.deepEqual(errorsOf({ motors: [{ name: 'left', driver: 'sim' }, { name: 'left', driver: 'sim' }] }), [
        'motors[1].name: "left" is already used by motors[0]',
      ]);
    });

    it('the driver is one of hbridge, servo, sim', () => {
      assert.deepEqual(errorsOf({ motors: [{ name: 'a', driver: 'l298n', pwm: 12 }, { name: 'b' }] }), [
        'motors[0].driver: unknown driver "l298n" (expected hbridge, servo, sim)',
        'motors[1].driver: required (hbridge, servo, sim)',
      ]);
    });

    it('a sim motor needs no pins', () => {
      assert.deepEqual(parseMotorConfig({ motors: [{ name: 'a', driver: 'sim', invert: true }] }).motors, [
        { name: 'a', driver: 'sim', invert: true },
      ]);
    });

    it('a setting the driver does not have is an error, not silently ignored', () => {
      assert.deepEqual(errorsOf({ motors: [hbridge({ pin: 18, frequency: 1000 }), { name: 'b', driver: 'sim', pwm: 3 }] }), [
        'motors[0].pin: unknown setting for an hbridge motor (expected name, driver, board, pwm, in1, in2, standby, brake, pwmFrequency, invert)',
        'motors[0].frequency: unknown setting for an hbridge motor (expected name, driver, board, pwm, in1, in2, standby, brake, pwmFrequency, invert)',
        'motors[1].pwm: unknown setting for a sim motor (expected name, driver, board, invert)',
      ]);
    });

    it('flags are true or false', () => {
      assert.deepEqual(errorsOf({ motors: [hbridge({ brake: 'yes', invert: 1 })] }), [
        'motors[0].invert: must be true or false, got 1',
        'motors[0].brake: must be true or false, got "yes"',
      ]);
    });

    it('motors is a non-empty list of objects', () => {
      assert.deepEqual(errorsOf({ motors: [] }), ['motors: must be a non-empty list of motors or the name of a ready-made one, got []']);
      assert.deepEqual(errorsOf({ motors: { left: {} } }), [
        'motors: must be a non-empty list of motors or the name of a ready-made one, got {"left":{}}',
      ]);
      assert.deepEqual(errorsOf({ motors: ['left'] }), [
        'motors[0]: must be an object like {"name": "left", "driver": "hbridge", ...}, got "left"',
      ]);
    });
  });

  describe('limit switches', () => {
    it('one per track end, with their own settings', () => {
      assert.deepEqual(
        errorsOf({ limits: { front: { pin: 23 }, forward: { pin: 23, pull: 'up', activeLow: 'no', debounceMs: 5000 }, backward: 24 } }),
        [
          'limits.front: unknown track end (expected forward, backward)',
          'limits.forward.pull: unknown setting for a limit switch (expected pin, activeLow, debounceMs)',
          'limits.forward.activeLow: must be true or false, got "no"',
          'limits.forward.debounceMs: must be a whole number of milliseconds from 0 to 1000, got 5000',
          'limits.backward: must be an object like {"pin": 23}, got 24',
        ],
      );
      assert.deepEqual(errorsOf({ limits: [23] }), ['limits: must be an object like {"forward": {"pin": 23}}, got [23]']);
    });

    it('null means none', () => {
      assert.deepEqual(parseMotorConfig({ limits: null }).limits, {});
      assert.deepEqual(parseMotorConfig({ limits: { forward: null, backward: { pin: 24, activeLow: false, debounceMs: 0 } } }).limits, {
        backward: { pin: 24, activeLow: false, debounceMs: 0 },
      });
    });
  });

  it('reports every problem at once, in the order of the file', () => {
    assert.deepEqual(
      errorsOf({
        motors: [
          { name: 'left', driver: 'hbridge', pwm: 12, in1: 5, in2: 6, pwmFrequency: 1200 },
          { name: 'left', driver: 'hbridge', pwm: 30, in1: 20, in2: 6 },
          { name: 'tail', driver: 'servo', pin: 18, spanUs: 1200 },
          { name: 'x', driver: 'stepper' },
        ],
        limits: { forward: { pin: 18 } },
      }),
      [
        'motors[0].pwmFrequency: 1200 Hz is not a frequency pigpio can generate at its 5 µs sample rate; ' +
          'use one of 8000, 4000, 2000, 1600, 1000, 800, 500, 400, 320, 250, 200, 160, 100, 80, 50, 40, 20, 10',
        'motors[1].name: "left" is already used by motors[0]',
        'motors[1].pwm: must be a BCM pin number 0–27, got 30',
        'motors[1].in2: pin 6 is already used by motors[0].in2',
        'motors[2].spanUs: must be a whole number of µs from 1 to 1000, got 1200',
        'motors[3].driver: unknown driver "stepper" (expected hbridge, servo, sim)',
        'limits.forward.pin: pin 18 is already used by motors[2].pin',
      ],
    );
  });

  describe('boards, presets and unsafe pins', () => {
    it('the original carbot.py car in one line: two servos on PCA9685 channels 0 (mirrored) and 1 at 50 Hz', () => {
      const result = parseMotorConfig({ motors: 'adafruit-servo-hat' });
      assert.deepEqual(result.errors, []);
      assert.deepEqual(result.motors, [
        { name: 'left', driver: 'servo', board: 'pca9685', pin: 0, neutralUs: 1500, spanUs: 750, trimUs: 0, invert: true },
        { name: 'right', driver: 'servo', board: 'pca9685', pin: 1, neutralUs: 1500, spanUs: 750, trimUs: 0, invert: false },
      ]);
      assert.equal(result.pca9685Frequency, 50);
    });

    it('each motor HAT in one line, at its vendor\'s frequency', () => {
      for (const [name, hz] of [['adafruit-motor-hat', 1600], ['waveshare-motor-hat', 50]] as const) {
        const result = parseMotorConfig({ motors: name });
        assert.deepEqual(result.errors, [], name);
        assert.deepEqual(result.motors.map((m) => [m.name, m.driver, m.board]), [['left', 'hbridge', 'pca9685'], ['right', 'hbridge', 'pca9685']]);
        assert.equal(result.pca9685Frequency, hz);
      }
    });

    it('an unknown preset names the ones there are', () => {
      assert.match(errorsOf({ motors: 'servo-hat' })[0], /^motors: no ready-made motor list called "servo-hat" \(there are adafruit-servo-hat/);
    });

    it('PCA9685 channels are 0–15, counted apart from the header pins', () => {
      assert.deepEqual(
        errorsOf({
          motors: [
            { name: 'a', driver: 'servo', board: 'pca9685', pin: 16 },
            { name: 'b', driver: 'servo', board: 'pca9685', pin: 12 },
            { name: 'c', driver: 'servo', pin: 12 },
            { name: 'd', driver: 'servo', board: 'pca9685', pin: 12 },
            { name: 'e', driver: 'servo', board: 'i2c' },
          ],
        }),
        [
          'motors[0].pin: must be a PCA9685 channel 0–15, got 16',
          'motors[3].pin: channel 12 is already used by motors[1].pin',
          'motors[4].board: unknown board "i2c" (expected gpio, pca9685)',
        ],
      );
    });

    it('one frequency per PCA9685: its H-bridges set it, and servos cannot share a chip running at 1600 Hz', () => {
      const bridge = (name: string, pwm: number, extra: Record<string, unknown> = {}) =>
        ({ name, driver: 'hbridge', board: 'pca9685', pwm, in1: pwm + 1, in2: pwm + 2, ...extra });
      const ok = parseMotorConfig({ motors: [bridge('left', 0), bridge('right', 5)] });
      assert.deepEqual(ok.errors, []);
      assert.equal(ok.pca9685Frequency, 1600);
      assert.deepEqual(ok.motors.map((m) => m.driver === 'hbridge' && m.pwmFrequency), [1600, 1600]);
      assert.deepEqual(errorsOf({ motors: [bridge('left', 0, { pwmFrequency: 1000 }), bridge('right', 5, { pwmFrequency: 60 })] }), [
        'motors "right".pwmFrequency: 60 Hz, but the PCA9685 runs all its channels at 1000 Hz',
      ]);
      assert.deepEqual(errorsOf({ motors: [bridge('left', 0, { pwmFrequency: 5000 })] }), [
        "motors[0].pwmFrequency: 5000 Hz is out of a PCA9685's range: its prescaler (3–255 on a 25 MHz clock) gives 24–1743 Hz (Adafruit's motor HAT uses 1600 Hz, servos 50 Hz)",
      ]);
      assert.deepEqual(errorsOf({ motors: [bridge('left', 0), { name: 'cam', driver: 'servo', board: 'pca9685', pin: 15 }] }), [
        'motors "cam": a servo needs the PCA9685 at 400 Hz or less (50 Hz is usual), but it runs at 1600 Hz for its H-bridge motors',
      ]);
    });

    it('refuses motor outputs on the I2C, HAT EEPROM and UART pins unless allowed; I2C always while a PCA9685 is configured', () => {
      assert.deepEqual(errorsOf({ motors: [hbridge({ pwm: 14, in1: 2, in2: 1 })] }), [
        'motors[0].pwm: GPIO 14 is the UART (TXD), high at boot; pick another pin, or list it in allowUnsafePins if you know it is free',
        'motors[0].in1: GPIO 2 is the I2C bus (SDA); pick another pin, or list it in allowUnsafePins if you know it is free',
        'motors[0].in2: GPIO 1 is the HAT EEPROM I2C bus (ID_SC); pick another pin, or list it in allowUnsafePins if you know it is free',
      ]);
      assert.deepEqual(errorsOf({ motors: [hbridge({ pwm: 14, in1: 2, in2: 1 })], allowUnsafePins: [14, 2, 1] }), []);
      assert.deepEqual(
        errorsOf({
          motors: [{ name: 'a', driver: 'servo', board: 'pca9685', pin: 0 }],
          limits: { forward: { pin: 3 } },
          allowUnsafePins: [3],
        }),
        ['limits.forward.pin: GPIO 3 is the I2C bus (SCL), which the PCA9685 (a) uses; pick another pin'],
      );
      assert.deepEqual(errorsOf({ motors: [hbridge()], allowUnsafePins: 'all' }), [
        'allowUnsafePins: must be a list of BCM pin numbers like [14, 15], got "all"',
      ]);
    });

    it('warns of an enable or standby pin pulled up at power-on (BCM 4–8)', () => {
      const result = parseMotorConfig({ motors: [hbridge({ pwm: 7, in1: 5, in2: 6, standby: 8 })] });
      assert.deepEqual(result.errors, []);
      assert.deepEqual(result.warnings, [
        'motors[0].pwm: GPIO 7 is pulled up at power-on, so the bridge is enabled before carbot starts; a pin from 9 to 27 is safer',
        'motors[0].standby: GPIO 8 is pulled up at power-on, so the bridge is enabled before carbot starts; a pin from 9 to 27 is safer',
      ]);
    });

    it('servoIdleOffS applies to every servo unless one sets idleOffS itself', () => {
      const result = parseMotorConfig({ motors: [servo(), servo({ name: 'right', pin: 19, idleOffS: 0 })], servoIdleOffS: 5 });
      assert.deepEqual(result.motors.map((m) => m.driver === 'servo' && m.idleOffS), [5, 0]);
    });
  });
});
