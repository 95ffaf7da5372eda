import { strict as assert } from 'node:assert';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pwmBlockForSoc } from '../../src/boards/kernel';
import { readPiBoard, socFromCompatible, socFromModel } from '../../src/boards/pi';

/**
 * Which Pi it is: the SoC from the device tree's NUL-separated `compatible` (most specific
 * first, the SoC last; raspberrypi/linux arch/arm/boot/dts/broadcom), the model string only
 * as the fallback.
 */
describe('the board from the device tree (pi.ts)', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'carbot-dt-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const tree = (model: string | undefined, compatible: string[] | undefined) => {
    if (model !== undefined) fs.writeFileSync(path.join(dir, 'model'), `${model}\0`);
    if (compatible !== undefined) fs.writeFileSync(path.join(dir, 'compatible'), compatible.map((c) => `${c}\0`).join(''));
    return readPiBoard(dir);
  };

  it('compatible names the SoC, whatever the model string says', () => {
    const cases: [string, string[], string, string][] = [
      ['Raspberry Pi 5 Model B Rev 1.0', ['raspberrypi,5-model-b', 'brcm,bcm2712'], 'bcm2712', '1f00098000.pwm'],
      ['Raspberry Pi 4 Model B Rev 1.4', ['raspberrypi,4-model-b', 'brcm,bcm2711'], 'bcm2711', 'fe20c000.pwm'],
      ['Raspberry Pi Compute Module 4S Rev 1.0', ['raspberrypi,4-compute-module-s', 'brcm,bcm2711'], 'bcm2711', 'fe20c000.pwm'],
      ['Raspberry Pi 3 Model B Plus Rev 1.3', ['raspberrypi,3-model-b-plus', 'brcm,bcm2837'], 'bcm2837', '3f20c000.pwm'],
      ['Raspberry Pi 2 Model B Rev 1.1', ['raspberrypi,2-model-b', 'brcm,bcm2836'], 'bcm2836', '3f20c000.pwm'],
      ['Raspberry Pi Zero W Rev 1.1', ['raspberrypi,model-zero-w', 'brcm,bcm2835'], 'bcm2835', '2020c000.pwm'],
      // A name carbot has never heard of: the SoC still says which PWM block it has.
      ['Raspberry Pi Some Future Board', ['raspberrypi,future', 'brcm,bcm2711'], 'bcm2711', 'fe20c000.pwm'],
    ];
    for (const [model, compatible, soc, device] of cases) {
      const board = tree(model, compatible);
      assert.deepEqual(board, { model, soc, socFrom: 'compatible' }, model);
      assert.equal(pwmBlockForSoc(board.soc)?.device, device, model);
    }
  });

  it('the first SoC in the list wins (a 32-bit Pi 3 tree lists brcm,bcm2837 then brcm,bcm2836)', () => {
    assert.equal(socFromCompatible('raspberrypi,3-model-b\0brcm,bcm2837\0brcm,bcm2836\0'), 'bcm2837');
    assert.equal(socFromCompatible('rockchip,rk3588\0'), undefined);
  });

  it('without compatible, the model string: the Compute Module 4S is a BCM2711', () => {
    assert.deepEqual(tree('Raspberry Pi Compute Module 4S Rev 1.0', undefined), {
      model: 'Raspberry Pi Compute Module 4S Rev 1.0',
      soc: 'bcm2711',
      socFrom: 'model',
    });
    assert.equal(socFromModel('Raspberry Pi 400 Rev 1.0'), 'bcm2711');
    assert.equal(socFromModel('Raspberry Pi 500 Rev 1.0'), 'bcm2712');
    assert.equal(socFromModel('Raspberry Pi Compute Module 5 Rev 1.0'), 'bcm2712');
    assert.equal(socFromModel('Raspberry Pi Compute Module 3 Plus Rev 1.0'), 'bcm2837');
    assert.equal(socFromModel('Raspberry Pi Zero 2 W Rev 1.0'), 'bcm2837');
    assert.equal(socFromModel('Raspberry Pi Model B Plus Rev 1.2'), 'bcm2835');
    assert.equal(socFromModel('Radxa ROCK 5B'), undefined);
  });

  it('no device tree: no board', () => {
    assert.deepEqual(readPiBoard(path.join(dir, 'nowhere')), { model: undefined });
  });
});
