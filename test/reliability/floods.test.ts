/**
 * The bench's flood scenarios (bench/flood.ts), shorter: a hostile page socket, MQTT publisher
 * and non-reading socket against the compiled service as installed, while another client
 * keeps driving and stopping the car. Asserted with wide margins, never tight timings
 * (`npm run bench` has the figures): every stop gets through, carbot's memory and log stay
 * bounded, its watchdog keeps being pinged.
 */
import { strict as assert } from 'node:assert';
import { FLOOD_SCENARIOS, runFlood } from '../../bench/flood';
import { describeMosquitto, startMosquitto, type Mosquitto } from '../support/mosquitto';

const SECONDS = 3;

describeMosquitto('floods against the compiled service', function () {
  this.timeout(60_000);
  let broker: Mosquitto;
  before(async () => {
    broker = await startMosquitto();
  });
  after(() => broker.stop());

  // The CPU-capped one has a test of its own (capped-flood.test.ts).
  for (const scenario of FLOOD_SCENARIOS.filter((s) => s !== 'mqtt-capped')) {
    it(`${scenario}: every stop from another client gets through; memory, log and watchdog hold`, async () => {
      const r = await runFlood(scenario, broker.url, SECONDS, () => undefined);
      const summary = JSON.stringify({ ...r, stopMs: undefined });
      assert.ok(r.sent / r.seconds > 1000, `the flooder flooded: ${summary}`);
      assert.ok(r.stopMs.page.length > 0 && r.stopMs.mqtt.length > 0, `stops were measured on both channels: ${summary}`);
      assert.equal(r.lostStops, 0, `no stop lost: ${summary}`);
      // Generous: it starts near 60 MB; before the fix a non-reading page took it past 1.5 GB.
      assert.ok(r.rssMaxMB < 300, `RSS ${r.rssMaxMB} MB: ${summary}`);
      // The budget lets 50 commands a second through and the other client logs ~8 lines a second;
      // before the fix a garbage flood logged tens of thousands a second.
      assert.ok(r.lines < 150 * r.seconds, `${r.lines} lines in ${r.seconds} s: ${summary}`);
      assert.ok(r.pings > 0 && r.watchdogGapMs < 10_000, `watchdog pinged within WatchdogSec: ${summary}`);
      // Before the fix a flood held the loop for seconds at a time (5.1 s over MQTT, 10 s from a page).
      assert.ok(r.longestStallMs < 2000, `longest stall ${r.longestStallMs} ms: ${summary}`);
    });
  }
});
