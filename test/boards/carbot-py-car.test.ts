import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { loadConfig } from '../../src/config/config';
import { openHardware } from '../../src/motors';
import { CarService } from '../../src/service';
import { fakeRequire } from '../fakes/call-log';
import { logged, memoryLogger } from '../fakes/hardware';
import { busWithChips, createFakeI2cBus, MemoryStore, type FakeI2c } from '../fakes/i2c-bus';
import { CarbotPy, ServoKitModel } from '../support/servokit';
import { VirtualClock } from '../support/virtual-clock';

/**
 * The original car, as docs/migrating-from-carbot-py.md sets it up: the guide's own config
 * (read out of the markdown, so the two cannot drift) through the whole stack — commands →
 * drive state machine → motor bank → servo driver → PCA9685 board → the register-level fake
 * chip — against a model of what carbot.py's ServoKit wrote (test/support/servokit.ts).
 */

const GUIDE = path.join(__dirname, '..', '..', 'docs', 'migrating-from-carbot-py.md');

/** The first ```json block of the guide: the settings it tells the user to put in config.json. */
function guideConfigText(): string {
  const match = /^```json\n([\s\S]*?)^```$/m.exec(readFileSync(GUIDE, 'utf8'));
  assert.ok(match, `no json code block in ${GUIDE}`);
  return match[1];
}

function guideConfig() {
  const text = guideConfigText();
  return loadConfig({
    argv: ['--config', 'config.json'],
    env: {},
    exists: () => true,
    readFile: () => Buffer.from(text),
  });
}

/** LEDn_ON and LEDn_OFF of channels 0 and 1 as 16-bit words, full-on/off bits included (Table 4). */
const words = (i2c: FakeI2c) =>
  i2c
    .chip(1, 0x40)
    .channels.slice(0, 2)
    .map((c) => ({ on: c.on | (c.fullOn ? 0x1000 : 0), off: c.off | (c.fullOff ? 0x1000 : 0) }));

describe('the carbot.py car from the migration guide, register for register', () => {
  let service: CarService | undefined;
  afterEach(async () => {
    await service?.shutdown('test over');
    service = undefined;
  });

  it('the guide connects to doctorgrowbuddy on carbot/move and starts at carbot.py’s 0.1, steps 0.1, never below 0.1', () => {
    const config = guideConfig();
    assert.equal(config.mqtt.url, 'mqtt://doctorgrowbuddy:1883');
    assert.equal(config.topics.move, 'carbot/move');
    assert.deepEqual(
      [config.drive.initialSpeed, config.drive.speedStep, config.drive.minSpeed, config.drive.maxSpeed],
      [10, 10, 10, 100],
    );
    assert.deepEqual(config.pca9685, { bus: 1, address: 0x40, frequencyHz: 50, servoKitCompatible: true });
  });

  it('f + + - s b - - s puts ServoKit’s very LEDn_ON/OFF values on channels 0 and 1, with PRE_SCALE 122', async () => {
    const config = guideConfig();
    const i2c = createFakeI2cBus(new MemoryStore({ buses: { '1': busWithChips(0x40) } }));
    const { log, lines } = memoryLogger();
    const hardware = await openHardware(config, log, { deps: { requireModule: fakeRequire({ 'i2c-bus': () => i2c }) } });
    const clock = new VirtualClock();
    service = new CarService({ config, log, motors: hardware.motors, clock });

    const kit = new ServoKitModel();
    const carbotPy = new CarbotPy(kit);
    assert.equal(kit.prescale, 122);
    assert.equal(i2c.chip(1, 0x40).prescale, 122);

    const seen: string[] = [];
    const expected: string[] = [];
    for (const payload of ['f', '+', '+', '-', 's', 'b', '-', '-', 's']) {
      service.command(payload, 'test');
      // A second between commands, as a person types them: any reversal pause has passed.
      clock.runUntil(() => false, 1000);
      carbotPy.message(payload);
      const model = [0, 1].map((ch) => kit.channels.get(ch));
      seen.push(`${payload} (throttle ${carbotPy.throttleSpeed}): ${JSON.stringify(words(i2c))}`);
      expected.push(`${payload} (throttle ${carbotPy.throttleSpeed}): ${JSON.stringify(model)}`);
    }
    assert.deepEqual(seen, expected);
    // The values themselves, for a reader: neutral 307; the first f is 292/322, not 1125/1875 µs.
    assert.match(expected[0], /\{"on":0,"off":292\},\{"on":0,"off":322\}/);
    assert.match(expected[4], /\{"on":0,"off":307\},\{"on":0,"off":307\}/);
    const chip = i2c.chip(1, 0x40);
    assert.equal(chip.prescale, 122);
    assert.deepEqual([chip.ignored, chip.violations], [[], []]);
    await logged();
    assert.ok(
      lines.includes('info: boards: pca9685: PCA9685 at 0x40 on /dev/i2c-1, 50 Hz as ServoKit sets it (prescale 122: really 49.6 Hz) (motors left, right), all outputs stopped'),
      lines.join('\n'),
    );
  });
});
