import { strict as assert } from 'node:assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeOnExit } from '../support/cleanup';
import { closeClient, collect, connectClient } from '../support/mqtt';
import { freePort } from '../support/ports';
import { spawnProcess, CLI_PATH, REPO_ROOT } from '../support/process';
import { busWithChips, FileStore, reportChip, writeStateFile } from '../fakes/i2c-bus';
import { ServoKitModel } from '../support/servokit';

/**
 * The death carbot cannot see. The compiled service drives the original carbot.py car (two
 * continuous servos on a PCA9685 servo HAT, faked at the i2c-bus module with the chip's state
 * in a file), is killed with SIGKILL while driving — the PCA9685 goes on generating the pulses
 * on its own, so the car keeps going — and then `carbot safe-state` runs as the unit's
 * ExecStopPost= would: same configuration, exit 0, every channel off, the chip asleep.
 */
describe('safe state after SIGKILL (ExecStopPost=carbot safe-state)', () => {
  const preload = join(REPO_ROOT, 'test', 'fakes', 'i2c-bus-preload.js');
  let removeDir: () => void = () => undefined;
  afterEach(() => removeDir());

  it('a servo-HAT car killed while driving forward is stopped by safe-state', async function () {
    this.timeout(60_000);
    const dir = mkdtempSync(join(tmpdir(), 'carbot-kill-'));
    removeDir = removeOnExit(dir);
    const stateFile = writeStateFile(dir, { buses: { '1': busWithChips(0x40) } });
    const channels = () => reportChip(new FileStore(stateFile).load().buses['1'].chips['64']).channels.slice(0, 2);
    const port = await freePort();
    const env = { CARBOT_FAKE_I2C_STATE: stateFile, CARBOT_HTTP_PORT: '0', CARBOT_MOTORS: 'adafruit-servo-hat', CARBOT_GPIO: 'auto' };
    const car = spawnProcess(
      process.execPath,
      ['--require', preload, CLI_PATH, '--embedded-broker-enabled', '--embedded-broker-port', String(port), '--embedded-broker-ws-port', '0', '--mqtt-url', `mqtt://127.0.0.1:${port}`],
      env,
    );
    await car.waitForLine(/subscribed to carbot\/move/, 30_000);
    assert.match(car.output(), /boards: pca9685: PCA9685 at 0x40 on \/dev\/i2c-1/);
    // At rest the servos hold ServoKit's neutral count (307 of 4096 at PRE_SCALE 122).
    const kit = new ServoKitModel();
    const servoKit = (...throttles: number[]) => throttles.map((t, ch) => (kit.throttle(ch, t), kit.channels.get(ch)?.off));
    assert.deepEqual(channels().map((c) => c.off), servoKit(0, 0), JSON.stringify(channels()));

    const client = await connectClient(`mqtt://127.0.0.1:${port}`);
    const states = await collect(client, 'tele/carbot/STATE');
    await client.publishAsync('carbot/move', 'forward', { qos: 1 });
    await states.waitFor((m) => JSON.parse(m.payload).motion === 'forward');
    // ServoKit's throttle 0.5; the left servo is mounted mirrored.
    const driving = channels().map((c) => c.pulseUs);
    assert.deepEqual(channels().map((c) => c.off), servoKit(-0.5, 0.5), `pulses ${driving.join(', ')}`);
    await closeClient(client);

    assert.equal((await car.kill('SIGKILL')).signal, 'SIGKILL');
    assert.deepEqual(
      channels().map((c) => Math.round(c.pulseUs)),
      driving.map(Math.round),
      'nobody stopped the chip: the car is still driving',
    );

    const safe = spawnProcess(process.execPath, ['--require', preload, CLI_PATH, 'safe-state'], env);
    assert.equal((await safe.exited).code, 0, safe.output());
    assert.match(safe.output(), /safe state: 2 of 2 motors stopped and released \(pca9685\)/);
    const chip = reportChip(new FileStore(stateFile).load().buses['1'].chips['64']);
    assert.ok(chip.channels.every((c) => c.output === 'low'), JSON.stringify(chip.channels));
    assert.equal(chip.awake, false);
  });

  it('safe-state exits 0 when the HAT is not there at all, and says so', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'carbot-kill-'));
    removeDir = removeOnExit(dir);
    const stateFile = writeStateFile(dir, { buses: { '1': busWithChips() } });
    const safe = spawnProcess(process.execPath, ['--require', preload, CLI_PATH, 'safe-state'], {
      CARBOT_FAKE_I2C_STATE: stateFile,
      CARBOT_MOTORS: 'adafruit-servo-hat',
    });
    assert.equal((await safe.exited).code, 0, safe.output());
    assert.match(safe.output(), /no PCA9685 answers at 0x40|nothing answers/i);
    assert.match(safe.output(), /safe state: 0 of 2 motors stopped and released/);
  });
});
