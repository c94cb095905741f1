import { cpSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import type { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import type { SimulatedWindowsDevice } from '../../src/windows/sim/device.js';
import { api, setupAdmin } from '../helpers/api.js';
import { installPushCertificate, startFakeApns } from '../helpers/apns.js';
import { enrolledDevice, testTopic } from '../helpers/appleDevice.js';
import { launchChromium, logIn, openConsole, screenshot } from '../helpers/browser.js';
import { activitiesOf, fileVaultBlob, keyRow } from '../helpers/diskEncryption.js';
import { converge, mobileconfig, uploadProfile } from '../helpers/profiles.js';
import { defaultConsoleAssetsDir } from '../../src/web/routes.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';
import { enableWindowsMdm, enrolledWindowsPc } from '../helpers/windowsDevice.js';
import { convergeWindows, queuedFor, syncmlItem } from '../helpers/windowsProfiles.js';

/**
 * A private copy of the built console for this file's servers: other test runs on the machine
 * rebuild dist/web when its sources change, which deletes the hashed assets a running server's
 * index.html names. A copy whose index names assets it lacks was taken mid-build: copy again.
 */
function privateConsoleCopy(): string {
  for (let attempt = 0; ; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'flotilla-console-'));
    cpSync(defaultConsoleAssetsDir(), dir, { recursive: true });
    const index = existsSync(join(dir, 'index.html')) ? readFileSync(join(dir, 'index.html'), 'utf8') : '';
    const assets = [...index.matchAll(/"\/(assets\/[^"]+)"/g)].map((m) => m[1]);
    if ((assets.length && assets.every((a) => existsSync(join(dir, a)))) || attempt === 4) return dir;
  }
}
const consoleDir = privateConsoleCopy();

const apns = await startFakeApns();
afterAll(() => apns.fake.close());

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

const enrollSecret = 'console-host-detail-secret';
const observer = { email: 'olga@example.com', password: 'Observer-pass-1!' };
const recoveryKey = 'ABCD-EFGH-IJKL-MNOP-QRST-UVWX';
const refusedUri = './Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera';

/** The text of the facts list entry named `term` in the section named `section`. */
async function fact(page: Page, section: string, term: string): Promise<string> {
  const dd = page
    .getByRole('region', { name: section })
    .locator('dt', { hasText: new RegExp(`^${term}$`) })
    .locator('xpath=following-sibling::dd[1]');
  return ((await dd.textContent()) ?? '').trim();
}

describeEachDialect(
  'console: host detail page in Chromium',
  (server) => {
    let srv: TestServer;
    let admin = '';
    let mac: SimulatedAppleDevice;
    let macId = 0;
    let pc: SimulatedWindowsDevice;
    let pcId = 0;

    beforeAll(async () => {
      srv = server();
      admin = await setupAdmin(srv);
      await installPushCertificate(srv.app.services, { topic: testTopic });
      await enableWindowsMdm(srv, enrollSecret);
      const created = await api(srv, 'POST', '/api/latest/fleet/users/admin', {
        token: admin,
        body: { name: 'Olga Observer', ...observer, global_role: 'observer' },
      });
      expect(created.status).toBe(200);

      mac = await enrolledDevice(srv, { deviceName: 'Design Mac', serial: 'C02CONSOLE01' });
      macId = (await srv.app.services.hostStore.findByUuid(mac.udid))!.id;
      pc = await enrolledWindowsPc(srv, enrollSecret);
      pcId = (await srv.app.services.hostStore.findByUuid(pc.hardwareUuid))!.id;

      // A profile each device refuses, so the page has the device's own error text to show.
      mac.forcedAnswers.set('InstallProfile', 'Error');
      const dock = await uploadProfile(srv, admin, {
        name: 'Dock.mobileconfig',
        bytes: mobileconfig('com.example.dock', 'Dock settings'),
      });
      expect(dock.status).toBe(200);
      await converge(srv, [mac]);
      const macRows = await srv.app.services.database.db
        .selectFrom('host_mdm_apple_profiles')
        .select(['profile_identifier', 'status'])
        .where('host_uuid', '=', mac.udid)
        .execute();
      expect(macRows).toEqual([{ profile_identifier: 'com.example.dock', status: 'failed' }]);
      pc.refusals.set(`Replace ${refusedUri}`, '405');
      const camera = await uploadProfile(srv, admin, {
        name: 'Camera.xml',
        bytes: `<Replace>${syncmlItem(refusedUri, '0')}</Replace>`,
      });
      expect(camera.status).toBe(200);
      await convergeWindows(srv, [pc], 3);

      // The Mac escrows its FileVault key and the server checks that it opens.
      const hostRow = (await srv.app.services.hostStore.getById(macId))!;
      await srv.app.services.diskEncryption.escrowFileVaultKey(
        hostRow,
        await fileVaultBlob(srv, recoveryKey),
      );
      await srv.app.services.diskEncryption.verifyKeys();
      expect(Number((await keyRow(srv, macId))!.decryptable)).toBe(1);
    });

    it('shows a Mac: vitals, the device error of a failed profile, lock with PIN, restart, refetch, an audited key reveal, unlock', async () => {
      const { page, context, problems } = await openConsole(browser, srv);
      await logIn(page);
      await page.goto(`/hosts/${macId}`);
      await page.getByRole('heading', { name: 'Design Mac', level: 1 }).waitFor();

      expect(await fact(page, 'About this host', 'Platform')).toBe('macOS');
      expect(await fact(page, 'About this host', 'Serial number')).toBe('C02CONSOLE01');
      expect(await fact(page, 'About this host', 'UUID')).toBe(mac.udid);
      expect(await fact(page, 'About this host', 'Team')).toBe('No team');
      expect(await fact(page, 'Device management', 'MDM status')).toBe('On (manual)');
      expect(await fact(page, 'Device management', 'Device status')).toBe('unlocked');

      // The failed profile, with the device's words.
      const profiles = page.getByRole('region', { name: 'Configuration profiles' });
      const dockRow = profiles.getByRole('row').filter({ hasText: 'Dock settings' });
      await expect.poll(() => dockRow.getByRole('cell').nth(2).textContent()).toBe('failed');
      const macDetail = (await srv.app.services.database.db
        .selectFrom('host_mdm_apple_profiles')
        .select('detail')
        .where('host_uuid', '=', mac.udid)
        .where('profile_identifier', '=', 'com.example.dock')
        .executeTakeFirstOrThrow())!.detail;
      expect(macDetail).toContain('Simulated failure');
      expect(await dockRow.getByRole('cell').nth(3).textContent()).toBe(macDetail);
      await screenshot(page, 'host-detail');

      // Resend queues the profile again (the API's 202), and the row goes back to pending.
      await dockRow.getByRole('button', { name: 'Resend Dock settings' }).click();
      await dockRow.getByText('Resend queued.').waitFor();
      await expect.poll(() => dockRow.getByRole('cell').nth(2).textContent()).toBe('pending');

      // Lock: the dialog explains, the API's PIN is shown, the DeviceLock command is queued.
      await page.getByRole('button', { name: 'Lock', exact: true }).click();
      const dialog = page.getByRole('dialog', { name: 'Lock host?' });
      await dialog.waitFor();
      await screenshot(page, 'host-lock-dialog');
      await dialog.getByRole('button', { name: 'Lock', exact: true }).click();
      await page.getByText('Lock command sent. To unlock the Mac, the user enters this PIN:').waitFor();
      const pin = (await page.locator('.host-pin').textContent())!;
      expect(pin).toMatch(/^\d{6}$/);
      const action = await srv.app.services.database.db
        .selectFrom('host_mdm_actions')
        .selectAll()
        .where('host_id', '=', macId)
        .executeTakeFirstOrThrow();
      expect(action.unlock_pin).toBe(pin);
      const queued = await srv.app.services.database.db
        .selectFrom('nano_commands')
        .select(['command_uuid', 'request_type'])
        .where('command_uuid', '=', action.lock_ref!)
        .executeTakeFirstOrThrow();
      expect(queued.request_type).toBe('DeviceLock');
      await expect
        .poll(() => fact(page, 'Device management', 'Device status'))
        .toBe('locking (pending lock)');
      const detail = await api(srv, 'GET', `/api/latest/fleet/hosts/${macId}`, { token: admin });
      expect([detail.body.host.mdm.device_status, detail.body.host.mdm.pending_action]).toEqual([
        'locking',
        'lock',
      ]);
      // A locking host offers unlock, not lock or wipe.
      await page.getByRole('button', { name: 'Unlock', exact: true }).waitFor();
      expect(await page.getByRole('button', { name: 'Lock', exact: true }).count()).toBe(0);
      expect(await page.getByRole('button', { name: 'Wipe', exact: true }).count()).toBe(0);

      // Restart: Apple's RestartDevice, run through the commands API.
      await page.getByRole('button', { name: 'Restart', exact: true }).click();
      await page
        .getByRole('dialog', { name: 'Restart host?' })
        .getByRole('button', { name: 'Restart', exact: true })
        .click();
      await page
        .getByText('Restart command sent (RestartDevice). The host restarts when it receives it.')
        .waitFor();
      const restarts = await api(
        srv,
        'GET',
        `/api/latest/fleet/commands?host_identifier=${mac.udid}&request_type=RestartDevice`,
        { token: admin },
      );
      expect(restarts.body.results.map((r: { status: string }) => r.status)).toEqual(['Pending']);

      // The device takes both commands; the history shows them with the device's answer.
      expect((await mac.connect()).map((c) => c.requestType).sort()).toEqual(
        expect.arrayContaining(['DeviceLock', 'RestartDevice']),
      );
      await page.reload();
      await expect.poll(() => fact(page, 'Device management', 'Device status')).toBe('locked');
      const commands = page.getByRole('region', { name: 'MDM commands' });
      const restartRow = commands.getByRole('row').filter({ hasText: 'RestartDevice' });
      await expect.poll(() => restartRow.getByRole('cell').nth(1).textContent()).toBe('Acknowledged');
      await restartRow.getByRole('button', { name: 'Show result of RestartDevice' }).click();
      const result = commands.getByRole('region', { name: 'Result of RestartDevice' });
      await result.getByRole('heading', { name: 'Result of RestartDevice' }).waitFor();
      const resultXml = (await result.getByLabel('Result', { exact: true }).textContent())!;
      expect(resultXml).toContain('<key>Status</key>');
      expect(resultXml).toContain('<string>Acknowledged</string>');
      const commandXml = (await result.getByLabel('Command', { exact: true }).textContent())!;
      expect(commandXml).toMatch(
        new RegExp(
          [
            '^<\\?xml version="1.0" encoding="UTF-8"\\?>',
            '<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">',
            '<plist version="1.0">',
            '  <dict>',
            '    <key>CommandUUID</key>',
            '    <string>[0-9A-F-]{36}</string>',
            '    <key>Command</key>',
            '    <dict>',
            '      <key>RequestType</key>',
            '      <string>RestartDevice</string>',
            '    </dict>',
            '  </dict>',
            '</plist>$',
          ].join('\n'),
        ),
      );

      // Refetch asks the host for fresh vitals.
      await page.getByRole('button', { name: 'Refetch' }).click();
      await page
        .getByText('Refetch requested. The host sends fresh vitals when it next checks in.')
        .waitFor();
      expect((await srv.app.services.hostStore.getById(macId))!.refetch_requested).toBeTruthy();

      // The key: asked for, said to be audited, shown, and recorded in the host's activity.
      const before = (await activitiesOf(srv, 'read_host_disk_encryption_key')).length;
      await page.getByRole('button', { name: 'Show disk encryption key' }).click();
      const keyDialog = page.getByRole('dialog', { name: 'Show disk encryption key?' });
      await keyDialog
        .getByText(
          "Viewing this host's disk encryption key is recorded in the activity log as Admin (admin@example.com).",
        )
        .waitFor();
      await keyDialog.getByRole('button', { name: 'Show key' }).click();
      await expect.poll(() => page.locator('.host-secret').textContent()).toBe(recoveryKey);
      const reads = await activitiesOf(srv, 'read_host_disk_encryption_key');
      expect(reads.length).toBe(before + 1);
      expect(reads[0].details).toMatchObject({ host_id: macId, host_display_name: 'Design Mac' });
      const activity = page.getByRole('list', { name: 'Host activity' }).getByRole('listitem');
      await expect
        .poll(() => activity.first().locator('span').first().textContent())
        .toBe("Admin viewed the host's disk encryption key");
      expect(await activity.allTextContents()).toEqual(
        expect.arrayContaining([
          expect.stringContaining('Admin ran the MDM command RestartDevice'),
          expect.stringContaining('Admin locked the host'),
          expect.stringContaining('Admin resent the configuration profile Dock settings'),
        ]),
      );

      // Unlock: a Mac takes the PIN it was locked with, which the page shows again.
      await page.getByRole('button', { name: 'Unlock', exact: true }).click();
      await page
        .getByRole('dialog', { name: 'Unlock host?' })
        .getByRole('button', { name: 'Unlock', exact: true })
        .click();
      await page.getByText('Give the user this PIN to unlock the Mac:').waitFor();
      expect(await page.locator('.host-pin').textContent()).toBe(pin);
      await expect
        .poll(() => fact(page, 'Device management', 'Device status'))
        .toBe('unlocking (pending unlock)');

      expect(problems).toEqual([]);
      await context.close();
    });

    it('shows a Windows PC: vitals, the refused setting, restart queues RebootNow, a refused lock in words, wipe asks for the name', async () => {
      const { page, context, problems } = await openConsole(browser, srv);
      await logIn(page);
      await page.goto(`/hosts/${pcId}`);
      const host = (await srv.app.services.hostStore.getById(pcId))!;
      await page.getByRole('heading', { name: host.computer_name || host.hostname, level: 1 }).waitFor();
      expect(await fact(page, 'About this host', 'Platform')).toBe('Windows');
      expect(await fact(page, 'About this host', 'UUID')).toBe(pc.hardwareUuid);
      expect(await fact(page, 'Device management', 'MDM status')).toBe('On (manual)');

      const cameraRow = page
        .getByRole('region', { name: 'Configuration profiles' })
        .getByRole('row')
        .filter({ hasText: 'Camera' });
      expect(await cameraRow.getByRole('cell').nth(2).textContent()).toBe('failed');
      expect(await cameraRow.getByRole('cell').nth(3).textContent()).toBe(`${refusedUri}: status 405`);

      await page.getByRole('button', { name: 'Restart', exact: true }).click();
      await page
        .getByRole('dialog', { name: 'Restart host?' })
        .getByRole('button', { name: 'Restart', exact: true })
        .click();
      await page
        .getByText(
          'Restart command sent (./Device/Vendor/MSFT/Reboot/RebootNow). The host restarts when it receives it.',
        )
        .waitFor();
      expect(
        (await queuedFor(srv, pc.hardwareUuid)).some((c) => c.includes('Reboot/RebootNow</LocURI>')),
      ).toBe(true);
      const commandsRow = page
        .getByRole('region', { name: 'MDM commands' })
        .getByRole('row')
        .filter({ hasText: './Device/Vendor/MSFT/Reboot/RebootNow' });
      await expect.poll(() => commandsRow.getByRole('cell').nth(1).textContent()).toBe('Pending');

      // The PC runs the command; its SyncML answer is shown decoded and indented.
      await pc.runSession();
      await page.reload();
      await expect.poll(() => commandsRow.getByRole('cell').nth(1).textContent()).toBe('200');
      await commandsRow.getByRole('button', { name: /^Show result of/ }).click();
      const result = page.getByRole('region', { name: 'Result of ./Device/Vendor/MSFT/Reboot/RebootNow' });
      const reboot = await api(
        srv,
        'GET',
        `/api/latest/fleet/commands?host_identifier=${pc.hardwareUuid}&request_type=./Device/Vendor/MSFT/Reboot/RebootNow`,
        { token: admin },
      );
      const uuid = reboot.body.results[0].command_uuid as string;
      await expect
        .poll(() => result.getByLabel('Result', { exact: true }).textContent())
        .toMatch(
          new RegExp(
            `^<Status>\n  <CmdID>\\d+</CmdID>\n  <MsgRef>\\d+</MsgRef>\n  <CmdRef>${uuid}</CmdRef>\n  <Cmd>Exec</Cmd>\n  <Data>200</Data>\n</Status>$`,
          ),
        );
      expect(await result.getByLabel('Command', { exact: true }).textContent()).toBe(
        [
          '<Exec>',
          `  <CmdID>${uuid}</CmdID>`,
          '  <Item>',
          '    <Target>',
          '      <LocURI>./Device/Vendor/MSFT/Reboot/RebootNow</LocURI>',
          '    </Target>',
          '  </Item>',
          '</Exec>',
        ].join('\n'),
      );

      // Windows lock needs scripts: the API's refusal shows in the dialog, and nothing is recorded.
      const activitiesBefore = await activitiesOf(srv, 'locked_host');
      await page.getByRole('button', { name: 'Lock', exact: true }).click();
      const lock = page.getByRole('dialog', { name: 'Lock host?' });
      await lock.getByRole('button', { name: 'Lock', exact: true }).click();
      await expect
        .poll(() => lock.getByRole('alert').textContent())
        .toBe(
          "Validation Failed: Couldn't lock host. To lock, deploy the fleetd agent with --enable-scripts and refetch host vitals.",
        );
      expect(
        await srv.app.services.database.db
          .selectFrom('host_mdm_actions')
          .selectAll()
          .where('host_id', '=', pcId)
          .execute(),
      ).toEqual([]);
      expect(await activitiesOf(srv, 'locked_host')).toEqual(activitiesBefore);
      await lock.getByRole('button', { name: 'Cancel' }).click();
      await lock.waitFor({ state: 'detached' });

      // Wipe asks for the host's name; a wrong one sends nothing.
      const name = host.computer_name || host.hostname;
      await page.getByRole('button', { name: 'Wipe', exact: true }).click();
      const wipe = page.getByRole('dialog', { name: 'Wipe host?' });
      await wipe.getByLabel('Type the host name to confirm').fill('not-this-host');
      await wipe.getByRole('button', { name: 'Wipe', exact: true }).click();
      await expect
        .poll(() => wipe.getByRole('alert').textContent())
        .toBe(`Type the host name, ${name}, to confirm.`);
      expect(
        await srv.app.services.database.db
          .selectFrom('host_mdm_actions')
          .selectAll()
          .where('host_id', '=', pcId)
          .execute(),
      ).toEqual([]);
      await wipe.getByLabel('Type the host name to confirm').fill(name);
      await wipe.getByRole('button', { name: 'Wipe', exact: true }).click();
      await page.getByText('Wipe command sent. The host erases itself when it receives it.').waitFor();
      await expect.poll(() => fact(page, 'Device management', 'Device status')).toBe('wiping (pending wipe)');
      const wiped = await api(srv, 'GET', `/api/latest/fleet/hosts/${pcId}`, { token: admin });
      expect(wiped.body.host.mdm.device_status).toBe('wiping');
      expect(await page.getByRole('button', { name: 'Lock', exact: true }).count()).toBe(0);

      expect(problems).toEqual([]);
      await context.close();
    });

    it('an observer sees the host and may refetch, but gets no other action, resend or key button, and the API refuses them', async () => {
      const { page, context, problems } = await openConsole(browser, srv);
      await logIn(page, observer.email, observer.password);
      // On a phone the menu folds away, so log in at desk width, then narrow the window.
      await page.setViewportSize({ width: 390, height: 844 });
      await page.goto(`/hosts/${macId}`);
      await page.getByRole('heading', { name: 'Design Mac', level: 1 }).waitFor();
      await page.getByRole('region', { name: 'Configuration profiles' }).getByText('Dock settings').waitFor();
      await screenshot(page, 'host-detail-phone');
      // Refetch is open to every role that reads the host, as the API allows; nothing else is.
      const actions = page.getByRole('group', { name: 'Host actions' });
      expect(await actions.getByRole('button').allTextContents()).toEqual(['Refetch']);
      for (const name of ['Restart', 'Lock', 'Unlock', 'Wipe', 'Show disk encryption key']) {
        expect(await page.getByRole('button', { name, exact: true }).count()).toBe(0);
      }
      expect(await page.getByRole('button', { name: /^Resend/ }).count()).toBe(0);
      // Observers may read the command history.
      await page.getByRole('region', { name: 'MDM commands' }).getByText('RestartDevice').first().waitFor();

      const token = (await page.evaluate(() => localStorage.getItem('flotilla.token')))!;
      const before = (await activitiesOf(srv, 'read_host_disk_encryption_key')).length;
      const key = await api(srv, 'GET', `/api/latest/fleet/hosts/${macId}/encryption_key`, { token });
      expect(key.status).toBe(403);
      expect((await activitiesOf(srv, 'read_host_disk_encryption_key')).length).toBe(before);

      expect(problems).toEqual([]);
      await context.close();
    });
  },
  { ...apns.overrides, consoleDir },
);
