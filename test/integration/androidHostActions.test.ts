import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAmapiStandIn, type AmapiStandIn } from '../../src/clients/amapi/fakeServer.js';
import type { AmapiDevice } from '../../src/clients/amapi/types.js';
import { androidTestConfig, bindEnterprise, type BoundTestEnterprise } from '../helpers/android.js';
import { api, setupAdmin } from '../helpers/api.js';
import { dialects, mysqlAvailable, startTestServer, type TestServer } from '../helpers/testServer.js';

const secret = 'android-actions-secret';

for (const dialect of dialects) {
  const d = dialect === 'mysql' && !mysqlAvailable ? describe.skip : describe;
  d(`Android host actions (lock, unlock, wipe, turn off MDM) [${dialect}]`, () => {
    let standIn: AmapiStandIn;
    let srv: TestServer;
    let admin: string;
    let bound: BoundTestEnterprise;
    let serial = 0;

    beforeAll(async () => {
      standIn = await startAmapiStandIn();
      srv = await startTestServer(dialect, { ...androidTestConfig(standIn), logLevel: 'info' });
      admin = await setupAdmin(srv);
      bound = await bindEnterprise(srv, standIn, admin);
      await srv.app.services.enrollSecrets.replace(null, null, [secret]);
    });
    afterAll(async () => {
      await srv?.close();
      await standIn?.close();
    });

    /** A device enrolled at the stand-in with a token of this server; its host as Pub/Sub made it. */
    async function enrolled(ownership: 'COMPANY_OWNED' | 'PERSONALLY_OWNED') {
      const token = await api(
        srv,
        'GET',
        `/api/v1/fleet/android_enterprise/enrollment_token?enroll_secret=${secret}`,
      );
      expect(token.status).toBe(200);
      serial++;
      const { device, delivery } = await standIn.enrollDevice({
        tokenValue: token.body.android_enrollment_token as string,
        ownership,
        hardwareInfo: {
          brand: 'samsung',
          model: 'SM-S911B',
          serialNumber: `R5C-${serial}`,
          enterpriseSpecificId: `ESID-ACT-${serial}`,
        },
      });
      expect(delivery.status).toBe(200);
      const host = await srv.app.services.database.db
        .selectFrom('hosts')
        .select(['id', 'uuid'])
        .where('uuid', '=', `ESID-ACT-${serial}`)
        .executeTakeFirstOrThrow();
      return { device, hostId: host.id, uuid: host.uuid };
    }

    async function deviceStatus(hostId: number) {
      const res = await api(srv, 'GET', `/api/v1/fleet/hosts/${hostId}`, { token: admin });
      expect(res.status).toBe(200);
      return {
        device_status: res.body.host.mdm.device_status,
        pending_action: res.body.host.mdm.pending_action,
      };
    }

    async function commandRows(uuid: string) {
      return srv.app.services.database.db
        .selectFrom('mdm_android_commands')
        .select(['command_type', 'status', 'error_code', 'error_message', 'operation_name'])
        .where('host_uuid', '=', uuid)
        .orderBy('created_at')
        .execute();
    }

    /** Google publishes the final report of a device deleted through the API with state DELETED. */
    async function reportDeleted(device: AmapiDevice) {
      const last = standIn.deletedDevices.get(device.name)?.device ?? device;
      const delivery = await standIn.publish(bound.enterpriseName, 'STATUS_REPORT', {
        ...last,
        state: 'DELETED',
        appliedState: 'DELETED',
      });
      expect(delivery.status).toBe(200);
    }

    it('lock issues LOCK at Google; the COMMAND notification makes the host locked', async () => {
      const { device, hostId, uuid } = await enrolled('PERSONALLY_OWNED');
      expect(await deviceStatus(hostId)).toEqual({ device_status: 'unlocked', pending_action: '' });
      const res = await api(srv, 'POST', `/api/v1/fleet/hosts/${hostId}/lock`, { token: admin });
      expect(res.status).toBe(204);
      const ops = standIn.pendingOperations(device.name);
      expect(ops).toHaveLength(1);
      expect(ops[0]!.metadata).toMatchObject({ type: 'LOCK' });
      const issued = standIn.requests.filter((r) => r.path === `/v1/${device.name}:issueCommand`);
      expect(issued.map((r) => r.body)).toEqual([{ type: 'LOCK' }]);
      expect(await commandRows(uuid)).toEqual([
        {
          command_type: 'LOCK',
          status: 'pending',
          error_code: null,
          error_message: null,
          operation_name: ops[0]!.name,
        },
      ]);
      expect(await deviceStatus(hostId)).toEqual({ device_status: 'locking', pending_action: 'lock' });

      // The admin commands list shows it, as Fleet names statuses.
      const list = await api(srv, 'GET', `/api/v1/fleet/commands?host_identifier=${uuid}`, { token: admin });
      expect(list.status).toBe(200);
      expect(list.body.results).toEqual([
        expect.objectContaining({
          host_uuid: uuid,
          request_type: 'LOCK',
          status: 'Pending',
          platform: 'android',
        }),
      ]);
      const commandUuid = list.body.results[0].command_uuid as string;

      const delivery = await standIn.completeOperation(ops[0]!.name);
      expect(delivery.status).toBe(200);
      expect((await commandRows(uuid))[0]).toMatchObject({ status: 'acknowledged' });
      expect(await deviceStatus(hostId)).toEqual({ device_status: 'locked', pending_action: '' });
      const results = await api(srv, 'GET', `/api/v1/fleet/commands/results?command_uuid=${commandUuid}`, {
        token: admin,
      });
      expect(results.status).toBe(200);
      expect(results.body.results).toEqual([
        {
          host_uuid: uuid,
          command_uuid: commandUuid,
          status: 'Acknowledged',
          updated_at: expect.any(String),
          request_type: 'LOCK',
          hostname: 'Samsung SM-S911B',
          payload: Buffer.from('{"type":"LOCK"}').toString('base64'),
          result: null,
        },
      ]);

      // Locked: a second lock is refused and nothing more goes to Google.
      const again = await api(srv, 'POST', `/api/v1/fleet/hosts/${hostId}/lock`, { token: admin });
      expect(again.status).toBe(422);
      expect(again.body.errors).toEqual([{ name: 'host_id', reason: 'Host is already locked.' }]);
      expect(standIn.requests.filter((r) => r.path === `/v1/${device.name}:issueCommand`)).toHaveLength(1);

      // Unlock sends nothing (the user unlocks with their passcode); the next report ends it.
      const unlock = await api(srv, 'POST', `/api/v1/fleet/hosts/${hostId}/unlock`, { token: admin });
      expect(unlock.status).toBe(204);
      expect(await deviceStatus(hostId)).toEqual({ device_status: 'unlocking', pending_action: 'unlock' });
      expect(standIn.requests.filter((r) => r.path === `/v1/${device.name}:issueCommand`)).toHaveLength(1);
      expect((await standIn.reportStatus(device.name, {})).status).toBe(200);
      expect(await deviceStatus(hostId)).toEqual({ device_status: 'unlocked', pending_action: '' });
    });

    it("a lock the device refuses is stored with Google's code and message; the host stays unlocked", async () => {
      const { device, hostId, uuid } = await enrolled('PERSONALLY_OWNED');
      expect((await api(srv, 'POST', `/api/v1/fleet/hosts/${hostId}/lock`, { token: admin })).status).toBe(
        204,
      );
      const [op] = standIn.pendingOperations(device.name);
      const delivery = await standIn.completeOperation(op!.name, {
        code: 9,
        message: 'The device is not in a state to lock.',
      });
      expect(delivery.status).toBe(200);
      expect(await commandRows(uuid)).toEqual([
        {
          command_type: 'LOCK',
          status: 'error',
          error_code: '9',
          error_message: 'The device is not in a state to lock.',
          operation_name: op!.name,
        },
      ]);
      expect(await deviceStatus(hostId)).toEqual({ device_status: 'unlocked', pending_action: '' });
      const list = await api(
        srv,
        'GET',
        `/api/v1/fleet/commands?host_identifier=${uuid}&command_status=failed`,
        {
          token: admin,
        },
      );
      expect(list.body.results).toEqual([expect.objectContaining({ request_type: 'LOCK', status: 'Error' })]);
    });

    it('Google refusing the LOCK answers 502 and records nothing', async () => {
      const { hostId, uuid } = await enrolled('PERSONALLY_OWNED');
      standIn.failNext('devices.issueCommand', 500, { message: 'Internal error encountered.' });
      const res = await api(srv, 'POST', `/api/v1/fleet/hosts/${hostId}/lock`, { token: admin });
      expect(res.status).toBe(502);
      expect(res.body.errors[0].name).toBe('base');
      expect(await commandRows(uuid)).toEqual([]);
      const action = await srv.app.services.database.db
        .selectFrom('host_mdm_actions')
        .selectAll()
        .where('host_id', '=', hostId)
        .executeTakeFirst();
      expect(action).toBeUndefined();
      expect(await deviceStatus(hostId)).toEqual({ device_status: 'unlocked', pending_action: '' });
    });

    it('wipe of a company-owned device factory resets it (external storage too); DELETED completes it', async () => {
      const { device, hostId, uuid } = await enrolled('COMPANY_OWNED');
      const res = await api(srv, 'POST', `/api/v1/fleet/hosts/${hostId}/wipe`, { token: admin });
      expect(res.status).toBe(204);
      expect(standIn.deletedDevices.get(device.name)?.wipeDataFlags).toEqual(['WIPE_EXTERNAL_STORAGE']);
      expect(await commandRows(uuid)).toEqual([
        expect.objectContaining({ command_type: 'WIPE', status: 'pending' }),
      ]);
      expect(await deviceStatus(hostId)).toEqual({ device_status: 'wiping', pending_action: 'wipe' });
      await reportDeleted(device);
      expect(await commandRows(uuid)).toEqual([
        expect.objectContaining({ command_type: 'WIPE', status: 'acknowledged' }),
      ]);
      expect(await deviceStatus(hostId)).toEqual({ device_status: 'wiped', pending_action: '' });
      const mdm = await srv.app.services.database.db
        .selectFrom('host_mdm')
        .select('enrolled')
        .where('host_id', '=', hostId)
        .executeTakeFirstOrThrow();
      expect(mdm.enrolled).toBe(0);
      // No longer enrolled: Fleet's refusal.
      const lock = await api(srv, 'POST', `/api/v1/fleet/hosts/${hostId}/lock`, { token: admin });
      expect(lock.status).toBe(422);
    });

    it('wipe of a personal device removes only its work profile (no wipe flags)', async () => {
      const { device, hostId } = await enrolled('PERSONALLY_OWNED');
      expect((await api(srv, 'POST', `/api/v1/fleet/hosts/${hostId}/wipe`, { token: admin })).status).toBe(
        204,
      );
      const deleted = standIn.requests.filter(
        (r) => r.method === 'DELETE' && r.path === `/v1/${device.name}`,
      );
      expect(deleted).toHaveLength(1);
      expect(deleted[0]!.query.wipeDataFlags).toBeUndefined();
      expect(standIn.deletedDevices.get(device.name)?.wipeDataFlags).toEqual([]);
    });

    it('turning MDM off removes a personal device at Google; its DELETED report unenrolls the host', async () => {
      const { device, hostId, uuid } = await enrolled('PERSONALLY_OWNED');
      const res = await api(srv, 'DELETE', `/api/v1/fleet/hosts/${hostId}/mdm`, { token: admin });
      expect(res.status).toBe(204);
      expect(standIn.deletedDevices.get(device.name)?.wipeDataFlags).toEqual([]);
      expect(await commandRows(uuid)).toEqual([
        expect.objectContaining({ command_type: 'UNENROLL', status: 'pending' }),
      ]);
      const { db } = srv.app.services.database;
      const acts = await db
        .selectFrom('activities as a')
        .innerJoin('host_activities as ha', 'ha.activity_id', 'a.id')
        .select(['a.activity_type', 'a.details', 'a.user_email'])
        .where('ha.host_id', '=', hostId)
        .execute();
      expect(acts.map((a) => ({ ...a, details: JSON.parse(a.details) }))).toEqual([
        {
          activity_type: 'mdm_unenrolled',
          user_email: 'admin@example.com',
          details: {
            host_serial: `R5C-${serial}`,
            host_display_name: 'Samsung SM-S911B',
            installed_from_dep: false,
            platform: 'android',
          },
        },
      ]);
      await reportDeleted(device);
      expect(await commandRows(uuid)).toEqual([
        expect.objectContaining({ command_type: 'UNENROLL', status: 'acknowledged' }),
      ]);
      const detail = await api(srv, 'GET', `/api/v1/fleet/hosts/${hostId}`, { token: admin });
      expect(detail.body.host.mdm.enrollment_status).toBe('Off');
      // Already off: Fleet's 409.
      const again = await api(srv, 'DELETE', `/api/v1/fleet/hosts/${hostId}/mdm`, { token: admin });
      expect(again.status).toBe(409);
    });

    it('turning MDM off for a company-owned device is refused (Google would factory reset it)', async () => {
      const { device, hostId, uuid } = await enrolled('COMPANY_OWNED');
      const res = await api(srv, 'DELETE', `/api/v1/fleet/hosts/${hostId}/mdm`, { token: admin });
      expect(res.status).toBe(400);
      expect(res.body.errors).toEqual([
        {
          name: 'base',
          reason:
            "Can't turn off MDM for company-owned Android hosts: Google factory resets a company-owned device that leaves management. Use wipe instead.",
        },
      ]);
      expect(standIn.devices.has(device.name)).toBe(true);
      expect(await commandRows(uuid)).toEqual([]);
    });

    it('raw MDM commands are refused for Android hosts', async () => {
      const { uuid } = await enrolled('PERSONALLY_OWNED');
      const res = await api(srv, 'POST', '/api/v1/fleet/commands/run', {
        token: admin,
        body: { command: Buffer.from('{"type":"REBOOT"}').toString('base64'), host_uuids: [uuid] },
      });
      expect(res.status).toBe(422);
      expect(res.body.errors).toEqual([
        {
          name: 'host_uuids',
          reason: 'Invalid platform. You can only run MDM commands on Windows or Apple hosts.',
        },
      ]);
      expect(await commandRows(uuid)).toEqual([]);
    });
  });
}
