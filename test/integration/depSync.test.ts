import { afterAll, beforeAll, expect, it } from 'vitest';
import { FakeDepServer } from '../../src/clients/dep/fakeServer.js';
import { dbNow } from '../../src/db/dialect.js';
import { api, setupAdmin } from '../helpers/api.js';
import { createTeam } from '../helpers/adminFixtures.js';
import { connectAccount, ipad, iphone, mac, newSerial } from '../helpers/dep.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const fake = await FakeDepServer.start();
afterAll(() => fake.close());

const v1 = '/api/v1/fleet';

describeEachDialect(
  'DEP sync',
  (server) => {
    let admin: string;
    let macTeam: number;
    let phoneTeam: number;

    beforeAll(async () => {
      admin = await setupAdmin(server());
      macTeam = await createTeam(server(), admin, 'Mac fleet');
      phoneTeam = await createTeam(server(), admin, 'Phone fleet');
    });

    const services = () => server().app.services;
    const db = () => services().database.db;
    const sync = (tokenId: number) => services().appleDep.sync.syncToken(tokenId);

    async function hostsBySerial(serial: string) {
      return db().selectFrom('hosts').selectAll().where('hardware_serial', '=', serial).execute();
    }

    async function assignment(serial: string) {
      return db()
        .selectFrom('host_dep_assignments as d')
        .innerJoin('hosts as h', 'h.id', 'd.host_id')
        .selectAll('d')
        .where('h.hardware_serial', '=', serial)
        .executeTakeFirst();
    }

    async function listedHost(srv: TestServer, serial: string) {
      const res = await api(srv, 'GET', `${v1}/hosts?query=${encodeURIComponent(serial)}`, { token: admin });
      expect(res.status).toBe(200);
      return res.body.hosts.find((h: { hardware_serial: string }) => h.hardware_serial === serial);
    }

    const assignCalls = (orgName: string) =>
      fake.requests.filter((r) => r.orgName === orgName && r.path === '/profile/devices').length;

    it('turns ABM devices into pending hosts in their default teams and assigns the team profile', async () => {
      const acct = await connectAccount(server(), admin, fake, { macos: macTeam, ios: phoneTeam });
      const [m1, m2, p1, t1] = [mac(), mac(), iphone(), ipad()];
      fake.addDevices(acct.credentials.consumer_key, [m1, m2, p1, t1]);

      const r = await sync(acct.tokenId);
      expect(r).toMatchObject({ ok: true, outcome: 'ok', hostsCreated: 4, assigned: { SUCCESS: 4 } });

      const h = await listedHost(server(), m1.serial_number);
      expect(h).toMatchObject({
        hardware_serial: m1.serial_number,
        hardware_model: 'MacBook Pro',
        platform: 'darwin',
        team_id: macTeam,
        team_name: 'Mac fleet',
        display_name: m1.serial_number,
        last_enrolled_at: '2000-01-01T00:00:00Z',
        detail_updated_at: '2000-01-01T00:00:00Z',
        mdm: {
          enrollment_status: 'Pending',
          name: 'Fleet',
          server_url: `${server().config.serverUrl}/mdm/apple/mdm`,
          connected_to_fleet: false,
        },
      });
      expect((await listedHost(server(), p1.serial_number)).team_id).toBe(phoneTeam);
      expect((await listedHost(server(), p1.serial_number)).platform).toBe('ios');
      const tablet = await listedHost(server(), t1.serial_number);
      expect(tablet.platform).toBe('ipados');
      expect(tablet.team_id).toBeNull();
      expect(tablet.team_name).toBeNull();

      // The pending filter finds them.
      const pending = await api(server(), 'GET', `${v1}/hosts?mdm_enrollment_status=pending`, {
        token: admin,
      });
      const serials = pending.body.hosts.map((x: { hardware_serial: string }) => x.hardware_serial);
      expect(serials).toEqual(expect.arrayContaining([m1.serial_number, m2.serial_number, p1.serial_number]));

      // Each got its team's profile, as Apple now shows it.
      const a = await assignment(m1.serial_number);
      expect(a).toMatchObject({
        assign_profile_response: 'SUCCESS',
        abm_token_id: acct.tokenId,
        deleted_at: null,
      });
      expect(fake.device(acct.credentials.consumer_key, m1.serial_number)?.profile_uuid).toBe(
        a!.profile_uuid,
      );
      const profile = fake.profile(acct.credentials.consumer_key, a!.profile_uuid!)!;
      const token = await services().appleDep.automaticEnrollmentToken();
      expect(profile).toMatchObject({
        profile_name: 'Fleet default enrollment profile',
        is_supervised: true,
        is_mdm_removable: false,
        await_device_configured: true,
        url: `${server().config.serverUrl}/api/mdm/apple/enroll?token=${token}`,
      });
      const phoneProfile = (await assignment(p1.serial_number))!.profile_uuid;
      expect(phoneProfile).not.toBe(a!.profile_uuid);

      // Built-in labels that follow from the platform.
      const labels = await db()
        .selectFrom('label_membership as lm')
        .innerJoin('labels as l', 'l.id', 'lm.label_id')
        .innerJoin('hosts as h', 'h.id', 'lm.host_id')
        .select('l.name')
        .where('h.hardware_serial', '=', m1.serial_number)
        .execute();
      expect(labels.map((l) => l.name).sort()).toEqual(['All Hosts', 'macOS']);
      expect(await services().appleDep.isDepAssigned({ serial: m1.serial_number })).toBe(true);
      expect(await services().appleDep.isDepAssigned({ serial: 'NOPE' })).toBe(false);

      // A second run with no changes creates and assigns nothing.
      const calls = assignCalls(acct.orgName);
      const idle = await sync(acct.tokenId);
      expect(idle).toMatchObject({ ok: true, hostsCreated: 0, assigned: {} });
      expect(assignCalls(acct.orgName)).toBe(calls);
      expect(await hostsBySerial(m1.serial_number)).toHaveLength(1);
    });

    it('follows added, modified and deleted events, resolving duplicates by op_date', async () => {
      const acct = await connectAccount(server(), admin, fake, { macos: macTeam });
      const ck = acct.credentials.consumer_key;
      const [keep, gone, late, flip, wobble] = [mac(), mac(), mac(), mac(), mac()];
      fake.addDevices(ck, [keep, gone, wobble]);
      expect((await sync(acct.tokenId)).ok).toBe(true);

      // New device, a migration deadline, a removal; a device added then removed in the same
      // page stays away, one removed then added back stays.
      fake.addDevices(ck, [late]);
      fake.modifyDevice(ck, keep.serial_number, { mdm_migration_deadline: '2026-03-01T12:00:00Z' });
      fake.deleteDevice(ck, gone.serial_number);
      fake.addDevices(ck, [flip]);
      fake.deleteDevice(ck, flip.serial_number);
      const bounce = mac();
      fake.addDevices(ck, [bounce]);
      fake.deleteDevice(ck, bounce.serial_number);
      fake.addDevices(ck, [bounce]);
      // Added then modified in one page: one host. A pending host removed then changed again
      // (newer): back as one pending host.
      const twice = mac();
      fake.addDevices(ck, [twice]);
      fake.modifyDevice(ck, twice.serial_number, { color: 'SILVER' });
      const [wobbleHost] = await hostsBySerial(wobble.serial_number);
      fake.deleteDevice(ck, wobble.serial_number);
      fake.modifyDevice(ck, wobble.serial_number, { ...wobble, color: 'GOLD' });
      const r = await sync(acct.tokenId);
      expect(r.ok).toBe(true);

      expect(await hostsBySerial(late.serial_number)).toHaveLength(1);
      expect(await hostsBySerial(flip.serial_number)).toHaveLength(0);
      expect(await hostsBySerial(bounce.serial_number)).toHaveLength(1);
      expect(await hostsBySerial(twice.serial_number)).toHaveLength(1);
      const wobbled = await hostsBySerial(wobble.serial_number);
      expect(wobbled).toHaveLength(1);
      expect(wobbled[0].id).not.toBe(wobbleHost.id);
      expect(await assignment(wobble.serial_number)).toMatchObject({
        deleted_at: null,
        abm_token_id: acct.tokenId,
      });
      // A pending host that left ABM is gone, with its assignment.
      expect(await hostsBySerial(gone.serial_number)).toHaveLength(0);
      expect(await assignment(gone.serial_number)).toBeUndefined();
      const k = await assignment(keep.serial_number);
      expect(k!.mdm_migration_deadline).toMatch(/^2026-03-01 12:00:00/);
      expect(k!.deleted_at).toBeNull();
      expect(await hostsBySerial(keep.serial_number)).toHaveLength(1);
    });

    it('never creates a second host for a serial; enrolled hosts that leave ABM are kept, soft-deleted', async () => {
      const acct = await connectAccount(server(), admin, fake, {});
      const ck = acct.credentials.consumer_key;
      const known = mac();
      const id = await services().hostStore.create({
        uuid: `UUID-${known.serial_number}`,
        hardware_serial: known.serial_number,
        platform: 'darwin',
        hostname: 'known.local',
      });
      await services().hostStore.upsertHostMdm(id, {
        enrolled: true,
        server_url: `${server().config.serverUrl}/mdm/apple/mdm`,
        installed_from_dep: false,
        is_personal_enrollment: false,
        mdm_name: 'Fleet',
      });
      fake.addDevices(ck, [known]);
      expect((await sync(acct.tokenId)).ok).toBe(true);
      const hosts = await hostsBySerial(known.serial_number);
      expect(hosts.map((h) => h.id)).toEqual([id]);
      expect(await assignment(known.serial_number)).toMatchObject({ host_id: id, deleted_at: null });
      expect((await services().hostStore.getHostMdm(id))?.enrolled).toBe(true);

      fake.deleteDevice(ck, known.serial_number);
      expect((await sync(acct.tokenId)).ok).toBe(true);
      expect(await hostsBySerial(known.serial_number)).toHaveLength(1);
      expect((await assignment(known.serial_number))!.deleted_at).not.toBeNull();
      expect(await services().appleDep.isDepAssigned({ hostId: id })).toBe(false);

      // Added back: assigned again even though Apple still shows the old profile.
      fake.addDevices(ck, [known]);
      const before = assignCalls(acct.orgName);
      expect((await sync(acct.tokenId)).ok).toBe(true);
      expect((await assignment(known.serial_number))!.deleted_at).toBeNull();
      expect(assignCalls(acct.orgName)).toBe(before + 1);
    });

    it('cools FAILED down for an hour and THROTTLED for Apple’s delay; NOT_ACCESSIBLE is not retried', async () => {
      const acct = await connectAccount(server(), admin, fake, {});
      const ck = acct.credentials.consumer_key;
      const [failed, throttled, inaccessible] = [mac(), mac(), mac()];
      fake.assignResults.set(failed.serial_number, 'FAILED');
      fake.assignResults.set(throttled.serial_number, 'THROTTLED');
      fake.assignResults.set(inaccessible.serial_number, 'NOT_ACCESSIBLE');
      fake.addDevices(ck, [failed, throttled, inaccessible]);
      const r = await sync(acct.tokenId);
      expect(r.assigned).toEqual({ FAILED: 1, THROTTLED: 1, NOT_ACCESSIBLE: 1 });
      expect(await assignment(failed.serial_number)).toMatchObject({ assign_profile_response: 'FAILED' });
      expect(await assignment(throttled.serial_number)).toMatchObject({
        assign_profile_response: 'THROTTLED',
        retry_after_seconds: 3600,
      });
      // The failed assignment shows on the host (list and detail).
      const failedHost = await listedHost(server(), failed.serial_number);
      expect(failedHost.mdm.dep_profile_error).toBe(true);
      expect((await listedHost(server(), throttled.serial_number)).mdm.dep_profile_error).toBe(false);
      const detail = await api(server(), 'GET', `${v1}/hosts/${failedHost.id}`, { token: admin });
      expect(detail.body.host.mdm.dep_profile_error).toBe(true);
      fake.assignResults.clear();

      // Still cooling down: nothing is retried.
      const calls = assignCalls(acct.orgName);
      expect((await sync(acct.tokenId)).assigned).toEqual({});
      expect(assignCalls(acct.orgName)).toBe(calls);

      // An hour and a bit later (response_updated_at moved back): FAILED and THROTTLED (Apple
      // asked for an hour) are retried, NOT_ACCESSIBLE is not.
      const past = dbNow(-(61 * 60 * 1000));
      const ids = (await hostsBySerial(failed.serial_number))
        .concat(await hostsBySerial(throttled.serial_number), await hostsBySerial(inaccessible.serial_number))
        .map((h) => h.id);
      await db()
        .updateTable('host_dep_assignments')
        .set({ response_updated_at: past })
        .where('host_id', 'in', ids)
        .execute();
      const retry = await sync(acct.tokenId);
      expect(retry.assigned).toEqual({ SUCCESS: 2 });
      expect((await assignment(failed.serial_number))!.assign_profile_response).toBe('SUCCESS');
      expect((await assignment(throttled.serial_number))!.assign_profile_response).toBe('SUCCESS');
      expect((await assignment(throttled.serial_number))!.retry_after_seconds).toBeNull();
      expect((await assignment(inaccessible.serial_number))!.assign_profile_response).toBe('NOT_ACCESSIBLE');
    });

    it('waits about a day on THROTTLED without retry_after_seconds', async () => {
      const acct = await connectAccount(server(), admin, fake, {});
      const ck = acct.credentials.consumer_key;
      const d = mac();
      fake.addDevices(ck, [d]);
      expect((await sync(acct.tokenId)).ok).toBe(true);
      const [host] = await hostsBySerial(d.serial_number);
      await db()
        .updateTable('host_dep_assignments')
        .set({
          assign_profile_response: 'THROTTLED',
          retry_after_seconds: null,
          response_updated_at: dbNow(-23 * 3600_000),
        })
        .where('host_id', '=', host.id)
        .execute();
      expect((await sync(acct.tokenId)).assigned).toEqual({});
      await db()
        .updateTable('host_dep_assignments')
        .set({ response_updated_at: dbNow(-25 * 3600_000) })
        .where('host_id', '=', host.id)
        .execute();
      expect((await sync(acct.tokenId)).assigned).toEqual({ SUCCESS: 1 });
    });

    it('records an expired token and T_C_NOT_SIGNED on that token while another keeps syncing', async () => {
      const a = await connectAccount(server(), admin, fake, {});
      const b = await connectAccount(server(), admin, fake, {});
      fake.addDevices(a.credentials.consumer_key, [mac()]);
      fake.addDevices(b.credentials.consumer_key, [mac()]);
      await services().appleDep.sync.syncAll();

      // Terms not accepted for A only.
      fake.termsNotSignedOrgs.add(a.orgName);
      const bNew = mac();
      fake.addDevices(b.credentials.consumer_key, [bNew]);
      const results = await services().appleDep.sync.syncAll();
      expect(results.find((r) => r.tokenId === a.tokenId)).toMatchObject({
        ok: false,
        outcome: 'terms_not_signed',
      });
      expect(results.find((r) => r.tokenId === b.tokenId)).toMatchObject({ ok: true });
      expect(await hostsBySerial(bNew.serial_number)).toHaveLength(1);
      let list = await api(server(), 'GET', `${v1}/abm_tokens`, { token: admin });
      const byId = (id: number) => list.body.abm_tokens.find((t: { id: number }) => t.id === id);
      expect(byId(a.tokenId)).toMatchObject({ terms_expired: true, token_invalid: false });
      expect(byId(b.tokenId)).toMatchObject({ terms_expired: false });
      let cfg = await api(server(), 'GET', `${v1}/config`, { token: admin });
      expect(cfg.body.mdm.apple_bm_terms_expired).toBe(true);
      await expect(services().appleDep.sync.runCron()).rejects.toThrow(a.orgName);

      // Accepted again: both flags clear.
      fake.termsNotSignedOrgs.delete(a.orgName);
      expect((await services().appleDep.sync.syncAll()).every((r) => r.ok)).toBe(true);
      list = await api(server(), 'GET', `${v1}/abm_tokens`, { token: admin });
      expect(byId(a.tokenId).terms_expired).toBe(false);
      cfg = await api(server(), 'GET', `${v1}/config`, { token: admin });
      expect(cfg.body.mdm.apple_bm_terms_expired).toBe(false);

      // A's token expires (Apple refuses it at /session): token_invalid, B unaffected.
      fake.expireToken(a.credentials.consumer_key);
      fake.expireSessions();
      const bLater = mac();
      fake.addDevices(b.credentials.consumer_key, [bLater]);
      const expired = await services().appleDep.sync.syncAll();
      expect(expired.find((r) => r.tokenId === a.tokenId)).toMatchObject({
        ok: false,
        outcome: 'token_rejected',
      });
      expect(expired.find((r) => r.tokenId === b.tokenId)?.ok).toBe(true);
      expect(await hostsBySerial(bLater.serial_number)).toHaveLength(1);
      list = await api(server(), 'GET', `${v1}/abm_tokens`, { token: admin });
      expect(byId(a.tokenId)).toMatchObject({ token_invalid: true, terms_expired: false });
      expect(byId(b.tokenId)).toMatchObject({ token_invalid: false });
      // Done with A: out of the way of the other tests.
      await api(server(), 'DELETE', `${v1}/abm_tokens/${a.tokenId}`, { token: admin });
    });

    it('starts over with a full fetch when Apple forgets the cursor', async () => {
      const acct = await connectAccount(server(), admin, fake, {});
      const ck = acct.credentials.consumer_key;
      const d = mac();
      fake.addDevices(ck, [d]);
      expect((await sync(acct.tokenId)).ok).toBe(true);
      fake.expireCursors();
      const mark = fake.requests.length;
      const r = await sync(acct.tokenId);
      expect(r).toMatchObject({ ok: true, cursorResets: 1, hostsCreated: 0 });
      const fetches = fake.requests
        .slice(mark)
        .filter((q) => q.orgName === acct.orgName && q.path === '/server/devices');
      expect(fetches.some((q) => !(q.body as { cursor?: string }).cursor)).toBe(true);
      expect(await hostsBySerial(d.serial_number)).toHaveLength(1);
    });

    it('resyncs one token on an admin request: its cursor is cleared and the next run fetches everything', async () => {
      const acct = await connectAccount(server(), admin, fake, {});
      const other = await connectAccount(server(), admin, fake, {});
      fake.addDevices(acct.credentials.consumer_key, [mac()]);
      expect((await sync(acct.tokenId)).ok).toBe(true);
      expect((await sync(other.tokenId)).ok).toBe(true);
      const cursors = () =>
        db()
          .selectFrom('nano_dep_names')
          .select(['name', 'syncer_cursor'])
          .where('name', 'in', [acct.orgName, other.orgName])
          .orderBy('name')
          .execute();
      const before = await cursors();
      expect(before.every((c) => Boolean(c.syncer_cursor))).toBe(true);

      const missing = await api(server(), 'POST', `${v1}/abm_tokens/999999/resync`, { token: admin });
      expect(missing.status).toBe(404);
      expect(await cursors()).toEqual(before);

      const res = await api(server(), 'POST', `${v1}/abm_tokens/${acct.tokenId}/resync`, { token: admin });
      expect([res.status, res.body]).toEqual([202, {}]);
      const after = await cursors();
      expect(after.find((c) => c.name === acct.orgName)!.syncer_cursor).toBeNull();
      expect(after.find((c) => c.name === other.orgName)).toEqual(
        before.find((c) => c.name === other.orgName),
      );
      const mark = fake.requests.length;
      expect((await sync(acct.tokenId)).ok).toBe(true);
      const fetches = fake.requests
        .slice(mark)
        .filter((q) => q.orgName === acct.orgName && q.path === '/server/devices');
      expect(fetches.some((q) => !(q.body as { cursor?: string } | undefined)?.cursor)).toBe(true);
    });

    it('leaves the cursor where it was when a page is malformed; a stuck cursor restarts the fetch', async () => {
      const acct = await connectAccount(server(), admin, fake, {});
      const ck = acct.credentials.consumer_key;
      fake.addDevices(ck, [mac()]);
      expect((await sync(acct.tokenId)).ok).toBe(true);
      const cursorOf = async () =>
        await db()
          .selectFrom('nano_dep_names')
          .select(['syncer_cursor', 'syncer_cursor_at'])
          .where('name', '=', acct.orgName)
          .executeTakeFirstOrThrow();
      const before = await cursorOf();
      expect(before.syncer_cursor).toBeTruthy();
      const d = mac();
      fake.addDevices(ck, [d]);
      for (const [status, body] of [
        [200, '<html>maintenance</html>'],
        [200, '{"devices": "nope", "cursor": "x"}'],
        [200, '{"devices": []}'],
        [500, 'oops'],
      ] as const) {
        fake.overrideNext(status, body, 'application/json');
        const r = await sync(acct.tokenId);
        expect(r.ok).toBe(false);
        expect(await cursorOf()).toEqual(before);
        expect(await hostsBySerial(d.serial_number)).toHaveLength(0);
      }
      // The same cursor back with more to follow: a full fetch instead of a loop.
      fake.overrideNext(
        200,
        JSON.stringify({ devices: [], cursor: before.syncer_cursor, more_to_follow: true }),
        'application/json',
      );
      const r = await sync(acct.tokenId);
      expect(r).toMatchObject({ ok: true, cursorResets: 1 });
      expect(await hostsBySerial(d.serial_number)).toHaveLength(1);
      expect((await cursorOf()).syncer_cursor).not.toBe(before.syncer_cursor);
    });

    it('brings a deleted host that ABM still assigns back as a pending placeholder', async () => {
      const acct = await connectAccount(server(), admin, fake, { macos: macTeam });
      const d = mac();
      fake.addDevices(acct.credentials.consumer_key, [d]);
      expect((await sync(acct.tokenId)).ok).toBe(true);
      const [host] = await hostsBySerial(d.serial_number);
      // The admin moves it and deletes it.
      await api(server(), 'POST', `${v1}/hosts/transfer`, {
        token: admin,
        body: { team_id: phoneTeam, hosts: [host.id] },
      });
      const del = await api(server(), 'DELETE', `${v1}/hosts/${host.id}`, { token: admin });
      expect(del.status).toBe(200);
      const back = await api(server(), 'GET', `${v1}/hosts/${host.id}`, { token: admin });
      expect(back.status).toBe(200);
      expect(back.body.host).toMatchObject({
        id: host.id,
        hardware_serial: d.serial_number,
        hardware_model: 'MacBook Pro',
        platform: 'darwin',
        team_id: macTeam,
        mdm: { enrollment_status: 'Pending' },
      });
      expect(await hostsBySerial(d.serial_number)).toHaveLength(1);

      // Once ABM no longer assigns it, a deleted host stays deleted.
      const other = mac();
      fake.addDevices(acct.credentials.consumer_key, [other]);
      expect((await sync(acct.tokenId)).ok).toBe(true);
      const [h2] = await hostsBySerial(other.serial_number);
      await db()
        .updateTable('host_dep_assignments')
        .set({ deleted_at: dbNow() })
        .where('host_id', '=', h2.id)
        .execute();
      expect((await api(server(), 'DELETE', `${v1}/hosts/${h2.id}`, { token: admin })).status).toBe(200);
      expect(await hostsBySerial(other.serial_number)).toHaveLength(0);
    });

    it('moves a device between two tokens: one host, the new token’s default team and assignment', async () => {
      const a = await connectAccount(server(), admin, fake, { macos: macTeam });
      const b = await connectAccount(server(), admin, fake, { macos: phoneTeam });
      const d = mac();
      fake.addDevices(a.credentials.consumer_key, [d]);
      expect((await sync(a.tokenId)).ok).toBe(true);
      expect((await hostsBySerial(d.serial_number))[0].team_id).toBe(macTeam);

      // Reassigned in ABM: gone from A, added (as "modified", as ABM does) to B. B syncs first.
      fake.deleteDevice(a.credentials.consumer_key, d.serial_number);
      fake.modifyDevice(b.credentials.consumer_key, d.serial_number, { ...d, profile_status: 'empty' });
      expect((await sync(b.tokenId)).ok).toBe(true);
      expect((await sync(a.tokenId)).ok).toBe(true);
      const hosts = await hostsBySerial(d.serial_number);
      expect(hosts).toHaveLength(1);
      expect(hosts[0].team_id).toBe(phoneTeam);
      expect(await assignment(d.serial_number)).toMatchObject({
        abm_token_id: b.tokenId,
        deleted_at: null,
        assign_profile_response: 'SUCCESS',
      });
      expect(fake.device(b.credentials.consumer_key, d.serial_number)?.profile_status).toBe('assigned');
    });

    it('defines a team’s custom setup assistant and re-fetches so every device gets it', async () => {
      const team = await createTeam(server(), admin, `Custom ${newSerial()}`);
      const acct = await connectAccount(server(), admin, fake, { macos: team });
      const ck = acct.credentials.consumer_key;
      const [m1, m2] = [mac(), mac()];
      fake.addDevices(ck, [m1, m2]);
      expect((await sync(acct.tokenId)).ok).toBe(true);
      const first = (await assignment(m1.serial_number))!.profile_uuid;

      await services().appleDep.profiles.setSetupAssistant(team, 'Custom', {
        profile_name: 'Custom setup',
        skip_setup_items: ['Siri', 'TOS'],
      });
      const mark = fake.requests.length;
      const r = await sync(acct.tokenId);
      expect(r).toMatchObject({ ok: true, assigned: { SUCCESS: 2 } });
      const second = (await assignment(m1.serial_number))!.profile_uuid;
      expect(second).not.toBe(first);
      expect(fake.device(ck, m2.serial_number)?.profile_uuid).toBe(second);
      expect(fake.profile(ck, second!)).toMatchObject({
        profile_name: 'Custom setup',
        skip_setup_items: ['Siri', 'TOS'],
        is_mdm_removable: true,
        await_device_configured: true,
      });
      // The cursor was cleared: a fetch without a cursor.
      expect(
        fake.requests
          .slice(mark)
          .some(
            (q) =>
              q.orgName === acct.orgName &&
              q.path === '/server/devices' &&
              !(q.body as { cursor?: string }).cursor,
          ),
      ).toBe(true);
    });

    it('runs as the apple_mdm_dep_profile_assigner cron job', async () => {
      expect(services().cron.jobNames()).toContain('apple_mdm_dep_profile_assigner');
      const acct = await connectAccount(server(), admin, fake, {});
      const d = mac();
      fake.addDevices(acct.credentials.consumer_key, [d]);
      const { finished } = await services().cron.trigger('apple_mdm_dep_profile_assigner');
      await finished;
      expect(await hostsBySerial(d.serial_number)).toHaveLength(1);
    });
  },
  { appleDepBaseUrl: fake.url },
);
