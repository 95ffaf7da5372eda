import { existsSync } from 'node:fs';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';

/** Debian's Chromium; .ci/run installs it. */
export const CHROMIUM = '/usr/bin/chromium';

export const PHONE: BrowserContextOptions = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
};
export const DESKTOP: BrowserContextOptions = { viewport: { width: 1280, height: 800 } };

/** Headless, and quiet on a machine with no network beyond loopback. */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: apt-get install chromium`);
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** Waits until the element shows exactly `text`. */
export async function shows(page: Page, selector: string, text: string): Promise<void> {
  const escaped = text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  await page.locator(selector, { hasText: new RegExp(`^${escaped}$`) }).waitFor();
}

/** Waits until the page's badge says Online or Offline. */
export async function online(page: Page, expected: boolean): Promise<void> {
  await page.locator(`#status[data-online="${expected}"]`).waitFor();
  await shows(page, '#status-text', expected ? 'Online' : 'Offline');
}
