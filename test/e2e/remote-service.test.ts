/**
 * The remote page in real headless Chromium against the compiled service (sim motors) and
 * a real mosquitto: what a user sees on the phone and what the car does, observed where
 * any other client would see it, on tele/carbot/STATE and in carbot's log. Also writes
 * the screenshot (test-artifacts/remote.png; CARBOT_UPDATE_SCREENSHOT=1 also refreshes the
 * README's docs/remote.png), so it shows the real car driving.
 */
import { strict as assert } from 'node:assert';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { MqttClient } from 'mqtt';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { CHROMIUM, launchChromium, online, PHONE, shows } from '../support/browser';
import { MOSQUITTO, startMosquitto, type Mosquitto } from '../support/mosquitto';
import { describeWith } from '../support/requirement';
import { closeClient, collect, connectClient, type ReceivedMessage, type Recorder } from '../support/mqtt';
import { freePort } from '../support/ports';
import { REPO_ROOT, spawnCarbot, type CarbotProcess } from '../support/process';


interface Motors {
  left: number;
  right: number;
}

describeWith([MOSQUITTO, CHROMIUM], 'remote page driving the real carbot', function () {
  this.timeout(30000);
  let browser: Browser;
  let broker: Mosquitto;
  let carbot: CarbotProcess;
  let client: MqttClient;
  let state: Recorder;
  let context: BrowserContext | undefined;
  let pageUrl: string;

  /** The next STATE (from `since` on) whose motors and reason are the given ones. */
  const stateWith = (motors: Motors, reason: string, since: number): Promise<ReceivedMessage> =>
    state.waitFor((m) => {
      const s = JSON.parse(m.payload) as { motors: Motors; reason: string };
      return s.motors.left === motors.left && s.motors.right === motors.right && s.reason === reason;
    }, 5000, since);

  async function openPhone(): Promise<Page> {
    context = await browser.newContext(PHONE);
    const page = await context.newPage();
    page.setDefaultTimeout(10000);
    const response = await page.goto(pageUrl);
    assert.equal(response?.status(), 200);
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
    state = await collect(client, 'tele/carbot/STATE');
    const httpPort = await freePort();
    pageUrl = `http://127.0.0.1:${httpPort}/`;
    carbot = spawnCarbot([
      '--gpio', 'sim',
      '--mqtt-url', broker.url,
      '--http-port', String(httpPort),
      '--http-host', '127.0.0.1',
    ]);
    // The page server is up before carbot connects to the broker.
    await carbot.waitForLine(/subscribed to carbot\/move/);
  });

  afterEach(async () => {
    await context?.close();
    context = undefined;
    const { code } = await carbot.kill();
    await closeClient(client);
    await broker.stop();
    assert.equal(code, 0, carbot.output());
  });

  it('drives the sim car from a phone: forward, faster, stop', async () => {
    const page = await openPhone();
    await online(page, true);
    await shows(page, '#motion', 'stopped');
    await shows(page, '#speed', '50 %');

    let since = state.messages.length;
    await page.tap('#forward');
    await stateWith({ left: 0.5, right: 0.5 }, 'command', since);
    await carbot.waitForLine(/forward at 50% \(command\)/);
    await shows(page, '#motion', 'forward');

    since = state.messages.length;
    await page.tap('#faster');
    const faster = await stateWith({ left: 0.6, right: 0.6 }, 'command', since);
    assert.equal((JSON.parse(faster.payload) as { speed: number }).speed, 60);
    await shows(page, '#speed', '60 %');
    assert.equal(await page.locator('#forward').getAttribute('data-active'), 'true');

    // A tap elsewhere, so the picture does not show Faster still pressed.
    await page.tap('h1');
    mkdirSync(path.join(REPO_ROOT, 'test-artifacts'), { recursive: true });
    const png = await page.screenshot({ path: path.join(REPO_ROOT, 'test-artifacts', 'remote.png') });
    // The README's copy changes only when asked, so a test run leaves the work tree clean.
    if (process.env.CARBOT_UPDATE_SCREENSHOT === '1') writeFileSync(path.join(REPO_ROOT, 'docs', 'remote.png'), png);

    since = state.messages.length;
    await page.tap('#stop');
    await stateWith({ left: 0, right: 0 }, 'command', since);
    await carbot.waitForLine(/stopped \(command\)/);
    await shows(page, '#motion', 'stopped');
  });

  it('shows Offline while carbot has lost its broker, stops the car, and recovers when it returns', async () => {
    const page = await openPhone();
    await online(page, true);
    await page.tap('#forward');
    await shows(page, '#motion', 'forward');

    const logFrom = carbot.lines.length;
    await broker.kill();
    await online(page, false);
    await shows(page, '#status-detail', 'carbot is up but has lost its MQTT broker; buttons still work.');
    await shows(page, '#motion', 'stopped');
    await shows(page, '#reason', 'by disconnect');
    await carbot.waitForLine(/stopped \(disconnect\)/, 5000, logFrom);

    // The broker forgot the retained STATE with it; carbot republishes when it is back.
    const since = state.messages.length;
    await broker.restart();
    await online(page, true);
    await shows(page, '#status-detail', 'Connected to carbot.');
    await stateWith({ left: 0, right: 0 }, 'disconnect', since);

    await page.tap('#forward');
    await stateWith({ left: 0.5, right: 0.5 }, 'command', since);
    await shows(page, '#motion', 'forward');
  });
});
