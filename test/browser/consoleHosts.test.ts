import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Page, Route } from 'playwright-core';
import { dbNow } from '../../src/db/dialect.js';
import { api, setupAdmin } from '../helpers/api.js';
import { createTeam } from '../helpers/adminFixtures.js';
import { enrolledDevice } from '../helpers/appleDevice.js';
import { appleHostRows, converge, mobileconfig, uploadProfile } from '../helpers/profiles.js';
import { launchChromium, logIn, openConsole, screenshot } from '../helpers/browser.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const v1 = '/api/latest/fleet';
const hostCount = 10_000;
const platforms = ['darwin', 'windows', 'ios', 'ubuntu'];

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

/** Inserts `hostCount` hosts straight into the database (as bench/lib/seed.ts does): Host 00000… */
async function seedHosts(srv: TestServer): Promise<void> {
  const { db } = srv.app.services.database;
  const now = dbNow();
  const batch = 500;
  for (let start = 0; start < hostCount; start += batch) {
    const rows = Array.from({ length: batch }, (_, i) => {
      const k = start + i;
      const n = String(k).padStart(5, '0');
      return {
        uuid: `CONSOLE0-0000-4000-8000-${k.toString(16).padStart(12, '0')}`.toUpperCase(),
        hardware_serial: `CSN${n}`,
        platform: platforms[k % platforms.length],
        hostname: `host-${n}.example.com`,
        computer_name: `Host ${n}`,
        hardware_model: 'Model',
        // Not in name order, so sorting by OS version visibly differs.
        os_version: `OS ${(k * 7919) % 97}`,
        created_at: now,
        updated_at: now,
      };
    });
    await db.insertInto('hosts').values(rows).execute();
  }
}

/** The display names the API lists for this query. */
async function apiNames(srv: TestServer, token: string, query: string): Promise<string[]> {
  const res = await api(srv, 'GET', `${v1}/hosts?${query}`, { token });
  expect(res.status).toBe(200);
  return (res.body.hosts as { display_name: string }[]).map((h) => h.display_name);
}

async function apiCount(srv: TestServer, token: string, query: string): Promise<number> {
  const res = await api(srv, 'GET', `${v1}/hosts/count?${query}`, { token });
  expect(res.status).toBe(200);
  return res.body.count as number;
}

/** The host names the table shows. */
function shownNames(page: Page): Promise<string[]> {
  return page.locator('table tbody td[data-label="Name"] a').allTextContents();
}

/** Waits until the URL's query is exactly `query` (the page writes its state there). */
async function urlQueryIs(page: Page, query: string): Promise<void> {
  await expect.poll(() => new URL(page.url()).search.replace(/^\?/, ''), { timeout: 20_000 }).toBe(query);
}

/** Waits until the table shows `names` (the page's answer for its query has arrived). */
async function tableShows(page: Page, names: string[]): Promise<void> {
  await expect.poll(() => shownNames(page), { timeout: 20_000 }).toEqual(names);
}

describeEachDialect('console: hosts list over 10,000 hosts in Chromium', (server) => {
  let token: string;
  let teamId: number;

  beforeAll(async () => {
    const srv = server();
    token = await setupAdmin(srv);
    teamId = await createTeam(srv, token, 'Laptops');
    await seedHosts(srv);
  }, 120_000);

  it('pages, searches, sorts and filters on the server, showing what the API answers', async () => {
    const srv = server();
    const { page, context, problems } = await openConsole(browser, srv);
    await logIn(page);
    await page.goto('/hosts/manage');
    await page.getByRole('heading', { name: 'Hosts' }).waitFor();

    // Page 1: the API's first 50 by name, and the total from /hosts/count.
    const first = 'order_key=display_name&order_direction=asc&page=0&per_page=50';
    await tableShows(page, await apiNames(srv, token, first));
    expect(await shownNames(page)).toHaveLength(50);
    await page.getByText('10,000 hosts; showing 1–50').waitFor();

    // Page 2.
    await page.getByRole('button', { name: 'Next →' }).click();
    await urlQueryIs(page, 'page=1');
    await tableShows(page, await apiNames(srv, token, first.replace('page=0', 'page=1')));
    await page.getByText('10,000 hosts; showing 51–100').waitFor();
    await screenshot(page, 'hosts');

    // A search lands on the one host, back on page 1.
    await page.getByLabel('Search hosts').fill('CSN07777');
    await urlQueryIs(page, 'query=CSN07777');
    expect(await apiNames(srv, token, `query=CSN07777&${first}`)).toEqual(['Host 07777']);
    await tableShows(page, ['Host 07777']);
    await page.getByText('1 host; showing 1–1').waitFor();
    await page.getByRole('link', { name: 'Host 07777' }).click();
    await page.waitForURL(/\/hosts\/\d+$/);
    const id = (await api(srv, 'GET', `${v1}/hosts?query=CSN07777`, { token })).body.hosts[0].id;
    expect(new URL(page.url()).pathname).toBe(`/hosts/${id}`);
    await page.goBack();

    // Clear the filters, then sort by OS version (twice: descending) and page size 100.
    await page.getByRole('button', { name: 'Clear filters' }).click();
    await urlQueryIs(page, '');
    await page.getByRole('button', { name: 'OS version' }).click();
    await urlQueryIs(page, 'order_key=os_version&order_direction=asc');
    await tableShows(
      page,
      await apiNames(srv, token, 'order_key=os_version&order_direction=asc&per_page=50'),
    );
    await page.getByRole('button', { name: 'OS version' }).click();
    await page.getByLabel('Hosts per page').selectOption('100');
    await urlQueryIs(page, 'order_key=os_version&order_direction=desc&per_page=100');
    await tableShows(
      page,
      await apiNames(srv, token, 'order_key=os_version&order_direction=desc&per_page=100'),
    );
    expect(await page.locator('th[aria-sort="descending"]').textContent()).toBe('OS version ▼');

    // Filter by platform and status: the rows and the total are the API's for the same filters.
    await page.getByLabel('Platform').selectOption('windows');
    await page.getByLabel('Status', { exact: true }).selectOption('online');
    const filters = 'platform=windows&status=online';
    await urlQueryIs(page, `${filters}&order_key=os_version&order_direction=desc&per_page=100`);
    await tableShows(
      page,
      await apiNames(srv, token, `${filters}&order_key=os_version&order_direction=desc&per_page=100`),
    );
    const windows = await apiCount(srv, token, filters);
    expect(windows).toBe(2500);
    await page.getByText('2,500 hosts; showing 1–100').waitFor();

    // A link from another page (team and label ids, a profile filter) fills the controls; a
    // filter the server refuses shows its words.
    await page.goto(`/hosts/manage?team_id=${teamId}`);
    await page.getByText('No hosts match these filters.').waitFor();
    expect(await page.getByLabel('Team').inputValue()).toBe(String(teamId));
    await page.goto('/hosts/manage?profile_uuid=a-nope');
    await page
      .getByRole('alert')
      .filter({ hasText: 'Missing profile_status (it must be present when profile_uuid is specified)' })
      .waitFor();

    // On a phone, the same list as cards (the menu folds away, so log in first at desktop size).
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto('/hosts/manage?per_page=20');
    await tableShows(
      page,
      await apiNames(srv, token, 'order_key=display_name&order_direction=asc&page=0&per_page=20'),
    );
    await screenshot(page, 'hosts-phone');
    // Phones have no column headers: a menu sorts instead.
    await page.getByLabel('Sort by').selectOption({ label: 'Last seen (descending)' });
    await urlQueryIs(page, 'order_key=seen_time&order_direction=desc&per_page=20');
    await tableShows(
      page,
      await apiNames(srv, token, 'order_key=seen_time&order_direction=desc&per_page=20'),
    );

    expect(problems).toEqual([]);
    await context.close();
  }, 90_000);

  it('transfers 3 selected hosts with progress; an observer gets no bulk actions', async () => {
    const srv = server();
    const { db } = srv.app.services.database;
    const { page, context, problems } = await openConsole(browser, srv);
    await logIn(page);
    await page.goto('/hosts/manage?query=host-0000&per_page=20');
    const names = await apiNames(
      srv,
      token,
      'query=host-0000&order_key=display_name&order_direction=asc&per_page=20',
    );
    expect(names).toEqual([
      'Host 00000',
      'Host 00001',
      'Host 00002',
      'Host 00003',
      'Host 00004',
      'Host 00005',
      'Host 00006',
      'Host 00007',
      'Host 00008',
      'Host 00009',
    ]);
    await tableShows(page, names);

    const picked = ['Host 00001', 'Host 00002', 'Host 00003'];
    const ids = (
      await db.selectFrom('hosts').select('id').where('computer_name', 'in', picked).orderBy('id').execute()
    ).map((r) => r.id);
    for (const id of ids) await page.getByLabel(`Select row ${id}`).check();
    await page.getByText('3 hosts selected').waitFor();

    // Hold the last transfer until the progress shows 2 of 3, so the test sees it without timing.
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    let transfers = 0;
    await page.route('**/api/latest/fleet/hosts/transfer', async (route: Route) => {
      transfers++;
      if (transfers === 3) await held;
      await route.continue();
    });

    await page.getByRole('button', { name: 'Transfer to team…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Transfer 3 hosts' });
    await dialog.getByRole('button', { name: 'Transfer' }).click();
    await dialog
      .getByRole('alert')
      .filter({ hasText: 'Choose the team to transfer the hosts to.' })
      .waitFor();
    await dialog.getByLabel('Team').selectOption({ label: 'Laptops' });
    await dialog.getByRole('button', { name: 'Transfer' }).click();
    await dialog.getByRole('status').filter({ hasText: 'Transferring hosts: 2 of 3' }).waitFor();
    expect(await dialog.locator('progress').getAttribute('value')).toBe('2');
    release();
    await page.getByText('Transferred 3 hosts of 3 to Laptops.').waitFor();
    await page.unroute('**/api/latest/fleet/hosts/transfer');

    // The database and the list agree: the three hosts are in Laptops, the others are not.
    const rows = await db
      .selectFrom('hosts')
      .select(['computer_name', 'team_id'])
      .where('computer_name', 'like', 'Host 0000%')
      .orderBy('computer_name')
      .execute();
    expect(rows.filter((r) => r.team_id === teamId).map((r) => r.computer_name)).toEqual(picked);
    expect(await apiNames(srv, token, `team_id=${teamId}&order_key=display_name`)).toEqual(picked);
    await expect
      .poll(() =>
        page
          .locator('table tbody tr')
          .filter({ hasText: 'Laptops' })
          .locator('td[data-label="Name"]')
          .allTextContents(),
      )
      .toEqual(picked);

    // An observer sees the list but no checkboxes or bulk buttons, and the API refuses the call.
    const observer = await api(srv, 'POST', `${v1}/users/admin`, {
      token,
      body: {
        name: 'Olga Observer',
        email: 'olga@example.com',
        password: 'observer-password-1!',
        global_role: 'observer',
      },
    });
    expect(observer.status).toBe(200);
    const o = await openConsole(browser, srv);
    await logIn(o.page, 'olga@example.com', 'observer-password-1!');
    await o.page.goto('/hosts/manage?query=host-0000&per_page=20');
    await tableShows(o.page, names);
    expect(await o.page.getByRole('button', { name: 'Transfer to team…' }).count()).toBe(0);
    expect(await o.page.getByRole('button', { name: 'Resend failed profiles…' }).count()).toBe(0);
    expect(await o.page.getByRole('checkbox').count()).toBe(0);
    const login = await api(srv, 'POST', `${v1}/login`, {
      body: { email: 'olga@example.com', password: 'observer-password-1!' },
    });
    const refused = await api(srv, 'POST', `${v1}/hosts/transfer`, {
      token: login.body.token,
      body: { team_id: null, hosts: ids },
    });
    expect(refused.status).toBe(403);
    expect(
      (await db.selectFrom('hosts').select('team_id').where('id', 'in', ids).execute()).map((r) => r.team_id),
    ).toEqual([teamId, teamId, teamId]);
    expect(o.problems).toEqual([]);
    await o.context.close();

    expect(problems).toEqual([]);
    await context.close();
  }, 90_000);

  it('resends the failed profiles of the selected hosts, after a confirmation', async () => {
    const srv = server();
    // A Mac whose profile install fails until its retries run out.
    const mac = await enrolledDevice(srv);
    mac.forcedAnswers.set('InstallProfile', 'Error');
    const uploaded = await uploadProfile(srv, token, {
      name: 'vpn.mobileconfig',
      bytes: mobileconfig('com.example.vpn', 'VPN'),
    });
    expect(uploaded.status).toBe(200);
    await converge(srv, [mac], srv.config.profileMaxRetries + 3);
    expect((await appleHostRows(srv, mac.udid)).map((r) => r.status)).toEqual(['failed']);
    mac.forcedAnswers.delete('InstallProfile');

    const { page, context, problems } = await openConsole(browser, srv);
    await logIn(page);
    await page.goto('/hosts/manage?os_settings=failed');
    const failing = await apiNames(srv, token, 'os_settings=failed&order_key=display_name');
    expect(failing).toHaveLength(1);
    await tableShows(page, failing);
    await page.getByLabel('Select all on this page').check();
    await page.getByRole('button', { name: 'Resend failed profiles…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Resend failed profiles' });
    await dialog.getByText('Every profile that failed on the 1 selected host is sent again.').waitFor();
    await dialog.getByRole('button', { name: 'Resend' }).click();
    await page.getByText('Resent 1 failed profile on 1 host.').waitFor();

    // The profile is pending again (the server resends it), and the device now takes it.
    expect((await appleHostRows(srv, mac.udid)).map((r) => r.status)).toEqual([null]);
    await converge(srv, [mac]);
    expect((await appleHostRows(srv, mac.udid)).map((r) => r.status)).toEqual(['verified']);

    expect(problems).toEqual([]);
    await context.close();
  }, 90_000);
});
