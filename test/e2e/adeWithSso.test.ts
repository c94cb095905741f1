import { afterAll, beforeAll, expect, it } from 'vitest';
import { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { FakeDepServer } from '../../src/clients/dep/fakeServer.js';
import { FakeIdp } from '../../src/clients/saml/fakeIdp.js';
import { createTeam } from '../helpers/adminFixtures.js';
import { api, setupAdmin } from '../helpers/api.js';
import { installPushCertificate, startFakeApns } from '../helpers/apns.js';
import { makePkg, uploadPkg } from '../helpers/bootstrapPkg.js';
import { connectAccount, mac } from '../helpers/dep.js';
import { describeEachDialect } from '../helpers/testServer.js';
import { configureIdp, followToIdp, postToAcs, startLogin } from '../integration/endUserSsoHelpers.js';

const dep = await FakeDepServer.start();
const apns = await startFakeApns();
const idp = await new FakeIdp().start();
afterAll(async () => {
  await dep.close();
  await apns.fake.close();
  await idp.close();
});

/**
 * The whole ADE story against the stand-ins (Apple's DEP API, a SAML IdP, APNs): an ABM token and
 * its default team, the sync's pending host, the user signing in before enrollment, the Mac
 * enrolling through ADE as that host, its setup (profiles, bootstrap package, account
 * configuration) and its release from Setup Assistant.
 */
describeEachDialect(
  'ADE with end-user authentication, end to end',
  (server) => {
    let admin: string;
    const services = () => server().app.services;
    const db = () => services().database.db;

    beforeAll(async () => {
      admin = await setupAdmin(server());
      await configureIdp(server(), admin, idp);
      await installPushCertificate(services());
    });

    it('ABM sync → SSO → ADE enrollment with the IdP account → bootstrap package → DeviceConfigured', async () => {
      const team = await createTeam(server(), admin, 'Design');
      const patched = await api(server(), 'PATCH', `/api/v1/fleet/teams/${team}`, {
        token: admin,
        body: { mdm: { macos_setup: { enable_end_user_authentication: true } } },
      });
      expect(patched.status).toBe(200);
      const pkg = makePkg({ heapBytes: 200_000 });
      const uploaded = await uploadPkg(
        server(),
        admin,
        { name: 'Design.pkg', bytes: pkg },
        { team_id: String(team) },
      );
      expect(uploaded.status).toBe(200);
      const acct = await connectAccount(server(), admin, dep, { macos: team });

      // ABM assigns a Mac; the sync makes it a pending host of the team and assigns our profile,
      // whose web URL is the SSO page.
      const d = mac();
      dep.addDevices(acct.credentials.consumer_key, [d]);
      expect((await services().appleDep.sync.syncToken(acct.tokenId)).ok).toBe(true);
      const [placeholder] = await db()
        .selectFrom('hosts')
        .selectAll()
        .where('hardware_serial', '=', d.serial_number)
        .execute();
      expect(placeholder).toMatchObject({ team_id: team, platform: 'darwin', uuid: '' });
      const assigned = dep.device(acct.credentials.consumer_key, d.serial_number)!;
      expect(assigned.profile_status).toBe('assigned');
      const adeProfile = dep.profile(acct.credentials.consumer_key, assigned.profile_uuid!)!;
      expect(adeProfile.configuration_web_url).toBe(`${server().url}/mdm/sso`);

      // Setup Assistant's web view: the user signs in at the IdP, the ACS sends the browser on.
      idp.user = { nameId: 'ada.lovelace@example.com', attributes: { displayname: 'Ada Lovelace' } };
      const login = await startLogin(server());
      const answer = await followToIdp(login);
      const acs = await postToAcs(answer.acsUrl, {
        sessionId: login.sessionId,
        samlResponse: answer.samlResponse,
      });
      expect(acs.status).toBe(303);
      const next = new URL(acs.location, server().url);
      expect(next.pathname).toBe('/mdm/sso/callback');
      const reference = next.searchParams.get('enrollment_reference')!;
      const profileToken = next.searchParams.get('profile_token')!;
      const account = await db()
        .selectFrom('mdm_idp_accounts')
        .selectAll()
        .where('uuid', '=', reference)
        .executeTakeFirstOrThrow();
      expect(account).toMatchObject({ email: 'ada.lovelace@example.com', username: 'ada.lovelace' });

      // The page downloads the enrollment profile with the account; the Mac enrolls as the pending host.
      const device = new SimulatedAppleDevice({ serverUrl: server().url, serial: d.serial_number });
      await device.adeEnroll(
        `${server().url}/api/mdm/apple/enroll?token=${profileToken}&enrollment_reference=${reference}`,
        { via: 'query' },
      );
      expect(device.checkInUrl).toContain(`enroll_reference=${reference}`);
      expect(device.awaitingConfiguration).toBe(true);
      const hosts = await db()
        .selectFrom('hosts')
        .select(['id', 'uuid'])
        .where('hardware_serial', '=', d.serial_number)
        .execute();
      expect(hosts).toEqual([{ id: placeholder.id, uuid: device.udid }]);

      // Setup: the team's bootstrap package and the account, then the release.
      for (let i = 0; i < 3; i++) {
        await services().profileManager.tick();
        await device.connect();
      }
      expect(device.accountConfiguration).toMatchObject({
        fullName: 'Ada Lovelace',
        userName: 'ada.lovelace',
      });
      const detail = await api(server(), 'GET', `/api/v1/fleet/hosts/${placeholder.id}`, { token: admin });
      expect(detail.body.host.mdm.macos_setup).toEqual({
        bootstrap_package_status: 'installed',
        detail: '',
        bootstrap_package_name: 'Design.pkg',
      });
      expect(await services().appleAde.setup.releaseDevices()).toEqual({ released: 1, timedOut: 0 });
      await device.connect();
      expect(device.awaitingConfiguration).toBe(false);
      const listed = await api(server(), 'GET', `/api/v1/fleet/hosts?query=${d.serial_number}`, {
        token: admin,
      });
      expect(listed.body.hosts.map((h: { id: number }) => h.id)).toEqual([placeholder.id]);
      expect(listed.body.hosts[0].mdm).toMatchObject({ enrollment_status: 'On (automatic)', name: 'Fleet' });
    });
  },
  { appleDepBaseUrl: dep.url, logLevel: 'info', ...apns.overrides },
);
