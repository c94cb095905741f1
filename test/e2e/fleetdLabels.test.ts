import { afterAll, beforeAll, expect, it } from 'vitest';
import { api } from '../helpers/api.js';
import { startFakeApns } from '../helpers/apns.js';
import {
  convergeMac,
  macWithFleetd,
  refetchAndCheckIn,
  teamWithSecret,
  teamOf,
  agentServer,
} from '../helpers/fleetd.js';
import { appleHostRows, mobileconfig, uploadProfile } from '../helpers/profiles.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const { fake, overrides } = await startFakeApns();
afterAll(async () => {
  await fake.close();
});

describeEachDialect(
  'simulated fleetd: dynamic label membership scopes profiles',
  (server) => {
    let srv: TestServer;
    let admin = '';

    beforeAll(async () => {
      srv = server();
      admin = await agentServer(srv, 'apple');
    });

    it('a label query answered with rows queues the include-any profile at once; answered with none, removes it', async () => {
      const { teamId, secret } = await teamWithSecret(srv, admin, 'Label scoped');
      // What the Mac has installed decides the label: osquery runs the label's SQL against it.
      let hasFoo = false;
      const labelSql = "SELECT 1 FROM apps WHERE bundle_identifier = 'com.example.foo';";
      const { mac, fleetd, hostId } = await macWithFleetd(srv, secret);
      expect(await teamOf(srv, hostId)).toBe(teamId);

      const created = await api(srv, 'POST', '/api/latest/fleet/labels', {
        token: admin,
        body: { name: 'Has Foo', query: labelSql, platform: 'darwin' },
      });
      expect(created.status, created.text).toBe(200);
      const labelId = created.body.label.id as number;
      fleetd.machine.labelAnswer = (sql, id) =>
        id === labelId && sql === labelSql && hasFoo ? [{ '1': '1' }] : [];

      const identifier = 'com.example.foo-settings';
      const uploaded = await uploadProfile(
        srv,
        admin,
        { name: 'Foo settings.mobileconfig', bytes: mobileconfig(identifier, 'Foo settings') },
        { team_id: String(teamId), labels_include_any: ['Has Foo'] },
      );
      expect(uploaded.status, JSON.stringify(uploaded.body)).toBe(200);

      // Not a member yet: the manager leaves the host alone.
      await convergeMac(srv, mac, 1);
      expect((await appleHostRows(srv, mac.udid)).map((r) => r.profile_identifier)).not.toContain(identifier);

      // Foo gets installed; the next check-in that carries label queries reports the membership.
      hasFoo = true;
      const round = await refetchAndCheckIn(srv, admin, { hostId, fleetd });
      expect(round.sent).toContain(`fleet_label_query_${labelId}`);
      expect(round.written!.queries[`fleet_label_query_${labelId}`]).toEqual([{ '1': '1' }]);
      const members = await api(srv, 'GET', `/api/latest/fleet/labels/${labelId}/hosts`, { token: admin });
      expect(members.body.hosts.map((h: { id: number }) => h.id)).toEqual([hostId]);

      // Marked pending for the host at once (no waiting for the next full sweep); the profile
      // manager's next run sends it and the Mac installs it.
      const queued = (await appleHostRows(srv, mac.udid)).find((r) => r.profile_identifier === identifier);
      expect(queued).toMatchObject({ operation_type: 'install' });
      expect(queued?.status ?? 'pending').toBe('pending');
      await convergeMac(srv, mac, 1);
      expect([...mac.profiles.keys()]).toContain(identifier);

      // Foo is gone: no rows for the label query, the host leaves the label, the profile is removed.
      hasFoo = false;
      const again = await refetchAndCheckIn(srv, admin, { hostId, fleetd });
      expect(again.written!.queries[`fleet_label_query_${labelId}`]).toEqual([]);
      const removing = (await appleHostRows(srv, mac.udid)).find((r) => r.profile_identifier === identifier);
      expect(removing).toMatchObject({ operation_type: 'remove' });
      await convergeMac(srv, mac, 1);
      expect([...mac.profiles.keys()]).not.toContain(identifier);
    });
  },
  overrides,
);
