import { beforeAll, expect, it } from 'vitest';
import { dbNow } from '../../src/db/dialect.js';
import type { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { api, setupAdmin } from '../helpers/api.js';
import { enrolledDevice } from '../helpers/appleDevice.js';
import { appleHostRows, converge, mobileconfig, uploadProfile } from '../helpers/profiles.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

async function profileCount(srv: TestServer) {
  const r = await srv.app.services.database.db
    .selectFrom('mdm_apple_configuration_profiles')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(r.n);
}

describeEachDialect(
  'configuration profiles: upload, manager, device convergence',
  (server) => {
    let admin = '';
    let mac: SimulatedAppleDevice;
    let macHostId = 0;
    let teamId = 0;
    let labelId = 0;

    // An admin, a team, a dynamic label and an enrolled Mac.
    beforeAll(async () => {
      const s = server().app.services;
      admin = await setupAdmin(server());
      const now = dbNow();
      const t = await s.database.db
        .insertInto('teams')
        .values({ name: 'Eng', config: '{}', created_at: now, updated_at: now })
        .executeTakeFirstOrThrow();
      teamId = Number(t.insertId);
      const l = await s.database.db
        .insertInto('labels')
        .values({ name: 'Laptops', query: 'select 1', created_at: now, updated_at: now })
        .executeTakeFirstOrThrow();
      labelId = Number(l.insertId);
      mac = await enrolledDevice(server());
      const host = await s.database.db
        .selectFrom('hosts')
        .select(['id', 'uuid'])
        .where('uuid', '=', mac.udid)
        .executeTakeFirst();
      expect(host).toBeDefined();
      macHostId = Number(host!.id);
    });

    it('refuses bad uploads with clear 4xx and stores nothing', async () => {
      const srv = server();
      const before = await profileCount(srv);
      const notPlist = await uploadProfile(srv, admin, {
        name: 'x.mobileconfig',
        bytes: Buffer.from('not xml at all'),
      });
      expect(notPlist.status).toBe(422);
      expect(notPlist.body.errors[0].reason).toContain('valid XML');
      const badJson = await uploadProfile(srv, admin, { name: 'decl.json', bytes: Buffer.from('{"Type":') });
      expect(badJson.status).toBe(422);
      expect(badJson.body.errors[0].reason).toContain('valid JSON');
      const fileVault = await uploadProfile(srv, admin, {
        name: 'fv.mobileconfig',
        bytes: mobileconfig('com.x.fv', 'FV', 'com.apple.MCX.FileVault2'),
      });
      expect(fileVault.status).toBe(422);
      expect(fileVault.body.errors[0].reason).toContain('FileVault');
      const mdmPayload = await uploadProfile(srv, admin, {
        name: 'mdm.mobileconfig',
        bytes: mobileconfig('com.x.mdm', 'MDM', 'com.apple.mdm'),
      });
      expect(mdmPayload.status).toBe(422);
      const unknownTeam = await uploadProfile(
        srv,
        admin,
        { name: 'a.mobileconfig', bytes: mobileconfig('com.x.a', 'A') },
        { team_id: '9999' },
      );
      expect(unknownTeam.status).toBe(404);
      const unknownLabel = await uploadProfile(
        srv,
        admin,
        { name: 'a.mobileconfig', bytes: mobileconfig('com.x.a', 'A') },
        { labels_include_any: 'Nope' },
      );
      expect(unknownLabel.status).toBe(400);
      expect(unknownLabel.body.errors[0].reason).toContain('Nope');
      const big = await uploadProfile(srv, admin, {
        name: 'big.mobileconfig',
        bytes: Buffer.alloc(srv.config.profileMaxUploadBytes + 10, 0x20),
      });
      expect(big.status).toBe(413);
      const badDeclType = await uploadProfile(srv, admin, {
        name: 'legacy.json',
        bytes: Buffer.from(
          JSON.stringify({ Type: 'com.apple.configuration.legacy', Identifier: 'x', Payload: {} }),
        ),
      });
      expect(badDeclType.status).toBe(422);
      const windows = await uploadProfile(srv, admin, {
        name: 'w.xml',
        bytes: Buffer.from('<Replace><Item/></Replace>'),
      });
      expect(windows.status).toBe(400);
      expect(await profileCount(srv)).toBe(before);
    });

    let dockUuid = '';

    /** The Dock profile verified on the Mac, as the upload test leaves it. */
    async function dockVerified(): Promise<void> {
      if (dockUuid) return;
      const dock = await uploadProfile(server(), admin, {
        name: 'dock.mobileconfig',
        bytes: mobileconfig('com.example.dock', 'Dock'),
      });
      dockUuid = dock.body.profile_uuid;
      await converge(server(), [mac]);
    }

    /** The Mac a member of Laptops, as the exclude-any test leaves it. */
    async function macInLaptops(): Promise<void> {
      const { db } = server().app.services.database;
      const row = await db
        .selectFrom('label_membership')
        .select('is_member')
        .where('host_id', '=', macHostId)
        .where('label_id', '=', labelId)
        .executeTakeFirst();
      if (Number(row?.is_member) === 1) return;
      const now = dbNow();
      if (row)
        await db
          .updateTable('label_membership')
          .set({ is_member: 1 })
          .where('host_id', '=', macHostId)
          .where('label_id', '=', labelId)
          .execute();
      else
        await db
          .insertInto('label_membership')
          .values({ host_id: macHostId, label_id: labelId, is_member: 1, created_at: now, updated_at: now })
          .execute();
      await server().app.services.hostEvents.emitLabelMembershipChanged([labelId], [macHostId]);
    }

    /** The Mac moved to the team, its team profile verified, as the team test leaves it. */
    async function macInTeamWithProfile(): Promise<void> {
      const srv = server();
      const { db } = srv.app.services.database;
      const host = await db
        .selectFrom('hosts')
        .select('team_id')
        .where('id', '=', macHostId)
        .executeTakeFirst();
      if (Number(host?.team_id) === teamId) return;
      await uploadProfile(
        srv,
        admin,
        { name: 'team.mobileconfig', bytes: mobileconfig('com.example.team', 'Team') },
        { team_id: String(teamId) },
      );
      await db.updateTable('hosts').set({ team_id: teamId }).where('id', '=', macHostId).execute();
      await srv.app.services.hostEvents.emitHostsTransferred([macHostId], teamId);
      await converge(srv, [mac]);
    }

    it('uploads a profile, marks the host pending at once, and the device converges to verified', async () => {
      const srv = server();
      const res = await uploadProfile(srv, admin, {
        name: 'dock.mobileconfig',
        bytes: mobileconfig('com.example.dock', 'Dock'),
      });
      expect(res.status).toBe(200);
      dockUuid = res.body.profile_uuid;
      expect(dockUuid).toMatch(/^a[0-9a-f-]{36}$/);
      const dup = await uploadProfile(srv, admin, {
        name: 'dock2.mobileconfig',
        bytes: mobileconfig('com.example.dock', 'Dock 2'),
      });
      expect(dup.status).toBe(409);
      expect(dup.body.errors[0].reason).toContain('identifier');
      // Immediate pending, before any cron run.
      let rows = await appleHostRows(srv, mac.udid);
      expect(rows).toHaveLength(1);
      expect(rows[0].status).toBeNull();
      const summary = await api(srv, 'GET', '/api/latest/fleet/configuration_profiles/summary', {
        token: admin,
      });
      expect(summary.body).toMatchObject({ pending: 1, verified: 0 });

      await srv.app.services.profileManager.tick();
      rows = await appleHostRows(srv, mac.udid);
      expect(rows[0].status).toBe('pending');
      const cmd = rows[0].command_uuid;
      await mac.connect();
      rows = await appleHostRows(srv, mac.udid);
      expect(rows[0].status).toBe('verifying');
      expect(mac.profiles.has('com.example.dock')).toBe(true);
      await converge(srv, [mac]);
      rows = await appleHostRows(srv, mac.udid);
      expect(rows[0]).toMatchObject({ status: 'verified', command_uuid: cmd });
      const host = await api(srv, 'GET', `/api/latest/fleet/hosts/${macHostId}`, { token: admin });
      expect(host.body.host.mdm.profiles).toEqual([
        expect.objectContaining({ profile_uuid: dockUuid, status: 'verified', name: 'Dock' }),
      ]);
      const list = await api(srv, 'GET', '/api/latest/fleet/configuration_profiles', { token: admin });
      expect(list.body.profiles).toEqual([
        expect.objectContaining({
          profile_uuid: dockUuid,
          identifier: 'com.example.dock',
          platform: 'darwin',
        }),
      ]);
      const media = await fetch(`${srv.url}/api/latest/fleet/configuration_profiles/${dockUuid}?alt=media`, {
        headers: { authorization: `Bearer ${admin}` },
      });
      expect(Buffer.from(await media.arrayBuffer()).toString()).toContain('com.example.dock');
    });

    it('re-sends a profile the device dropped behind our back', async () => {
      await dockVerified();
      const srv = server();
      mac.profiles.delete('com.example.dock');
      // Force a fresh ProfileList now, and treat the earlier acknowledgement as old enough.
      await srv.app.services.database.db
        .updateTable('host_mdm_apple_profile_checks')
        .set({ requested_at: '2000-01-01 00:00:00.000' })
        .execute();
      await srv.app.services.database.db
        .updateTable('host_mdm_apple_profiles')
        .set({ updated_at: '2000-01-01 00:00:00.000' })
        .execute();
      await srv.app.services.profileManager.tick();
      await mac.connect(); // answers ProfileList without the profile
      let rows = await appleHostRows(srv, mac.udid);
      expect(rows[0].status).toBeNull();
      expect(rows[0].detail).toContain('no longer installed');
      await converge(srv, [mac]);
      rows = await appleHostRows(srv, mac.udid);
      expect(rows[0].status).toBe('verified');
      expect(mac.profiles.has('com.example.dock')).toBe(true);
    });

    it('retries after an Error and marks failed with the device text once retries run out', async () => {
      const srv = server();
      mac.forcedAnswers.set('InstallProfile', 'Error');
      const res = await uploadProfile(srv, admin, {
        name: 'wifi.mobileconfig',
        bytes: mobileconfig('com.example.wifi', 'WiFi'),
      });
      expect(res.status).toBe(200);
      await srv.app.services.profileManager.tick();
      await mac.connect();
      let row = (await appleHostRows(srv, mac.udid)).find(
        (r) => r.profile_identifier === 'com.example.wifi',
      )!;
      expect(row).toMatchObject({ status: null, retries: 1 });
      expect(row.detail).toContain('Simulated failure');
      mac.forcedAnswers.delete('InstallProfile');
      await converge(srv, [mac]);
      row = (await appleHostRows(srv, mac.udid)).find((r) => r.profile_identifier === 'com.example.wifi')!;
      expect(row.status).toBe('verified');

      mac.forcedAnswers.set('InstallProfile', 'Error');
      const bad = await uploadProfile(srv, admin, {
        name: 'vpn.mobileconfig',
        bytes: mobileconfig('com.example.vpn', 'VPN'),
      });
      expect(bad.status).toBe(200);
      await converge(srv, [mac], srv.config.profileMaxRetries + 3);
      row = (await appleHostRows(srv, mac.udid)).find((r) => r.profile_identifier === 'com.example.vpn')!;
      expect(row.status).toBe('failed');
      expect(row.detail).toContain('MCMDMErrorDomain (12345): Simulated failure');
      mac.forcedAnswers.delete('InstallProfile');
      const summary = await api(server(), 'GET', '/api/latest/fleet/configuration_profiles/summary', {
        token: admin,
      });
      expect(summary.body).toMatchObject({ failed: 1 });
      // Resend puts it back to pending; the device now accepts it.
      const resend = await api(
        srv,
        'POST',
        `/api/latest/fleet/hosts/${macHostId}/configuration_profiles/${bad.body.profile_uuid}/resend`,
        { token: admin },
      );
      expect(resend.status).toBe(202);
      await converge(srv, [mac]);
      row = (await appleHostRows(srv, mac.udid)).find((r) => r.profile_identifier === 'com.example.vpn')!;
      expect(row.status).toBe('verified');
    });

    it('label exclude-any: unknown membership keeps state; member → removed; not a member → installed', async () => {
      const srv = server();
      const db = srv.app.services.database.db;
      const res = await uploadProfile(
        srv,
        admin,
        { name: 'ex.mobileconfig', bytes: mobileconfig('com.example.ex', 'Excluded') },
        { labels_exclude_any: 'Laptops' },
      );
      expect(res.status).toBe(200);
      await converge(srv, [mac]);
      // Membership not yet known: an excluded profile never goes through.
      expect(mac.profiles.has('com.example.ex')).toBe(false);
      const now = dbNow();
      await db
        .insertInto('label_membership')
        .values({ host_id: macHostId, label_id: labelId, is_member: 0, created_at: now, updated_at: now })
        .execute();
      await srv.app.services.hostEvents.emitLabelMembershipChanged([labelId], [macHostId]);
      expect(
        (await appleHostRows(srv, mac.udid)).find((r) => r.profile_identifier === 'com.example.ex')?.status,
      ).toBeNull();
      await converge(srv, [mac]);
      expect(mac.profiles.has('com.example.ex')).toBe(true);
      await db
        .updateTable('label_membership')
        .set({ is_member: 1 })
        .where('host_id', '=', macHostId)
        .where('label_id', '=', labelId)
        .execute();
      await srv.app.services.hostEvents.emitLabelMembershipChanged([labelId], [macHostId]);
      expect(
        (await appleHostRows(srv, mac.udid)).find((r) => r.profile_identifier === 'com.example.ex')
          ?.operation_type,
      ).toBe('remove');
      await converge(srv, [mac]);
      expect(mac.profiles.has('com.example.ex')).toBe(false);
      expect(
        (await appleHostRows(srv, mac.udid)).find((r) => r.profile_identifier === 'com.example.ex'),
      ).toBeUndefined();
    });

    it('label include-all / include-any follow membership; a deleted label freezes the profile', async () => {
      await macInLaptops();
      const srv = server();
      const all = await uploadProfile(
        srv,
        admin,
        { name: 'all.mobileconfig', bytes: mobileconfig('com.example.all', 'All') },
        { labels_include_all: 'Laptops' },
      );
      const any = await uploadProfile(
        srv,
        admin,
        { name: 'any.mobileconfig', bytes: mobileconfig('com.example.any', 'Any') },
        { labels_include_any: 'Laptops' },
      );
      expect(all.status).toBe(200);
      expect(any.status).toBe(200);
      await converge(srv, [mac]);
      expect(mac.profiles.has('com.example.all')).toBe(true); // host is a member
      expect(mac.profiles.has('com.example.any')).toBe(true);
      // Delete the label: profiles become broken and stay on the host.
      await srv.app.services.database.db.deleteFrom('labels').where('id', '=', labelId).execute();
      await converge(srv, [mac]);
      expect(mac.profiles.has('com.example.all')).toBe(true);
      const got = await api(srv, 'GET', `/api/latest/fleet/configuration_profiles/${all.body.profile_uuid}`, {
        token: admin,
      });
      expect(got.body.labels_include_all).toEqual([{ name: 'Laptops', broken: true }]);
    });

    it('moving the host to a team removes No-team profiles; a team profile arrives', async () => {
      const srv = server();
      const res = await uploadProfile(
        srv,
        admin,
        { name: 'team.mobileconfig', bytes: mobileconfig('com.example.team', 'Team') },
        { team_id: String(teamId) },
      );
      expect(res.status).toBe(200);
      await srv.app.services.database.db
        .updateTable('hosts')
        .set({ team_id: teamId })
        .where('id', '=', macHostId)
        .execute();
      await srv.app.services.hostEvents.emitHostsTransferred([macHostId], teamId);
      await converge(srv, [mac]);
      expect([...mac.profiles.keys()].filter((k) => k.startsWith('com.example.'))).toEqual([
        'com.example.team',
      ]);
      const rows = await appleHostRows(srv, mac.udid);
      expect(rows.map((r) => [r.profile_identifier, r.status])).toEqual([['com.example.team', 'verified']]);
      const summary = await api(
        srv,
        'GET',
        `/api/latest/fleet/configuration_profiles/summary?team_id=${teamId}`,
        { token: admin },
      );
      expect(summary.body).toMatchObject({ verified: 1, pending: 0, failed: 0 });
    });

    it('an edited profile (batch) gets a new checksum and command; a batch with one bad profile changes nothing', async () => {
      await macInTeamWithProfile();
      const srv = server();
      const before = (await appleHostRows(srv, mac.udid))[0];
      const good = {
        name: 'team.mobileconfig',
        profile: mobileconfig('com.example.team', 'Team', 'com.apple.dock', 2).toString('base64'),
      };
      const bad = { name: 'bad.mobileconfig', profile: Buffer.from('garbage').toString('base64') };
      const refused = await api(
        srv,
        'POST',
        `/api/latest/fleet/configuration_profiles/batch?team_id=${teamId}`,
        { token: admin, body: { profiles: [good, bad] } },
      );
      expect(refused.status).toBe(422);
      const untouched = await srv.app.services.database.db
        .selectFrom('mdm_apple_configuration_profiles')
        .selectAll()
        .where('team_id', '=', teamId)
        .execute();
      expect(untouched.map((p) => p.checksum)).toEqual([before.checksum]);
      const ok = await api(srv, 'POST', `/api/latest/fleet/configuration_profiles/batch?team_id=${teamId}`, {
        token: admin,
        body: { profiles: [good] },
      });
      expect(ok.status).toBe(204);
      await converge(srv, [mac]);
      const after = (await appleHostRows(srv, mac.udid))[0];
      expect(after.checksum).not.toBe(before.checksum);
      expect(after.command_uuid).not.toBe(before.command_uuid);
      expect(after.status).toBe('verified');
      expect(mac.profiles.get('com.example.team')?.uuid).toBe('com.example.team-uuid-2');
    });

    it('deleting a profile removes it from the device and the host rows', async () => {
      await macInTeamWithProfile();
      const srv = server();
      const [p] = await srv.app.services.database.db
        .selectFrom('mdm_apple_configuration_profiles')
        .selectAll()
        .where('team_id', '=', teamId)
        .execute();
      const del = await api(srv, 'DELETE', `/api/latest/fleet/configuration_profiles/${p.profile_uuid}`, {
        token: admin,
      });
      expect(del.status).toBe(200);
      await converge(srv, [mac]);
      expect(mac.profiles.has('com.example.team')).toBe(false);
      expect(await appleHostRows(srv, mac.udid)).toEqual([]);
    });
  },
  { profileVerifyGraceSeconds: 0 },
);
