import { strict as assert } from 'node:assert';
import { Admission, MAX_PAYLOAD_BYTES, type Parse } from '../../src/admission/admission';
import { CommandBudget } from '../../src/admission/budget';
import { parseCommand } from '../../src/core/commands';
import { loadConfig } from '../../src/config/config';
import { openSimBoard, type SimMotors } from '../../src/boards/sim';
import { CarService } from '../../src/service';
import { memoryLogger } from '../support/carbot';

/** parseCommand, counting its calls: the seam that shows a payload is read once. */
function countingParse(): { parse: Parse; calls: () => number } {
  let calls = 0;
  return {
    parse: (payload) => {
      calls++;
      return parseCommand(payload);
    },
    calls: () => calls,
  };
}

/** A log that keeps its lines. */
function lines(): { log: { warn(m: string): void; info(m: string): void }; said: string[] } {
  const said: string[] = [];
  return { log: { warn: (m) => said.push(`warn ${m}`), info: (m) => said.push(`info ${m}`) }, said };
}

/** A budget that is used up (on a clock that stands still): the next take is over it. */
function spentBudget(perSecond: number): CommandBudget {
  const budget = new CommandBudget(perSecond, () => 0);
  while (budget.take() === 'ok');
  return budget;
}

describe('admission (src/admission/admission.ts)', () => {
  it('over the budget lets a stop through and refuses the rest, the first refusal told apart', () => {
    const { log } = lines();
    const admission = new Admission(log, 2);
    const budget = new CommandBudget(2, () => 0);
    const verdicts = ['forward', 'faster', 'faster', 'stop', 'faster', '{"move":"stop","speed":40}', 'S'].map((p) => admission.take(budget, admission.admitted(p)));
    // 2 a second holds 4 at once; then only stops.
    assert.deepEqual(verdicts, ['ok', 'ok', 'ok', 'ok', 'first', 'ok', 'ok']);
    assert.equal(admission.take(budget, admission.admitted('backward')), 'over');
  });

  it('refuses MQTT and the page over their budgets with the same answer and the same line, once per source and window', () => {
    const { log, said } = lines();
    const mqtt = new Admission(log, 50);
    const page = new Admission(log, 50);
    assert.deepEqual(mqtt.tooMany(), { error: 'too many commands', limit: 50 });
    assert.deepEqual(page.tooMany(), mqtt.tooMany());
    for (let i = 0; i < 3; i++) {
      mqtt.overBudget('mqtt');
      page.overBudget('remote 10.0.0.7', '10.0.0.7', 'remote: ');
    }
    assert.deepEqual(said, [
      'warn rejected commands from mqtt: more than 50 a second (commandsPerSecond); only stop is obeyed until they slow down',
      'warn remote: rejected commands from 10.0.0.7: more than 50 a second (commandsPerSecond); only stop is obeyed until they slow down',
    ]);
    mqtt.close();
    page.close();
    assert.deepEqual(said.slice(2), ['warn 2 more rejected from mqtt in the last 10 s', 'warn 2 more rejected from remote 10.0.0.7 in the last 10 s']);
  });

  it('parses a payload once: the stop check over the budget and the car share the parse', () => {
    const counting = countingParse();
    const { log } = lines();
    const admission = new Admission(log, 1, counting.parse);
    const stop = admission.admitted(Buffer.from('stop'));
    assert.equal(admission.take(spentBudget(1), stop), 'ok');
    assert.equal(counting.calls(), 1);
    const car = newCar();
    try {
      car.service.obey(admission.admitted(Buffer.from('forward')), 'test');
      assert.equal(counting.calls(), 2);
      const answer = car.service.obey(stop, 'test');
      assert.deepEqual(answer, { move: 'stop', motion: 'stopped', speed: 50 });
      // The car read the stop's parse the budget's check had made: no third parse.
      assert.equal(counting.calls(), 2);
    } finally {
      void car.service.shutdown('test over');
    }
  });

  it('within the budget a payload is not read until the car reads it; refused over the budget, a known non-stop is not read again', () => {
    const counting = countingParse();
    const { log } = lines();
    const admission = new Admission(log, 1, counting.parse);
    const budget = new CommandBudget(1, () => 0);
    assert.equal(admission.take(budget, admission.admitted(Buffer.from('faster'))), 'ok');
    assert.equal(counting.calls(), 0);
    budget.take();
    // A flood of the same message: read once, then known by its bytes (a page's, by its text).
    for (let i = 0; i < 100; i++) assert.notEqual(admission.take(budget, admission.admitted(Buffer.from('faster'))), 'ok');
    assert.equal(counting.calls(), 1);
    for (let i = 0; i < 100; i++) assert.notEqual(admission.take(budget, admission.admitted('slower')), 'ok');
    assert.equal(counting.calls(), 2);
    // Binary frames over the budget are refused unread.
    assert.notEqual(admission.take(budget, admission.admitted(Buffer.from('stop')), true), 'ok');
    assert.equal(counting.calls(), 2);
  });

  it("hands the car the flood shedder's parse when mqtt.js delivers the same bytes", () => {
    const counting = countingParse();
    const { log } = lines();
    const admission = new Admission(log, 1, counting.parse);
    const chunk = Buffer.from('....stop....');
    // Below mqtt.js's parser: the payload is a slice of the socket's chunk.
    const shed = admission.admitted(chunk.subarray(4, 8));
    assert.equal(admission.take(spentBudget(1), shed), 'ok');
    admission.keep(shed);
    chunk.fill(0);
    const delivered = admission.admitted(Buffer.from('stop'));
    assert.deepEqual(delivered.parsed, { ok: true, command: { move: 'stop' } });
    assert.equal(counting.calls(), 1);
    // Used once: the next message of the same bytes is read on its own.
    assert.equal(admission.admitted(Buffer.from('stop')).parsed.ok, true);
    assert.equal(counting.calls(), 2);
  });

  it('refuses a payload over the size limit with a clear message, and nothing changes', () => {
    const { log } = lines();
    const admission = new Admission(log, 50);
    assert.equal(MAX_PAYLOAD_BYTES, 256);
    assert.equal(admission.tooLarge(256), false);
    assert.equal(admission.tooLarge(257), true);
    const car = newCar();
    try {
      const before = car.service.state();
      const answer = car.service.obey(admission.admitted(`forward${' '.repeat(300)}`), 'test');
      assert.deepEqual(answer, { error: 'payload too large', bytes: 307, limit: 256 });
      const after = car.service.state();
      assert.deepEqual([after.motion, after.speed, after.motors], [before.motion, before.speed, before.motors]);
      assert.deepEqual(car.motors.names.map((n) => car.motors.outputs[n]), [0, 0]);
    } finally {
      void car.service.shutdown('test over');
    }
    return car.waitForLog(/rejected command from test: payload too large \(bytes 307, limit 256\)/);
  });
});

/** A car with simulated motors, no broker: commands take the path the page's do. */
function newCar(): { service: CarService; motors: SimMotors; waitForLog: (p: RegExp) => Promise<void> } {
  const config = loadConfig({ argv: ['--gpio', 'sim', '--mqtt-url', 'mqtt://127.0.0.1:1', '--tele-period', '0'], env: {}, exists: () => false });
  const { log, lines: logged } = memoryLogger();
  const motors = openSimBoard({ motors: config.motors.map((m) => m.name) }, log).motors;
  const service = new CarService({ config, log, motors });
  const waitForLog = async (pattern: RegExp) => {
    for (let i = 0; i < 50 && !logged.some((l) => pattern.test(l)); i++) await new Promise((r) => setTimeout(r, 20));
    assert.ok(logged.some((l) => pattern.test(l)), logged.join('\n'));
  };
  return { service, motors, waitForLog };
}
