/**
 * The remote page's own behaviour in real headless Chromium, against the remote server and
 * a fake CarView: taps, keyboard shortcuts, the stop queued while carbot is unreachable,
 * token and basic auth. The fake lets a test play the car's side (a limit stop, the broker
 * going away) directly; remote-service.test.ts drives the real service and takes the
 * README screenshot.
 */
import { strict as assert } from 'node:assert';
import type { Browser, BrowserContext, BrowserContextOptions, Page } from 'playwright-core';
import { startRemoteServer, type RemoteAuth, type RemoteServer } from '../../src/http/remote-server';
import { FakeCarView } from '../fakes/car-view';
import { memoryLogger } from '../fakes/hardware';
import { describeBrowser, DESKTOP, launchChromium, online, PHONE, shows } from '../support/browser';
import { waitUntil } from '../support/wait';

describeBrowser('remote page in Chromium', function () {
  this.timeout(30000);
  let browser: Browser;
  let car: FakeCarView;
  let server: RemoteServer | undefined;
  let context: BrowserContext | undefined;
  const memory = memoryLogger();

  async function startCar(port = 0, auth?: RemoteAuth): Promise<RemoteServer> {
    server = await startRemoteServer({ host: '127.0.0.1', port, car, log: memory.log, auth });
    return server;
  }

  async function open(options: BrowserContextOptions, query = ''): Promise<Page> {
    context = await browser.newContext(options);
    const page = await context.newPage();
    page.setDefaultTimeout(10000);
    await page.goto(`${server!.url}${query}`);
    return page;
  }

  before(async function () {
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
  });

  beforeEach(() => {
    car = new FakeCarView();
  });

  afterEach(async () => {
    await context?.close();
    context = undefined;
    await server?.close();
    server = undefined;
  });

  it('drives the car with taps on a phone and shows what it does', async () => {
    await startCar();
    const page = await open(PHONE);
    await online(page, true);
    await shows(page, '#motion', 'stopped');
    await shows(page, '#speed', '50 %');

    await page.tap('#forward');
    await waitUntil(() => car.commandWords().includes('forward'), () => 'forward reached the car', 10_000);
    await shows(page, '#motion', 'forward');
    await page.tap('#faster');
    await shows(page, '#speed', '60 %');
    assert.equal(await page.locator('#forward').getAttribute('data-active'), 'true');

    await page.tap('#stop');
    await shows(page, '#motion', 'stopped');
    assert.deepEqual(car.commandWords(), ['forward', 'faster', 'stop']);
    assert.ok(car.commands.every((c) => c.source === 'remote 127.0.0.1'));
  });

  it('shows Connecting from loading until carbot first reports, never a lost broker or Offline', async () => {
    await startCar();
    context = await browser.newContext(PHONE);
    const page = await context.newPage();
    page.setDefaultTimeout(10000);
    // Every badge and detail text the page ever shows, from its first render on.
    // (A string: this project compiles without the DOM's types.)
    await page.addInitScript({
      content: `
        window.shown = [];
        document.addEventListener('DOMContentLoaded', () => {
          const record = () => window.shown.push(
            document.getElementById('status-text').textContent + ' | ' + document.getElementById('status-detail').textContent);
          record();
          new MutationObserver(record).observe(document.body, { subtree: true, childList: true, characterData: true });
        });`,
    });
    // carbot's messages are held back until the test lets them through, so the page sits
    // connected but told nothing yet, as on a slow network.
    let release = (): void => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    await page.routeWebSocket(/\/ws/, (ws) => {
      const carbot = ws.connectToServer();
      carbot.onMessage(async (message) => {
        await held;
        ws.send(message);
      });
      ws.onMessage((message) => carbot.send(message));
    });
    await page.goto(server!.url);
    await shows(page, '#status-detail', 'Connected, waiting for the car’s state…');
    await shows(page, '#status-text', 'Connecting');
    assert.equal(await page.locator('#status').getAttribute('data-online'), 'false');

    release();
    await online(page, true);
    await shows(page, '#status-detail', 'Connected to carbot.');
    const shown = (await page.evaluate('window.shown')) as string[];
    assert.ok(shown.length > 2, JSON.stringify(shown));
    assert.deepEqual(shown.filter((text) => /Offline|lost its MQTT broker|reconnecting/.test(text)), [], JSON.stringify(shown));
  });

  it('shows state changes and broker outages the car reports', async () => {
    await startCar();
    const page = await open(PHONE);
    await online(page, true);
    car.update({ motion: 'forward', speed: 80, reason: 'command' });
    await shows(page, '#motion', 'forward');
    await shows(page, '#speed', '80 %');
    car.update({ motion: 'stopped', reason: 'limit' });
    await shows(page, '#reason', 'by limit');

    car.setBrokerOnline(false);
    await online(page, false);
    await shows(page, '#status-detail', 'carbot is up but has lost its MQTT broker; buttons still work.');
    // The page's own link is up, so a stop still gets through.
    await page.tap('#stop');
    await waitUntil(() => car.commandWords().includes('stop'), () => 'stop reached the car', 10_000);
    car.setBrokerOnline(true);
    await online(page, true);
  });

  it('takes keyboard shortcuts, and Space stops even with another button focused', async () => {
    await startCar();
    const page = await open(DESKTOP);
    await online(page, true);
    await page.keyboard.press('ArrowUp');
    await page.keyboard.press('ArrowRight');
    await page.keyboard.press('=');
    await page.keyboard.press('+');
    await page.keyboard.press('ArrowLeft');
    await page.keyboard.press('-');
    await page.focus('#forward');
    await page.keyboard.press('Space');
    await page.keyboard.press('ArrowDown');
    await waitUntil(() => car.commandWords().includes('backward'), () => 'backward reached the car', 10_000);
    assert.deepEqual(car.commandWords(), [
      'forward',
      'faster',
      'faster',
      'faster',
      'slower',
      'slower',
      'stop',
      'backward',
    ]);
    // Enter still activates the focused button, as it would for any button.
    await page.focus('#faster');
    await page.keyboard.press('Enter');
    await waitUntil(() => car.commandWords().length === 9, () => 'faster reached the car', 10_000);
    assert.equal(car.commandWords()[8], 'faster');
  });

  it('shows Offline when carbot goes away, never replays a drive command, sends a queued stop on return', async () => {
    const { port } = await startCar();
    const page = await open(PHONE);
    await online(page, true);

    await server!.close();
    server = undefined;
    await online(page, false);
    await shows(page, '#status-detail', 'No connection to carbot, reconnecting…');
    assert.equal(await page.locator('#forward').getAttribute('aria-disabled'), 'true');

    // Greyed out, but a finger still lands on it (Playwright would wait for it to be enabled).
    await page.tap('#forward', { force: true });
    await shows(page, '#message', 'Not connected: forward was not sent.');
    await page.tap('#stop');
    await shows(page, '#message', 'Not connected: stop will be sent the moment the page reconnects.');

    await startCar(port);
    await online(page, true);
    await waitUntil(() => car.commandWords().length > 0, () => 'the queued stop reached the car', 10_000);
    assert.deepEqual(car.commandWords(), ['stop']);
    await page.tap('#backward');
    await shows(page, '#motion', 'backward');
    assert.deepEqual(car.commandWords(), ['stop', 'backward']);
  });

  it('with a token: opening the link once is enough, the cookie carries it afterwards', async () => {
    await startCar(0, { token: 'grow-bed-7' });
    const page = await open(PHONE, '?token=grow-bed-7');
    await online(page, true);
    // The token leaves the address bar and the history; the cookie holds a derived value.
    assert.equal(page.url(), server!.url);
    assert.ok(!String(await page.evaluate('location.href')).includes('grow-bed-7'));
    const cookies = await page.context().cookies();
    assert.equal(cookies.length, 1);
    assert.notEqual(cookies[0].value, 'grow-bed-7');
    await page.goto(server!.url);
    await online(page, true);
    await page.tap('#forward');
    await waitUntil(() => car.commandWords().includes('forward'), () => 'forward reached the car', 10_000);

    const stranger = await context!.browser()!.newContext(PHONE);
    const response = await (await stranger.newPage()).goto(server!.url);
    assert.equal(response?.status(), 401);
    await stranger.close();
  });

  it('with basic auth: the browser’s credentials open the page and the websocket', async () => {
    await startCar(0, { username: 'pi', password: 'grow bed' });
    const page = await open({ ...PHONE, httpCredentials: { username: 'pi', password: 'grow bed' } });
    await online(page, true);
    await page.tap('#stop');
    await waitUntil(() => car.commandWords().includes('stop'), () => 'stop reached the car', 10_000);
  });
});
