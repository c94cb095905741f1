import { afterAll, beforeAll, expect, it } from 'vitest';
import { dbNow } from '../../src/db/dialect.js';
import type { SimulatedWindowsDevice } from '../../src/windows/sim/device.js';
import { api, setupAdmin } from '../helpers/api.js';
import { installPushCertificate, startFakeApns } from '../helpers/apns.js';
import { seedEnrollment, tokenForRole } from '../helpers/appleSeed.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';
import { enableWindowsMdm, enrolledWindowsPc } from '../helpers/windowsDevice.js';

const apns = await startFakeApns();
afterAll(() => apns.fake.close());

const secret = 'commands-list-secret';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const exec = (uri: string) => b64(`<Exec><Item><Target><LocURI>${uri}</LocURI></Target></Item></Exec>`);
const applePlist = (type: string) =>
  b64(
    `<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>Command</key><dict><key>RequestType</key><string>${type}</string></dict></dict></plist>`,
  );

/** Sorted ascending, byte-wise (SQLite) or ignoring case (MySQL); Apple UUIDs are upper case, Windows ones lower case. */
function expectSorted(values: string[]) {
  const caseless = [...values].sort((a, b) =>
    a.toLowerCase() < b.toLowerCase() ? -1 : a.toLowerCase() > b.toLowerCase() ? 1 : 0,
  );
  expect([[...values].sort(), caseless]).toContainEqual(values);
}

interface Row {
  host_uuid: string;
  command_uuid: string;
  status: string;
  request_type: string;
  hostname: string;
  platform: string;
  updated_at: string;
}

describeEachDialect('GET /commands lists Apple and Windows commands together', (server) => {
  let srv: TestServer;
  let admin = '';
  let pc: SimulatedWindowsDevice;
  let mac: Awaited<ReturnType<typeof seedEnrollment>>;
  let teamId = 0;
  const run: Record<string, string> = {};
  const list = async (query = '', token = admin) => {
    const res = await api(srv, 'GET', `/api/v1/fleet/commands${query}`, { token });
    expect(res.status).toBe(200);
    return res.body.results as Row[];
  };

  beforeAll(async () => {
    srv = server();
    const s = srv.app.services;
    admin = await setupAdmin(srv);
    const { topic } = await installPushCertificate(s);
    await enableWindowsMdm(srv, secret);
    const now = dbNow();
    teamId = Number(
      (
        await s.database.db
          .insertInto('teams')
          .values({ name: 'Windows team', config: '{}', created_at: now, updated_at: now })
          .executeTakeFirstOrThrow()
      ).insertId,
    );
    mac = await seedEnrollment(s.database.db, { topic, hostname: 'a-mac' });
    pc = await enrolledWindowsPc(srv, secret);
  });

  // The later tests list the commands this first test runs: it runs them, or the first test that runs
  // when it is skipped.
  let ran: Promise<void> | undefined;
  const commandsRun = () => (ran ??= runCommands());

  it('shows Windows commands pending, then with the SyncML status once answered, beside Apple ones', () =>
    commandsRun());

  async function runCommands(): Promise<void> {
    const runOne = async (command: string, hostUuid: string) => {
      const res = await api(srv, 'POST', '/api/v1/fleet/commands/run', {
        token: admin,
        body: { command, host_uuids: [hostUuid] },
      });
      expect(res.status).toBe(200);
      return res.body.command_uuid as string;
    };
    run.reboot = await runOne(exec('./Device/Vendor/MSFT/Reboot/RebootNow'), pc.hardwareUuid);
    run.apple = await runOne(applePlist('ProfileList'), mac.udid);

    let rows = await list();
    const win = rows.find((r) => r.command_uuid === run.reboot);
    expect(win).toMatchObject({
      host_uuid: pc.hardwareUuid,
      status: 'Pending',
      request_type: './Device/Vendor/MSFT/Reboot/RebootNow',
      platform: 'windows',
    });
    expect(win!.updated_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(rows.find((r) => r.command_uuid === run.apple)).toMatchObject({
      host_uuid: mac.udid,
      status: 'Pending',
      request_type: 'ProfileList',
      platform: 'darwin',
      hostname: 'a-mac',
    });

    await pc.runSession();
    rows = await list();
    expect(rows.filter((r) => r.command_uuid === run.reboot)).toMatchObject([
      { status: '200', platform: 'windows' },
    ]);
    // A second Windows command, left unanswered.
    run.pending = await runOne(exec('./Device/Vendor/MSFT/RemoteFind/Location'), pc.hardwareUuid);
  }

  it('applies the filters, ordering and paging across both platforms', async () => {
    await commandsRun();
    const byHost = await list(`?host_identifier=${pc.hardwareUuid}`);
    expect(byHost.map((r) => r.command_uuid).sort()).toEqual([run.reboot, run.pending].sort());
    expect(byHost.every((r) => r.platform === 'windows')).toBe(true);
    expect(
      (await list('?request_type=./Device/Vendor/MSFT/Reboot/RebootNow')).map((r) => r.command_uuid),
    ).toEqual([run.reboot]);

    const pendingWin = await list(`?command_status=pending&host_identifier=${pc.hardwareUuid}`);
    expect(pendingWin.map((r) => r.command_uuid)).toEqual([run.pending]);
    const ran = await list('?command_status=ran');
    expect(ran.map((r) => r.command_uuid)).toContain(run.reboot);
    expect(ran.some((r) => r.status === 'Pending')).toBe(false);
    expect((await list('?command_status=failed')).some((r) => r.command_uuid === run.reboot)).toBe(false);

    // One order over both platforms, and pages that split it without gaps or repeats.
    const all = await list('?order_key=command_uuid&order_direction=asc');
    expect(all.length).toBeGreaterThanOrEqual(3);
    const keys = all.map((r) => `${r.command_uuid}|${r.host_uuid}`);
    expectSorted(keys);
    const pages: string[] = [];
    for (let page = 0; page * 2 < all.length; page++) {
      const part = await list(`?order_key=command_uuid&order_direction=asc&per_page=2&page=${page}`);
      expect(part.length).toBeLessThanOrEqual(2);
      pages.push(...part.map((r) => `${r.command_uuid}|${r.host_uuid}`));
    }
    expect(pages).toEqual(keys);
    const desc = await list('?order_key=hostname&order_direction=desc');
    expectSorted(desc.map((r) => r.hostname).reverse());
  });

  it('keeps Windows commands inside the caller’s team scope', async () => {
    await commandsRun();
    const teamObserver = await tokenForRole(srv.app.services, null, [{ teamId, role: 'observer' }]);
    expect(await list('', teamObserver)).toEqual([]);
    const host = (await srv.app.services.hostStore.findByUuid(pc.hardwareUuid))!;
    await srv.app.services.database.db
      .updateTable('hosts')
      .set({ team_id: teamId })
      .where('id', '=', host.id)
      .execute();
    const scoped = await list('', teamObserver);
    expect(scoped.map((r) => r.command_uuid).sort()).toEqual([run.reboot, run.pending].sort());
  });
});
