/**
 * Headless Chromium (Debian's `chromium`, driven by playwright-core) for the console's tests.
 * Every page records its console errors and failed requests, so a test can assert there were none.
 */
import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { adminPassword } from './api.js';
import type { TestServer } from './testServer.js';

export const chromiumPath = process.env.FLOTILLA_CHROMIUM_PATH ?? '/usr/bin/chromium';

/**
 * Where screenshots go: FLOTILLA_SCREENSHOT_DIR when set (docs/console refreshes the README's),
 * else a fresh temporary folder per run.
 */
export const screenshotDir =
  process.env.FLOTILLA_SCREENSHOT_DIR ?? mkdtempSync(join(tmpdir(), 'flotilla-screens-'));

export async function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    // Root in CI has no user namespace for the sandbox; the machine has no network to reach.
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
    ],
  });
}

export interface ConsoleTab {
  context: BrowserContext;
  page: Page;
  /** Console errors, uncaught exceptions and failed same-origin requests seen so far. */
  problems: string[];
}

/** A fresh browser context (its own storage) on the test server, at the given viewport. */
export async function openConsole(
  browser: Browser,
  srv: TestServer,
  viewport: { width: number; height: number } = { width: 1280, height: 800 },
): Promise<ConsoleTab> {
  const context = await browser.newContext({ baseURL: srv.url, viewport });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (m) => {
    // A refused API call logs a resource error; the page shows those in words, which tests check.
    if (m.type() === 'error' && !/status of 4\d\d/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    // A navigation cancels the previous page's requests still in flight: not a failure of either.
    if (r.failure()?.errorText === 'net::ERR_ABORTED') return;
    problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
  });
  return { context, page, problems };
}

/** Logs in through the login page as the admin setupAdmin made (or another user). */
export async function logIn(
  page: Page,
  email = 'admin@example.com',
  password = adminPassword,
): Promise<void> {
  await page.goto('/login');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
  // The log-out button shows at every width (the navigation folds behind a menu on phones).
  await page.getByRole('button', { name: 'Log out' }).waitFor();
}

/** Saves a full-page PNG named `<name>.png` in screenshotDir and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(screenshotDir, { recursive: true });
  const path = join(screenshotDir, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
