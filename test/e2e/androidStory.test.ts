import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAmapiStandIn, type AmapiStandIn } from '../../src/clients/amapi/fakeServer.js';
import { SimAndroidDevice } from '../../src/android/sim/device.js';
import { androidTestConfig, bindEnterprise, type BoundTestEnterprise } from '../helpers/android.js';
import { api, setupAdmin } from '../helpers/api.js';
import { createTeam } from '../helpers/adminFixtures.js';
import { runCronJob } from '../helpers/fleetd.js';
import { uploadProfile } from '../helpers/profiles.js';
import { dialects, mysqlAvailable, startTestServer, type TestServer } from '../helpers/testServer.js';

/**
 * The whole Android story against the Google stand-in, with simulated phones that talk only to
 * "Google" (as real ones do): bind an enterprise → enroll a company-owned phone into one team and a
 * personal phone into another → profiles scoped by team and label → per-host policies patched and
 * the devices moved to them → verified / failed per setting from the devices' status reports →
 * lock → unbind.
 */
for (const dialect of dialects) {
  const d = dialect === 'mysql' && !mysqlAvailable ? describe.skip : describe;
  d(`Android end to end: bind, enroll, profiles, lock, unbind [${dialect}]`, () => {
    let standIn: AmapiStandIn;
    let srv: TestServer;
    let admin: string;
    let bound: BoundTestEnterprise;
    let salesTeam = 0;
    let fieldTeam = 0;
    const secrets = { sales: 'android-story-sales', field: 'android-story-field' };
    // The company-owned phone rejects the camera setting (as a device without that capability would).
    let owned: SimAndroidDevice;
    let personal: SimAndroidDevice;
    const hosts: Record<'owned' | 'personal', { id: number; uuid: string }> = {
      owned: { id: 0, uuid: '' },
      personal: { id: 0, uuid: '' },
    };

    beforeAll(async () => {
      standIn = await startAmapiStandIn();
      srv = await startTestServer(dialect, androidTestConfig(standIn));
      admin = await setupAdmin(srv);
      salesTeam = await createTeam(srv, admin, 'Sales');
      fieldTeam = await createTeam(srv, admin, 'Field');
      await srv.app.services.enrollSecrets.replace(null, salesTeam, [secrets.sales]);
      await srv.app.services.enrollSecrets.replace(null, fieldTeam, [secrets.field]);
      owned = new SimAndroidDevice(standIn, {
        ownership: 'COMPANY_OWNED',
        brand: 'google',
        model: 'Pixel 8',
        serial: 'STORY-OWNED-1',
        rejects: { cameraAccess: 'MANAGEMENT_MODE' },
        applications: [{ packageName: 'com.example.crm', displayName: 'CRM', versionName: '4.2.0' }],
      });
      personal = new SimAndroidDevice(standIn, {
        ownership: 'PERSONALLY_OWNED',
        brand: 'samsung',
        model: 'SM-S911B',
        serial: '',
      });
    });
    afterAll(async () => {
      await srv?.close();
      await standIn?.close();
    });

    async function enrollmentToken(secret: string): Promise<string> {
      const res = await api(
        srv,
        'GET',
        `/api/v1/fleet/android_enterprise/enrollment_token?enroll_secret=${secret}`,
      );
      expect(res.status).toBe(200);
      expect(res.body.android_enrollment_url).toBe(
        `https://enterprise.google.com/android/enroll?et=${res.body.android_enrollment_token}`,
      );
      return res.body.android_enrollment_token as string;
    }

    async function hostOf(device: SimAndroidDevice) {
      return srv.app.services.database.db
        .selectFrom('hosts')
        .select(['id', 'uuid', 'team_id', 'platform', 'hostname'])
        .where('uuid', '=', device.enterpriseSpecificId)
        .executeTakeFirstOrThrow();
    }

    async function hostProfiles(hostId: number) {
      const res = await api(srv, 'GET', `/api/v1/fleet/hosts/${hostId}`, { token: admin });
      expect(res.status).toBe(200);
      return ((res.body.host.mdm.profiles ?? []) as { name: string; status: string; detail: string }[])
        .map((p) => ({ name: p.name, status: p.status, detail: p.detail }))
        .sort((a, b) => a.name.localeCompare(b.name));
    }

    it('binds the enterprise with the service account, topic and push subscription', async () => {
      bound = await bindEnterprise(srv, standIn, admin);
      const res = await api(srv, 'GET', '/api/v1/fleet/android_enterprise', { token: admin });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ android_enterprise_id: bound.enterpriseId });
      const config = await api(srv, 'GET', '/api/v1/fleet/config', { token: admin });
      expect(config.body.mdm.android_enabled_and_configured).toBe(true);
      expect(standIn.enterprises.get(bound.enterpriseName)?.enabledNotificationTypes).toEqual([
        'ENROLLMENT',
        'STATUS_REPORT',
        'COMMAND',
        'USAGE_LOGS',
      ]);
    });

    it('enrolls a company-owned phone into Sales and a personal phone into Field', async () => {
      expect((await owned.enroll(await enrollmentToken(secrets.sales))).status).toBe(200);
      expect((await personal.enroll(await enrollmentToken(secrets.field))).status).toBe(200);
      const o = await hostOf(owned);
      const p = await hostOf(personal);
      hosts.owned = o;
      hosts.personal = p;
      expect(o).toMatchObject({ team_id: salesTeam, platform: 'android', hostname: 'Google Pixel 8' });
      expect(p).toMatchObject({ team_id: fieldTeam, platform: 'android', hostname: 'Samsung SM-S911B' });
      const mdm = await srv.app.services.database.db
        .selectFrom('host_mdm')
        .select(['host_id', 'enrolled', 'is_personal_enrollment'])
        .where('host_id', 'in', [o.id, p.id])
        .orderBy('host_id')
        .execute();
      expect(mdm.map((m) => [m.host_id, Number(m.enrolled), Number(m.is_personal_enrollment)])).toEqual(
        [
          [o.id, 1, 0],
          [p.id, 1, 1],
        ].sort((a, b) => a[0] - b[0]),
      );
    });

    it('pushes team and label-scoped profiles as one per-host policy, verified or failed per setting', async () => {
      // A manual label holding only the company-owned phone.
      const label = await api(srv, 'POST', '/api/v1/fleet/labels', {
        token: admin,
        body: { name: 'Company phones', hosts: [hosts.owned.uuid] },
      });
      expect(label.status).toBe(200);
      const upload = async (
        name: string,
        json: object,
        teamId: number,
        fields: Record<string, string> = {},
      ) => {
        const res = await uploadProfile(
          srv,
          admin,
          { name, bytes: JSON.stringify(json) },
          { team_id: String(teamId), ...fields },
        );
        expect(res.status, JSON.stringify(res.body)).toBe(200);
        return res.body.profile_uuid as string;
      };
      const password = await upload(
        'Password.json',
        { passwordPolicies: [{ passwordMinimumLength: 8, passwordQuality: 'ALPHANUMERIC' }] },
        salesTeam,
      );
      const camera = await upload('Camera.json', { cameraAccess: 'CAMERA_ACCESS_DISABLED' }, salesTeam, {
        labels_include_any: 'Company phones',
      });
      await upload('Field screen.json', { maximumTimeToLock: '300000' }, fieldTeam);
      expect(password).toMatch(/^g/);
      expect(camera).toMatch(/^g/);

      await runCronJob(srv, 'mdm_android_profile_manager');
      // Each host's own policy holds its profiles' settings and the status reporting Flotilla needs.
      const ownedPolicy = standIn.policies.get(`${bound.enterpriseName}/policies/${hosts.owned.uuid}`);
      expect(ownedPolicy?.policy).toMatchObject({
        passwordPolicies: [{ passwordMinimumLength: 8, passwordQuality: 'ALPHANUMERIC' }],
        cameraAccess: 'CAMERA_ACCESS_DISABLED',
        statusReportingSettings: { softwareInfoEnabled: true, applicationReportsEnabled: true },
      });
      const personalPolicy = standIn.policies.get(`${bound.enterpriseName}/policies/${hosts.personal.uuid}`);
      expect(personalPolicy?.policy).toMatchObject({ maximumTimeToLock: '300000' });
      expect(personalPolicy?.policy).not.toHaveProperty('cameraAccess');
      // Both devices were moved from the enrollment policy to their own.
      expect(standIn.devices.get(owned.name)?.policyName).toBe(ownedPolicy?.name);
      expect(standIn.devices.get(personal.name)?.policyName).toBe(personalPolicy?.name);
      expect((await hostProfiles(hosts.owned.id)).map((p) => p.status)).toEqual(['verifying', 'verifying']);

      // The phones apply what Google holds for them and report.
      expect((await owned.sync()).status).toBe(200);
      expect((await personal.sync()).status).toBe(200);
      expect(await hostProfiles(hosts.owned.id)).toEqual([
        {
          name: 'Camera',
          status: 'failed',
          detail: expect.stringContaining(
            '"cameraAccess" setting couldn\'t apply to a host.\nReason: MANAGEMENT_MODE.',
          ),
        },
        { name: 'Password', status: 'verified', detail: '' },
      ]);
      expect(await hostProfiles(hosts.personal.id)).toEqual([
        { name: 'Field screen', status: 'verified', detail: '' },
      ]);
    });

    it('locks the company-owned phone through Fleet’s endpoint; the device’s answer settles it', async () => {
      const lock = await api(srv, 'POST', `/api/v1/fleet/hosts/${hosts.owned.id}/lock`, { token: admin });
      expect(lock.status).toBe(204);
      const [op] = standIn.pendingOperations(owned.name);
      expect(op.metadata?.type).toBe('LOCK');
      const before = await api(srv, 'GET', `/api/v1/fleet/hosts/${hosts.owned.id}`, { token: admin });
      expect(before.body.host.mdm.pending_action).toBe('lock');
      const deliveries = await owned.runCommands();
      expect(deliveries.map((x) => x.status)).toEqual([200]);
      const after = await api(srv, 'GET', `/api/v1/fleet/hosts/${hosts.owned.id}`, { token: admin });
      expect(after.body.host.mdm.device_status).toBe('locked');
      expect(after.body.host.mdm.pending_action).toBe('');
    });

    it('unbinds: every Android host is marked unenrolled', async () => {
      const res = await api(srv, 'DELETE', '/api/v1/fleet/android_enterprise', { token: admin });
      expect(res.status).toBe(200);
      const mdm = await srv.app.services.database.db
        .selectFrom('host_mdm')
        .select('enrolled')
        .where('host_id', 'in', [hosts.owned.id, hosts.personal.id])
        .execute();
      expect(mdm.map((m) => Number(m.enrolled))).toEqual([0, 0]);
      expect(standIn.enterprises.has(bound.enterpriseName)).toBe(false);
      const gone = await api(srv, 'GET', '/api/v1/fleet/android_enterprise', { token: admin });
      expect(gone.status).toBe(404);
    });
  });
}
