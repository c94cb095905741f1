import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { dbNow, toDbTime } from '../../src/db/dialect.js';
import { api, setupAdmin } from '../helpers/api.js';
import { createTeam } from '../helpers/adminFixtures.js';
import { launchChromium, logIn, openConsole, screenshot } from '../helpers/browser.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const v1 = '/api/latest/fleet';
const day = 24 * 60 * 60 * 1000;

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

interface SeedHost {
  name: string;
  platform: string;
  teamId?: number;
  /** The host_mdm row: enrolled (manually or through ADE), pending ADE, or off; none for no MDM. */
  mdm?: 'manual' | 'automatic' | 'pending' | 'off';
}

/** Inserts hosts with their host_mdm rows straight into the database. */
async function seedHosts(srv: TestServer, hosts: SeedHost[]): Promise<void> {
  const { db } = srv.app.services.database;
  const now = dbNow();
  for (const [i, h] of hosts.entries()) {
    await db
      .insertInto('hosts')
      .values({
        uuid: `DASH0000-0000-4000-8000-${String(i).padStart(12, '0')}`,
        hardware_serial: `DSN${i}`,
        platform: h.platform,
        hostname: `${h.name.toLowerCase().replace(/ /g, '-')}.example.com`,
        computer_name: h.name,
        hardware_model: 'Model',
        os_version: 'OS 1',
        team_id: h.teamId ?? null,
        created_at: now,
        updated_at: now,
      })
      .execute();
    if (!h.mdm) continue;
    const { id } = await db
      .selectFrom('hosts')
      .select('id')
      .where('computer_name', '=', h.name)
      .executeTakeFirstOrThrow();
    await db
      .insertInto('host_mdm')
      .values({
        host_id: id,
        enrolled: h.mdm === 'manual' || h.mdm === 'automatic' ? 1 : 0,
        installed_from_dep: h.mdm === 'automatic' || h.mdm === 'pending' ? 1 : 0,
        server_url: 'https://mdm.example.com/mdm/apple/mdm',
        mdm_name: 'Fleet',
        mdm_id: null,
      })
      .execute();
  }
}

/** The count a dashboard card shows for a label, as a number. */
async function shownCount(page: Page, card: string, label: string): Promise<number> {
  const link = page
    .getByRole('region', { name: card })
    .getByRole('link')
    .filter({
      has: page.locator('.count-label', { hasText: new RegExp(`^${label.replace(/[()]/g, '\\$&')}$`) }),
    });
  return Number((await link.locator('.count').textContent())!.replace(/,/g, ''));
}

describeEachDialect('console: dashboard in Chromium', (server) => {
  it('shows the API’s figures per team, links each count to its hosts, and flags what expires soon', async () => {
    const srv = server();
    const token = await setupAdmin(srv);
    const phones = await createTeam(srv, token, 'Phones');
    await seedHosts(srv, [
      { name: 'Mac One', platform: 'darwin', mdm: 'manual' },
      { name: 'Mac Two', platform: 'darwin', mdm: 'manual' },
      { name: 'Mac Three', platform: 'darwin', mdm: 'automatic' },
      { name: 'Phone Waiting', platform: 'ios', mdm: 'pending' },
      { name: 'Windows Off', platform: 'windows', mdm: 'off' },
      { name: 'Ubuntu Server', platform: 'ubuntu' },
      { name: 'iPad A', platform: 'ipados', teamId: phones, mdm: 'manual' },
      { name: 'iPad B', platform: 'ipados', teamId: phones, mdm: 'manual' },
    ]);
    // An ABM token that expires in 10 days (sealed credentials are never read by the list).
    const now = dbNow();
    const renewAt = new Date(Date.now() + 10 * day + 60 * 60 * 1000);
    await srv.app.services.database.db
      .insertInto('abm_tokens')
      .values({
        organization_name: 'Acme Devices',
        apple_id: 'abm@example.com',
        renew_at: toDbTime(renewAt),
        token: srv.app.services.box.seal('{}'),
        created_at: now,
        updated_at: now,
      } as never)
      .execute();

    const { page, context, problems } = await openConsole(browser, srv);
    await logIn(page);
    expect(new URL(page.url()).pathname).toBe('/dashboard');
    await page.getByRole('heading', { name: 'MDM status' }).waitFor();

    // All teams: the cards show what the API answers.
    const get = async (path: string) => {
      const res = await api(srv, 'GET', `${v1}${path}`, { token });
      expect(res.status).toBe(200);
      return res.body;
    };
    const mdm = (await get('/hosts/summary/mdm')).mobile_device_management_enrollment_status;
    expect(mdm).toMatchObject({
      enrolled_manual_hosts_count: 4,
      enrolled_automated_hosts_count: 1,
      pending_hosts_count: 1,
      unenrolled_hosts_count: 1,
    });
    expect(await shownCount(page, 'Hosts', 'All hosts')).toBe((await get('/hosts/count')).count);
    expect(await shownCount(page, 'Hosts', 'macOS')).toBe((await get('/hosts/count?platform=darwin')).count);
    expect(await shownCount(page, 'Hosts', 'iPadOS')).toBe(2);
    expect(await shownCount(page, 'Hosts', 'Ubuntu')).toBe(1);
    expect(await shownCount(page, 'MDM status', 'On (manual)')).toBe(mdm.enrolled_manual_hosts_count);
    expect(await shownCount(page, 'MDM status', 'On (automatic)')).toBe(mdm.enrolled_automated_hosts_count);
    expect(await shownCount(page, 'MDM status', 'Pending')).toBe(mdm.pending_hosts_count);
    expect(await shownCount(page, 'MDM status', 'Off')).toBe(mdm.unenrolled_hosts_count);
    const profiles = await get('/configuration_profiles/summary');
    for (const [label, key] of [
      ['Verified', 'verified'],
      ['Verifying', 'verifying'],
      ['Pending', 'pending'],
      ['Failed', 'failed'],
    ]) {
      expect(await shownCount(page, 'OS settings', label)).toBe(profiles[key]);
    }
    const disk = await get('/mdm/disk_encryption/summary');
    const diskTotal = (s: string) => disk[s].macos + disk[s].windows + disk[s].linux;
    expect(await shownCount(page, 'Disk encryption', 'Verified')).toBe(diskTotal('verified'));
    expect(await shownCount(page, 'Disk encryption', 'Action required')).toBe(diskTotal('action_required'));

    // No APNs certificate: the API says MDM is off, the card says not configured. The ABM token
    // is highlighted with its days left.
    expect((await api(srv, 'GET', `${v1}/mdm/apple`, { token })).status).toBe(400);
    expect(
      await page.getByRole('region', { name: 'Apple push certificate (APNs)' }).locator('p').textContent(),
    ).toBe('Not configured.');
    const abm = page.getByRole('region', { name: 'Apple Business Manager tokens' });
    expect(await abm.locator('.expiry-soon').textContent()).toBe(
      `10 days left (${renewAt.toISOString().slice(0, 10)}) The ABM token of Acme Devices needs renewing soon`,
    );
    // The server's other certificates (its CAs), from GET /config, with the days it counts.
    const certificates = (
      (await get('/config')).certificates as {
        certificate: string;
        description: string;
        days_left: number | null;
      }[]
    ).filter((c) => c.certificate !== 'apns' && !c.certificate.startsWith('abm_token:'));
    expect(certificates.length).toBeGreaterThan(0);
    const items = page.getByRole('region', { name: 'Certificates' }).getByRole('listitem');
    await expect.poll(() => items.count()).toBe(certificates.length);
    for (const [i, c] of certificates.entries()) {
      const text = await items.nth(i).textContent();
      expect(text).toContain(c.description);
      if (c.days_left !== null) expect(text).toContain(`${c.days_left} days left`);
    }
    await screenshot(page, 'dashboard');

    // One team: its figures, from the same endpoints with team_id.
    await page.getByLabel('Team').selectOption({ label: 'Phones' });
    await page.waitForURL(`**/dashboard?team_id=${phones}`);
    await expect.poll(() => shownCount(page, 'Hosts', 'All hosts')).toBe(2);
    const teamMdm = (await get(`/hosts/summary/mdm?team_id=${phones}`))
      .mobile_device_management_enrollment_status;
    expect(await shownCount(page, 'MDM status', 'On (manual)')).toBe(teamMdm.enrolled_manual_hosts_count);
    expect(teamMdm.enrolled_manual_hosts_count).toBe(2);

    // A count links to the hosts it counts: the hosts list with the same filters.
    await page
      .getByRole('region', { name: 'MDM status' })
      .getByRole('link', { name: /On \(manual\)/ })
      .click();
    await page.waitForURL('**/hosts/manage?**');
    expect(Object.fromEntries(new URL(page.url()).searchParams)).toEqual({
      mdm_enrollment_status: 'manual',
      team_id: String(phones),
    });
    const listed = await get(`/hosts?mdm_enrollment_status=manual&team_id=${phones}&order_key=display_name`);
    await expect
      .poll(() => page.locator('table tbody td[data-label="Name"] a').allTextContents())
      .toEqual(listed.hosts.map((h: { display_name: string }) => h.display_name));
    expect(listed.hosts.map((h: { display_name: string }) => h.display_name)).toEqual(['iPad A', 'iPad B']);

    // On a phone.
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto('/dashboard');
    await page.getByRole('heading', { name: 'Disk encryption' }).waitFor();
    await screenshot(page, 'dashboard-phone');

    expect(problems).toEqual([]);
    await context.close();
  }, 90_000);
});
