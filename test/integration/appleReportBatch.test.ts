import { expect, it } from 'vitest';
import { buildCommandPlist } from '../../src/apple/commands/build.js';
import { ReportBatchStore, type BatchedReport } from '../../src/apple/commands/reportBatchStore.js';
import type { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { enrolledDevice } from '../helpers/appleDevice.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

/**
 * The Apple group commit's store on its own: statements compiled once per batch size and then only
 * bound must give the same answers batch after batch, whatever mix of reports a batch holds.
 */

async function association(srv: TestServer, udid: string) {
  const row = await srv.app.services.database.db
    .selectFrom('nano_cert_auth_associations')
    .select(['id', 'sha256'])
    .where('id', '=', udid)
    .executeTakeFirstOrThrow();
  return { deviceId: row.id, sha256: row.sha256 };
}

async function queue(srv: TestServer, udid: string, n: number): Promise<string[]> {
  const uuids: string[] = [];
  for (let i = 0; i < n; i++) {
    const c = buildCommandPlist('InstalledApplicationList', {});
    await srv.app.services.appleQueue.enqueue([udid], {
      commandUuid: c.commandUuid,
      requestType: 'InstalledApplicationList',
      plist: c.plist,
    });
    uuids.push(c.commandUuid);
  }
  return uuids;
}

async function stored(srv: TestServer, udids: string[]) {
  const { db } = srv.app.services.database;
  const results = await db
    .selectFrom('nano_command_results')
    .select(['id', 'command_uuid', 'status', 'not_now_tally'])
    .where('id', 'in', udids)
    .orderBy('id')
    .orderBy('command_uuid')
    .execute();
  const active = await db
    .selectFrom('nano_enrollment_queue')
    .select(['id', 'command_uuid'])
    .where('id', 'in', udids)
    .where('active', '=', 1)
    .orderBy('id')
    .orderBy('command_uuid')
    .execute();
  return { results: results.map((r) => ({ ...r, not_now_tally: Number(r.not_now_tally) })), active };
}

describeEachDialect('Apple report batches with statements compiled once per size', (server) => {
  it('stores, settles and reads next the same way for every batch, sizes repeated and mixed', async () => {
    const srv = server();
    const devices: SimulatedAppleDevice[] = [];
    for (let i = 0; i < 3; i++) devices.push(await enrolledDevice(srv));
    const [a, b, c] = devices.map((d) => d.udid);
    const cmds = { [a]: await queue(srv, a, 3), [b]: await queue(srv, b, 3), [c]: await queue(srv, c, 3) };
    const assoc = {
      [a]: await association(srv, a),
      [b]: await association(srv, b),
      [c]: await association(srv, c),
    };
    const store = new ReportBatchStore(srv.app.services.database.db);
    const report = (
      udid: string,
      commandUuid: string,
      status: string,
      association = assoc[udid],
    ): BatchedReport => ({
      enrollmentId: udid,
      commandUuid,
      status,
      raw: Buffer.from(`<plist>${status}</plist>`),
      association,
    });

    // Batch of 4: a acknowledges, b says NotNow, c reports a command never queued for it, and a
    // report signed by a certificate no longer bound to its device.
    const first = await store.storeReportsAndReadNext([
      report(a, cmds[a][0], 'Acknowledged'),
      report(b, cmds[b][0], 'NotNow'),
      report(c, cmds[a][1], 'Acknowledged'),
      report(c, cmds[c][0], 'Acknowledged', { deviceId: c, sha256: 'f'.repeat(64) }),
    ]);
    expect(first.map((o) => [o.associated, o.stored, o.requestType, o.next?.command_uuid])).toEqual([
      [true, true, 'InstalledApplicationList', cmds[a][1]],
      // NotNow'd commands wait for the next Idle: b's next is its second command.
      [true, true, 'InstalledApplicationList', cmds[b][1]],
      [true, false, undefined, cmds[c][0]],
      [false, false, undefined, undefined],
    ]);

    // Another batch of 4 (the size's statements now come from the cache): b's command answered
    // after its NotNow, and two reports of one command in one batch, the later one winning.
    const second = await store.storeReportsAndReadNext([
      report(b, cmds[b][0], 'Acknowledged'),
      report(a, cmds[a][1], 'NotNow'),
      report(a, cmds[a][1], 'Error'),
      report(c, cmds[c][0], 'Acknowledged'),
    ]);
    expect(second.map((o) => [o.stored, o.next?.command_uuid])).toEqual([
      [true, cmds[b][1]],
      [true, cmds[a][2]],
      [true, cmds[a][2]],
      [true, cmds[c][1]],
    ]);

    // Batches of 1 and 2: smaller sizes compile their own statements.
    expect(
      (await store.storeReportsAndReadNext([report(c, cmds[c][1], 'Acknowledged')]))[0].next?.command_uuid,
    ).toBe(cmds[c][2]);
    const last = await store.storeReportsAndReadNext([
      report(c, cmds[c][2], 'Acknowledged'),
      report(b, cmds[b][1], 'Acknowledged'),
    ]);
    expect(last.map((o) => [o.stored, o.next?.command_uuid])).toEqual([
      [true, undefined],
      [true, cmds[b][2]],
    ]);

    const sorted = <T extends { id: string; command_uuid: string }>(rows: T[]) =>
      [...rows].sort((x, y) => (x.id + x.command_uuid < y.id + y.command_uuid ? -1 : 1));
    const after = await stored(srv, [a, b, c]);
    expect(after.results).toEqual(
      sorted([
        { id: a, command_uuid: cmds[a][0], status: 'Acknowledged', not_now_tally: 0 },
        { id: a, command_uuid: cmds[a][1], status: 'Error', not_now_tally: 0 },
        { id: b, command_uuid: cmds[b][0], status: 'Acknowledged', not_now_tally: 1 },
        { id: b, command_uuid: cmds[b][1], status: 'Acknowledged', not_now_tally: 0 },
        { id: c, command_uuid: cmds[c][0], status: 'Acknowledged', not_now_tally: 0 },
        { id: c, command_uuid: cmds[c][1], status: 'Acknowledged', not_now_tally: 0 },
        { id: c, command_uuid: cmds[c][2], status: 'Acknowledged', not_now_tally: 0 },
      ]),
    );
    expect(after.active).toEqual(
      sorted([
        { id: a, command_uuid: cmds[a][2] },
        { id: b, command_uuid: cmds[b][2] },
      ]),
    );
  });
});
