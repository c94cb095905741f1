import { beforeAll, expect, it } from 'vitest';
import type { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { dbNow } from '../../src/db/dialect.js';
import { api, setupAdmin } from '../helpers/api.js';
import { enrolledDevice } from '../helpers/appleDevice.js';
import { seedEnrollment } from '../helpers/appleSeed.js';
import { appleHostRows, converge, mobileconfig, uploadProfile } from '../helpers/profiles.js';
import { describeEachDialect } from '../helpers/testServer.js';

const installed = (mac: SimulatedAppleDevice) =>
  [...mac.profiles.keys()].filter((k) => k.startsWith('com.scope.')).sort();

/** Fleet's per-host OS-settings bucket (data model §11): failed > pending > verifying > verified. */
function bucketOf(statuses: (string | null)[]): 'failed' | 'pending' | 'verifying' | 'verified' | undefined {
  if (statuses.length === 0) return undefined;
  if (statuses.includes('failed')) return 'failed';
  if (statuses.some((s) => s === null || s === 'pending')) return 'pending';
  if (statuses.includes('verifying')) return 'verifying';
  return 'verified';
}

describeEachDialect(
  'configuration profiles: label moves, check-out, batch resend, summaries',
  (server) => {
    let admin = '';
    let mac: SimulatedAppleDevice;
    let macHostId = 0;

    const setLabels = async (names: string[], add: boolean) => {
      const res = await api(
        server(),
        add ? 'POST' : 'DELETE',
        `/api/latest/fleet/hosts/${macHostId}/labels`,
        { token: admin, body: { labels: names } },
      );
      expect(res.status).toBe(200);
    };

    // An admin, two manual labels and an enrolled Mac.
    beforeAll(async () => {
      const srv = server();
      admin = await setupAdmin(srv);
      mac = await enrolledDevice(srv);
      const host = await srv.app.services.database.db
        .selectFrom('hosts')
        .select('id')
        .where('uuid', '=', mac.udid)
        .executeTakeFirstOrThrow();
      macHostId = Number(host.id);
      for (const name of ['Scope A', 'Scope B']) {
        const res = await api(srv, 'POST', '/api/latest/fleet/labels', {
          token: admin,
          body: { name, hosts: [] },
        });
        expect(res.status).toBe(200);
      }
    });

    it('include-any: leaving the only matching label removes the profile; joining another brings it back', async () => {
      const srv = server();
      const any = await uploadProfile(
        srv,
        admin,
        { name: 'any.mobileconfig', bytes: mobileconfig('com.scope.any', 'Scope Any') },
        { labels_include_any: ['Scope A', 'Scope B'] },
      );
      expect(any.status).toBe(200);
      await converge(srv, [mac]);
      expect(installed(mac)).toEqual([]); // a member of neither
      await setLabels(['Scope A'], true);
      expect((await appleHostRows(srv, mac.udid)).map((r) => [r.profile_identifier, r.status])).toEqual([
        ['com.scope.any', null],
      ]);
      await converge(srv, [mac]);
      expect(installed(mac)).toEqual(['com.scope.any']);
      await setLabels(['Scope A'], false);
      // Immediate pending removal, hidden from the host's profile list.
      expect((await appleHostRows(srv, mac.udid)).map((r) => [r.operation_type, r.status])).toEqual([
        ['remove', null],
      ]);
      const details = await api(srv, 'GET', `/api/latest/fleet/hosts/${macHostId}`, { token: admin });
      expect(details.body.host.mdm.profiles).toBeNull();
      await converge(srv, [mac]);
      expect(installed(mac)).toEqual([]);
      expect(await appleHostRows(srv, mac.udid)).toEqual([]);
      await setLabels(['Scope B'], true);
      await converge(srv, [mac]);
      expect(installed(mac)).toEqual(['com.scope.any']);
      expect((await appleHostRows(srv, mac.udid)).map((r) => r.status)).toEqual(['verified']);
    });

    /** Whether the Mac has a row for the profile with this identifier. */
    const hasRow = async (identifier: string) =>
      (await appleHostRows(server(), mac.udid)).some((r) => r.profile_identifier === identifier);

    /** The include-any profile installed through Scope B, as the include-any test leaves it. */
    async function anyThroughB(): Promise<void> {
      if (await hasRow('com.scope.any')) return;
      await uploadProfile(
        server(),
        admin,
        { name: 'any.mobileconfig', bytes: mobileconfig('com.scope.any', 'Scope Any') },
        { labels_include_any: ['Scope A', 'Scope B'] },
      );
      await setLabels(['Scope B'], true);
      await converge(server(), [mac]);
    }

    /** Both profiles installed, the Mac in both labels, as the include-all test leaves it. */
    async function allAndAny(): Promise<void> {
      await anyThroughB();
      if (await hasRow('com.scope.all')) return;
      await uploadProfile(
        server(),
        admin,
        { name: 'all.mobileconfig', bytes: mobileconfig('com.scope.all', 'Scope All') },
        { labels_include_all: ['Scope A', 'Scope B'] },
      );
      await setLabels(['Scope A'], true);
      await converge(server(), [mac]);
    }

    it('include-all: needs every label; leaving one removes it, rejoining re-installs it', async () => {
      await anyThroughB();
      const srv = server();
      const all = await uploadProfile(
        srv,
        admin,
        { name: 'all.mobileconfig', bytes: mobileconfig('com.scope.all', 'Scope All') },
        { labels_include_all: ['Scope A', 'Scope B'] },
      );
      expect(all.status).toBe(200);
      await converge(srv, [mac]);
      expect(installed(mac)).toEqual(['com.scope.any']); // in B only
      await setLabels(['Scope A'], true);
      await converge(srv, [mac]);
      expect(installed(mac)).toEqual(['com.scope.all', 'com.scope.any']);
      await setLabels(['Scope B'], false);
      await converge(srv, [mac]);
      expect(installed(mac)).toEqual(['com.scope.any']); // any still holds through A
      await setLabels(['Scope B'], true);
      await converge(srv, [mac]);
      expect(installed(mac)).toEqual(['com.scope.all', 'com.scope.any']);
      expect((await appleHostRows(srv, mac.udid)).map((r) => [r.profile_identifier, r.status])).toEqual([
        ['com.scope.all', 'verified'],
        ['com.scope.any', 'verified'],
      ]);
    });

    it('CheckOut drops the host rows; re-enrolling sends every profile again', async () => {
      await allAndAny();
      const srv = server();
      const before = await appleHostRows(srv, mac.udid);
      expect(before).toHaveLength(2);
      await mac.checkOut();
      expect(await appleHostRows(srv, mac.udid)).toEqual([]);
      // macOS removes what an MDM installed when MDM is turned off.
      mac.profiles.clear();
      await mac.authenticate();
      await mac.tokenUpdate();
      expect((await appleHostRows(srv, mac.udid)).map((r) => r.status)).toEqual([null, null]);
      await converge(srv, [mac]);
      expect(installed(mac)).toEqual(['com.scope.all', 'com.scope.any']);
      const after = await appleHostRows(srv, mac.udid);
      expect(after.map((r) => r.status)).toEqual(['verified', 'verified']);
      expect(after.map((r) => r.command_uuid)).not.toEqual(before.map((r) => r.command_uuid));
    });

    let teamId = 0;
    let dockUuid = '';
    const seeded: { udid: string; hostId: number }[] = [];

    // A team with two profiles and a declaration, and hosts with a status row for each (made once:
    // the summary test makes them, or the batch resend test when it runs alone).
    let summaryHosts: Promise<string> | undefined;
    const seedSummaryHosts = () => (summaryHosts ??= seedSummaryHostsOnce());

    it('the summary counts each host once, matching its rows (failed > pending > verifying > verified)', async () => {
      const srv = server();
      const db = srv.app.services.database.db;
      const decl = await seedSummaryHosts();

      // Expected buckets from the team's host list and each host's rows.
      const list = await api(srv, 'GET', `/api/latest/fleet/hosts?team_id=${teamId}&per_page=100`, {
        token: admin,
      });
      expect(list.status).toBe(200);
      const expected = { verified: 0, verifying: 0, pending: 0, failed: 0 };
      for (const h of list.body.hosts as { uuid: string }[]) {
        const p = await db
          .selectFrom('host_mdm_apple_profiles')
          .select('status')
          .where('host_uuid', '=', h.uuid)
          .execute();
        const dd = await db
          .selectFrom('host_mdm_apple_declarations')
          .select('status')
          .where('host_uuid', '=', h.uuid)
          .execute();
        const b = bucketOf([...p, ...dd].map((r) => r.status));
        if (b) expected[b]++;
      }
      expect(expected).toEqual({ verified: 1, verifying: 1, pending: 3, failed: 2 });
      const summary = await api(
        srv,
        'GET',
        `/api/latest/fleet/configuration_profiles/summary?team_id=${teamId}`,
        { token: admin },
      );
      expect(summary.body).toEqual(expected);

      // Declarations appear in the host's profile list next to profiles, with their d… UUID.
      const details = await api(srv, 'GET', `/api/latest/fleet/hosts/${seeded[5].hostId}`, { token: admin });
      const profiles = details.body.host.mdm.profiles as {
        profile_uuid: string;
        name: string;
        status: string;
      }[];
      expect(profiles.map((p) => [p.name, p.status])).toEqual([
        ['Dock', 'verified'],
        ['Passcode', 'failed'],
        ['WiFi', 'verified'],
      ]);
      expect(profiles.find((p) => p.name === 'Passcode')?.profile_uuid).toBe(decl);
    });

    /** Makes the team, its profiles and the seeded hosts; returns the declaration's UUID. */
    async function seedSummaryHostsOnce(): Promise<string> {
      const srv = server();
      const db = srv.app.services.database.db;
      const now = dbNow();
      teamId = Number(
        (
          await db
            .insertInto('teams')
            .values({ name: 'Summary', config: '{}', created_at: now, updated_at: now })
            .executeTakeFirstOrThrow()
        ).insertId,
      );
      const dock = await uploadProfile(
        srv,
        admin,
        { name: 'd.mobileconfig', bytes: mobileconfig('com.scope.dock', 'Dock') },
        { team_id: String(teamId) },
      );
      const wifi = await uploadProfile(
        srv,
        admin,
        { name: 'w.mobileconfig', bytes: mobileconfig('com.scope.wifi', 'WiFi') },
        { team_id: String(teamId) },
      );
      expect([dock.status, wifi.status]).toEqual([200, 200]);
      dockUuid = dock.body.profile_uuid;
      const decl = await srv.app.services.profiles.create(
        null,
        teamId,
        {
          filename: 'Passcode.json',
          bytes: Buffer.from(
            JSON.stringify({
              Type: 'com.apple.configuration.passcode.settings',
              Identifier: 'com.scope.passcode',
              Payload: { MinimumLength: 8 },
            }),
          ),
        },
        {},
      );
      // Per host: [dock, wifi, declaration] statuses; undefined = no row; 'remove:x' = a removal row.
      const plan: (string | null | undefined)[][] = [
        ['verified', 'verified', 'verified'],
        ['verified', 'verifying', 'verified'],
        ['verified', null, 'verified'],
        ['failed', 'pending', 'verifying'],
        ['verified', 'remove:pending', 'verified'],
        ['verified', 'verified', 'failed'],
        ['verifying', undefined, 'pending'],
        [undefined, undefined, undefined],
      ];
      for (let i = 0; i < plan.length; i++) {
        seeded.push(
          await seedEnrollment(db, {
            topic: 'com.apple.mgmt.External.x',
            hostTeamId: teamId,
            hostname: `summary-${i}`,
          }),
        );
      }
      const udids = seeded.map((s) => s.udid);
      await db.deleteFrom('host_mdm_apple_profiles').where('host_uuid', 'in', udids).execute();
      await db.deleteFrom('host_mdm_apple_declarations').where('host_uuid', 'in', udids).execute();
      for (const [i, [d, w, x]] of plan.entries()) {
        const host = udids[i];
        for (const [uuid, ident, name, st] of [
          [dockUuid, 'com.scope.dock', 'Dock', d],
          [wifi.body.profile_uuid, 'com.scope.wifi', 'WiFi', w],
        ] as const) {
          if (st === undefined) continue;
          const removal = typeof st === 'string' && st.startsWith('remove:');
          await db
            .insertInto('host_mdm_apple_profiles')
            .values({
              host_uuid: host,
              profile_uuid: uuid,
              profile_identifier: ident,
              profile_name: name,
              status: removal ? st.slice(7) : st,
              operation_type: removal ? 'remove' : 'install',
              command_uuid: 'c',
              created_at: now,
              updated_at: now,
            })
            .execute();
        }
        if (x !== undefined) {
          await db
            .insertInto('host_mdm_apple_declarations')
            .values({
              host_uuid: host,
              declaration_uuid: decl,
              declaration_identifier: 'com.scope.passcode',
              declaration_name: 'Passcode',
              status: x,
              created_at: now,
              updated_at: now,
            })
            .execute();
        }
      }

      return decl;
    }

    it('batch resend puts every host with the given status back to pending; bad input changes nothing', async () => {
      await seedSummaryHosts();
      const srv = server();
      const db = srv.app.services.database.db;
      const snapshot = () =>
        db
          .selectFrom('host_mdm_apple_profiles')
          .select(['host_uuid', 'status', 'retries'])
          .where('profile_uuid', '=', dockUuid)
          .orderBy('host_uuid')
          .execute();
      const before = await snapshot();
      const path = '/api/latest/fleet/configuration_profiles/resend/batch';
      const bad = [
        { body: { profile_uuid: dockUuid, filters: { profile_status: 'pending' } }, status: 422 },
        { body: { profile_uuid: dockUuid }, status: 422 },
        { body: { profile_uuid: dockUuid, filters: { profile_status: 'failed' }, extra: 1 }, status: 400 },
        {
          body: {
            profile_uuid: 'a00000000-0000-0000-0000-000000000000',
            filters: { profile_status: 'failed' },
          },
          status: 404,
        },
      ];
      for (const b of bad) {
        const res = await api(srv, 'POST', path, { token: admin, body: b.body });
        expect(res.status).toBe(b.status);
      }
      const decl = await db
        .selectFrom('mdm_apple_declarations')
        .select('declaration_uuid')
        .where('team_id', '=', teamId)
        .executeTakeFirstOrThrow();
      const refused = await api(srv, 'POST', path, {
        token: admin,
        body: { profile_uuid: decl.declaration_uuid, filters: { profile_status: 'failed' } },
      });
      expect(refused.status).toBe(400);
      expect(await snapshot()).toEqual(before);

      const ok = await api(srv, 'POST', path, {
        token: admin,
        body: { profile_uuid: dockUuid, filters: { profile_status: 'failed' } },
      });
      expect(ok.status).toBe(202);
      const after = await snapshot();
      const failedHost = seeded[3].udid;
      for (const row of after) {
        const old = before.find((b) => b.host_uuid === row.host_uuid)!;
        expect(row.status).toBe(row.host_uuid === failedHost ? null : old.status);
      }
      const activity = await db
        .selectFrom('activities')
        .select(['activity_type', 'details'])
        .orderBy('id', 'desc')
        .executeTakeFirstOrThrow();
      expect(activity.activity_type).toBe('resent_configuration_profile_batch');
      expect(JSON.parse(String(activity.details))).toMatchObject({ profile_name: 'Dock', host_count: 1 });
    });
  },
  { profileVerifyGraceSeconds: 0 },
);
