import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Locator, Page } from 'playwright-core';
import { SimulatedWindowsDevice } from '../../src/windows/sim/device.js';
import { api, setupAdmin } from '../helpers/api.js';
import { installPushCertificate } from '../helpers/apns.js';
import { enrolledDevice, testTopic } from '../helpers/appleDevice.js';
import { launchChromium, logIn, openConsole, screenshot } from '../helpers/browser.js';
import { converge, mobileconfig } from '../helpers/profiles.js';
import { describeEachDialect } from '../helpers/testServer.js';
import { enableWindowsMdm } from '../helpers/windowsDevice.js';
import { convergeWindows } from '../helpers/windowsProfiles.js';

/**
 * The story, end to end in a real browser against a real server and simulated devices: an
 * admin logs in, sees a Mac and a PC enrolled, uploads profiles scoped by a label, watches the PC's
 * reach verified on its host page (the page updates itself), sees the Mac's failed profile with the
 * device's error text, and locks the Mac with the PIN shown.
 */

const v1 = '/api/latest/fleet';
const enrollSecret = 'console-story-secret';
const blockUnenroll = readFileSync(
  new URL('../vectors/windows/fleet_profile_replace_int_BlockMDMUnenrollment.xml', import.meta.url),
);

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

/** The status cell and the detail cell of a profile's row on the host page. */
function profileRow(page: Page, name: string): { status: Locator; detail: Locator } {
  const row = page
    .getByRole('region', { name: 'Configuration profiles' })
    .getByRole('row')
    .filter({ hasText: name });
  return { status: row.getByRole('cell').nth(2), detail: row.getByRole('cell').nth(3) };
}

/** Opens a host from the hosts list, as an admin would: the menu, then the host's name. */
async function openHost(page: Page, name: string) {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Hosts' }).click();
  await page.getByRole('link', { name, exact: true }).click();
  await page.getByRole('heading', { name, level: 1 }).waitFor();
}

describeEachDialect(
  'console story in Chromium: enrolled devices, a label-scoped profile, verified, lock',
  (server) => {
    it('an admin sees a Mac and a PC, scopes profiles by label, watches them settle, reads the failure, locks the Mac', async () => {
      const srv = server();
      const admin = await setupAdmin(srv);
      await installPushCertificate(srv.app.services, { topic: testTopic });
      await enableWindowsMdm(srv, enrollSecret);
      const mac = await enrolledDevice(srv, { deviceName: 'Story Mac', serial: 'C02STORY0001' });
      const pc = new SimulatedWindowsDevice({
        serverUrl: srv.url,
        enrollSecret,
        keyBits: 1024,
        hostname: 'STORY-PC',
      });
      await pc.orbitEnroll();
      await pc.enrollProgrammatically();
      await pc.runSession();
      // The Mac refuses every profile: its error is what the admin should read.
      mac.forcedAnswers.set('InstallProfile', 'Error');
      // A third host outside the label, so the scope shows.
      const other = new SimulatedWindowsDevice({
        serverUrl: srv.url,
        enrollSecret,
        keyBits: 1024,
        hostname: 'OTHER-PC',
      });
      await other.orbitEnroll();
      await other.enrollProgrammatically();
      await other.runSession();
      const label = await api(srv, 'POST', `${v1}/labels`, {
        token: admin,
        body: { name: 'Story devices', hosts: [mac.udid, pc.hardwareUuid] },
      });
      expect(label.status, label.text).toBe(200);

      const { page, context, problems } = await openConsole(browser, srv);
      await logIn(page);

      // The hosts list shows the Mac and the PCs, each with MDM on.
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Hosts' }).click();
      for (const name of ['Story Mac', 'STORY-PC', 'OTHER-PC'])
        await page.getByRole('link', { name, exact: true }).waitFor();
      await screenshot(page, 'story-hosts');

      // OS settings: two profiles at once, for hosts with any of the label "Story devices".
      await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'OS settings' }).click();
      await page.getByRole('heading', { name: 'OS settings', exact: true }).waitFor();
      await page.getByLabel('Profile files').setInputFiles([
        { name: 'Block unenroll.xml', mimeType: 'application/xml', buffer: blockUnenroll },
        {
          name: 'Dock.mobileconfig',
          mimeType: 'application/x-apple-aspen-config',
          buffer: mobileconfig('com.example.story.dock', 'Story dock'),
        },
      ]);
      await page.getByRole('radio', { name: 'Hosts with any of the labels' }).check();
      await page.getByRole('checkbox', { name: 'Story devices' }).check();
      await page.getByRole('button', { name: 'Upload 2 profiles' }).click();
      await page.getByText('Upload finished: 2 of 2').waitFor();
      const listed = await api(srv, 'GET', `${v1}/configuration_profiles`, { token: admin });
      expect(listed.status).toBe(200);
      expect(
        listed.body.profiles.map((p: { name: string; labels_include_any: { name: string }[] }) => [
          p.name,
          p.labels_include_any.map((l) => l.name),
        ]),
      ).toEqual([
        ['Block unenroll', ['Story devices']],
        ['Story dock', ['Story devices']],
      ]);

      // The PC's host page shows the profile on its way; the PC takes it and reads it back, and the
      // page, left open, comes to show it verified.
      await openHost(page, 'STORY-PC');
      const pcProfile = profileRow(page, 'Block unenroll');
      await expect.poll(() => pcProfile.status.textContent()).toBe('pending');
      await page
        .getByText('Changes are under way on this device; this page updates itself every few seconds.')
        .waitFor();
      await convergeWindows(srv, [pc, other], 3);
      await expect.poll(() => pcProfile.status.textContent(), { timeout: 30_000 }).toBe('verified');
      await screenshot(page, 'story-pc-verified');
      // The PC outside the label got nothing.
      const otherHost = (await srv.app.services.hostStore.findByUuid(other.hardwareUuid))!;
      const otherProfiles = await api(srv, 'GET', `${v1}/hosts/${otherHost.id}`, { token: admin });
      expect(otherProfiles.body.host.mdm.profiles ?? []).toEqual([]);

      // The Mac's page: the device refused the profile, and its words are on the page.
      await openHost(page, 'Story Mac');
      const macProfile = profileRow(page, 'Story dock');
      await converge(srv, [mac]);
      await expect.poll(() => macProfile.status.textContent(), { timeout: 30_000 }).toBe('failed');
      const stored = await srv.app.services.database.db
        .selectFrom('host_mdm_apple_profiles')
        .select(['status', 'detail'])
        .where('host_uuid', '=', mac.udid)
        .where('profile_identifier', '=', 'com.example.story.dock')
        .executeTakeFirstOrThrow();
      expect(stored.status).toBe('failed');
      expect(stored.detail).toContain('Simulated failure');
      expect(await macProfile.detail.textContent()).toBe(stored.detail);

      // Lock the Mac: confirm, read the PIN; the Mac takes the command and the page shows it locked.
      await page.getByRole('button', { name: 'Lock', exact: true }).click();
      await page
        .getByRole('dialog', { name: 'Lock host?' })
        .getByRole('button', { name: 'Lock', exact: true })
        .click();
      await page.getByText('Lock command sent. To unlock the Mac, the user enters this PIN:').waitFor();
      const pin = (await page.locator('.host-pin').textContent())!;
      expect(pin).toMatch(/^\d{6}$/);
      await mac.connect();
      const macHost = (await srv.app.services.hostStore.findByUuid(mac.udid))!;
      const locked = await api(srv, 'GET', `${v1}/hosts/${macHost.id}`, { token: admin });
      expect(locked.body.host.mdm.device_status).toBe('locked');
      await page.getByRole('button', { name: 'Unlock', exact: true }).waitFor({ timeout: 30_000 });
      await expect
        .poll(() => page.locator('.host-header').textContent(), { timeout: 30_000 })
        .toContain('locked');
      await screenshot(page, 'story-mac-locked');

      expect(problems).toEqual([]);
      await context.close();
    });
  },
);
