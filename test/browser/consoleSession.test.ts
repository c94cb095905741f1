import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { api, adminPassword, setupAdmin } from '../helpers/api.js';
import { launchChromium, logIn, openConsole, screenshot } from '../helpers/browser.js';
import { describeEachDialect } from '../helpers/testServer.js';

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

describeEachDialect('console: setup, login, logout and session expiry in Chromium', (server) => {
  it('opens on setup when no user exists, then logs in, out, and back after the session ends', async () => {
    const srv = server();
    const { page, context, problems } = await openConsole(browser, srv);

    // No user yet: the root leads to first-run setup.
    await page.goto('/');
    expect(new URL(page.url()).pathname).toBe('/setup');
    await screenshot(page, 'setup');
    await page.getByLabel('Full name').fill('Ada Admin');
    await page.getByLabel('Email').fill('admin@example.com');
    await page.getByLabel('Password', { exact: true }).fill(adminPassword);
    await page.getByLabel('Confirm password').fill(adminPassword);
    await page.getByLabel('Organization name').fill('Acme');
    await page.getByRole('button', { name: 'Create admin and log in' }).click();
    await page.getByRole('navigation', { name: 'Main' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/dashboard');
    expect(
      (await srv.app.services.database.db.selectFrom('users').select('email').execute()).map((u) => u.email),
    ).toEqual(['admin@example.com']);

    // Setup is closed now: the server sends /setup to the login page.
    const closed = await fetch(`${srv.url}/setup`, { redirect: 'manual' });
    expect([closed.status, closed.headers.get('location')]).toEqual([302, '/login']);

    // Log out: the login page says so, and the token no longer works.
    const token = await page.evaluate(() => localStorage.getItem('flotilla.token'));
    await page.getByRole('button', { name: 'Log out' }).click();
    await page.getByText('You have logged out.').waitFor();
    expect((await api(srv, 'GET', '/api/latest/fleet/me', { token: token! })).status).toBe(401);

    // A wrong password shows the server's words and logs nobody in.
    await page.getByLabel('Email').fill('admin@example.com');
    await page.getByLabel('Password').fill('not-the-password-1!');
    await page.getByRole('button', { name: 'Log in' }).click();
    await expect
      .poll(() => page.getByRole('alert').textContent())
      .toBe('Authentication Failed: invalid email or password');
    expect(await page.evaluate(() => localStorage.getItem('flotilla.token'))).toBeNull();
    await screenshot(page, 'login');

    // Log in, then end the session behind the page's back: the next call brings the login page
    // back with a notice, and logging in again returns to the page the admin was on.
    await logIn(page);
    await page.goto('/hosts/manage?per_page=20');
    await page.getByRole('heading', { name: 'Hosts' }).waitFor();
    const live = await page.evaluate(() => localStorage.getItem('flotilla.token'));
    expect((await api(srv, 'POST', '/api/latest/fleet/logout', { token: live! })).status).toBe(200);
    await page.getByRole('link', { name: 'Dashboard' }).click();
    await page.getByText('Your session has expired. Please log in again.').waitFor();
    expect(new URL(page.url()).searchParams.get('next')).toBe('/dashboard');
    await page.getByLabel('Email').fill('admin@example.com');
    await page.getByLabel('Password').fill(adminPassword);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.waitForURL('**/dashboard');

    expect(problems).toEqual([]);
    await context.close();
  });
});

describeEachDialect('console: keyboard only', (server) => {
  it('logs in, skips to the content, opens a page from the menu and leaves a dialog with Escape, without a mouse', async () => {
    const srv = server();
    const token = await setupAdmin(srv);
    const label = await api(srv, 'POST', '/api/latest/fleet/labels', {
      token,
      body: { name: 'Kiosks', query: 'SELECT 1;' },
    });
    expect(label.status).toBe(200);
    const { page, context, problems } = await openConsole(browser, srv);
    await page.goto('/login');
    await page.getByLabel('Email').waitFor();
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.getAttribute('name'))).toBe('email');
    await page.keyboard.type('admin@example.com');
    await page.keyboard.press('Tab');
    await page.keyboard.type(adminPassword);
    await page.keyboard.press('Enter');
    await page.getByRole('button', { name: 'Log out' }).waitFor();

    // The first Tab reaches "Skip to content", which moves focus to the page itself.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent)).toBe('Skip to content');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('main');

    // The menu's links are reachable with Tab and open with Enter.
    await page.getByRole('link', { name: 'Labels' }).focus();
    await page.keyboard.press('Enter');
    await page.waitForURL('**/labels/manage');
    await page.getByText('Kiosks').first().waitFor();

    // A dialog takes the focus and Escape closes it, leaving the label in place.
    await page.getByRole('button', { name: 'Delete Kiosks' }).focus();
    await page.keyboard.press('Enter');
    const dialog = page.getByRole('dialog');
    await dialog.waitFor();
    expect(await dialog.evaluate((d) => d.contains(document.activeElement))).toBe(true);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'hidden' });
    const labels = await api(srv, 'GET', '/api/latest/fleet/labels', { token });
    expect(labels.body.labels.map((l: { name: string }) => l.name)).toContain('Kiosks');

    expect(problems).toEqual([]);
    await context.close();
  });
});
