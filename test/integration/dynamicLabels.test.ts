import { afterEach, beforeAll, expect, it, vi } from 'vitest';
import type { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { api, setupAdmin } from '../helpers/api.js';
import { enrolledDevice } from '../helpers/appleDevice.js';
import { enrollAgent, hostRow, markReported, osquery } from '../helpers/osqueryAgent.js';
import { appleHostRows, mobileconfig, uploadProfile } from '../helpers/profiles.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const secret = 'dynamic-labels-global-secret';

async function createLabel(srv: TestServer, admin: string, name: string, query: string, platform = '') {
  const res = await api(srv, 'POST', '/api/latest/fleet/labels', {
    token: admin,
    body: { name, query, platform },
  });
  expect(res.status).toBe(200);
  return res.body.label.id as number;
}

function membership(srv: TestServer, hostId: number, labelId: number) {
  return srv.app.services.database.db
    .selectFrom('label_membership')
    .select(['is_member', 'updated_at'])
    .where('host_id', '=', hostId)
    .where('label_id', '=', labelId)
    .executeTakeFirst();
}

/** An Apple MDM host that also runs osquery, with its label queries due. */
async function macWithAgent(srv: TestServer) {
  const mac = await enrolledDevice(srv);
  const agent = await enrollAgent(srv, secret, { uuid: mac.udid });
  return { mac, ...agent };
}

async function answer(srv: TestServer, nodeKey: string, labelId: number, rows: unknown[] | '', status = 0) {
  const res = await osquery(srv, 'distributed/write', {
    node_key: nodeKey,
    queries: { [`fleet_label_query_${labelId}`]: rows },
    statuses: { [`fleet_label_query_${labelId}`]: status },
    messages: status ? { [`fleet_label_query_${labelId}`]: 'no such table: nothing' } : {},
  });
  expect(res.status).toBe(200);
}

const profileRows = async (srv: TestServer, mac: SimulatedAppleDevice, identifier: string) =>
  (await appleHostRows(srv, mac.udid))
    .filter((r) => r.profile_identifier === identifier)
    .map((r) => [r.operation_type, r.status]);

describeEachDialect(
  'dynamic labels: osquery answers set membership, profile scope follows at once',
  (server) => {
    let admin = '';

    beforeAll(async () => {
      const srv = server();
      admin = await setupAdmin(srv);
      await srv.app.services.enrollSecrets.replace(null, null, [secret]);
    });
    afterEach(() => vi.restoreAllMocks());

    it('labels go out with their query for the host platform only', async () => {
      const srv = server();
      const any = await createLabel(srv, admin, 'Dyn any platform', 'SELECT 1 FROM osquery_info;');
      const win = await createLabel(
        srv,
        admin,
        'Dyn windows',
        "SELECT 1 FROM os_version WHERE name LIKE '%11%';",
        'windows',
      );
      const mac = await enrollAgent(srv, secret);
      const res = await osquery(srv, 'distributed/read', { node_key: mac.nodeKey });
      expect(res.body.queries[`fleet_label_query_${any}`]).toBe('SELECT 1 FROM osquery_info;');
      expect(res.body.discovery[`fleet_label_query_${any}`]).toBe('SELECT 1');
      expect(res.body.queries[`fleet_label_query_${win}`]).toBeUndefined();
      const pc = await enrollAgent(srv, secret, { platform: 'windows' });
      const pcRes = await osquery(srv, 'distributed/read', { node_key: pc.nodeKey });
      expect(pcRes.body.queries[`fleet_label_query_${win}`]).toBeDefined();
    });

    it('unknown → member: the include-labeled profile is queued for the host at once', async () => {
      const srv = server();
      const label = await createLabel(srv, admin, 'Dyn include', 'SELECT 1 FROM system_info;');
      const profile = await uploadProfile(
        srv,
        admin,
        { name: 'include.mobileconfig', bytes: mobileconfig('com.dyn.include', 'Dyn include') },
        { labels_include_any: ['Dyn include'] },
      );
      expect(profile.status).toBe(200);
      const { mac, nodeKey, hostId } = await macWithAgent(srv);
      await srv.app.services.profileManager.tick();
      // Never answered: unknown, so nothing is installed and no membership row exists.
      expect(await profileRows(srv, mac, 'com.dyn.include')).toEqual([]);
      expect(await membership(srv, hostId, label)).toBeUndefined();

      await answer(srv, nodeKey, label, [{ '1': '1' }]);
      expect(Number((await membership(srv, hostId, label))?.is_member)).toBe(1);
      expect(await profileRows(srv, mac, 'com.dyn.include')).toEqual([['install', null]]);
      const row = await hostRow(srv, hostId);
      expect(row.label_updated_at > '2001').toBe(true);

      // Leaving the label: the profile is taken off again.
      await answer(srv, nodeKey, label, []);
      expect(Number((await membership(srv, hostId, label))?.is_member)).toBe(0);
      expect(await profileRows(srv, mac, 'com.dyn.include')).not.toContainEqual(['install', null]);
    });

    it('an excluded label that is still unknown does not let the profile through; an error keeps it unknown', async () => {
      const srv = server();
      const label = await createLabel(srv, admin, 'Dyn exclude', 'SELECT 1 FROM apps;');
      await uploadProfile(
        srv,
        admin,
        { name: 'exclude.mobileconfig', bytes: mobileconfig('com.dyn.exclude', 'Dyn exclude') },
        { labels_exclude_any: ['Dyn exclude'] },
      );
      const { mac, nodeKey, hostId } = await macWithAgent(srv);
      await srv.app.services.profileManager.tick();
      expect(await profileRows(srv, mac, 'com.dyn.exclude')).toEqual([]);

      await answer(srv, nodeKey, label, '', 1);
      expect(await membership(srv, hostId, label)).toBeUndefined();
      await srv.app.services.profileManager.tick();
      expect(await profileRows(srv, mac, 'com.dyn.exclude')).toEqual([]);

      // Answered "not a member": now the profile may go.
      await answer(srv, nodeKey, label, '');
      expect(Number((await membership(srv, hostId, label))?.is_member)).toBe(0);
      expect(await profileRows(srv, mac, 'com.dyn.exclude')).toEqual([['install', null]]);
    });

    it('an error after an answer keeps the answer; an unchanged answer writes and announces nothing', async () => {
      const srv = server();
      const label = await createLabel(srv, admin, 'Dyn steady', 'SELECT 1 FROM uptime;');
      const { nodeKey, hostId } = await enrollAgent(srv, secret);
      await answer(srv, nodeKey, label, [{ '1': '1' }]);
      const first = await membership(srv, hostId, label);
      const emitted = vi.spyOn(srv.app.services.hostEvents, 'emitLabelMembershipChanged');
      await answer(srv, nodeKey, label, [{ '1': '1' }]);
      await answer(srv, nodeKey, label, '', 1);
      expect(await membership(srv, hostId, label)).toEqual(first);
      expect(emitted).not.toHaveBeenCalled();
      await answer(srv, nodeKey, label, []);
      expect(emitted).toHaveBeenCalledWith([label], [hostId]);
    });

    it('answers for labels that are gone, manual, or not ours are ignored', async () => {
      const srv = server();
      const gone = await createLabel(srv, admin, 'Dyn gone', 'SELECT 1;');
      const manual = await api(srv, 'POST', '/api/latest/fleet/labels', {
        token: admin,
        body: { name: 'Manual, not osquery', hosts: [] },
      });
      expect((await api(srv, 'DELETE', `/api/latest/fleet/labels/id/${gone}`, { token: admin })).status).toBe(
        200,
      );
      const { nodeKey, hostId } = await enrollAgent(srv, secret);
      await markReported(srv, hostId);
      await answer(srv, nodeKey, gone, [{ '1': '1' }]);
      await answer(srv, nodeKey, manual.body.label.id, [{ '1': '1' }]);
      const res = await osquery(srv, 'distributed/write', {
        node_key: nodeKey,
        queries: { fleet_label_query_notanumber: [], fleet_policy_query_3: [{ '1': '1' }] },
        statuses: {},
      });
      expect(res.status).toBe(200);
      expect(await membership(srv, hostId, gone)).toBeUndefined();
      expect(await membership(srv, hostId, manual.body.label.id)).toBeUndefined();
    });
  },
);
