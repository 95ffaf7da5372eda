import { strict as assert } from 'node:assert';
import { FakeHost, stockConfigTxt } from '../fakes/host';
import { FakeSysfs } from '../fakes/sysfs';
import { describeMosquitto, startMosquitto, type Mosquitto } from '../support/mosquitto';
import { freePort } from '../support/ports';
import { requireRoot } from '../support/privilege';
import { CLI_PATH, spawnProcess } from '../support/process';

const RP1 = '1f00098000.pwm';

/**
 * `carbot doctor` and `carbot jog` as the compiled CLI runs them, on a fake Raspberry Pi 5
 * (CARBOT_SYSTEM_ROOT and CARBOT_SYSFS_ROOT point at the fakes): the exit codes, the lines,
 * and, for jog, what the kernel's PWM was given, as the unprivileged user carbot.service runs as.
 */
describeMosquitto('carbot doctor and carbot jog (compiled CLI, fake Pi 5)', () => {
  let sysfs: FakeSysfs | undefined;
  let host: FakeHost | undefined;
  let broker: Mosquitto | undefined;
  afterEach(async () => {
    sysfs?.close();
    host?.close();
    await broker?.stop();
    sysfs = host = broker = undefined;
  });

  function pi5(): { s: FakeSysfs; h: FakeHost } {
    sysfs = new FakeSysfs('pi5');
    host = new FakeHost(sysfs).osRelease('trixie').configTxt(stockConfigTxt('dtoverlay=pwm-2chan,pin=12,func=4,pin2=13,func2=4'));
    host.carbotUser().installUnit('carbot.service');
    return { s: sysfs, h: host };
  }

  it('doctor exits 0 when nothing is to fix, 1 with the broker down', async () => {
    const { h } = pi5();
    broker = await startMosquitto();
    const ok = spawnProcess(process.execPath, [CLI_PATH, 'doctor', '--no-config', '--mqtt-url', broker.url], h.env);
    assert.equal((await ok.exited).code, 0, ok.output());
    assert.deepEqual(ok.stdout.filter((l) => /^✗/.test(l)), []);
    assert.ok(ok.stdout.includes('✓ kernel PWM: GPIO 12 = pwmchip2 channel 0, GPIO 13 = pwmchip2 channel 1'), ok.output());
    assert.equal(ok.stdout.at(-1), 'carbot doctor: nothing to fix');

    const port = await freePort();
    const down = spawnProcess(process.execPath, [CLI_PATH, 'doctor', '--no-config', '--mqtt-url', `mqtt://127.0.0.1:${port}`], h.env);
    assert.equal((await down.exited).code, 1, down.output());
    assert.equal(down.stdout.at(-1), 'carbot doctor: 1 thing to fix (✗ above)');
  });

  it('jog drives the motor forward at 20 %, then stops it (as nobody in the gpio group); doctor --jog is the same', async function () {
    this.timeout(30_000);
    requireRoot(this, 'the compiled CLI as nobody on the kernel board');
    const { s, h } = pi5();
    for (const args of [['jog', 'left'], ['doctor', '--jog', 'left']]) {
      s.takeWrites();
      const jog = spawnProcess(process.execPath, ['--require', FakeSysfs.preload, CLI_PATH, ...args, '--no-config'], h.env, s.user);
      assert.equal((await jog.exited).code, 0, jog.output());
      assert.ok(jog.stdout.includes('jog: left forward at 20 % for 1 s: PWM 20 % on GPIO 12, in1 GPIO 5 high, in2 GPIO 6 low (kernel)'), jog.output());
      assert.ok(jog.stdout.includes('jog: left stopped'), jog.output());
      const duties = s.writes().filter((w) => /pwmchip2\/pwm0\/duty_cycle/.test(w)).map((w) => w.split(' ').slice(1).join(' '));
      assert.deepEqual(duties.filter((d) => d !== '0 ok'), ['200000 ok'], duties.join('\n'));
      assert.equal(duties.at(-1), '0 ok');
      assert.deepEqual([s.channel(RP1, 0).exported, s.channel(RP1, 0).output], [false, 'low']);
      assert.deepEqual([5, 6].map((p) => s.pin(p)?.level), [0, 0]);
      assert.equal(s.channel(RP1, 1).exported, false);
    }
  });

  it('jog refuses while carbot runs here (75) and names the motors for an unknown one (64), touching no pin', async () => {
    const { s, h } = pi5();
    const unknown = spawnProcess(process.execPath, [CLI_PATH, 'jog', 'front', '--no-config'], h.env);
    assert.equal((await unknown.exited).code, 64, unknown.output());
    assert.deepEqual(unknown.stderr, ['carbot: jog: no motor named "front"; the motors are: left, right (e.g. carbot jog left)']);

    h.process(977, 'node', ['/usr/bin/node', '/opt/carbot/dist/cli.js']);
    const refused = spawnProcess(process.execPath, [CLI_PATH, 'jog', 'left', '--no-config'], h.env);
    assert.equal((await refused.exited).code, 75, refused.output());
    assert.match(refused.output(), /carbot: jog: carbot is running \(pid 977: \/usr\/bin\/node \/opt\/carbot\/dist\/cli\.js\) and holds the motors' outputs; stop it first/);
    assert.deepEqual(s.writes(), []);
  });
});
