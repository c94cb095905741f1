import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAmapiStandIn, type AmapiStandIn } from '../../src/clients/amapi/fakeServer.js';
import { createTeam } from '../helpers/adminFixtures.js';
import {
  androidServerUrl,
  androidTestConfig,
  bindEnterprise,
  type BoundTestEnterprise,
} from '../helpers/android.js';
import { api, setupAdmin } from '../helpers/api.js';
import { dialects, mysqlAvailable, startTestServer, type TestServer } from '../helpers/testServer.js';

/** The sample pushes (test/vectors/android): enterprise LC02k5wxw7, enroll secret "enrollsecret". */
const vectorEnterprise = 'LC02k5wxw7';
const vectorSecret = 'enrollsecret';
const vectorUuid = '4D6C0A1E-2B3F-4C5D-8E9F-0A1B2C3D4E5F';

type PushBody = {
  message: { attributes: Record<string, string>; data: string; messageId: string };
  subscription: string;
};

function vector(name: string): PushBody {
  return JSON.parse(readFileSync(new URL(`../vectors/android/${name}`, import.meta.url), 'utf8')) as PushBody;
}

function dataOf(push: PushBody): Record<string, any> {
  return JSON.parse(Buffer.from(push.message.data, 'base64').toString('utf8')) as Record<string, any>;
}

/** The push with its resource (re-encoded) moved to this server's enterprise, and a fresh message ID unless given. */
function adapt(
  push: PushBody,
  enterpriseId: string,
  edit: (d: Record<string, any>) => void = () => {},
  messageId?: string,
) {
  const data = JSON.parse(JSON.stringify(dataOf(push)).replaceAll(vectorEnterprise, enterpriseId)) as Record<
    string,
    any
  >;
  edit(data);
  return {
    ...push,
    message: {
      ...push.message,
      data: Buffer.from(JSON.stringify(data)).toString('base64'),
      messageId: messageId ?? randomUUID(),
      message_id: messageId ?? randomUUID(),
    },
  };
}

async function postPush(srv: TestServer, token: string | undefined, body: unknown) {
  const q = token === undefined ? '' : `?token=${encodeURIComponent(token)}`;
  const res = await fetch(`${srv.url}/api/v1/fleet/android_enterprise/pubsub${q}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as unknown };
}

async function hostRow(srv: TestServer, uuid: string) {
  return srv.app.services.database.db
    .selectFrom('hosts')
    .selectAll()
    .where('uuid', '=', uuid)
    .executeTakeFirst();
}

async function rowsOf(srv: TestServer, hostId: number) {
  const { db } = srv.app.services.database;
  return {
    host: await db.selectFrom('hosts').selectAll().where('id', '=', hostId).executeTakeFirstOrThrow(),
    mdm: await db.selectFrom('host_mdm').selectAll().where('host_id', '=', hostId).executeTakeFirst(),
    device: await db
      .selectFrom('android_devices')
      .selectAll()
      .where('host_id', '=', hostId)
      .executeTakeFirst(),
    labels: await db
      .selectFrom('label_membership as m')
      .innerJoin('labels as l', 'l.id', 'm.label_id')
      .select(['l.name', 'm.is_member'])
      .where('m.host_id', '=', hostId)
      .where('m.is_member', '=', 1)
      .orderBy('l.name')
      .execute(),
    software: await db
      .selectFrom('host_software as hs')
      .innerJoin('software as s', 's.id', 'hs.software_id')
      .select(['s.name', 's.version', 's.source', 's.bundle_identifier'])
      .where('hs.host_id', '=', hostId)
      .orderBy('s.name')
      .execute(),
  };
}

for (const dialect of dialects) {
  const d = dialect === 'mysql' && !mysqlAvailable ? describe.skip : describe;
  d(`Android Pub/Sub device notifications [${dialect}]`, () => {
    let standIn: AmapiStandIn;
    let srv: TestServer;
    let admin: string;
    let bound: BoundTestEnterprise;
    let pushToken: string;
    let teamId: number;

    beforeAll(async () => {
      standIn = await startAmapiStandIn();
      srv = await startTestServer(dialect, { ...androidTestConfig(standIn), logLevel: 'info' });
      admin = await setupAdmin(srv);
      bound = await bindEnterprise(srv, standIn, admin);
      pushToken = bound.pubsubToken!;
      await srv.app.services.enrollSecrets.replace(null, null, [vectorSecret]);
      teamId = await createTeam(srv, admin, 'Phones');
      await srv.app.services.enrollSecrets.replace(null, teamId, ['phones-secret']);
    });
    afterAll(async () => {
      await srv?.close();
      await standIn?.close();
    });

    it('binds with a push subscription carrying a token', () => {
      expect(pushToken).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    });

    it('ENROLLMENT (the sample) creates the Android host, its host_mdm and device rows', async () => {
      const body = adapt(vector('pubsub_push_enrollment.json'), bound.enterpriseId, (dv) => {
        dv.hardwareInfo.enterpriseSpecificId = 'ESID-ENROLL-1';
        dv.name = `enterprises/${bound.enterpriseId}/devices/aa00000000000001`;
      });
      const res = await postPush(srv, pushToken, body);
      expect(res).toEqual({ status: 200, body: {} });

      const host = (await hostRow(srv, 'ESID-ENROLL-1'))!;
      const rows = await rowsOf(srv, host.id);
      expect(rows.host).toMatchObject({
        uuid: 'ESID-ENROLL-1',
        platform: 'android',
        team_id: null,
        hostname: 'Testbrand TestModel',
        computer_name: 'Testbrand TestModel',
        hardware_serial: 'test-serial',
        hardware_model: 'TestModel',
        hardware_vendor: 'TestBrand',
        cpu_type: 'test-hardware',
        os_version: 'Android 14',
        build: 'test-build',
        gigs_total_disk_space: 128,
        gigs_disk_space_available: 35,
        percent_disk_space_available: 27.34375,
        // An ENROLLMENT has no status-report time yet.
        detail_updated_at: '2000-01-01 00:00:00.000',
        orbit_node_key: null,
        node_key: null,
      });
      expect(Number(rows.host.memory)).toBe(8589934592);
      expect(rows.host.last_enrolled_at).not.toBe('2000-01-01 00:00:00.000');
      expect(rows.mdm).toMatchObject({
        enrolled: 1,
        server_url: androidServerUrl,
        installed_from_dep: 0,
        is_personal_enrollment: 1,
        mdm_name: 'Fleet',
      });
      expect(rows.mdm!.mdm_id).not.toBeNull();
      expect(rows.device).toMatchObject({
        device_id: 'aa00000000000001',
        enterprise_specific_id: 'ESID-ENROLL-1',
        is_personal: 1,
        applied_policy_id: null,
        last_status_report_time: null,
      });
      expect(rows.labels.map((l) => l.name)).toEqual(['All Hosts', 'Android']);

      // Fleet's host detail shows it as a personal (work profile) enrollment.
      const detail = await api(srv, 'GET', `/api/v1/fleet/hosts/${host.id}`, { token: admin });
      expect(detail.status).toBe(200);
      expect(detail.body.host).toMatchObject({
        platform: 'android',
        display_name: 'Testbrand TestModel',
        os_version: 'Android 14',
        hardware_vendor: 'TestBrand',
        mdm: { enrollment_status: 'On (personal)', name: 'Fleet', server_url: androidServerUrl },
      });
    });

    it('the same message delivered twice changes nothing more (one host, one message row)', async () => {
      const messageId = `dup-${randomUUID()}`;
      const body = adapt(
        vector('pubsub_push_enrollment.json'),
        bound.enterpriseId,
        (dv) => {
          dv.hardwareInfo.enterpriseSpecificId = 'ESID-DUP-1';
          dv.name = `enterprises/${bound.enterpriseId}/devices/aa00000000000002`;
        },
        messageId,
      );
      expect((await postPush(srv, pushToken, body)).status).toBe(200);
      const { db } = srv.app.services.database;
      const host = (await hostRow(srv, 'ESID-DUP-1'))!;
      const before = await rowsOf(srv, host.id);
      expect(await postPush(srv, pushToken, body)).toEqual({ status: 200, body: {} });
      expect(await rowsOf(srv, host.id)).toEqual(before);
      const hosts = await db.selectFrom('hosts').select('id').where('uuid', '=', 'ESID-DUP-1').execute();
      expect(hosts).toHaveLength(1);
      const msgs = await db
        .selectFrom('android_pubsub_messages')
        .selectAll()
        .where('message_id', '=', messageId)
        .execute();
      expect(msgs).toHaveLength(1);
      expect(
        srv.logLines!.some(
          (l) => l.msg === 'android pubsub: duplicate message ignored' && l.message_id === messageId,
        ),
      ).toBe(true);
    });

    it('STATUS_REPORT (the sample) updates vitals, the applied policy and the software inventory', async () => {
      const name = `enterprises/${bound.enterpriseId}/devices/aa00000000000003`;
      const enroll = adapt(vector('pubsub_push_enrollment.json'), bound.enterpriseId, (dv) => {
        dv.hardwareInfo.enterpriseSpecificId = 'ESID-STATUS-1';
        dv.name = name;
      });
      expect((await postPush(srv, pushToken, enroll)).status).toBe(200);
      const statusEvents: unknown[] = [];
      srv.app.services.android.deviceEvents.onStatusReport(async (e) => {
        if (e.hostUuid === 'ESID-STATUS-1') statusEvents.push({ ...e, device: e.device.name });
      });
      const report = adapt(vector('pubsub_push_status_report.json'), bound.enterpriseId, (dv) => {
        dv.hardwareInfo.enterpriseSpecificId = 'ESID-STATUS-1';
        dv.name = name;
        dv.softwareInfo.androidVersion = '15';
        dv.applicationReports.push(
          { packageName: 'com.example.notes', displayName: 'Notes', versionName: '2.1', state: 'INSTALLED' },
          { packageName: 'com.example.gone', displayName: 'Gone', versionName: '1', state: 'REMOVED' },
        );
      });
      expect(await postPush(srv, pushToken, report)).toEqual({ status: 200, body: {} });
      const host = (await hostRow(srv, 'ESID-STATUS-1'))!;
      const rows = await rowsOf(srv, host.id);
      expect(rows.host).toMatchObject({
        os_version: 'Android 15',
        detail_updated_at: '2025-06-01 10:05:30.000',
      });
      expect(rows.device).toMatchObject({
        applied_policy_id: vectorUuid,
        last_policy_sync_time: '2025-06-01 10:05:00.000',
        last_status_report_time: '2025-06-01 10:05:30.000',
      });
      expect(Number(rows.device!.applied_policy_version)).toBe(3);
      expect(rows.software).toEqual([
        {
          name: 'Google Chrome',
          version: '1.0.0',
          source: 'android_apps',
          bundle_identifier: 'com.google.chrome',
        },
        { name: 'Notes', version: '2.1', source: 'android_apps', bundle_identifier: 'com.example.notes' },
      ]);
      expect(statusEvents).toEqual([
        { hostId: host.id, hostUuid: 'ESID-STATUS-1', device: name, appliedPolicyVersion: 3 },
      ]);

      // A later report with fewer apps replaces the inventory; an older one changes nothing.
      const later = adapt(vector('pubsub_push_status_report.json'), bound.enterpriseId, (dv) => {
        dv.hardwareInfo.enterpriseSpecificId = 'ESID-STATUS-1';
        dv.name = name;
        dv.lastStatusReportTime = '2025-06-01T11:00:00.123456Z';
        dv.applicationReports = [
          { packageName: 'com.example.notes', displayName: 'Notes', versionName: '2.2', state: 'INSTALLED' },
        ];
      });
      expect((await postPush(srv, pushToken, later)).status).toBe(200);
      const afterLater = await rowsOf(srv, host.id);
      expect(afterLater.software).toEqual([
        { name: 'Notes', version: '2.2', source: 'android_apps', bundle_identifier: 'com.example.notes' },
      ]);
      expect(afterLater.host.detail_updated_at).toBe('2025-06-01 11:00:00.123');
      const older = adapt(vector('pubsub_push_status_report.json'), bound.enterpriseId, (dv) => {
        dv.hardwareInfo.enterpriseSpecificId = 'ESID-STATUS-1';
        dv.name = name;
        dv.softwareInfo.androidVersion = '13';
      });
      expect(await postPush(srv, pushToken, older)).toEqual({ status: 200, body: {} });
      expect(await rowsOf(srv, host.id)).toEqual(afterLater);
    });

    it('a STATUS_REPORT for an unknown device enrolls it; the hardware hash names a device without enterpriseSpecificId', async () => {
      const report = adapt(vector('pubsub_push_status_report.json'), bound.enterpriseId, (dv) => {
        delete dv.hardwareInfo.enterpriseSpecificId;
        dv.hardwareInfo.serialNumber = 'SERIAL-NO-ESID';
        dv.name = `enterprises/${bound.enterpriseId}/devices/aa00000000000004`;
      });
      expect(await postPush(srv, pushToken, report)).toEqual({ status: 200, body: {} });
      // sha256("TestBrand:SERIAL-NO-ESID")
      const { createHash } = await import('node:crypto');
      const uuid = createHash('sha256').update('TestBrand:SERIAL-NO-ESID').digest('hex');
      const host = (await hostRow(srv, uuid))!;
      expect(host).toMatchObject({ platform: 'android', hardware_serial: 'SERIAL-NO-ESID', team_id: null });
      const rows = await rowsOf(srv, host.id);
      expect(rows.mdm).toMatchObject({ enrolled: 1 });
      expect(rows.device).toMatchObject({ enterprise_specific_id: uuid, applied_policy_id: vectorUuid });
    });

    it("the enrollment token's secret picks the team, its IdpUUID links the IdP account", async () => {
      const { db } = srv.app.services.database;
      const now = '2025-06-01 00:00:00.000';
      await db
        .insertInto('mdm_idp_accounts')
        .values({
          uuid: 'idp-1',
          username: 'ann',
          fullname: 'Ann',
          email: 'ann@example.com',
          created_at: now,
          updated_at: now,
        })
        .execute();
      const enrolled: unknown[] = [];
      srv.app.services.android.deviceEvents.onEnrolled(async (e) => {
        if (e.hostUuid === 'ESID-TEAM-1') enrolled.push(e);
      });
      const name = `enterprises/${bound.enterpriseId}/devices/aa00000000000005`;
      const body = adapt(vector('pubsub_push_enrollment.json'), bound.enterpriseId, (dv) => {
        dv.hardwareInfo.enterpriseSpecificId = 'ESID-TEAM-1';
        dv.name = name;
        dv.ownership = 'COMPANY_OWNED';
        dv.enrollmentTokenData = JSON.stringify({ EnrollSecret: 'phones-secret', IdpUUID: 'idp-1' });
      });
      expect(await postPush(srv, pushToken, body)).toEqual({ status: 200, body: {} });
      const host = (await hostRow(srv, 'ESID-TEAM-1'))!;
      expect(host.team_id).toBe(teamId);
      const rows = await rowsOf(srv, host.id);
      expect(rows.mdm).toMatchObject({ enrolled: 1, is_personal_enrollment: 0 });
      expect(rows.device).toMatchObject({ is_personal: 0 });
      const link = await db
        .selectFrom('host_mdm_idp_accounts')
        .selectAll()
        .where('host_uuid', '=', 'ESID-TEAM-1')
        .execute();
      expect(link.map((l) => l.account_uuid)).toEqual(['idp-1']);
      expect(enrolled).toEqual([{ hostId: host.id, hostUuid: 'ESID-TEAM-1', teamId, deviceName: name }]);
      const detail = await api(srv, 'GET', `/api/v1/fleet/hosts/${host.id}`, { token: admin });
      expect(detail.body.host).toMatchObject({
        team_id: teamId,
        team_name: 'Phones',
        mdm: { enrollment_status: 'On (manual)' },
      });
    });

    it('a device reported DELETED is unenrolled: host_mdm off, device row gone, mdm_unenrolled recorded', async () => {
      const name = `enterprises/${bound.enterpriseId}/devices/aa00000000000006`;
      const enroll = adapt(vector('pubsub_push_enrollment.json'), bound.enterpriseId, (dv) => {
        dv.hardwareInfo.enterpriseSpecificId = 'ESID-DEL-1';
        dv.name = name;
      });
      expect((await postPush(srv, pushToken, enroll)).status).toBe(200);
      const host = (await hostRow(srv, 'ESID-DEL-1'))!;
      // Google's last report of a deleted device may come without its hardware details.
      const deleted = adapt(vector('pubsub_push_status_report.json'), bound.enterpriseId, (dv) => {
        for (const k of Object.keys(dv)) if (k !== 'name') delete dv[k];
        dv.name = name;
        dv.state = 'DELETED';
        dv.appliedState = 'DELETED';
      });
      expect(await postPush(srv, pushToken, deleted)).toEqual({ status: 200, body: {} });
      const rows = await rowsOf(srv, host.id);
      expect(rows.mdm).toMatchObject({ enrolled: 0, server_url: '', mdm_id: null });
      expect(rows.device).toBeUndefined();
      const { db } = srv.app.services.database;
      const acts = await db
        .selectFrom('activities as a')
        .innerJoin('host_activities as ha', 'ha.activity_id', 'a.id')
        .select(['a.activity_type', 'a.details', 'a.user_id'])
        .where('ha.host_id', '=', host.id)
        .execute();
      expect(acts.map((a) => ({ ...a, details: JSON.parse(a.details) }))).toEqual([
        {
          activity_type: 'mdm_unenrolled',
          user_id: null,
          details: {
            host_serial: '',
            host_display_name: 'Testbrand TestModel',
            installed_from_dep: false,
            platform: 'android',
          },
        },
      ]);
      // Reported again: nothing more is recorded.
      const again = adapt(vector('pubsub_push_status_report.json'), bound.enterpriseId, (dv) => {
        dv.name = name;
        dv.state = 'DELETED';
      });
      expect((await postPush(srv, pushToken, again)).status).toBe(200);
      const count = await db
        .selectFrom('host_activities')
        .select((eb) => eb.fn.countAll<number>().as('n'))
        .where('host_id', '=', host.id)
        .executeTakeFirstOrThrow();
      expect(Number(count.n)).toBe(1);
      const detail = await api(srv, 'GET', `/api/v1/fleet/hosts/${host.id}`, { token: admin });
      expect(detail.body.host.mdm.enrollment_status).toBe('Off');
    });

    it('a device enrolled at the stand-in with a token of this server arrives through Pub/Sub', async () => {
      const token = await api(
        srv,
        'GET',
        `/api/v1/fleet/android_enterprise/enrollment_token?enroll_secret=${vectorSecret}`,
      );
      expect(token.status).toBe(200);
      const { device, delivery } = await standIn.enrollDevice({
        tokenValue: token.body.android_enrollment_token as string,
        ownership: 'PERSONALLY_OWNED',
        hardwareInfo: {
          brand: 'google',
          model: 'Pixel 8',
          serialNumber: 'PX8-1',
          enterpriseSpecificId: 'ESID-SIM-1',
        },
      });
      expect(delivery.status).toBe(200);
      const host = (await hostRow(srv, 'ESID-SIM-1'))!;
      expect(host).toMatchObject({ hostname: 'Google Pixel 8', platform: 'android', team_id: null });
      const status = await standIn.reportStatus(device.name, {
        applicationReports: [
          {
            packageName: 'com.android.chrome',
            displayName: 'Chrome',
            versionName: '126',
            state: 'INSTALLED',
          },
        ],
      });
      expect(status.status).toBe(200);
      expect((await rowsOf(srv, host.id)).software).toEqual([
        { name: 'Chrome', version: '126', source: 'android_apps', bundle_identifier: 'com.android.chrome' },
      ]);
    });

    it('deleting a host takes its Android device row and software links with it', async () => {
      const report = adapt(vector('pubsub_push_status_report.json'), bound.enterpriseId, (dv) => {
        dv.hardwareInfo.enterpriseSpecificId = 'ESID-GONE-1';
        dv.name = `enterprises/${bound.enterpriseId}/devices/aa00000000000007`;
      });
      expect((await postPush(srv, pushToken, report)).status).toBe(200);
      const host = (await hostRow(srv, 'ESID-GONE-1'))!;
      expect((await rowsOf(srv, host.id)).software).toHaveLength(1);
      const res = await api(srv, 'DELETE', `/api/v1/fleet/hosts/${host.id}`, { token: admin });
      expect(res.status).toBe(200);
      const { db } = srv.app.services.database;
      expect(
        await db.selectFrom('android_devices').selectAll().where('host_id', '=', host.id).execute(),
      ).toEqual([]);
      expect(
        await db.selectFrom('host_software').selectAll().where('host_id', '=', host.id).execute(),
      ).toEqual([]);
    });

    it('TEST, USAGE_LOGS, unknown and type-less notifications are acked and change nothing', async () => {
      const { db } = srv.app.services.database;
      const before = await db.selectFrom('android_pubsub_messages').select('message_id').execute();
      for (const type of ['TEST', 'USAGE_LOGS', 'ENTERPRISE_UPGRADE', 'SOMETHING_NEW', undefined]) {
        const body = adapt(vector('pubsub_push_enrollment.json'), bound.enterpriseId);
        body.message.attributes = type ? { notificationType: type } : {};
        expect(await postPush(srv, pushToken, body)).toEqual({ status: 200, body: {} });
      }
      expect(await db.selectFrom('android_pubsub_messages').select('message_id').execute()).toEqual(before);
    });

    it('the cleanup job forgets message IDs older than 24 hours only', async () => {
      const { db } = srv.app.services.database;
      await db
        .insertInto('android_pubsub_messages')
        .values([
          { message_id: 'old-1', received_at: '2020-01-01 00:00:00.000' },
          { message_id: 'new-1', received_at: '2999-01-01 00:00:00.000' },
        ])
        .execute();
      const run = await srv.app.services.cron.trigger('android_pubsub_messages_cleanup');
      expect(await run.finished).toMatchObject({ ran: true, errors: [] });
      const ids = (await db.selectFrom('android_pubsub_messages').select('message_id').execute()).map(
        (r) => r.message_id,
      );
      expect(ids).toContain('new-1');
      expect(ids).not.toContain('old-1');
    });
  });
}
