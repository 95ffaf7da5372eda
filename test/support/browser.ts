import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { describeWith, findProgram, type Requirement } from './requirement';

export const CHROMIUM_MISSING =
  '!!! chromium not installed: the browser suite is NOT running (apt-get install chromium)';

let binary: string | null | undefined;

/**
 * Debian's Chromium (.ci/run installs it). CARBOT_TEST_CHROMIUM_BIN chooses another binary;
 * a path that is not executable makes Chromium count as missing.
 */
export function chromiumPath(): string | null {
  if (binary === undefined) binary = findProgram('chromium', 'CARBOT_TEST_CHROMIUM_BIN', ['/usr/bin']);
  return binary;
}

export const CHROMIUM: Requirement = {
  what: 'chromium',
  missing: CHROMIUM_MISSING,
  switchVariable: 'CARBOT_TEST_BROWSER',
  available: () => chromiumPath() !== null,
};

/**
 * `describe` for suites that drive Chromium: left out loudly where it is not installed,
 * a failure with CARBOT_TEST_BROWSER=required (see describeWith).
 */
export function describeBrowser(title: string, fn: (this: Mocha.Suite) => void): void {
  describeWith(CHROMIUM, title, fn);
}

export const PHONE: BrowserContextOptions = {
  viewport: { width: 390, height: 844 },
  deviceScaleFactor: 2,
  isMobile: true,
  hasTouch: true,
};
export const DESKTOP: BrowserContextOptions = { viewport: { width: 1280, height: 800 } };

/** Headless, and quiet on a machine with no network beyond loopback. */
export async function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (executablePath === null) throw new Error(CHROMIUM_MISSING);
  return chromium.launch({
    executablePath,
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
