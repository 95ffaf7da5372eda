/**
 * The remote page's track view in real headless Chromium against the compiled service with a
 * simulated track and a real mosquitto: a tap on a stop's button takes the simulated car
 * there, as MQTT (ARRIVED, STATE's simPosition) and the page itself show. Also writes a
 * screenshot (test-artifacts/track.png; CARBOT_UPDATE_SCREENSHOT=1 also refreshes
 * docs/track.png).
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { MqttClient } from 'mqtt';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium, online, PHONE, shows } from '../support/browser';
import { describeMosquitto, startMosquitto, type Mosquitto } from '../support/mosquitto';
import { closeClient, collect, connectClient, type ReceivedMessage, type Recorder } from '../support/mqtt';
import { freePort } from '../support/ports';
import { REPO_ROOT, spawnCarbot, type CarbotProcess } from '../support/process';

import { FAKE_CAMERA, SMALL_TRACK_ARGS, SMALL_TRACK_STOPS as STOPS } from '../support/small-track';
const parse = (m: ReceivedMessage) => JSON.parse(m.payload) as Record<string, unknown>;
const idle = (s: Record<string, unknown>) => s.task === undefined && s.motion === 'stopped';

describeMosquitto('the track view of the remote page', function () {
  this.timeout(60_000);
  let browser: Browser;
  let broker: Mosquitto;
  let carbot: CarbotProcess;
  let client: MqttClient;
  let states: Recorder;
  let arrivals: Recorder;
  let photos: Recorder;
  let pictures: string;
  let context: BrowserContext | undefined;
  let pageUrl: string;

  async function openPhone(): Promise<Page> {
    context = await browser.newContext(PHONE);
    const page = await context.newPage();
    page.setDefaultTimeout(20_000);
    assert.equal((await page.goto(pageUrl))?.status(), 200);
    return page;
  }

  before(async () => {
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
  });

  beforeEach(async () => {
    broker = await startMosquitto();
    client = await connectClient(broker.url);
    states = await collect(client, 'tele/carbot/STATE');
    arrivals = await collect(client, 'stat/carbot/ARRIVED');
    photos = await collect(client, 'stat/carbot/PHOTO');
    pictures = mkdtempSync(path.join(tmpdir(), 'carbot-pictures-'));
    const httpPort = await freePort();
    pageUrl = `http://127.0.0.1:${httpPort}/`;
    carbot = spawnCarbot([
      ...SMALL_TRACK_ARGS,
      '--mqtt-url', broker.url,
      '--http-port', String(httpPort),
      '--http-host', '127.0.0.1',
      // A picture at every stop: the page shows the latest of each.
      '--camera-command', JSON.stringify([process.execPath, FAKE_CAMERA, '{file}']),
      '--camera-dir', pictures,
      // What the page's Calibrate learns is kept there.
      '--state-dir', path.join(pictures, 'state'),
    ]);
    await carbot.waitForLine(/subscribed to carbot\/move/);
  });

  afterEach(async () => {
    await context?.close();
    context = undefined;
    const { code } = await carbot.kill();
    await closeClient(client);
    await broker.stop();
    rmSync(pictures, { recursive: true, force: true });
    assert.equal(code, 0, carbot.output());
  });

  it('shows the track and its stops; home, then a tap on a stop takes the simulated car there', async () => {
    const page = await openPhone();
    await online(page, true);
    await page.locator('#track').waitFor();
    assert.deepEqual(await page.locator('#track-stops button').allTextContents(), ['basil', 'thyme', 'sage']);
    await shows(page, '#position', 'not homed');

    let from = states.messages.length;
    await page.tap('#home');
    await states.waitFor((m) => parse(m).homed === true && idle(parse(m)), 20_000, from);
    await shows(page, '#position', '0.00 m');

    // Calibrating is a setup step, done once: the page's Calibrate button (or `carbot send calibrate`).
    from = states.messages.length;
    await page.getByRole('button', { name: 'Calibrate' }).tap();
    await states.waitFor((m) => parse(m).task === 'calibrate', 5000, from);
    await states.waitFor((m) => (parse(m).track as { calibrated: boolean }).calibrated && idle(parse(m)), 40_000, from);
    await carbot.waitForLine(/calibrated: forward 50% /);
    await carbot.waitForLine(/calibration kept in .*track\.json for the next start/);
    const kept = JSON.parse(readFileSync(path.join(pictures, 'state', 'track.json'), 'utf8')) as { curve: Record<string, { duty: number }[]> };
    assert.deepEqual(kept.curve.forward.map((p) => p.duty), [0.5, 1]);

    from = states.messages.length;
    const fromArrival = arrivals.messages.length;
    await page.getByRole('button', { name: 'Go to thyme' }).tap();
    const arrived = parse(await arrivals.waitFor(() => true, 20_000, fromArrival));
    assert.equal(arrived.stop, 'thyme');
    const there = parse(await states.waitFor((m) => idle(parse(m)) && parse(m).reason === 'arrived', 5000, from));
    assert.ok(Math.abs((there.simPosition as number) - STOPS.thyme) < 0.015, `the simulated car is at ${String(there.simPosition)} m`);
    // carbot's estimate, to the centimetre: the goto ends within its tolerance of the stop.
    await page.waitForFunction(
      `(() => {
        const m = /^(\\d+\\.\\d\\d) m$/.exec(document.querySelector('#position')?.textContent ?? '');
        return m !== null && Math.abs(Number(m[1]) - ${STOPS.thyme}) <= 0.011;
      })()`,
      undefined,
      { timeout: 20_000 },
    );
    await page.tap('h1');
    mkdirSync(path.join(REPO_ROOT, 'test-artifacts'), { recursive: true });
    const png = await page.screenshot({ path: path.join(REPO_ROOT, 'test-artifacts', 'track.png') });
    if (process.env.CARBOT_UPDATE_SCREENSHOT === '1') writeFileSync(path.join(REPO_ROOT, 'docs', 'track.png'), png);

    // Patrol from the page: an ARRIVED at every stop, then home.
    from = states.messages.length;
    const fromPatrol = arrivals.messages.length;
    await page.tap('#patrol');
    await states.waitFor((m) => parse(m).task === 'patrol', 5000, from);
    await states.waitFor((m) => idle(parse(m)) && parse(m).position === 0, 30_000, from);
    assert.deepEqual(arrivals.messages.slice(fromPatrol).map((m) => parse(m).stop), ['basil', 'thyme', 'sage']);
    await shows(page, '#position', '0.00 m');

    // The latest picture of each stop, the patrol's (thyme's from the goto before it replaced).
    const latest = Object.fromEntries(photos.messages.map(parse).map((p) => [p.stop, path.basename(p.file as string)]));
    assert.equal(photos.messages.length, 4, 'a picture at thyme (the goto), then one at each stop of the patrol');
    // A string, evaluated in the page (the tests are compiled without the DOM's types).
    await page.waitForFunction(
      `(() => {
        const names = ${JSON.stringify(latest)};
        const figures = [...document.querySelectorAll('#photos figure')];
        return figures.length === 3 && figures.every((f) => {
          const img = f.querySelector('img');
          return img.complete && img.naturalWidth === 160 && img.src.endsWith('/' + f.dataset.stop + '/' + names[f.dataset.stop]);
        });
      })()`,
      undefined,
      { timeout: 10_000 },
    );
    assert.deepEqual(await page.locator('#photos figure img').evaluateAll((imgs) => imgs.map((i) => (i as { getAttribute(name: string): string | null }).getAttribute('alt'))), [
      'Latest picture at basil',
      'Latest picture at sage',
      'Latest picture at thyme',
    ]);
  });
});
