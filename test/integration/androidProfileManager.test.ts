import { afterAll, beforeAll, expect, it } from 'vitest';
import { SimAndroidDevice, type SimAndroidDeviceOptions } from '../../src/android/sim/device.js';
import { AndroidProfileManager } from '../../src/android/profiles/manager.js';
import { createGoogleAndroidClient } from '../../src/clients/amapi/client.js';
import { startAmapiStandIn } from '../../src/clients/amapi/fakeServer.js';
import { ReconcileStore } from '../../src/mdm/profiles/reconcileStore.js';
import { createTeam } from '../helpers/adminFixtures.js';
import { androidTestConfig, bindEnterprise } from '../helpers/android.js';
import { expectedStatusReportingSettings as statusReportingSettings } from '../helpers/androidPolicy.js';
import { api, setupAdmin } from '../helpers/api.js';
import { uploadProfile } from '../helpers/profiles.js';
import { describeEachDialect } from '../helpers/testServer.js';

const standIn = await startAmapiStandIn();
afterAll(() => standIn.close());

const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const RETRIES_EXHAUSTED =
  "Couldn't apply profile. Google returned error. Please re-add profile to try again.";

interface Phone {
  device: SimAndroidDevice;
  hostId: number;
  uuid: string;
}

describeEachDialect(
  'Android profile manager: per-host policies, merge, targeting, verification, retries',
  (server) => {
    let admin = '';
    let enterprise = '';
    const srv = () => server();
    const db = () => srv().app.services.database.db;
    const android = () => srv().app.services.android.profiles;
    const tick = () => android().manager.tick();
    const policyOf = (p: Phone) => standIn.policies.get(`${enterprise}/policies/${p.uuid}`);
    /** Google calls made since `from` (an index into standIn.requests) for this host's policy. */
    const patchesOf = (p: Phone, from: number) =>
      standIn.requests
        .slice(from)
        .filter((r) => r.method === 'PATCH' && r.path === `/v1/${enterprise}/policies/${p.uuid}`);

    beforeAll(async () => {
      admin = await setupAdmin(srv());
      enterprise = (await bindEnterprise(srv(), standIn, admin)).enterpriseName;
    });

    /** A team with its own enroll secret, so each test's hosts and profiles are its own. */
    async function team(name: string): Promise<{ id: number; secret: string }> {
      const id = await createTeam(srv(), admin, name);
      const secret = `secret-${name}-${srv().dialect}`;
      await srv().app.services.enrollSecrets.replace(null, id, [secret]);
      return { id, secret };
    }

    /** A simulated phone enrolled through an enrollment token and Google's ENROLLMENT push. */
    async function enroll(secret: string, opts: Partial<SimAndroidDeviceOptions> = {}): Promise<Phone> {
      const res = await api(
        srv(),
        'GET',
        `/api/v1/fleet/android_enterprise/enrollment_token?enroll_secret=${encodeURIComponent(secret)}`,
      );
      expect(res.status).toBe(200);
      const device = new SimAndroidDevice(standIn, { ownership: 'PERSONALLY_OWNED', ...opts });
      const delivery = await device.enroll(res.body.android_enrollment_token);
      expect(delivery.status).toBe(200);
      const host = await db()
        .selectFrom('hosts')
        .select(['id', 'uuid'])
        .where('uuid', '=', device.enterpriseSpecificId)
        .executeTakeFirstOrThrow();
      return { device, hostId: Number(host.id), uuid: host.uuid };
    }

    async function upload(
      teamId: number,
      name: string,
      policy: unknown,
      fields: Record<string, string> = {},
    ) {
      const res = await uploadProfile(
        srv(),
        admin,
        { name, bytes: json(policy) },
        { team_id: String(teamId), ...fields },
      );
      expect(res.status).toBe(200);
      return res.body.profile_uuid as string;
    }

    /** The phone applies its policy and reports status (a STATUS_REPORT push). */
    async function sync(p: Phone) {
      const delivery = await p.device.sync();
      expect(delivery.status).toBe(200);
    }

    /** The host's profile rows: name → [operation, status, detail]. */
    async function states(p: Phone) {
      const rows = await db()
        .selectFrom('host_mdm_android_profiles')
        .select(['profile_name', 'operation_type', 'status', 'detail'])
        .where('host_uuid', '=', p.uuid)
        .orderBy('profile_name')
        .execute();
      return Object.fromEntries(rows.map((r) => [r.profile_name, [r.operation_type, r.status, r.detail]]));
    }

    async function label(name: string): Promise<void> {
      const res = await api(srv(), 'POST', '/api/latest/fleet/labels', {
        token: admin,
        body: { name, hosts: [] },
      });
      expect(res.status).toBe(200);
    }

    async function setLabel(p: Phone, name: string, member: boolean) {
      const res = await api(srv(), member ? 'POST' : 'DELETE', `/api/latest/fleet/hosts/${p.hostId}/labels`, {
        token: admin,
        body: { labels: [name] },
      });
      expect(res.status).toBe(200);
    }

    it("sends each host its own merged policy, moves the device onto it, and verifies on the device's report", async () => {
      const t = await team('Basics');
      const camera = await upload(t.id, 'A camera.json', { cameraDisabled: true });
      const screen = await upload(t.id, 'B screen.json', { screenCaptureDisabled: true });
      const phone = await enroll(t.secret);
      // Enrollment marks the host's profiles pending at once.
      expect(await states(phone)).toEqual({
        'A camera': ['install', null, null],
        'B screen': ['install', null, null],
      });
      const from = standIn.requests.length;
      // The manager runs as its cron job (here triggered, as an admin would).
      const { finished } = await srv().app.services.cron.trigger('mdm_android_profile_manager');
      expect(await finished).toMatchObject({ ran: true, errors: [] });
      // The exact body Google got: both profiles, the status-reporting switches on top.
      const patches = patchesOf(phone, from);
      expect(patches).toHaveLength(1);
      expect(patches[0].body).toEqual({
        cameraDisabled: true,
        screenCaptureDisabled: true,
        statusReportingSettings,
      });
      expect(patches[0].query.updateMask).toBeUndefined();
      const policy = policyOf(phone)!;
      expect(policy.policy).toEqual({
        cameraDisabled: true,
        screenCaptureDisabled: true,
        statusReportingSettings,
      });
      // The device moved onto its own policy (updateMask policyName).
      const move = standIn.requests
        .slice(from)
        .filter((q) => q.method === 'PATCH' && q.path === `/v1/${phone.device.name}`);
      expect(move).toHaveLength(1);
      expect(move[0].query.updateMask).toBe('policyName');
      expect(standIn.devices.get(phone.device.name)!.policyName).toBe(policy.name);

      const rows = await db()
        .selectFrom('host_mdm_android_profiles')
        .selectAll()
        .where('host_uuid', '=', phone.uuid)
        .orderBy('profile_name')
        .execute();
      expect(rows.map((x) => [x.status, Number(x.included_in_policy_version), x.request_fail_count])).toEqual(
        [
          ['verifying', policy.version, 0],
          ['verifying', policy.version, 0],
        ],
      );
      const requests = await db()
        .selectFrom('android_policy_requests')
        .selectAll()
        .where('policy_id', '=', phone.uuid)
        .orderBy('request_name', 'desc')
        .execute();
      expect(requests.map((q) => [q.request_name, q.status_code, Number(q.policy_version)])).toEqual([
        ['policies.patch', '200', policy.version],
        ['devices.patch', '200', policy.version],
      ]);
      expect(JSON.parse(requests[0].payload)).toEqual({
        policy: { cameraDisabled: true, screenCaptureDisabled: true, statusReportingSettings },
        metadata: { settings_origin: { cameraDisabled: camera, screenCaptureDisabled: screen } },
      });
      expect(rows.every((x) => x.policy_request_uuid === requests[0].request_uuid)).toBe(true);
      expect(rows.every((x) => x.device_request_uuid === requests[1].request_uuid)).toBe(true);

      // Nothing changed: the next tick calls Google for nothing.
      const idle = standIn.requests.length;
      await tick();
      expect(patchesOf(phone, idle)).toEqual([]);

      await sync(phone);
      expect(await states(phone)).toEqual({
        'A camera': ['install', 'verified', null],
        'B screen': ['install', 'verified', null],
      });
      const detail = await api(srv(), 'GET', `/api/latest/fleet/hosts/${phone.hostId}`, { token: admin });
      expect(detail.status).toBe(200);
      expect(detail.body.host.mdm.profiles).toEqual([
        {
          profile_uuid: camera,
          name: 'A camera',
          status: 'verified',
          operation_type: 'install',
          detail: '',
          platform: 'android',
          scope: '',
        },
        {
          profile_uuid: screen,
          name: 'B screen',
          status: 'verified',
          operation_type: 'install',
          detail: '',
          platform: 'android',
          scope: '',
        },
      ]);
    });

    it('targets by labels: include-any and exclude-any choose the hosts; leaving a label takes the setting off', async () => {
      const t = await team('Labels');
      await label('Android any');
      await label('Android exclude');
      await upload(t.id, 'All.json', { bluetoothDisabled: true });
      await upload(t.id, 'Any.json', { cameraDisabled: true }, { labels_include_any: 'Android any' });
      await upload(
        t.id,
        'Ex.json',
        { screenCaptureDisabled: true },
        { labels_exclude_any: 'Android exclude' },
      );
      const p1 = await enroll(t.secret);
      const p2 = await enroll(t.secret);
      await setLabel(p1, 'Android any', true);
      await setLabel(p2, 'Android exclude', true);
      await tick();
      expect(policyOf(p1)!.policy).toEqual({
        bluetoothDisabled: true,
        cameraDisabled: true,
        screenCaptureDisabled: true,
        statusReportingSettings,
      });
      expect(policyOf(p2)!.policy).toEqual({ bluetoothDisabled: true, statusReportingSettings });
      expect(Object.keys(await states(p1))).toEqual(['All', 'Any', 'Ex']);
      expect(Object.keys(await states(p2))).toEqual(['All']);
      await sync(p1);

      // Leaving the label marks the removal at once; the next policy leaves the setting out.
      await setLabel(p1, 'Android any', false);
      expect((await states(p1)).Any).toEqual(['remove', null, null]);
      const before = policyOf(p1)!.version;
      await tick();
      expect(policyOf(p1)!.version).toBe(before + 1);
      expect(policyOf(p1)!.policy).toEqual({
        bluetoothDisabled: true,
        screenCaptureDisabled: true,
        statusReportingSettings,
      });
      expect((await states(p1)).Any).toEqual(['remove', 'verifying', null]);
      // Hidden from host detail while it goes.
      const detail = await api(srv(), 'GET', `/api/latest/fleet/hosts/${p1.hostId}`, { token: admin });
      expect(detail.body.host.mdm.profiles.map((x: { name: string }) => x.name)).toEqual(['All', 'Ex']);
      await sync(p1);
      expect(await states(p1)).toEqual({
        All: ['install', 'verified', null],
        Ex: ['install', 'verified', null],
      });

      // Joining the excluded label takes Ex away too.
      await setLabel(p1, 'Android exclude', true);
      await tick();
      expect(policyOf(p1)!.policy).toEqual({ bluetoothDisabled: true, statusReportingSettings });
    });

    it('merges by name, a later profile winning a key; a profile overridden whole fails with its reason', async () => {
      const t = await team('Merge');
      await upload(t.id, 'Alpha.json', { cameraDisabled: true });
      const b = await upload(t.id, 'Beta.json', { cameraDisabled: false, bluetoothDisabled: true });
      await upload(t.id, 'Gamma.json', { bluetoothDisabled: false, screenCaptureDisabled: true });
      const phone = await enroll(t.secret);
      const from = standIn.requests.length;
      await tick();
      expect(policyOf(phone)!.policy).toEqual({
        cameraDisabled: false,
        bluetoothDisabled: false,
        screenCaptureDisabled: true,
        statusReportingSettings,
      });
      const [patch] = patchesOf(phone, from);
      expect(Object.keys(patch.body as object)).toEqual([
        'cameraDisabled',
        'bluetoothDisabled',
        'screenCaptureDisabled',
        'statusReportingSettings',
      ]);
      const overridden = `"Alpha" isn't applied. It's overridden by other configuration profile.`;
      expect(await states(phone)).toEqual({
        Alpha: ['install', 'failed', overridden],
        Beta: ['install', 'verifying', null],
        Gamma: ['install', 'verifying', null],
      });
      // A report does not clear an override.
      await sync(phone);
      expect((await states(phone)).Alpha).toEqual(['install', 'failed', overridden]);
      expect((await states(phone)).Beta).toEqual(['install', 'verified', null]);

      // Beta goes: Alpha's key is its own again; Beta's removal rides in the same policy.
      expect(
        (await api(srv(), 'DELETE', `/api/latest/fleet/configuration_profiles/${b}`, { token: admin }))
          .status,
      ).toBe(200);
      await tick();
      expect(policyOf(phone)!.policy).toEqual({
        cameraDisabled: true,
        bluetoothDisabled: false,
        screenCaptureDisabled: true,
        statusReportingSettings,
      });
      expect(await states(phone)).toEqual({
        Alpha: ['install', 'verifying', null],
        Beta: ['remove', 'verifying', null],
        Gamma: ['install', 'verified', null],
      });
      await sync(phone);
      expect(await states(phone)).toEqual({
        Alpha: ['install', 'verified', null],
        Gamma: ['install', 'verified', null],
      });
    });

    it("fails a profile whose settings the device did not apply, with Google's reasons; a later report re-verifies it", async () => {
      const t = await team('Compliance');
      const security = await upload(t.id, 'Security.json', {
        passwordPolicies: [{ passwordMinimumLength: 12, passwordQuality: 'COMPLEX' }],
        screenCaptureDisabled: true,
      });
      await upload(t.id, 'Camera.json', { cameraDisabled: true });
      await upload(t.id, 'Bluetooth.json', { bluetoothDisabled: true });
      const phone = await enroll(t.secret, {
        rejects: {
          passwordPolicies: 'USER_ACTION',
          screenCaptureDisabled: 'MANAGEMENT_MODE',
          cameraDisabled: 'API_LEVEL',
        },
      });
      await tick();
      await sync(phone);
      expect(await states(phone)).toEqual({
        Bluetooth: ['install', 'verified', null],
        Camera: [
          'install',
          'failed',
          '"cameraDisabled" setting couldn\'t apply to a host.\nReason: API_LEVEL. Other settings are applied.',
        ],
        Security: [
          'install',
          'failed',
          '"passwordPolicies", "screenCaptureDisabled" settings couldn\'t apply to a host.\nReasons: USER_ACTION, MANAGEMENT_MODE. Other settings are applied.',
        ],
      });
      const summary = await api(
        srv(),
        'GET',
        `/api/latest/fleet/configuration_profiles/summary?team_id=${t.id}`,
        {
          token: admin,
        },
      );
      expect(summary.body).toEqual({ verified: 0, verifying: 0, pending: 0, failed: 1 });
      const status = await api(srv(), 'GET', `/api/latest/fleet/configuration_profiles/${security}/status`, {
        token: admin,
      });
      expect(status.body).toEqual({ verified: 0, verifying: 0, pending: 0, failed: 1 });
      const hostsWith = async (q: string) =>
        (
          await api(srv(), 'GET', `/api/latest/fleet/hosts?team_id=${t.id}&${q}`, { token: admin })
        ).body.hosts.map((h: { id: number }) => h.id);
      expect(await hostsWith(`profile_uuid=${security}&profile_status=failed`)).toEqual([phone.hostId]);
      expect(await hostsWith(`profile_uuid=${security}&profile_status=verified`)).toEqual([]);
      expect(await hostsWith('os_settings=failed')).toEqual([phone.hostId]);

      // The user acted: the next report has no non-compliance, so the failed profiles verify.
      const policy = policyOf(phone)!;
      const delivery = await standIn.reportStatus(phone.device.name, {
        appliedPolicyName: policy.name,
        appliedPolicyVersion: String(policy.version),
        nonComplianceDetails: [],
        policyCompliant: true,
        lastStatusReportTime: new Date(Date.now() + 1000).toISOString(),
      });
      expect(delivery.status).toBe(200);
      expect(await states(phone)).toEqual({
        Bluetooth: ['install', 'verified', null],
        Camera: ['install', 'verified', null],
        Security: ['install', 'verified', null],
      });
      expect(await hostsWith(`profile_uuid=${security}&profile_status=verified`)).toEqual([phone.hostId]);
      expect(await hostsWith('os_settings=verified')).toEqual([phone.hostId]);
    });

    it('a report about an older policy version or the enrollment policy verifies nothing newer', async () => {
      const t = await team('Versions');
      await upload(t.id, 'One.json', { cameraDisabled: true });
      const phone = await enroll(t.secret);
      await tick();
      const v1 = policyOf(phone)!;
      await upload(t.id, 'Two.json', { bluetoothDisabled: true });
      await tick();
      expect(policyOf(phone)!.version).toBe(v1.version + 1);
      // Reports of the enrollment policy (its own version numbers) and of version 1.
      for (const report of [
        { appliedPolicyName: `${enterprise}/policies/1`, appliedPolicyVersion: '99' },
        { appliedPolicyName: v1.name, appliedPolicyVersion: String(v1.version) },
      ]) {
        await standIn.reportStatus(phone.device.name, { ...report, nonComplianceDetails: [] });
      }
      expect(await states(phone)).toEqual({
        One: ['install', 'verified', null],
        Two: ['install', 'verifying', null],
      });
    });

    it('a device that leaves management keeps no profile status; the manager leaves its host alone', async () => {
      const t = await team('Leaving');
      await upload(t.id, 'Camera.json', { cameraDisabled: true });
      const phone = await enroll(t.secret);
      await tick();
      await sync(phone);
      expect(await states(phone)).toEqual({ Camera: ['install', 'verified', null] });
      const delivery = await phone.device.removeManagement();
      expect(delivery.status).toBe(200);
      expect(await states(phone)).toEqual({});
      await upload(t.id, 'Bluetooth.json', { bluetoothDisabled: true });
      const from = standIn.requests.length;
      await tick();
      expect(patchesOf(phone, from)).toEqual([]);
      expect(await states(phone)).toEqual({});
    });

    it('retries a policy Google refuses, fails it after three refusals (never verified), and resends on request', async () => {
      const t = await team('Retries');
      const uuid = await upload(t.id, 'Camera.json', { cameraDisabled: true });
      const phone = await enroll(t.secret);
      standIn.failNext('policies.patch', 500, { message: 'Internal error encountered.', times: 3 });
      for (let i = 1; i <= 3; i++) {
        expect(await tick()).toMatchObject({ failed: 1, patched: 0 });
        const row = await db()
          .selectFrom('host_mdm_android_profiles')
          .selectAll()
          .where('host_uuid', '=', phone.uuid)
          .executeTakeFirstOrThrow();
        expect([row.status, row.request_fail_count, row.detail, row.included_in_policy_version]).toEqual(
          i < 3 ? [null, i, null, null] : ['failed', 3, RETRIES_EXHAUSTED, null],
        );
      }
      const refused = await db()
        .selectFrom('android_policy_requests')
        .select(['status_code', 'error_details', 'policy_version'])
        .where('policy_id', '=', phone.uuid)
        .execute();
      expect(refused).toEqual(
        Array(3).fill({
          status_code: '500',
          error_details: 'Internal error encountered.',
          policy_version: null,
        }),
      );
      expect(policyOf(phone)).toBeUndefined();
      // Failed for good: no more calls, and the device's report does not verify it.
      const from = standIn.requests.length;
      expect(await tick()).toMatchObject({ hosts: 0 });
      expect(patchesOf(phone, from)).toEqual([]);
      await sync(phone);
      expect(await states(phone)).toEqual({ Camera: ['install', 'failed', RETRIES_EXHAUSTED] });
      const listed = await api(srv(), 'GET', `/api/latest/fleet/hosts?team_id=${t.id}&os_settings=failed`, {
        token: admin,
      });
      expect(listed.body.hosts.map((h: { id: number }) => h.id)).toEqual([phone.hostId]);

      // Resend puts it back; Google takes it this time.
      const resend = await api(
        srv(),
        'POST',
        `/api/latest/fleet/hosts/${phone.hostId}/configuration_profiles/${uuid}/resend`,
        { token: admin },
      );
      expect(resend.status).toBe(202);
      expect(await states(phone)).toEqual({ Camera: ['install', null, null] });
      await tick();
      expect(await states(phone)).toEqual({ Camera: ['install', 'verifying', null] });
      await sync(phone);
      expect(await states(phone)).toEqual({ Camera: ['install', 'verified', null] });
    });

    it('stops the tick on 429 without counting it against the profiles, and goes on next tick', async () => {
      const t = await team('Throttle');
      await upload(t.id, 'Camera.json', { cameraDisabled: true });
      const p1 = await enroll(t.secret);
      const p2 = await enroll(t.secret);
      // The real client without its own back-off, one host at a time, so the 429 reaches the manager.
      const client = createGoogleAndroidClient({
        serviceAccount: standIn.serviceAccount,
        apiUrl: standIn.url,
        pubsubApiUrl: standIn.url,
        maxRetries: 0,
      });
      const manager = new AndroidProfileManager(
        android().store,
        new ReconcileStore(db()),
        async () => client,
        { batchHosts: 100, tickBudgetMs: 10_000, concurrency: 1 },
      );
      standIn.failNext('policies.patch', 429, { message: 'Quota exceeded.', retryAfterSeconds: 30 });
      const from = standIn.requests.length;
      expect(await manager.tick()).toMatchObject({ throttled: true, patched: 0, failed: 0, done: false });
      expect(patchesOf(p1, from).length + patchesOf(p2, from).length).toBe(1);
      for (const p of [p1, p2]) expect(await states(p)).toEqual({ Camera: ['install', null, null] });
      const counts = await db()
        .selectFrom('host_mdm_android_profiles')
        .select('request_fail_count')
        .where('host_uuid', 'in', [p1.uuid, p2.uuid])
        .execute();
      expect(counts.map((c) => c.request_fail_count)).toEqual([0, 0]);
      await manager.tick();
      for (const p of [p1, p2]) expect(await states(p)).toEqual({ Camera: ['install', 'verifying', null] });
    });

    it('an edited profile, a team transfer and a re-upload go out as new policies; summaries count each host once', async () => {
      const t = await team('Edits');
      const other = await team('Edits 2');
      const batch = (v: unknown) =>
        api(srv(), 'POST', `/api/latest/fleet/configuration_profiles/batch?team_id=${t.id}`, {
          token: admin,
          body: { profiles: [{ name: 'Camera.json', profile: json(v).toString('base64') }] },
        });
      expect((await batch({ cameraDisabled: true })).status).toBe(204);
      await upload(other.id, 'Wifi.json', { wifiConfigDisabled: true });
      const p1 = await enroll(t.secret);
      const p2 = await enroll(t.secret);
      await tick();
      await sync(p1);
      const summary = async (teamId: number) =>
        (
          await api(srv(), 'GET', `/api/latest/fleet/configuration_profiles/summary?team_id=${teamId}`, {
            token: admin,
          })
        ).body;
      expect(await summary(t.id)).toEqual({ verified: 1, verifying: 1, pending: 0, failed: 0 });

      // The same batch again changes nothing: no host goes pending.
      expect((await batch({ cameraDisabled: true })).status).toBe(204);
      expect((await states(p1)).Camera).toEqual(['install', 'verified', null]);
      // An edit does.
      expect((await batch({ cameraDisabled: false })).status).toBe(204);
      expect((await states(p1)).Camera).toEqual(['install', null, null]);
      expect(await summary(t.id)).toEqual({ verified: 0, verifying: 0, pending: 2, failed: 0 });
      await tick();
      expect(policyOf(p1)!.policy).toEqual({ cameraDisabled: false, statusReportingSettings });
      expect(policyOf(p2)!.policy).toEqual({ cameraDisabled: false, statusReportingSettings });

      // p2 moves to the other team: its profiles change with it.
      const moved = await api(srv(), 'POST', '/api/latest/fleet/hosts/transfer', {
        token: admin,
        body: { team_id: other.id, hosts: [p2.hostId] },
      });
      expect(moved.status).toBe(200);
      expect(await states(p2)).toEqual({ Camera: ['remove', null, null], Wifi: ['install', null, null] });
      await tick();
      expect(policyOf(p2)!.policy).toEqual({ wifiConfigDisabled: true, statusReportingSettings });
      await sync(p2);
      expect(await states(p2)).toEqual({ Wifi: ['install', 'verified', null] });
      expect(await summary(other.id)).toEqual({ verified: 1, verifying: 0, pending: 0, failed: 0 });
    });
  },
  androidTestConfig(standIn),
);
