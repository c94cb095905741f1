import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { api, setupAdmin } from '../helpers/api.js';
import { enrolledDevice } from '../helpers/appleDevice.js';
import { launchChromium, logIn, openConsole, screenshot } from '../helpers/browser.js';
import { converge, mobileconfig, teamOfDevices } from '../helpers/profiles.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';
import { enableWindowsMdm } from '../helpers/windowsDevice.js';

const v1 = '/api/latest/fleet';
const statuses = ['verified', 'verifying', 'pending', 'failed'] as const;

const dock = mobileconfig('com.example.console.dock', 'Dock');
const windowsXml = readFileSync(
  new URL('../vectors/windows/fleet_profile_replace_int_BlockMDMUnenrollment.xml', import.meta.url),
);
const passcodeJson = Buffer.from(
  JSON.stringify({
    Type: 'com.apple.configuration.passcode.settings',
    Identifier: 'com.example.console.passcode',
    Payload: { RequirePasscode: true },
  }),
);

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

/** Drops files on the page's drop zone as a drag from the desktop would (a real DataTransfer). */
async function dropFiles(page: Page, files: { name: string; text: string }[]) {
  await page.getByTestId('profile-dropzone').evaluate((zone, list) => {
    const dt = new DataTransfer();
    for (const f of list) dt.items.add(new File([f.text], f.name));
    for (const type of ['dragenter', 'dragover', 'drop']) {
      zone.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
    }
  }, files);
}

/**
 * Opens OS settings from the menu (an in-app route, so the dashboard's requests are not cut off by a
 * page load) and picks team "Studio" in the team selector.
 */
async function openStudio(page: Page, teamId: number) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'OS settings' }).click();
  await page.getByRole('heading', { name: 'OS settings', exact: true }).waitFor();
  await page.getByLabel('Team', { exact: true }).selectOption({ label: 'Studio' });
  await page.waitForURL(`**/controls/os-settings?team_id=${teamId}`);
}

/** Rows of every table that stores a profile definition or its label targeting. */
async function storedCounts(srv: TestServer) {
  const { db } = srv.app.services.database;
  const count = async (
    table:
      | 'mdm_apple_configuration_profiles'
      | 'mdm_apple_declarations'
      | 'mdm_windows_configuration_profiles'
      | 'mdm_configuration_profile_labels',
  ) =>
    Number(
      (
        await db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  return {
    apple: await count('mdm_apple_configuration_profiles'),
    declarations: await count('mdm_apple_declarations'),
    windows: await count('mdm_windows_configuration_profiles'),
    labels: await count('mdm_configuration_profile_labels'),
  };
}

describeEachDialect('console: OS settings (configuration profiles) in Chromium', (server) => {
  let srv: TestServer;
  let admin = '';
  let teamId = 0;
  let laptopsId = 0;
  let macs: SimulatedAppleDevice[] = [];
  const profileUuids: Record<string, string> = {};

  // Two Macs in team "Studio", one of them in the manual label "Laptops"; Windows MDM on.
  beforeAll(async () => {
    srv = server();
    admin = await setupAdmin(srv);
    await enableWindowsMdm(srv, 'os-settings-console-secret');
    macs = [await enrolledDevice(srv), await enrolledDevice(srv)];
    teamId = await teamOfDevices(srv, 'Studio', macs);
    const laptops = await api(srv, 'POST', `${v1}/labels`, {
      token: admin,
      body: { name: 'Laptops', hosts: [macs[0].udid] },
    });
    expect(laptops.status, laptops.text).toBe(200);
    laptopsId = laptops.body.label.id;
    const desks = await api(srv, 'POST', `${v1}/labels`, {
      token: admin,
      body: { name: 'Desks', query: "SELECT 1 FROM system_info WHERE cpu_type = 'x'" },
    });
    expect(desks.status, desks.text).toBe(200);
  });

  it('uploads by file input and by drop with label targeting, refuses bad files, shows status counts, downloads and deletes', async () => {
    const { page, context, problems } = await openConsole(browser, srv);
    await logIn(page);
    await openStudio(page, teamId);
    await page.getByText('No configuration profiles in this team yet.').waitFor();
    await page.getByRole('heading', { name: 'Add profiles to Studio' }).waitFor();

    // A .mobileconfig through the file input, for hosts with any of the label "Laptops".
    await page.getByLabel('Profile files').setInputFiles({
      name: 'Dock.mobileconfig',
      mimeType: 'application/x-apple-aspen-config',
      buffer: dock,
    });
    await page.getByRole('radio', { name: 'Hosts with any of the labels' }).check();
    await page.getByRole('checkbox', { name: 'Laptops' }).check();
    await page.getByRole('button', { name: 'Upload 1 profile' }).click();
    await page.getByText('Dock.mobileconfig: uploaded').waitFor();
    await page.getByText('Upload finished: 1 of 1').waitFor();
    await page.getByRole('cell', { name: 'Include any: Laptops' }).waitFor();

    const afterDock = await api(srv, 'GET', `${v1}/configuration_profiles?team_id=${teamId}`, {
      token: admin,
    });
    expect(afterDock.status).toBe(200);
    expect(afterDock.body.profiles).toHaveLength(1);
    const dockJson = afterDock.body.profiles[0];
    expect(dockJson).toMatchObject({ name: 'Dock', platform: 'darwin', team_id: teamId });
    expect(dockJson.labels_include_any).toEqual([{ name: 'Laptops', id: laptopsId }]);
    expect(dockJson.labels_include_all).toBeUndefined();
    expect(dockJson.labels_exclude_any).toBeUndefined();
    profileUuids.Dock = dockJson.profile_uuid;
    const dockLabels = await srv.app.services.database.db
      .selectFrom('mdm_configuration_profile_labels')
      .select(['label_name', 'label_id', 'exclude', 'require_all'])
      .where('apple_profile_uuid', '=', profileUuids.Dock)
      .execute();
    expect(
      dockLabels.map((l) => [l.label_name, Number(l.label_id), Number(l.exclude), Number(l.require_all)]),
    ).toEqual([['Laptops', laptopsId, 0, 0]]);

    // A Windows .xml dropped on the zone and a declaration through the input, for all hosts.
    await page.getByRole('radio', { name: 'All hosts (no label targeting)' }).check();
    await dropFiles(page, [{ name: 'Block unenroll.xml', text: windowsXml.toString('utf8') }]);
    await page.getByLabel('Profile files').setInputFiles({
      name: 'Passcode.json',
      mimeType: 'application/json',
      buffer: passcodeJson,
    });
    await expect
      .poll(() => page.locator('.os-file-list li span').allTextContents())
      .toEqual(['Block unenroll.xml', 'Passcode.json']);
    await page.getByRole('button', { name: 'Upload 2 profiles' }).click();
    await page.getByText('Upload finished: 2 of 2').waitFor();
    expect(await page.getByRole('list', { name: 'Upload results' }).locator('li').allTextContents()).toEqual([
      'Block unenroll.xml: uploaded',
      'Passcode.json: uploaded',
    ]);
    await page.getByText('Block unenroll', { exact: true }).waitFor();

    const listed = await api(srv, 'GET', `${v1}/configuration_profiles?team_id=${teamId}`, { token: admin });
    const byName = Object.fromEntries(
      (listed.body.profiles as { name: string; profile_uuid: string; platform: string }[]).map((p) => [
        p.name,
        p,
      ]),
    );
    expect(Object.keys(byName).sort()).toEqual(['Block unenroll', 'Dock', 'Passcode']);
    expect(byName['Block unenroll'].platform).toBe('windows');
    expect(byName['Block unenroll'].profile_uuid).toMatch(/^w/);
    expect(byName.Passcode.profile_uuid).toMatch(/^d/);
    for (const p of Object.values(byName)) profileUuids[p.name] = p.profile_uuid;
    expect(await page.getByRole('cell', { name: 'macOS, iOS, iPadOS (declaration)' }).count()).toBe(1);
    expect(await page.getByRole('cell', { name: 'Windows', exact: true }).count()).toBe(1);

    // Bad files: each shows the server's own words, and nothing is stored.
    const before = await storedCounts(srv);
    await page.getByLabel('Profile files').setInputFiles({
      name: 'Broken.mobileconfig',
      mimeType: 'application/x-apple-aspen-config',
      buffer: Buffer.from('not xml at all'),
    });
    await dropFiles(page, [{ name: 'notes.txt', text: 'hello' }]);
    await page.getByRole('button', { name: 'Upload 2 profiles' }).click();
    await page.getByText('Upload finished: 2 of 2').waitFor();
    await page.getByText('0 uploaded, 2 failed.').waitFor();
    expect(
      await page.getByRole('list', { name: 'Upload results' }).getByRole('alert').allTextContents(),
    ).toEqual([
      "Broken.mobileconfig: Validation Failed: Couldn't add. The file should include valid XML.",
      "notes.txt: Bad request: Couldn't add. The file should be a .mobileconfig, .json, or .xml file.",
    ]);
    // The failed files stay listed, to try again.
    expect(await page.locator('.os-file-list li span').allTextContents()).toEqual([
      'Broken.mobileconfig',
      'notes.txt',
    ]);
    await screenshot(page, 'os-settings-upload');
    expect(await storedCounts(srv)).toEqual(before);
    for (const name of ['Broken.mobileconfig', 'notes.txt']) {
      await page.getByRole('button', { name: `Remove ${name}` }).click();
    }
    await page.getByRole('button', { name: 'Upload', exact: true }).waitFor();
    expect(await page.locator('.os-file-list').count()).toBe(0);

    // The Macs take their profiles; one reports the declaration... failed on the other.
    await converge(srv, macs);
    await srv.app.services.database.db
      .updateTable('host_mdm_apple_declarations')
      .set({ status: 'failed', detail: 'rejected by the test' })
      .where('host_uuid', '=', macs[1].udid)
      .where('declaration_uuid', '=', profileUuids.Passcode)
      .execute();
    await page.reload();
    await page.getByText('Passcode', { exact: true }).waitFor();
    for (const [name, uuid] of Object.entries(profileUuids)) {
      const status = await api(srv, 'GET', `${v1}/configuration_profiles/${uuid}/status`, { token: admin });
      expect(status.status).toBe(200);
      for (const s of statuses) {
        const n = status.body[s] as number;
        const link = page.getByRole('link', {
          name: `${name}: ${n} ${n === 1 ? 'host' : 'hosts'} ${s}`,
          exact: true,
        });
        expect(await link.textContent(), `${name} ${s}`).toBe(String(n));
        expect(await link.getAttribute('href')).toBe(
          `/hosts/manage?profile_uuid=${uuid}&profile_status=${s}&team_id=${teamId}`,
        );
      }
    }
    // Dock reached only the Mac in "Laptops"; the declaration reached both and failed on one.
    const dockStatus = await api(srv, 'GET', `${v1}/configuration_profiles/${profileUuids.Dock}/status`, {
      token: admin,
    });
    expect(statuses.reduce((sum, s) => sum + dockStatus.body[s], 0)).toBe(1);
    const passcodeStatus = await api(
      srv,
      'GET',
      `${v1}/configuration_profiles/${profileUuids.Passcode}/status`,
      {
        token: admin,
      },
    );
    expect(passcodeStatus.body.failed).toBe(1);

    // The summary cards are the team's summary, each a link to the hosts with that status.
    const summary = await api(srv, 'GET', `${v1}/configuration_profiles/summary?team_id=${teamId}`, {
      token: admin,
    });
    expect(summary.body.failed).toBe(1);
    const cards = page.locator('.os-summary li');
    expect(await cards.allTextContents()).toEqual(
      statuses.map((s) => `${summary.body[s]}${s[0].toUpperCase()}${s.slice(1)}`),
    );
    expect(await cards.getByRole('link').evaluateAll((as) => as.map((a) => a.getAttribute('href')))).toEqual(
      statuses.map((s) => `/hosts/manage?os_settings=${s}&team_id=${teamId}`),
    );
    await screenshot(page, 'os-settings');

    // Download: the same bytes, under the server's file name.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download Dock' }).click(),
    ]);
    expect(download.suggestedFilename()).toMatch(/^\d{4}-\d{2}-\d{2} Dock\.mobileconfig$/);
    expect(readFileSync((await download.path())!)).toEqual(dock);

    // Delete, after confirming: gone from the page, the API and the database.
    await page.getByRole('button', { name: 'Delete Dock' }).click();
    const dialog = page.getByRole('dialog', { name: 'Delete profile?' });
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden' });
    expect(
      (await api(srv, 'GET', `${v1}/configuration_profiles/${profileUuids.Dock}`, { token: admin })).status,
    ).toBe(200);
    await page.getByRole('button', { name: 'Delete Dock' }).click();
    await dialog.getByRole('button', { name: 'Delete' }).click();
    await dialog.waitFor({ state: 'hidden' });
    await page.getByRole('button', { name: 'Delete Dock' }).waitFor({ state: 'detached' });
    expect(await page.locator('.os-profile-name strong').allTextContents()).toEqual([
      'Block unenroll',
      'Passcode',
    ]);
    expect(
      (await api(srv, 'GET', `${v1}/configuration_profiles/${profileUuids.Dock}`, { token: admin })).status,
    ).toBe(404);
    const dockRows = await srv.app.services.database.db
      .selectFrom('mdm_apple_configuration_profiles')
      .select('profile_uuid')
      .where('profile_uuid', '=', profileUuids.Dock)
      .execute();
    expect(dockRows).toEqual([]);

    expect(problems).toEqual([]);
    await context.close();

    // The same page on a phone (the menu folds there, so log in at desktop width first).
    const phone = await openConsole(browser, srv);
    await logIn(phone.page);
    await openStudio(phone.page, teamId);
    await phone.page.setViewportSize({ width: 390, height: 844 });
    await phone.page.getByText('Passcode', { exact: true }).waitFor();
    await screenshot(phone.page, 'os-settings-phone');
    expect(phone.problems).toEqual([]);
    await phone.context.close();
  });

  it('shows an observer the profiles and downloads, but no upload or delete; the API refuses them too', async () => {
    const password = 'Observer-pass-1!';
    const made = await api(srv, 'POST', `${v1}/users/admin`, {
      token: admin,
      body: { name: 'Olive Observer', email: 'observer@example.com', password, global_role: 'observer' },
    });
    expect(made.status, made.text).toBe(200);

    const { page, context, problems } = await openConsole(browser, srv);
    await logIn(page, 'observer@example.com', password);
    await openStudio(page, teamId);
    await page.getByText('Passcode', { exact: true }).waitFor();
    expect(await page.locator('.os-profile-name strong').allTextContents()).toEqual([
      'Block unenroll',
      'Passcode',
    ]);
    await page.getByRole('button', { name: 'Download Passcode' }).waitFor();
    expect(await page.getByRole('heading', { name: /Add profiles/ }).count()).toBe(0);
    expect(await page.getByLabel('Profile files').count()).toBe(0);
    expect(await page.getByRole('button', { name: /^Delete / }).count()).toBe(0);

    // The API agrees: the observer's upload and delete are refused and change nothing.
    const token = (await page.evaluate(() => localStorage.getItem('flotilla.token')))!;
    const before = await storedCounts(srv);
    const form = new FormData();
    form.append('team_id', String(teamId));
    form.append('profile', new Blob([new Uint8Array(dock)]), 'Dock.mobileconfig');
    const upload = await fetch(`${srv.url}${v1}/configuration_profiles`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: form,
    });
    expect(upload.status).toBe(403);
    const del = await api(srv, 'DELETE', `${v1}/configuration_profiles/${profileUuids.Passcode}`, { token });
    expect(del.status).toBe(403);
    expect(await storedCounts(srv)).toEqual(before);

    // No team has none of Studio's profiles; the choice is in the URL.
    await page.getByLabel('Team', { exact: true }).selectOption({ label: 'No team' });
    await page.waitForURL('**/controls/os-settings?team_id=0');
    await page.getByText('No configuration profiles in this team yet.').waitFor();

    expect(problems).toEqual([]);
    await context.close();
  });
});
