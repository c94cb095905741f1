import { afterAll, beforeAll, expect, it } from 'vitest';
import { buildCommandPlist } from '../../src/apple/commands/build.js';
import { parsePlistDict } from '../../src/apple/plist/parse.js';
import { dbNow } from '../../src/db/dialect.js';
import { api, setupAdmin } from '../helpers/api.js';
import { installPushCertificate, startFakeApns } from '../helpers/apns.js';
import { seedEnrollment, tokenForRole } from '../helpers/appleSeed.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const apns = await startFakeApns();
afterAll(() => apns.fake.close());

const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64');

async function counts(srv: TestServer) {
  const { db } = srv.app.services.database;
  const n = async (t: 'nano_commands' | 'nano_enrollment_queue' | 'activities' | 'host_mdm_actions') =>
    Number(
      (
        await db
          .selectFrom(t)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  return {
    commands: await n('nano_commands'),
    queue: await n('nano_enrollment_queue'),
    activities: await n('activities'),
    actions: await n('host_mdm_actions'),
  };
}

async function queuedTypes(srv: TestServer, enrollmentId: string) {
  return srv.app.services.database.db
    .selectFrom('nano_enrollment_queue as q')
    .innerJoin('nano_commands as c', 'c.command_uuid', 'q.command_uuid')
    .select(['c.request_type', 'c.command_uuid', 'c.command'])
    .where('q.id', '=', enrollmentId)
    .orderBy('q.created_at')
    .execute();
}

describeEachDialect(
  'admin commands API and host actions',
  (server) => {
    let admin = '';
    let teamId = 0;
    let mac: Awaited<ReturnType<typeof seedEnrollment>>;
    let teamMac: Awaited<ReturnType<typeof seedEnrollment>>;
    let phone: Awaited<ReturnType<typeof seedEnrollment>>;
    let unenrolledUuid = '';
    let unenrolledId = 0;
    let firstCommand = '';

    // An admin, a push certificate and enrolled hosts.
    beforeAll(async () => {
      const s = server().app.services;
      admin = await setupAdmin(server());
      const { topic } = await installPushCertificate(s);
      const now = dbNow();
      const team = await s.database.db
        .insertInto('teams')
        .values({ name: 'Team A', config: '{}', created_at: now, updated_at: now })
        .executeTakeFirstOrThrow();
      teamId = Number(team.insertId);
      mac = await seedEnrollment(s.database.db, { topic, hostname: 'mac-one' });
      teamMac = await seedEnrollment(s.database.db, { topic, hostTeamId: teamId, hostname: 'mac-team' });
      phone = await seedEnrollment(s.database.db, { topic, platform: 'ios', hostname: 'iphone' });
      unenrolledUuid = 'UNENROLLED-0000-0000';
      const h = await s.database.db
        .insertInto('hosts')
        .values({
          uuid: unenrolledUuid,
          platform: 'darwin',
          hostname: 'no-mdm',
          created_at: now,
          updated_at: now,
        })
        .executeTakeFirstOrThrow();
      unenrolledId = Number(h.insertId);
    });

    /** The ProfileList command the run test sends to both Macs, unless that test ran. */
    async function firstCommandRun(): Promise<void> {
      if (firstCommand) return;
      const { commandUuid, plist } = buildCommandPlist('ProfileList', { ManagedOnly: false });
      const res = await api(server(), 'POST', '/api/v1/fleet/commands/run', {
        token: admin,
        body: { command: b64(plist), host_uuids: [mac.udid, teamMac.udid] },
      });
      expect(res.status).toBe(200);
      firstCommand = commandUuid;
    }

    /** The SecurityInfo command the CommandUUID test sends to the Mac, unless that test ran. */
    async function securityInfoRun(): Promise<void> {
      const sent = await server()
        .app.services.database.db.selectFrom('nano_commands')
        .select('command_uuid')
        .where('request_type', '=', 'SecurityInfo')
        .executeTakeFirst();
      if (sent) return;
      const res = await api(server(), 'POST', '/api/v1/fleet/commands/run', {
        token: admin,
        body: { command: b64(buildCommandPlist('SecurityInfo', {}).plist), host_uuids: [mac.udid] },
      });
      expect(res.status).toBe(200);
    }

    it('runs a command on hosts: queued once per host, pushed, recorded as an activity', async () => {
      const { commandUuid, plist } = buildCommandPlist('ProfileList', { ManagedOnly: false });
      const res = await api(server(), 'POST', '/api/v1/fleet/commands/run', {
        token: admin,
        body: { command: b64(plist), host_uuids: [mac.udid, teamMac.udid] },
      });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        command_uuid: commandUuid,
        request_type: 'ProfileList',
        platform: 'darwin',
      });
      firstCommand = commandUuid;
      expect((await queuedTypes(server(), mac.udid)).map((r) => r.command_uuid)).toEqual([commandUuid]);
      expect((await queuedTypes(server(), teamMac.udid)).map((r) => r.command_uuid)).toEqual([commandUuid]);
      expect(apns.fake.pushesTo(mac.tokenHex).length).toBe(1);
      expect(apns.fake.pushesTo(teamMac.tokenHex).length).toBe(1);
      const acts = await server()
        .app.services.database.db.selectFrom('activities')
        .selectAll()
        .where('activity_type', '=', 'ran_mdm_command')
        .execute();
      expect(acts.length).toBe(1);
      expect(JSON.parse(acts[0].details)).toMatchObject({
        command_type: 'ProfileList',
        host_ids: [mac.hostId, teamMac.hostId],
      });
    });

    it('adds a CommandUUID when the plist has none', async () => {
      const plist =
        '<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>Command</key><dict><key>RequestType</key><string>SecurityInfo</string></dict></dict></plist>';
      const res = await api(server(), 'POST', '/api/latest/fleet/commands/run', {
        token: admin,
        body: { command: b64(plist), host_uuids: [mac.udid] },
      });
      expect(res.status).toBe(200);
      expect(res.body.command_uuid).toMatch(/^[0-9A-F-]{36}$/);
      const stored = (await queuedTypes(server(), mac.udid)).find(
        (r) => r.command_uuid === res.body.command_uuid,
      )!;
      const dict = parsePlistDict(Buffer.from(stored.command));
      expect(dict.CommandUUID).toBe(res.body.command_uuid);
      expect((dict.Command as Record<string, unknown>).RequestType).toBe('SecurityInfo');
    });

    it('refuses bad input with a 4xx and changes nothing', async () => {
      const before = await counts(server());
      const good = b64(buildCommandPlist('ProfileList', {}).plist);
      const noType = b64(
        '<plist version="1.0"><dict><key>Command</key><dict><key>Foo</key><string>x</string></dict></dict></plist>',
      );
      const noCommand = b64(
        '<plist version="1.0"><dict><key>CommandUUID</key><string>x</string></dict></plist>',
      );
      const cases: [unknown, number, RegExp][] = [
        [{ command: '!!!not base64!!!', host_uuids: [mac.udid] }, 400, /base64/],
        [{ command: b64('hello, not a plist'), host_uuids: [mac.udid] }, 400, /unable to decode plist/],
        [
          { command: b64(Buffer.from('bplist00\u0000\u0001garbage', 'latin1')), host_uuids: [mac.udid] },
          400,
          /unable to decode plist/,
        ],
        [{ command: noType, host_uuids: [mac.udid] }, 400, /RequestType/],
        [{ command: noCommand, host_uuids: [mac.udid] }, 400, /no Command dictionary/],
        [{ command: good, host_uuids: ['NO-SUCH-HOST'] }, 404, /NO-SUCH-HOST/],
        [{ command: good, host_uuids: [mac.udid, unenrolledUuid] }, 400, /not enrolled/],
        [{ command: good, host_uuids: [] }, 422, /at least one host/],
        [{ command: good, host_uuids: [mac.udid], extra: 1 }, 400, /extra/],
        [{ host_uuids: [mac.udid] }, 422, /command/],
      ];
      for (const [body, status, reason] of cases) {
        const res = await api(server(), 'POST', '/api/v1/fleet/commands/run', { token: admin, body });
        expect(res.status, JSON.stringify(body).slice(0, 80)).toBe(status);
        expect(JSON.stringify(res.body.errors)).toMatch(reason);
      }
      const huge = await api(server(), 'POST', '/api/v1/fleet/commands/run', {
        token: admin,
        body: { command: 'A'.repeat(2 * 1024 * 1024 + 10), host_uuids: [mac.udid] },
      });
      expect(huge.status).toBe(413);
      expect(huge.body.errors[0].reason).toMatch(/max size limit/);
      expect(await counts(server())).toEqual(before);
    });

    it('lets maintainers, admins and gitops run commands, within their teams only', async () => {
      const s = server().app.services;
      const good = () => b64(buildCommandPlist('ProfileList', {}).plist);
      const observer = await tokenForRole(s, 'observer');
      const gitops = await tokenForRole(s, 'gitops');
      const teamMaintainer = await tokenForRole(s, null, [{ teamId, role: 'maintainer' }]);
      const before = await counts(server());
      expect(
        (
          await api(server(), 'POST', '/api/v1/fleet/commands/run', {
            token: observer,
            body: { command: good(), host_uuids: [mac.udid] },
          })
        ).status,
      ).toBe(403);
      expect(
        (
          await api(server(), 'POST', '/api/v1/fleet/commands/run', {
            token: teamMaintainer,
            body: { command: good(), host_uuids: [mac.udid, teamMac.udid] },
          })
        ).status,
      ).toBe(403);
      expect(await counts(server())).toEqual(before);
      expect(
        (
          await api(server(), 'POST', '/api/v1/fleet/commands/run', {
            token: teamMaintainer,
            body: { command: good(), host_uuids: [teamMac.udid] },
          })
        ).status,
      ).toBe(200);
      expect(
        (
          await api(server(), 'POST', '/api/v1/fleet/commands/run', {
            token: gitops,
            body: { command: good(), host_uuids: [mac.udid] },
          })
        ).status,
      ).toBe(200);
    });

    it('lists commands with filters, paging and team scope', async () => {
      await firstCommandRun();
      await securityInfoRun();
      const s = server().app.services;
      const all = await api(server(), 'GET', '/api/v1/fleet/commands', { token: admin });
      expect(all.status).toBe(200);
      const mine = all.body.results.filter((r: { command_uuid: string }) => r.command_uuid === firstCommand);
      expect(mine.map((r: { hostname: string }) => r.hostname).sort()).toEqual(['mac-one', 'mac-team']);
      expect(mine[0]).toMatchObject({ status: 'Pending', request_type: 'ProfileList' });
      expect(mine[0].updated_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

      const byHost = await api(server(), 'GET', `/api/v1/fleet/commands?host_identifier=mac-team`, {
        token: admin,
      });
      expect(new Set(byHost.body.results.map((r: { host_uuid: string }) => r.host_uuid))).toEqual(
        new Set([teamMac.udid]),
      );
      const byType = await api(server(), 'GET', '/api/v1/fleet/commands?request_type=SecurityInfo', {
        token: admin,
      });
      expect(byType.body.results.length).toBe(1);
      const paged = await api(
        server(),
        'GET',
        '/api/v1/fleet/commands?per_page=2&page=0&order_key=hostname&order_direction=asc',
        { token: admin },
      );
      expect(paged.body.results.length).toBe(2);
      expect(paged.body.results[0].hostname <= paged.body.results[1].hostname).toBe(true);
      expect(
        (await api(server(), 'GET', '/api/v1/fleet/commands?order_key=nope', { token: admin })).status,
      ).toBe(400);
      expect(
        (await api(server(), 'GET', '/api/v1/fleet/commands?command_status=bogus', { token: admin })).status,
      ).toBe(400);

      const teamObserver = await tokenForRole(s, null, [{ teamId, role: 'observer' }]);
      const scoped = await api(server(), 'GET', '/api/v1/fleet/commands', { token: teamObserver });
      expect(scoped.status).toBe(200);
      expect(new Set(scoped.body.results.map((r: { host_uuid: string }) => r.host_uuid))).toEqual(
        new Set([teamMac.udid]),
      );
      const gitops = await tokenForRole(s, 'gitops');
      expect((await api(server(), 'GET', '/api/v1/fleet/commands', { token: gitops })).status).toBe(403);
    });

    it("answers Fleet's meta and count, and serves Fleet's older command paths", async () => {
      await firstCommandRun();
      await securityInfoRun();
      const all = await api(server(), 'GET', '/api/v1/fleet/commands', { token: admin });
      const total = all.body.results.length;
      expect(total).toBeGreaterThan(2);
      expect(all.body.count).toBe(total);
      expect(all.body.meta).toEqual({ has_next_results: false, has_previous_results: false });
      const first = await api(server(), 'GET', '/api/v1/fleet/commands?per_page=2&page=0', { token: admin });
      expect(first.body.results.length).toBe(2);
      expect(first.body).toMatchObject({
        count: total,
        meta: { has_next_results: true, has_previous_results: false },
      });
      const lastPage = Math.ceil(total / 2) - 1;
      const last = await api(server(), 'GET', `/api/v1/fleet/commands?per_page=2&page=${lastPage}`, {
        token: admin,
      });
      expect(last.body).toMatchObject({
        count: total,
        meta: { has_next_results: false, has_previous_results: true },
      });

      // GET /mdm/commands is the same list.
      const alias = await api(server(), 'GET', '/api/v1/fleet/mdm/commands', { token: admin });
      expect(alias.status).toBe(200);
      expect(alias.body).toEqual(all.body);

      // GET /mdm/apple/commands: Fleet's older rows (device_id), Apple commands only.
      const older = await api(server(), 'GET', '/api/v1/fleet/mdm/apple/commands', { token: admin });
      expect(older.status).toBe(200);
      expect(Object.keys(older.body)).toEqual(['results']);
      expect(older.body.results).toEqual(
        all.body.results.map((r: Record<string, unknown>) => ({
          device_id: r.host_uuid,
          command_uuid: r.command_uuid,
          updated_at: r.updated_at,
          request_type: r.request_type,
          status: r.status,
          hostname: r.hostname,
        })),
      );

      // POST /mdm/commands/run and POST /mdm/apple/enqueue queue like POST /commands/run.
      const a = buildCommandPlist('ProfileList', { ManagedOnly: true });
      const run = await api(server(), 'POST', '/api/v1/fleet/mdm/commands/run', {
        token: admin,
        body: { command: b64(a.plist), host_uuids: [mac.udid] },
      });
      expect(run.status).toBe(200);
      expect(run.body).toEqual({
        command_uuid: a.commandUuid,
        request_type: 'ProfileList',
        platform: 'darwin',
      });
      const b = buildCommandPlist('ProfileList', { ManagedOnly: true });
      const enq = await api(server(), 'POST', '/api/v1/fleet/mdm/apple/enqueue', {
        token: admin,
        body: { command: b64(b.plist), device_ids: [mac.udid] },
      });
      expect(enq.status).toBe(200);
      expect(enq.body).toEqual({
        command_uuid: b.commandUuid,
        request_type: 'ProfileList',
        platform: 'darwin',
      });
      const queued = (await queuedTypes(server(), mac.udid)).map((r) => r.command_uuid);
      expect(queued).toContain(a.commandUuid);
      expect(queued).toContain(b.commandUuid);
      const after = await api(server(), 'GET', '/api/v1/fleet/commands', { token: admin });
      expect(after.body.count).toBe(total + 2);
    });

    it('shows results with the payload and the raw result plist', async () => {
      await firstCommandRun();
      const { db } = server().app.services.database;
      const raw = Buffer.from(
        `<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>CommandUUID</key><string>${firstCommand}</string><key>Status</key><string>Acknowledged</string><key>UDID</key><string>${mac.udid}</string><key>ProfileList</key><array/></dict></plist>`,
      );
      const now = dbNow();
      await db
        .insertInto('nano_command_results')
        .values({
          id: mac.udid,
          command_uuid: firstCommand,
          status: 'Acknowledged',
          result: raw,
          created_at: now,
          updated_at: now,
        })
        .execute();

      const res = await api(server(), 'GET', `/api/v1/fleet/commands/results?command_uuid=${firstCommand}`, {
        token: admin,
      });
      expect(res.status).toBe(200);
      const byHost = new Map(res.body.results.map((r: { host_uuid: string }) => [r.host_uuid, r]));
      expect(byHost.get(mac.udid)).toMatchObject({
        status: 'Acknowledged',
        request_type: 'ProfileList',
        hostname: 'mac-one',
        result: b64(raw),
        command_uuid: firstCommand,
      });
      expect(byHost.get(teamMac.udid)).toMatchObject({ status: 'Pending', result: null });
      const payload = Buffer.from((byHost.get(mac.udid) as { payload: string }).payload, 'base64');
      expect(parsePlistDict(payload).CommandUUID).toBe(firstCommand);

      const pendingOnly = await api(
        server(),
        'GET',
        '/api/v1/fleet/commands?command_status=pending&host_identifier=mac-one',
        { token: admin },
      );
      expect(
        pendingOnly.body.results.some((r: { command_uuid: string }) => r.command_uuid === firstCommand),
      ).toBe(false);
      const alias = await api(
        server(),
        'GET',
        `/api/latest/fleet/mdm/apple/commandresults?command_uuid=${firstCommand}`,
        { token: admin },
      );
      expect(alias.body).toEqual(res.body);
      expect(
        (await api(server(), 'GET', '/api/v1/fleet/commands/results?command_uuid=nope', { token: admin }))
          .status,
      ).toBe(404);
      expect((await api(server(), 'GET', '/api/v1/fleet/commands/results', { token: admin })).status).toBe(
        400,
      );
      const teamObserver = await tokenForRole(server().app.services, null, [{ teamId, role: 'observer' }]);
      const scoped = await api(
        server(),
        'GET',
        `/api/v1/fleet/commands/results?command_uuid=${firstCommand}`,
        { token: teamObserver },
      );
      expect(scoped.body.results.map((r: { host_uuid: string }) => r.host_uuid)).toEqual([teamMac.udid]);
    });

    it('locks a Mac with a PIN, refuses a second lock, unlocks with the PIN', async () => {
      const s = server().app.services;
      const observer = await tokenForRole(s, 'observer');
      const gitops = await tokenForRole(s, 'gitops');
      const before = await counts(server());
      expect(
        (await api(server(), 'POST', `/api/v1/fleet/hosts/${mac.hostId}/lock`, { token: observer })).status,
      ).toBe(403);
      expect(
        (await api(server(), 'POST', `/api/v1/fleet/hosts/${mac.hostId}/lock`, { token: gitops })).status,
      ).toBe(403);
      expect(
        (await api(server(), 'POST', `/api/v1/fleet/hosts/${unenrolledId}/lock`, { token: admin })).status,
      ).toBe(400);
      expect((await api(server(), 'POST', '/api/v1/fleet/hosts/999999/lock', { token: admin })).status).toBe(
        404,
      );
      expect(
        (await api(server(), 'POST', `/api/v1/fleet/hosts/${mac.hostId}/unlock`, { token: admin })).status,
      ).toBe(422);
      expect(await counts(server())).toEqual(before);

      const lock = await api(server(), 'POST', `/api/v1/fleet/hosts/${mac.hostId}/lock?view_pin=true`, {
        token: admin,
      });
      expect(lock.status).toBe(200);
      expect(lock.body.unlock_pin).toMatch(/^\d{6}$/);
      const q = (await queuedTypes(server(), mac.udid)).filter((r) => r.request_type === 'DeviceLock');
      expect(q.length).toBe(1);
      expect((parsePlistDict(Buffer.from(q[0].command)).Command as Record<string, unknown>).PIN).toBe(
        lock.body.unlock_pin,
      );
      const action = await s.database.db
        .selectFrom('host_mdm_actions')
        .selectAll()
        .where('host_id', '=', mac.hostId)
        .executeTakeFirstOrThrow();
      expect(action).toMatchObject({
        lock_ref: q[0].command_uuid,
        unlock_pin: lock.body.unlock_pin,
        fleet_platform: 'darwin',
      });

      const again = await api(server(), 'POST', `/api/v1/fleet/hosts/${mac.hostId}/lock`, { token: admin });
      expect(again.status).toBe(422);
      expect(again.body.errors[0].reason).toMatch(/pending lock/);
      expect(
        (await api(server(), 'POST', `/api/v1/fleet/hosts/${mac.hostId}/wipe`, { token: admin })).status,
      ).toBe(422);

      // The Mac acknowledges the lock: it is locked; unlock hands out the PIN.
      const now = dbNow();
      await s.database.db
        .insertInto('nano_command_results')
        .values({
          id: mac.udid,
          command_uuid: q[0].command_uuid,
          status: 'Acknowledged',
          result: Buffer.from('<plist/>'),
          created_at: now,
          updated_at: now,
        })
        .execute();
      expect(
        (await api(server(), 'POST', `/api/v1/fleet/hosts/${mac.hostId}/lock`, { token: admin })).body
          .errors[0].reason,
      ).toMatch(/already locked/);
      const unlock = await api(server(), 'POST', `/api/v1/fleet/hosts/${mac.hostId}/unlock`, {
        token: admin,
      });
      expect(unlock.status).toBe(200);
      expect(unlock.body).toEqual({ host_id: mac.hostId, unlock_pin: lock.body.unlock_pin });
      const types = (await s.database.db.selectFrom('activities').select('activity_type').execute()).map(
        (r) => r.activity_type,
      );
      expect(types).toContain('locked_host');
      expect(types).toContain('unlocked_host');
    });

    it('wipes with EraseDevice and refuses a second wipe; locks an iPhone with Lost Mode', async () => {
      const s = server().app.services;
      const wipe = await api(server(), 'POST', `/api/v1/fleet/hosts/${teamMac.hostId}/wipe`, {
        token: admin,
      });
      expect(wipe.status).toBe(204);
      const erase = (await queuedTypes(server(), teamMac.udid)).filter(
        (r) => r.request_type === 'EraseDevice',
      );
      expect(erase.length).toBe(1);
      const cmd = parsePlistDict(Buffer.from(erase[0].command)).Command as Record<string, unknown>;
      expect(cmd.PIN).toMatch(/^\d{6}$/);
      expect(cmd.ObliterationBehavior).toBe('Default');
      expect(
        (await api(server(), 'POST', `/api/v1/fleet/hosts/${teamMac.hostId}/wipe`, { token: admin })).status,
      ).toBe(422);
      expect(
        (await api(server(), 'POST', `/api/v1/fleet/hosts/${teamMac.hostId}/lock`, { token: admin })).status,
      ).toBe(422);
      expect(
        (
          await api(server(), 'POST', `/api/v1/fleet/hosts/${teamMac.hostId}/wipe`, {
            token: admin,
            body: { bogus: 1 },
          })
        ).status,
      ).toBe(400);

      const lock = await api(server(), 'POST', `/api/v1/fleet/hosts/${phone.hostId}/lock`, { token: admin });
      expect(lock.status).toBe(204);
      const lost = (await queuedTypes(server(), phone.udid)).filter(
        (r) => r.request_type === 'EnableLostMode',
      );
      expect(lost.length).toBe(1);
      expect(apns.fake.pushesTo(phone.tokenHex).length).toBeGreaterThan(0);
      const types = (await s.database.db.selectFrom('activities').select('activity_type').execute()).map(
        (r) => r.activity_type,
      );
      expect(types).toContain('wiped_host');
    });

    it('refetches: Apple MDM hosts get a DeviceInformation command; any host gets the refetch flag', async () => {
      const s = server().app.services;
      const observer = await tokenForRole(s, 'observer');
      const res = await api(server(), 'POST', `/api/v1/fleet/hosts/${phone.hostId}/refetch`, {
        token: observer,
      });
      expect(res.status).toBe(200);
      const info = (await queuedTypes(server(), phone.udid)).filter(
        (r) => r.request_type === 'DeviceInformation',
      );
      expect(info.length).toBe(1);
      expect(info[0].command_uuid).toMatch(/^REFETCH-DEVICE-/);
      expect(
        (parsePlistDict(Buffer.from(info[0].command)).Command as Record<string, unknown>).Queries,
      ).toContain('DeviceName');
      expect((await s.hostStore.getById(phone.hostId))?.refetch_requested).toBe(true);
      const inflight = await s.database.db
        .selectFrom('host_mdm_commands')
        .selectAll()
        .where('host_id', '=', phone.hostId)
        .execute();
      expect(inflight.map((r) => r.command_type)).toEqual(['REFETCH-DEVICE-']);

      expect(
        (await api(server(), 'POST', `/api/v1/fleet/hosts/${unenrolledId}/refetch`, { token: admin })).status,
      ).toBe(200);
      expect((await s.hostStore.getById(unenrolledId))?.refetch_requested).toBe(true);
      expect(
        (await api(server(), 'POST', '/api/v1/fleet/hosts/abc/refetch', { token: admin })).status,
      ).toBeGreaterThanOrEqual(400);
      expect(
        (await api(server(), 'POST', '/api/v1/fleet/hosts/999999/refetch', { token: admin })).status,
      ).toBe(404);
    });
  },
  apns.overrides,
);
