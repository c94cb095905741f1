import { readFileSync } from 'node:fs';
import forge from 'node-forge';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { startAmapiStandIn } from '../../src/clients/amapi/fakeServer.js';
import { FakeDepServer } from '../../src/clients/dep/fakeServer.js';
import { androidServerUrl, androidTestConfig } from '../helpers/android.js';
import { adminPassword, api, setupAdmin } from '../helpers/api.js';
import { makePushCertificate } from '../helpers/apns.js';
import { launchChromium, logIn, openConsole, screenshot } from '../helpers/browser.js';
import { abmPublicKey, makeServerToken, serverTokenPlaintext } from '../helpers/dep.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const fakeDep = await FakeDepServer.start();
const amapi = await startAmapiStandIn();
let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
  await fakeDep.close();
  await amapi.close();
});

const v1 = '/api/latest/fleet';
const settingsUrl = (tab: string) => `/settings/organization?tab=${tab}`;

/** The APNs and ABM assets stored now (names only), to show a refused upload stored nothing. */
async function storedAssets(srv: TestServer): Promise<string[]> {
  const rows = await srv.app.services.database.db
    .selectFrom('mdm_config_assets')
    .select('name')
    .where('deletion_uuid', '=', '')
    .where('name', 'in', ['apns_cert', 'apns_key'])
    .execute();
  return rows.map((r) => r.name).sort();
}

/**
 * logIn() waits for the main navigation to be visible, which on a phone stays folded behind the
 * menu button; this waits for the dashboard instead.
 */
async function logInOnPhone(page: Page): Promise<void> {
  await page.goto('/login');
  await page.getByLabel('Email').fill('admin@example.com');
  await page.getByLabel('Password').fill(adminPassword);
  await page.getByRole('button', { name: 'Log in' }).click();
  await page.getByRole('button', { name: 'Menu' }).waitFor();
}

/** The visible section tabs, in order. */
async function tabNames(page: Page): Promise<string[]> {
  return page.getByRole('navigation', { name: 'Settings sections' }).getByRole('link').allTextContents();
}

describeEachDialect(
  'console: settings in Chromium',
  (server) => {
    let admin = '';
    beforeAll(async () => {
      admin = await setupAdmin(server());
    });

    it('renames the organization and turns Windows MDM on and off', async () => {
      const srv = server();
      const { page, context, problems } = await openConsole(browser, srv);
      await logIn(page);
      await page
        .getByRole('navigation', { name: 'Main' })
        .getByRole('link', { name: 'Settings', exact: true })
        .click();
      await page.getByRole('heading', { name: 'Organization' }).waitFor();
      expect(await tabNames(page)).toEqual([
        'Organization',
        'Apple (APNs)',
        'Windows MDM',
        'Enroll secrets',
        'Apple Business Manager',
        'Android Enterprise',
      ]);
      await expect.poll(() => page.getByLabel('Organization name').inputValue()).toBe('Acme');
      expect(await page.getByLabel('Server URL (what devices reach)').inputValue()).toBe(
        'http://localhost:8080',
      );
      await page.getByLabel('Organization name').fill('Acme Fleet Ops');
      await page.getByRole('button', { name: 'Save' }).click();
      await page.getByText('Saved.').waitFor();
      const config = await api(srv, 'GET', `${v1}/config`, { token: admin });
      expect(config.body.org_info.org_name).toBe('Acme Fleet Ops');
      expect(config.body.server_settings.server_url).toBe('http://localhost:8080');
      await screenshot(page, 'settings');

      // A refused save shows the server's words and changes nothing.
      await page.getByLabel('Server URL (what devices reach)').fill('');
      await page.getByLabel('Organization name').fill('Never saved');
      await page
        .getByLabel('Server URL (what devices reach)')
        .evaluate((el) => el.removeAttribute('required'));
      await page.getByRole('button', { name: 'Save' }).click();
      await expect.poll(() => page.getByRole('alert').textContent()).toBe('Validation Failed: Invalid URL');
      expect((await api(srv, 'GET', `${v1}/config`, { token: admin })).body.org_info.org_name).toBe(
        'Acme Fleet Ops',
      );

      // Windows MDM: on, then off after a confirmation.
      await page.getByRole('link', { name: 'Windows MDM' }).click();
      await page.getByRole('heading', { name: 'Windows MDM' }).waitFor();
      expect(new URL(page.url()).search).toBe('?tab=windows');
      await expect.poll(() => page.getByText('Windows MDM is').textContent()).toBe('Windows MDM is off');
      await page.getByRole('button', { name: 'Turn on Windows MDM' }).click();
      await page.getByRole('button', { name: 'Turn off Windows MDM' }).waitFor();
      expect(await page.getByText('Windows MDM is').textContent()).toBe('Windows MDM is on');
      const on = await api(srv, 'GET', `${v1}/config`, { token: admin });
      expect(on.body.mdm.windows_enabled_and_configured).toBe(true);
      await page.getByRole('button', { name: 'Turn off Windows MDM' }).click();
      const dialog = page.getByRole('dialog', { name: 'Turn off Windows MDM?' });
      await dialog.getByRole('button', { name: 'Turn off' }).click();
      await page.getByRole('button', { name: 'Turn on Windows MDM' }).waitFor();
      expect(await page.getByText('Windows MDM is').textContent()).toBe('Windows MDM is off');
      const off = await api(srv, 'GET', `${v1}/config`, { token: admin });
      expect(off.body.mdm.windows_enabled_and_configured).toBe(false);
      const acts = await srv.app.services.database.db
        .selectFrom('activities')
        .select('activity_type')
        .where('activity_type', 'in', ['enabled_windows_mdm', 'disabled_windows_mdm'])
        .orderBy('id')
        .execute();
      expect(acts.map((a) => a.activity_type)).toEqual(['enabled_windows_mdm', 'disabled_windows_mdm']);

      expect(problems).toEqual([]);
      await context.close();

      // The same page on a phone.
      const phone = await openConsole(browser, srv, { width: 390, height: 844 });
      await logInOnPhone(phone.page);
      await phone.page.goto(settingsUrl('organization'));
      await expect.poll(() => phone.page.getByLabel('Organization name').inputValue()).toBe('Acme Fleet Ops');
      await screenshot(phone.page, 'settings-phone');
      expect(phone.problems).toEqual([]);
      await phone.context.close();
    });

    it('downloads the CSR, refuses a wrong certificate, installs the right one and deletes it', async () => {
      const srv = server();
      // The run's shared APNs key stands in for the one the CSR request would make (RSA is slow).
      const sharedKey = inject('flotillaSharedCrypto')?.apnsKeyPem;
      if (sharedKey) await srv.app.services.assets.set({ apns_key: sharedKey });
      const { page, context, problems } = await openConsole(browser, srv);
      await logIn(page);
      await page.goto(settingsUrl('apple'));
      await page
        .getByText(
          'off No push certificate is installed, so Apple MDM is off: Macs, iPhones and iPads cannot enroll.',
        )
        .waitFor();

      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: 'Download CSR' }).click(),
      ]);
      expect(download.suggestedFilename()).toBe('flotilla-apns.csr');
      const csr = forge.pki.certificationRequestFromPem(readFileSync((await download.path())!, 'utf8'));
      expect(csr.verify()).toBe(true);
      const keyPem = (await srv.app.services.assets.getOne('apns_key', { fresh: true }))!.toString('utf8');
      const key = forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey;
      expect(forge.pki.publicKeyToPem(csr.publicKey!)).toBe(
        forge.pki.publicKeyToPem(forge.pki.setRsaPublicKey(key.n, key.e)),
      );
      await page.getByText('Saved flotilla-apns.csr.').waitFor();

      // A file that is not a certificate: the server's words, nothing stored.
      const picker = page.getByLabel('Push certificate from Apple (.pem)');
      await picker.setInputFiles({
        name: 'notes.pem',
        mimeType: 'application/x-pem-file',
        buffer: Buffer.from('this is not a certificate'),
      });
      await page.getByRole('button', { name: 'Upload certificate' }).click();
      await expect
        .poll(() => page.getByRole('alert').textContent())
        .toBe('Validation Failed: the file is not a PEM or DER certificate');
      // A certificate for someone else's key: refused too.
      await picker.setInputFiles({
        name: 'other.pem',
        mimeType: 'application/x-pem-file',
        buffer: Buffer.from(makePushCertificate().certPem),
      });
      await page.getByRole('button', { name: 'Upload certificate' }).click();
      await expect
        .poll(() => page.getByRole('alert').textContent())
        .toBe(
          'Validation Failed: the certificate does not match the stored APNs key (it was made from another CSR)',
        );
      expect(await storedAssets(srv)).toEqual(['apns_key']);
      expect((await api(srv, 'GET', `${v1}/mdm/apple`, { token: admin })).status).toBe(400);

      // Apple's certificate for our CSR, 20 days from expiry: installed, with a renewal warning.
      const cert = makePushCertificate({ keyPem, days: 20 });
      await picker.setInputFiles({
        name: 'MDM_Push.pem',
        mimeType: 'application/x-pem-file',
        buffer: Buffer.from(cert.certPem),
      });
      await page.getByRole('button', { name: 'Upload certificate' }).click();
      await page.getByText('Certificate uploaded. Apple MDM is on.').waitFor();
      const status = await api(srv, 'GET', `${v1}/mdm/apple`, { token: admin });
      expect(status.status).toBe(200);
      const facts = page.getByRole('definition');
      const renew = page.locator('time');
      await renew.waitFor();
      expect(await renew.getAttribute('datetime')).toBe(status.body.renew_date);
      expect(await renew.textContent()).toBe(status.body.renew_date.slice(0, 10));
      const days = Math.floor((Date.parse(status.body.renew_date) - Date.now()) / 86_400_000);
      expect(await page.getByRole('status').textContent()).toBe(
        `The push certificate expires in ${days} days. Renew it before then.`,
      );
      expect(await facts.allTextContents()).toContain(status.body.common_name);
      expect(await storedAssets(srv)).toEqual(['apns_cert', 'apns_key']);
      await page.getByRole('heading', { name: 'Renew the certificate' }).waitFor();
      await screenshot(page, 'settings-apns');

      // Delete, after a confirmation: Apple MDM is off again.
      await page.getByRole('button', { name: 'Delete certificate' }).click();
      await page
        .getByRole('dialog', { name: 'Delete the push certificate?' })
        .getByRole('button', { name: 'Delete certificate' })
        .click();
      await page.getByText('Certificate deleted. Apple MDM is off.').waitFor();
      expect((await api(srv, 'GET', `${v1}/mdm/apple`, { token: admin })).status).toBe(400);
      expect(await storedAssets(srv)).toEqual([]);

      expect(problems).toEqual([]);
      await context.close();
    });

    it('adds, reveals, copies and deletes a global enroll secret', async () => {
      const srv = server();
      const secrets = async () =>
        (await api(srv, 'GET', `${v1}/spec/enroll_secret`, { token: admin })).body.spec.secrets.map(
          (s: { secret: string }) => s.secret,
        ) as string[];
      const before = await secrets();
      const { page, context, problems } = await openConsole(browser, srv);
      await context.grantPermissions(['clipboard-read', 'clipboard-write']);
      await logIn(page);
      await page.goto(settingsUrl('enroll-secrets'));
      const list = page.getByRole('list', { name: 'Enroll secrets' });
      const rows = list.getByRole('listitem');
      await expect.poll(() => rows.count()).toBe(before.length);

      await page.getByRole('button', { name: 'Add secret' }).click();
      await expect.poll(() => rows.count()).toBe(before.length + 1);
      const after = await secrets();
      expect(after.slice(0, before.length)).toEqual(before);
      const added = after[before.length];
      expect(Buffer.from(added, 'base64')).toHaveLength(24);
      const n = before.length + 1;
      const value = rows.nth(n - 1).getByTestId('secret-value');
      expect(await value.textContent()).toBe('••••••••••••');
      await page.getByRole('button', { name: `Reveal secret ${n}` }).click();
      await expect.poll(() => value.textContent()).toBe(added);
      await page.getByRole('button', { name: `Copy secret ${n}` }).click();
      await page.getByText(`Secret ${n} copied.`).waitFor();
      expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(added);

      await page.getByRole('button', { name: `Delete secret ${n}` }).click();
      const dialog = page.getByRole('dialog', { name: 'Delete this enroll secret?' });
      await dialog.getByText('Devices using this secret can no longer enroll.').waitFor();
      await dialog.getByRole('button', { name: 'Delete secret' }).click();
      await expect.poll(() => rows.count()).toBe(before.length);
      expect(await secrets()).toEqual(before);

      expect(problems).toEqual([]);
      await context.close();
    });

    it('connects an ABM organization: public key, token upload, default teams, renew, delete', async () => {
      const srv = server();
      const team = await api(srv, 'POST', `${v1}/teams`, { token: admin, body: { name: 'Macs' } });
      expect(team.status).toBe(200);
      const { page, context, problems } = await openConsole(browser, srv);
      await logIn(page);
      await page.goto(settingsUrl('abm'));
      await page.getByText('No ABM organization is connected.').waitFor();

      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByRole('button', { name: 'Download public key' }).click(),
      ]);
      expect(download.suggestedFilename()).toBe('flotilla_abm.pem');
      const publicKey = await abmPublicKey(srv, admin);
      expect(readFileSync((await download.path())!, 'utf8')).toBe(publicKey);

      // Not a token: the server's words, nothing stored.
      const picker = page.getByLabel('Server token from ABM (.p7m)');
      await picker.setInputFiles({
        name: 'wrong.p7m',
        mimeType: 'application/pkcs7-mime',
        buffer: Buffer.from('not a token'),
      });
      await page.getByRole('button', { name: 'Upload token' }).click();
      await expect
        .poll(() => page.getByRole('alert').textContent())
        .toBe('Bad request: Invalid token. Please provide a valid token from Apple Business Manager.');
      expect((await api(srv, 'GET', `${v1}/abm_tokens`, { token: admin })).body.abm_tokens).toEqual([]);

      const creds = fakeDep.addAccount('Acme Devices', '2030-06-01T00:00:00Z');
      await picker.setInputFiles({
        name: 'server_token.p7m',
        mimeType: 'application/pkcs7-mime',
        buffer: makeServerToken(publicKey, serverTokenPlaintext(creds)),
      });
      await page.getByRole('button', { name: 'Upload token' }).click();
      await page.getByText('Token for Acme Devices added.').waitFor();
      const listed = (await api(srv, 'GET', `${v1}/abm_tokens`, { token: admin })).body.abm_tokens;
      expect(listed).toHaveLength(1);
      const row = page.getByRole('row').filter({ hasText: 'Acme Devices' });
      const renew = row.locator('time');
      expect(await renew.getAttribute('datetime')).toBe(listed[0].renew_date);
      expect(await renew.textContent()).toBe('2030-06-01');
      expect(await row.getByRole('cell').nth(3).textContent()).toBe(
        'macOS: No teamiOS: No teamiPadOS: No team',
      );

      // Default teams: macOS hosts join "Macs".
      await row.getByRole('button', { name: 'Edit teams of Acme Devices' }).click();
      const dialog = page.getByRole('dialog', { name: 'Default teams for Acme Devices' });
      await dialog.getByLabel('macOS hosts join').selectOption({ label: 'Macs' });
      await dialog.getByRole('button', { name: 'Save teams' }).click();
      await page.getByText('Default teams for Acme Devices saved.').waitFor();
      await expect
        .poll(() => row.getByRole('cell').nth(3).textContent())
        .toBe('macOS: MacsiOS: No teamiPadOS: No team');
      const teams = (await api(srv, 'GET', `${v1}/abm_tokens`, { token: admin })).body.abm_tokens[0];
      expect([teams.macos_team, teams.ios_team.team_id]).toEqual([
        { name: 'Macs', team_id: team.body.team.id },
        0,
      ]);
      await screenshot(page, 'settings-abm');

      // Renew with a newer token of the same organization: the new renew date shows.
      const renewed = fakeDep.addAccount('Acme Devices', '2031-02-01T00:00:00Z');
      await row.getByRole('button', { name: 'Renew Acme Devices' }).click();
      const renewRegion = page.getByRole('region', { name: 'Renew the token for Acme Devices' });
      await renewRegion.getByLabel('New server token (.p7m)').setInputFiles({
        name: 'renewed.p7m',
        mimeType: 'application/pkcs7-mime',
        buffer: makeServerToken(publicKey, serverTokenPlaintext(renewed)),
      });
      await renewRegion.getByRole('button', { name: 'Renew token' }).click();
      await page.getByText('Token for Acme Devices renewed.').waitFor();
      await expect.poll(() => renew.textContent()).toBe('2031-02-01');
      const afterRenew = (await api(srv, 'GET', `${v1}/abm_tokens`, { token: admin })).body.abm_tokens;
      expect(afterRenew.map((t: { id: number; renew_date: string }) => [t.id, t.renew_date])).toEqual([
        [listed[0].id, await renew.getAttribute('datetime')],
      ]);

      await row.getByRole('button', { name: 'Delete Acme Devices' }).click();
      await page
        .getByRole('dialog', { name: 'Delete the token for Acme Devices?' })
        .getByRole('button', { name: 'Delete token' })
        .click();
      await page.getByText('Token for Acme Devices deleted.').waitFor();
      expect((await api(srv, 'GET', `${v1}/abm_tokens`, { token: admin })).body.abm_tokens).toEqual([]);

      expect(problems).toEqual([]);
      await context.close();
    });

    it('Android Enterprise: localhost refusal, refused key file, then key, connect, disconnect', async () => {
      const srv = server();
      const { page, context, problems } = await openConsole(browser, srv);
      await logIn(page);
      await page.goto(settingsUrl('android'));
      await page
        .getByText('off No Android Enterprise is connected, so Android phones and tablets cannot enroll.')
        .waitFor();
      await page.getByText('No service account yet: connecting needs one.').waitFor();
      await page.getByRole('button', { name: 'Connect Android Enterprise' }).click();
      await expect
        .poll(() => page.getByRole('alert').textContent())
        .toBe(
          'Bad request: Android Enterprise cannot be enabled with localhost server URL: http://localhost:8080',
        );
      expect(await page.getByRole('link', { name: "Open Google's signup page" }).count()).toBe(0);

      // A key file Google would not accept: the server's words, nothing stored.
      const badKey = JSON.stringify({ type: 'service_account', project_id: 'p' });
      const refused = await api(srv, 'PUT', `${v1}/android_enterprise/service_account`, {
        token: admin,
        rawBody: badKey,
        headers: { 'content-type': 'application/json' },
      });
      expect(refused.status).toBe(422);
      await page.getByLabel('Service account JSON key file').setInputFiles({
        name: 'key.json',
        mimeType: 'application/json',
        buffer: Buffer.from(badKey),
      });
      await page.getByRole('button', { name: 'Upload key' }).click();
      await expect
        .poll(() => page.getByRole('alert').last().textContent())
        .toBe(`Validation Failed: ${refused.body.errors[0].reason}`);
      expect(
        (await api(srv, 'GET', `${v1}/android_enterprise/service_account`, { token: admin })).status,
      ).toBe(404);
      const rows = await srv.app.services.database.db.selectFrom('android_enterprises').selectAll().execute();
      expect(rows).toEqual([]);

      // The project's key file, then a public server URL: connect, finish Google's signup, disconnect.
      amapi.setPushTarget(srv.url);
      await page.getByLabel('Service account JSON key file').setInputFiles({
        name: 'key.json',
        mimeType: 'application/json',
        buffer: Buffer.from(JSON.stringify(amapi.serviceAccount)),
      });
      await page.getByRole('button', { name: 'Upload key' }).click();
      await page.getByText(`Service account ${amapi.serviceAccount.client_email} saved.`).waitFor();
      const account = (await api(srv, 'GET', `${v1}/android_enterprise/service_account`, { token: admin }))
        .body;
      expect(account.client_email).toBe(amapi.serviceAccount.client_email);
      await expect
        .poll(() => page.getByRole('definition').allTextContents())
        .toEqual([account.project_id, account.client_email, account.private_key_id]);
      const patched = await api(srv, 'PATCH', `${v1}/config`, {
        token: admin,
        body: { server_settings: { server_url: androidServerUrl } },
      });
      expect(patched.status).toBe(200);
      await page.getByRole('button', { name: 'Connect Android Enterprise' }).click();
      const signupLink = page.getByRole('link', { name: "Open Google's signup page" });
      await signupLink.waitFor();
      const signup = await srv.app.services.database.db
        .selectFrom('android_enterprises')
        .select('signup_name')
        .where('enterprise_id', '=', '')
        .executeTakeFirstOrThrow();
      const callbackUrl = [...amapi.requests].reverse().find((r) => r.path.endsWith('/signupUrls'))!.query
        .callbackUrl;
      expect(await signupLink.getAttribute('href')).toMatch(/^http/);
      // What Google's page does when the admin finishes: send the browser to the callback.
      const enterpriseToken = amapi.completeSignup(signup.signup_name);
      const callback = await api(
        srv,
        'GET',
        `${new URL(callbackUrl).pathname}?enterpriseToken=${encodeURIComponent(enterpriseToken)}`,
      );
      expect(callback.status).toBe(200);
      await page.getByRole('button', { name: 'Check status' }).click();
      const bound = (await api(srv, 'GET', `${v1}/android_enterprise`, { token: admin })).body;
      await expect
        .poll(() => page.getByRole('definition').allTextContents())
        .toEqual([
          'on',
          bound.android_enterprise_id,
          account.project_id,
          account.client_email,
          account.private_key_id,
        ]);
      await page.getByRole('button', { name: 'Disconnect Android Enterprise' }).click();
      await page
        .getByRole('dialog', { name: 'Disconnect Android Enterprise?' })
        .getByRole('button', { name: 'Disconnect' })
        .click();
      await page.getByText('Android Enterprise disconnected. Android MDM is off.').waitFor();
      expect((await api(srv, 'GET', `${v1}/android_enterprise`, { token: admin })).status).toBe(404);
      expect((await srv.app.services.appConfig.get()).mdm.android_enabled_and_configured).toBe(false);
      await api(srv, 'PATCH', `${v1}/config`, {
        token: admin,
        body: { server_settings: { server_url: 'http://localhost:8080' } },
      });

      expect(problems).toEqual([]);
      await context.close();
    });

    it('shows an observer the organization read-only and nothing they may not read', async () => {
      const srv = server();
      const created = await api(srv, 'POST', `${v1}/users/admin`, {
        token: admin,
        body: {
          name: 'Olive Observer',
          email: 'olive@example.com',
          password: 'observer-password-1!',
          global_role: 'observer',
        },
      });
      expect(created.status).toBe(200);
      const configBefore = (await api(srv, 'GET', `${v1}/config`, { token: admin })).body;
      const { page, context, problems } = await openConsole(browser, srv);
      await logIn(page, 'olive@example.com', 'observer-password-1!');
      expect(
        await page
          .getByRole('navigation', { name: 'Main' })
          .getByRole('link', { name: 'Settings', exact: true })
          .count(),
      ).toBe(0);
      await page.goto(settingsUrl('abm'));
      await page.getByRole('heading', { name: 'Organization' }).waitFor();
      expect(await tabNames(page)).toEqual(['Organization', 'Windows MDM']);
      await page.getByText('Only global admins can change these settings.').waitFor();
      expect(await page.getByRole('definition').allTextContents()).toEqual([
        configBefore.org_info.org_name,
        'http://localhost:8080',
      ]);
      expect(await page.getByRole('textbox').count()).toBe(0);
      expect(await page.getByRole('button', { name: 'Save' }).count()).toBe(0);

      await page.getByRole('link', { name: 'Windows MDM' }).click();
      await expect.poll(() => page.getByText('Windows MDM is').textContent()).toBe('Windows MDM is off');
      expect(await page.getByRole('main').getByRole('button').count()).toBe(0);

      expect((await api(srv, 'GET', `${v1}/config`, { token: admin })).body).toEqual(configBefore);
      expect(problems).toEqual([]);
      await context.close();
    });
  },
  {
    appleDepBaseUrl: fakeDep.url,
    // Google's APIs at the stand-in; the server URL stays localhost, which signup refuses.
    ...androidTestConfig(amapi),
    serverUrl: 'http://localhost:8080',
  },
);
