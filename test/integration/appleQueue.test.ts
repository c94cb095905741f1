import { expect, it } from 'vitest';
import { buildCommandPlist } from '../../src/apple/commands/build.js';
import type { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { enrolledDevice } from '../helpers/appleDevice.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

async function enqueue(
  srv: TestServer,
  ids: string[],
  requestType: string,
  fields: Record<string, unknown> = {},
  priority?: number,
) {
  const c = buildCommandPlist(requestType, fields);
  await srv.app.services.appleQueue.enqueue(ids, {
    commandUuid: c.commandUuid,
    requestType,
    plist: c.plist,
    priority,
  });
  return c.commandUuid;
}

async function statusOf(srv: TestServer, commandUuid: string, d: SimulatedAppleDevice) {
  const r = await srv.app.services.appleQueue.commandResults(commandUuid);
  return r.find((x) => x.hostUuid === d.udid)?.status;
}

describeEachDialect('Apple command queue', (server) => {
  it('delivers by priority, then age, one command per round trip, and fans one command out', async () => {
    const srv = server();
    const a = await enrolledDevice(srv);
    const b = await enrolledDevice(srv);
    const first = await enqueue(srv, [a.udid], 'DeviceInformation', { Queries: ['DeviceName'] });
    const second = await enqueue(srv, [a.udid], 'SecurityInfo');
    const urgent = await enqueue(srv, [a.udid, b.udid], 'ProfileList', { ManagedOnly: false }, 5);
    const third = await enqueue(srv, [a.udid], 'InstalledApplicationList');
    const handled = await a.connect();
    expect(handled.map((c) => c.commandUuid)).toEqual([urgent, first, second, third]);
    expect((await b.connect()).map((c) => c.commandUuid)).toEqual([urgent]);
    expect(await a.connect()).toEqual([]);
    const fanned = await srv.app.services.appleQueue.commandResults(urgent);
    expect(fanned.map((r) => r.hostUuid).sort()).toEqual([a.udid, b.udid].sort());
    expect(fanned.every((r) => r.status === 'Acknowledged' && r.requestType === 'ProfileList')).toBe(true);
    const listed = await srv.app.services.appleQueue.listCommands({ hostUuids: [a.udid] });
    expect(listed).toHaveLength(4);
    expect(listed.every((c) => c.status === 'Acknowledged')).toBe(true);
  });

  it('skips NotNow commands for the rest of the session and offers them again at the next Idle', async () => {
    const srv = server();
    const d = await enrolledDevice(srv);
    d.forcedAnswers.set('SecurityInfo', 'NotNow');
    const busy = await enqueue(srv, [d.udid], 'SecurityInfo');
    const other1 = await enqueue(srv, [d.udid], 'DeviceInformation', { Queries: ['DeviceName'] });
    const other2 = await enqueue(srv, [d.udid], 'ProfileList');
    const session1 = await d.connect();
    // The NotNow'd command is not sent again in the same session, the others still flow.
    expect(session1.map((c) => c.commandUuid)).toEqual([busy, other1, other2]);
    expect(await statusOf(srv, busy, d)).toBe('NotNow');

    const session2 = await d.connect();
    expect(session2.map((c) => c.commandUuid)).toEqual([busy]);
    const row = await srv.app.services.database.db
      .selectFrom('nano_command_results')
      .select(['not_now_tally', 'not_now_at', 'updated_at'])
      .where('command_uuid', '=', busy)
      .executeTakeFirstOrThrow();
    expect(row.not_now_tally).toBe(2);
    expect(row.not_now_at).not.toBeNull();

    d.forcedAnswers.delete('SecurityInfo');
    expect((await d.connect()).map((c) => c.commandUuid)).toEqual([busy]);
    expect(await statusOf(srv, busy, d)).toBe('Acknowledged');
    expect(await d.connect()).toEqual([]);
  });

  it('does not resend commands answered Error or CommandFormatError and stores their ErrorChain', async () => {
    const srv = server();
    const d = await enrolledDevice(srv);
    d.forcedAnswers.set('EraseDevice', 'Error');
    d.forcedAnswers.set('DeviceLock', 'CommandFormatError');
    const erase = await enqueue(srv, [d.udid], 'EraseDevice', { PIN: '123456' });
    const lock = await enqueue(srv, [d.udid], 'DeviceLock', { PIN: '123456' });
    const after = await enqueue(srv, [d.udid], 'ProfileList');
    expect((await d.connect()).map((c) => c.commandUuid)).toEqual([erase, lock, after]);
    expect(await d.connect()).toEqual([]);
    const [errorResult] = await srv.app.services.appleQueue.commandResults(erase);
    expect(errorResult.status).toBe('Error');
    expect((errorResult.result.ErrorChain as { ErrorCode: number }[])[0].ErrorCode).toBe(12345);
    expect(await statusOf(srv, lock, d)).toBe('CommandFormatError');
  });

  it('gives up on a command delivered too often without an answer so the queue moves on', async () => {
    const srv = server();
    const d = await enrolledDevice(srv);
    const stuck = await enqueue(srv, [d.udid], 'InstallEnterpriseApplication', {
      ManifestURL: 'https://example.com/m.plist',
    });
    const behind = await enqueue(srv, [d.udid], 'ProfileList');
    const max = srv.config.appleCommandMaxDeliveries;
    for (let i = 0; i < max; i++) {
      // The device gets the command but never manages to answer it.
      const got = await d.report({ Status: 'Idle' });
      expect(got?.commandUuid).toBe(stuck);
      await srv.app.services.flushAppleCheckin();
    }
    const next = await d.report({ Status: 'Idle' });
    expect(next?.commandUuid).toBe(behind);
    const [given] = await srv.app.services.appleQueue.commandResults(stuck);
    expect(given.status).toBe('Error');
    expect(
      String((given.result.ErrorChain as { LocalizedDescription: string }[])[0].LocalizedDescription),
    ).toMatch(/did not answer/);
  });

  it('drops a result for a CommandUUID that was never queued for the device and carries on', async () => {
    const srv = server();
    const d = await enrolledDevice(srv);
    const other = await enrolledDevice(srv);
    const queued = await enqueue(srv, [d.udid], 'ProfileList');
    const notMine = await enqueue(srv, [other.udid], 'ProfileList');
    const next = await d.report({
      Status: 'Acknowledged',
      CommandUUID: 'F00DF00D-0000-0000-0000-000000000000',
    });
    expect(next?.commandUuid).toBe(queued);
    // A result for another device's command is not stored for this one either.
    await d.report({ Status: 'Acknowledged', CommandUUID: notMine });
    const { db } = srv.app.services.database;
    const rows = await db
      .selectFrom('nano_command_results')
      .select(['command_uuid'])
      .where('id', '=', d.udid)
      .execute();
    expect(rows).toEqual([]);
    expect(
      await db
        .selectFrom('nano_commands')
        .select('command_uuid')
        .where('command_uuid', '=', 'F00DF00D-0000-0000-0000-000000000000')
        .execute(),
    ).toEqual([]);
  });

  it('emits command results and updates the host from DeviceInformation', async () => {
    const srv = server();
    const d = await enrolledDevice(srv, { platform: 'ipados', deviceName: 'Old name' });
    const events: { requestType: string; status: string; hostUuid: string }[] = [];
    srv.app.services.appleMdmEvents.onCommandResult(async (r) => {
      if (r.hostUuid === d.udid)
        events.push({ requestType: r.requestType, status: r.status, hostUuid: r.hostUuid });
    });
    d.deviceName = 'Renamed iPad';
    d.osVersion = '17.5';
    const info = await enqueue(srv, [d.udid], 'DeviceInformation', {
      Queries: ['DeviceName', 'OSVersion', 'ProductName', 'SerialNumber'],
    });
    await d.connect();
    expect(events).toEqual([{ requestType: 'DeviceInformation', status: 'Acknowledged', hostUuid: d.udid }]);
    const host = await srv.app.services.hostStore.findByUuid(d.udid);
    expect(host).toMatchObject({
      computer_name: 'Renamed iPad',
      os_version: 'iPadOS 17.5',
      hardware_model: 'iPad13,1',
      hardware_serial: d.serial,
    });
    expect((await srv.app.services.appleQueue.commandResults(info))[0].result.QueryResponses).toMatchObject({
      DeviceName: 'Renamed iPad',
    });
  });

  it('retention deletes old acknowledged results and unreferenced commands, keeping the rest', async () => {
    const srv = server();
    const { db } = srv.app.services.database;
    const d = await enrolledDevice(srv);
    d.forcedAnswers.set('SecurityInfo', 'Error');
    const acked = await enqueue(srv, [d.udid], 'ProfileList');
    const failed = await enqueue(srv, [d.udid], 'SecurityInfo');
    const fresh = await enqueue(srv, [d.udid], 'DeviceInformation', { Queries: ['DeviceName'] });
    await d.connect();
    await db
      .updateTable('nano_command_results')
      .set({ updated_at: '2020-01-01 00:00:00.000' })
      .where('command_uuid', 'in', [acked, failed])
      .execute();
    await db
      .updateTable('nano_commands')
      .set({ created_at: '2020-01-01 00:00:00.000' })
      .where('command_uuid', 'in', [acked, failed])
      .execute();
    expect(await srv.app.services.cron.runScheduled('apple_mdm_command_retention')).toMatchObject({
      ran: true,
    });
    expect(
      await db
        .selectFrom('nano_command_results')
        .select('command_uuid')
        .where('id', '=', d.udid)
        .orderBy('command_uuid')
        .execute(),
    ).toEqual(
      [{ command_uuid: failed }, { command_uuid: fresh }].sort((x, y) =>
        x.command_uuid.localeCompare(y.command_uuid),
      ),
    );
    expect(
      await db.selectFrom('nano_commands').select('command_uuid').where('command_uuid', '=', acked).execute(),
    ).toEqual([]);
    expect(
      await db
        .selectFrom('nano_enrollment_queue')
        .select('command_uuid')
        .where('command_uuid', '=', acked)
        .execute(),
    ).toEqual([]);
  });
});
