import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AdeEnrollmentService } from '../../src/apple/ade/enrollService.js';
import type { MachineInfo } from '../../src/apple/ade/machineInfo.js';
import { GdmfClient, isLessThanVersion } from '../../src/apple/ade/osUpdates.js';
import { buildPlist } from '../../src/apple/commands/build.js';
import {
  readEnrollmentProfile,
  SimulatedAppleDevice,
  SoftwareUpdateRequiredError,
} from '../../src/apple/sim/device.js';
import { FakeDepServer } from '../../src/clients/dep/fakeServer.js';
import { cmsSign } from '../../src/crypto/cms.js';
import { dbNow } from '../../src/db/dialect.js';
import { createTeam } from '../helpers/adminFixtures.js';
import { api, setupAdmin } from '../helpers/api.js';
import { installPushCertificate, startFakeApns } from '../helpers/apns.js';
import { connectAccount, mac, type ConnectedAccount } from '../helpers/dep.js';
import { gdmfDocument, startFakeGdmf } from '../helpers/gdmf.js';
import { describeEachDialect } from '../helpers/testServer.js';

const dep = await FakeDepServer.start();
const apns = await startFakeApns();
const gdmf = await startFakeGdmf(gdmfDocument);
afterAll(async () => {
  await dep.close();
  await apns.fake.close();
  await gdmf.close();
});

const v1 = '/api/v1/fleet';

const info = (over: Partial<MachineInfo> = {}): MachineInfo => ({
  udid: randomUUID().toUpperCase(),
  serial: 'C02TEST',
  product: 'Mac15,3',
  version: '23E224',
  osVersion: '14.4.1',
  language: 'en',
  imei: '',
  meid: '',
  mdmCanRequestSoftwareUpdate: true,
  softwareUpdateDeviceId: '',
  ...over,
});

it("compares OS versions as Fleet does and reads the newest OS from Apple's lookup service", async () => {
  expect(isLessThanVersion('14.4.1', '15.0')).toBe(true);
  expect(isLessThanVersion('15.0', '15')).toBe(false);
  expect(isLessThanVersion('15.0.1', '15.0')).toBe(false);
  expect(isLessThanVersion('17.0 (a)', '17.1')).toBe(true);
  expect(isLessThanVersion('', '15.0')).toBeNull();
  const client = new GdmfClient(gdmf.url);
  expect(await client.latest(info())).toEqual({ productVersion: '15.2', build: '24C101' });
  expect(await client.latest(info({ product: 'iPhone15,2' }))).toEqual({
    productVersion: '18.2',
    build: '22C152',
  });
  expect(await client.latest(info({ product: 'Mac99,9', softwareUpdateDeviceId: 'Mac13,1' }))).toEqual({
    productVersion: '14.7.2',
    build: '23H311',
  });
  await expect(client.latest(info({ product: 'Mac99,9' }))).rejects.toThrow(/no macOS release/);
  // Cached: one request for all of the above.
  const before = gdmf.requests;
  await client.latest(info());
  expect(gdmf.requests).toBe(before);
});

it('lets a device through when Apple cannot say which OS is newest (Fleet: log, do not block)', async () => {
  const svc = new AdeEnrollmentService({
    store: { depHostBySerial: async () => ({ id: 1, uuid: '', teamId: null, platform: 'darwin' }) } as never,
    teams: { getById: async () => undefined },
    appConfig: { get: async () => ({ mdm: { macos_updates: { minimum_version: '15.0' } } }) as never },
    automaticToken: async () => 't',
    profiles: { automaticProfile: async () => Buffer.from('profile') },
    latestOs: {
      latest: async () => {
        throw new Error('unreachable');
      },
    },
  });
  expect(await svc.softwareUpdateRequired(info())).toBeNull();
  const strict = new AdeEnrollmentService({
    ...(svc as unknown as { deps: ConstructorParameters<typeof AdeEnrollmentService>[0] }).deps,
    latestOs: { latest: async () => ({ productVersion: '15.2', build: '24C101' }) },
  });
  expect(await strict.softwareUpdateRequired(info())).toEqual({
    code: 'com.apple.softwareupdate.required',
    details: { OSVersion: '15.2', BuildVersion: '24C101' },
  });
  // The device may not be asked to update, or already runs the minimum.
  expect(await strict.softwareUpdateRequired(info({ mdmCanRequestSoftwareUpdate: false }))).toBeNull();
  expect(await strict.softwareUpdateRequired(info({ osVersion: '15.0.1' }))).toBeNull();
});

describeEachDialect(
  'ADE enrollment',
  (server) => {
    let admin: string;
    let team: number;
    let acct: ConnectedAccount;
    let token: string;
    const serials: string[] = [];

    const services = () => server().app.services;
    const db = () => services().database.db;
    const enrollUrl = (extra = '') => `${server().url}/api/mdm/apple/enroll?token=${token}${extra}`;
    const count = async (table: 'scep_challenges' | 'hosts' | 'host_mdm_idp_accounts') =>
      Number(
        (
          await db()
            .selectFrom(table)
            .select((eb) => eb.fn.countAll().as('n'))
            .executeTakeFirstOrThrow()
        ).n,
      );
    const stored = async () => ({
      challenges: await count('scep_challenges'),
      hosts: await count('hosts'),
      links: await count('host_mdm_idp_accounts'),
    });

    /** A Mac assigned to the server in ABM (in the team's default), as the DEP sync leaves it. */
    async function depMac(): Promise<SimulatedAppleDevice> {
      const d = mac();
      serials.push(d.serial_number);
      dep.addDevices(acct.credentials.consumer_key, [d]);
      expect((await services().appleDep.sync.syncToken(acct.tokenId)).ok).toBe(true);
      return new SimulatedAppleDevice({ serverUrl: server().url, serial: d.serial_number });
    }

    async function post(url: string, body: Buffer, type = 'application/pkcs7-signature') {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': type },
        body: new Uint8Array(body),
      });
      return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
    }

    async function get(url: string, headers: Record<string, string> = {}) {
      const res = await fetch(url, { headers });
      return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
    }

    beforeAll(async () => {
      admin = await setupAdmin(server());
      await services().appConfig.patch({ server_settings: { server_url: server().url } });
      await installPushCertificate(services());
      team = await createTeam(server(), admin, 'ADE Macs');
      acct = await connectAccount(server(), admin, dep, { macos: team });
      token = await services().appleDep.automaticEnrollmentToken();
    });

    it('serves the ADE profile for machine info in the body, the header or the query', async () => {
      const device = await depMac();
      const signed = device.signedMachineInfo();
      const viaBody = await post(enrollUrl(), signed);
      expect(viaBody.status).toBe(200);
      expect(viaBody.headers.get('content-type')).toBe('application/x-apple-aspen-config');
      const profile = readEnrollmentProfile(viaBody.body);
      expect(profile.serverUrl).toBe(`${server().url}/mdm/apple/mdm`);
      expect(profile.scepUrl).toBe(`${server().url}/mdm/apple/scep`);
      expect(profile.challenge).not.toBe('');
      const viaHeader = await get(enrollUrl(), { 'x-apple-aspen-deviceinfo': signed.toString('base64') });
      expect(viaHeader.status).toBe(200);
      const viaQuery = await get(enrollUrl(`&deviceinfo=${encodeURIComponent(signed.toString('base64'))}`));
      expect(viaQuery.status).toBe(200);
      // Other bodies are ignored (Fleet reads only the signed machine info).
      expect((await post(enrollUrl(), Buffer.from('{}'), 'application/json')).status).toBe(200);
      // Each profile has its own one-time SCEP challenge.
      expect(readEnrollmentProfile(viaHeader.body).challenge).not.toBe(profile.challenge);
    });

    it('refuses unknown tokens and unreadable machine info with a 4xx, storing nothing', async () => {
      const device = await depMac();
      const before = await stored();
      const unknown = await api(server(), 'GET', `/api/mdm/apple/enroll?token=${randomUUID()}`);
      expect(unknown.status).toBe(401);
      expect(unknown.body.message).toBe('Authentication Failed');
      const postUnknown = await post(
        `${server().url}/api/mdm/apple/enroll?token=nope`,
        device.signedMachineInfo(),
      );
      expect(postUnknown.status).toBe(401);

      const badBody = await post(enrollUrl(), Buffer.from('not a CMS message'));
      expect(badBody.status).toBe(400);
      expect(JSON.parse(badBody.body.toString()).errors[0].reason).toBe('unable to parse machine info');
      // Signed, but the content is not a plist dictionary.
      const notPlist = cmsSign(
        Buffer.from('hello'),
        (device as unknown as { machineInfoSigner: never }).machineInfoSigner,
      );
      expect((await post(enrollUrl(), notPlist)).status).toBe(400);
      for (const value of ['%%%not base64%%%', Buffer.from('junk').toString('base64')]) {
        const h = await get(enrollUrl(), { 'x-apple-aspen-deviceinfo': value });
        expect(h.status).toBe(400);
        expect(JSON.parse(h.body.toString()).errors[0].reason).toBe('unable to parse deviceinfo header');
        const q = await get(enrollUrl(`&deviceinfo=${encodeURIComponent(value)}`));
        expect(q.status).toBe(400);
      }
      // A plist that is not signed at all.
      const raw = buildPlist({ UDID: device.udid, SERIAL: device.serial });
      expect((await post(enrollUrl(), raw)).status).toBe(400);
      expect(await stored()).toEqual(before);

      // The enroll-secret path is unchanged.
      await db()
        .insertInto('enroll_secrets')
        .values({ secret: 'ade-test-secret', team_id: null, created_at: dbNow() })
        .execute();
      expect((await get(`${server().url}/api/mdm/apple/enroll?token=ade-test-secret`)).status).toBe(200);
    });

    it("puts the end user's IdP account into ServerURL and links it to the device", async () => {
      const device = await depMac();
      const account = randomUUID();
      await db()
        .insertInto('mdm_idp_accounts')
        .values({
          uuid: account,
          username: 'jdoe',
          fullname: 'Jane Doe',
          email: `jdoe-${account}@example.com`,
          created_at: dbNow(),
          updated_at: dbNow(),
        })
        .execute();
      const signed = device.signedMachineInfo().toString('base64');
      const res = await get(
        enrollUrl(`&enrollment_reference=${account}&deviceinfo=${encodeURIComponent(signed)}`),
      );
      expect(res.status).toBe(200);
      expect(readEnrollmentProfile(res.body).serverUrl).toBe(
        `${server().url}/mdm/apple/mdm?enroll_reference=${account}`,
      );
      const link = await db()
        .selectFrom('host_mdm_idp_accounts')
        .selectAll()
        .where('host_uuid', '=', device.udid)
        .executeTakeFirst();
      expect(link?.account_uuid).toBe(account);

      const before = await stored();
      const unknown = await get(
        enrollUrl(`&enrollment_reference=${randomUUID()}&deviceinfo=${encodeURIComponent(signed)}`),
      );
      expect(unknown.status).toBe(404);
      expect(await stored()).toEqual(before);
    });

    it("refuses an OS below the team's minimum with Apple's 403 body, and nothing else", async () => {
      const device = await depMac();
      const patch = await api(server(), 'PATCH', `${v1}/teams/${team}`, {
        token: admin,
        body: { mdm: { macos_updates: { minimum_version: '15.0', deadline: '2030-01-01' } } },
      });
      expect(patch.status).toBe(200);
      try {
        device.osVersion = '14.4.1';
        const before = await stored();
        const res = await post(enrollUrl(), device.signedMachineInfo());
        expect(res.status).toBe(403);
        expect(res.headers.get('content-type')).toContain('application/json');
        expect(res.body.toString()).toBe(
          '{"code":"com.apple.softwareupdate.required","details":{"OSVersion":"15.2","BuildVersion":"24C101"}}\n',
        );
        expect(await stored()).toEqual(before);
        const header = await get(enrollUrl(), {
          'x-apple-aspen-deviceinfo': device.signedMachineInfo().toString('base64'),
        });
        expect(header.status).toBe(403);
        // The simulated Setup Assistant sees the same answer.
        const err = await device.adeEnroll(enrollUrl()).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(SoftwareUpdateRequiredError);
        expect((err as SoftwareUpdateRequiredError).body.details).toEqual({
          OSVersion: '15.2',
          BuildVersion: '24C101',
        });

        // Through the end-user authentication page (deviceinfo query) the check is not repeated.
        const q = await get(
          enrollUrl(`&deviceinfo=${encodeURIComponent(device.signedMachineInfo().toString('base64'))}`),
        );
        expect(q.status).toBe(200);
        // A device MDM may not update, one at the minimum, a Mac not assigned in ABM: all enroll.
        device.canRequestSoftwareUpdate = false;
        expect((await post(enrollUrl(), device.signedMachineInfo())).status).toBe(200);
        device.canRequestSoftwareUpdate = true;
        device.osVersion = '15.0';
        expect((await post(enrollUrl(), device.signedMachineInfo())).status).toBe(200);
        const stranger = new SimulatedAppleDevice({ serverUrl: server().url, osVersion: '13.0' });
        expect((await post(enrollUrl(), stranger.signedMachineInfo())).status).toBe(200);
      } finally {
        await api(server(), 'PATCH', `${v1}/teams/${team}`, {
          token: admin,
          body: { mdm: { macos_updates: { minimum_version: null, deadline: null } } },
        });
      }
    });

    it("defines custom setup assistants with Fleet's checks; the DEP sync assigns them", async () => {
      const path = `${v1}/enrollment_profiles/automatic`;
      const device = await depMac();
      const body = {
        team_id: team,
        name: 'Skip most panes',
        enrollment_profile: {
          profile_name: 'Acme ADE',
          skip_setup_items: ['Siri', 'TOS'],
          is_mdm_removable: false,
        },
      };
      expect((await api(server(), 'GET', `${path}?team_id=${team}`, { token: admin })).status).toBe(404);
      const set = await api(server(), 'POST', path, { token: admin, body });
      expect(set.status).toBe(200);
      expect(set.body).toEqual({
        team_id: team,
        name: 'Skip most panes',
        enrollment_profile: body.enrollment_profile,
        uploaded_at: expect.stringMatching(/Z$/),
      });
      const got = await api(server(), 'GET', `${path}?team_id=${team}`, { token: admin });
      expect(got.body).toEqual(set.body);
      const acts = await api(
        server(),
        'GET',
        `${v1}/activities?order_key=id&order_direction=desc&per_page=1`,
        { token: admin },
      );
      expect(acts.body.activities[0]).toMatchObject({
        type: 'changed_macos_setup_assistant',
        details: { team_id: team, name: 'Skip most panes', team_name: 'ADE Macs' },
      });
      // The same again: nothing changes.
      const again = await api(server(), 'POST', path, { token: admin, body });
      expect(again.body.uploaded_at).toBe(set.body.uploaded_at);

      // The next sync defines it with Apple and assigns it to the team's devices.
      expect((await services().appleDep.sync.syncToken(acct.tokenId)).ok).toBe(true);
      const assigned = dep.device(acct.credentials.consumer_key, device.serial)!;
      const profile = dep.profile(acct.credentials.consumer_key, assigned.profile_uuid!)!;
      expect(profile).toMatchObject({
        profile_name: 'Acme ADE',
        skip_setup_items: ['Siri', 'TOS'],
        is_mdm_removable: false,
        await_device_configured: true,
        url: `${server().url}/api/mdm/apple/enroll?token=${token}`,
      });

      // Keys Fleet controls are refused, as is a bad body or an unknown team.
      const refuse = async (b: unknown, status: number, reason: string) => {
        const r = await api(server(), 'POST', path, { token: admin, body: b });
        expect(r.status, JSON.stringify(r.body)).toBe(status);
        expect(JSON.stringify(r.body.errors)).toContain(reason);
      };
      await refuse(
        { ...body, enrollment_profile: { url: 'https://evil.example.com' } },
        422,
        "can't include url",
      );
      await refuse(
        { ...body, enrollment_profile: { await_device_configured: false } },
        422,
        'can\'t include \\"await_device_configured\\" option',
      );
      await refuse({ ...body, enrollment_profile: ['not', 'an', 'object'] }, 422, 'must be a JSON object');
      await refuse({ ...body, team_id: 999999 }, 404, 'Team');
      await refuse({ name: 3 }, 400, 'name');
      // configuration_web_url is refused only while end-user authentication is on.
      await db()
        .updateTable('teams')
        .set({ config: JSON.stringify({ mdm: { macos_setup: { enable_end_user_authentication: true } } }) })
        .where('id', '=', team)
        .execute();
      try {
        await refuse(
          { ...body, enrollment_profile: { configuration_web_url: 'https://idp.example.com' } },
          422,
          'First, disable end user authentication',
        );
      } finally {
        await db().updateTable('teams').set({ config: '{}' }).where('id', '=', team).execute();
      }
      expect((await api(server(), 'GET', `${path}?team_id=${team}`, { token: admin })).body).toEqual(
        set.body,
      );

      const observer = (
        await api(server(), 'POST', `${v1}/users/api_only`, {
          token: admin,
          body: { name: `observer-${randomUUID()}`, global_role: 'observer' },
        })
      ).body.token as string;
      expect((await api(server(), 'POST', path, { token: observer, body })).status).toBe(403);
      expect((await api(server(), 'GET', `${path}?team_id=${team}`, { token: observer })).status).toBe(200);

      const del = await api(server(), 'DELETE', `${path}?team_id=${team}`, { token: admin });
      expect(del.status).toBe(204);
      expect((await api(server(), 'GET', `${path}?team_id=${team}`, { token: admin })).status).toBe(404);
      expect((await services().appleDep.sync.syncToken(acct.tokenId)).ok).toBe(true);
      const back = dep.device(acct.credentials.consumer_key, device.serial)!;
      expect(dep.profile(acct.credentials.consumer_key, back.profile_uuid!)!.profile_name).toBe(
        'Fleet default enrollment profile',
      );
    });
  },
  { appleDepBaseUrl: dep.url, appleGdmfUrl: gdmf.url, ...apns.overrides },
);
