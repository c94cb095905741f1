import { beforeAll, expect, it } from 'vitest';
import type { SimulatedWindowsDevice } from '../../src/windows/sim/device.js';
import { buildSyncMessage, parseSyncMessage, statusXml } from '../../src/windows/syncml/codec.js';
import { credentialsHash, digestFromHash } from '../../src/windows/syncml/digest.js';
import { dbNow } from '../../src/db/dialect.js';
import { api } from '../helpers/api.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';
import { enableWindowsMdm, enrolledWindowsPc } from '../helpers/windowsDevice.js';

const secret = 'windows-queue-secret';
const syncml = 'application/vnd.syncml.dm+xml';

/**
 * The SyncML command queue under concurrency: two sessions of one device at the same time (a
 * scheduled poll overlapping a user-triggered sync) must neither lose nor duplicate commands.
 */
describeEachDialect('Windows MDM command queue', (server) => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = server();
    await enableWindowsMdm(srv, secret);
  });

  async function enrolledDevice() {
    const d = await enrolledWindowsPc(srv, secret);
    const e = await srv.app.services.windows.store.enrollmentByDeviceId(d.deviceId);
    return { d, enrollmentId: e!.id };
  }

  /** A device message answering with the given Statuses, authenticated with a nonce we set. */
  async function answerMessage(
    d: SimulatedWindowsDevice,
    enrollmentId: number,
    statuses: { cmdRef: string; cmd: string; code: string }[],
  ) {
    const nonce = 'fixed-test-nonce';
    await srv.app.services.windows.store.setNonce(enrollmentId, nonce, dbNow(600_000));
    return buildSyncMessage({
      sessionId: '7',
      msgId: '2',
      target: d.managementUrl!,
      source: d.deviceId,
      cred: {
        type: 'syncml:auth-md5',
        format: 'b64',
        data: digestFromHash(credentialsHash(d.deviceId, d.password!), Buffer.from(nonce)),
      },
      body: [
        statusXml({ cmdId: '1', msgRef: '1', cmdRef: '0', cmd: 'SyncHdr', code: '200' }),
        ...statuses.map((s, i) => statusXml({ cmdId: String(i + 2), msgRef: '1', ...s })),
      ],
    });
  }

  it('two sessions answering the same Add with 418 queue its Replace retry once', async () => {
    const s = srv.app.services;
    const db = s.database.db;
    const { d, enrollmentId } = await enrolledDevice();
    const uri = './Device/Vendor/MSFT/Policy/Config/Race/Value';
    const add = await s.windowsCommands.enqueueRaw(
      [d.hardwareUuid],
      `<Add><Item><Target><LocURI>${uri}</LocURI></Target><Data>1</Data></Item></Add>`,
    );
    const msg = await answerMessage(d, enrollmentId, [{ cmdRef: add.command_uuid, cmd: 'Add', code: '418' }]);

    const answers = await Promise.all(
      [0, 1].map(() =>
        api(srv, 'POST', '/api/mdm/microsoft/management', {
          rawBody: msg,
          headers: { 'content-type': syncml },
        }),
      ),
    );
    // Both copies carry the same digest nonce, which authenticates one message only: the other
    // copy is refused (401 with a new challenge) and stores nothing.
    expect(answers.map((a) => parseSyncMessage(a.text).commands[0].data).sort()).toEqual(['200', '401']);
    const retries = (
      await db.selectFrom('windows_mdm_commands').select(['command_uuid', 'raw_command']).execute()
    ).filter((c) => c.raw_command.includes('<Replace>') && c.raw_command.includes(uri));
    expect(retries).toHaveLength(1);
    const queue = await db
      .selectFrom('windows_mdm_command_queue')
      .select('command_uuid')
      .where('enrollment_id', '=', enrollmentId)
      .execute();
    expect(queue.map((q) => q.command_uuid)).toEqual([retries[0].command_uuid]);
    // The retry goes out in the accepted answer, and the 418 result is stored once.
    expect(answers.some((a) => a.text.includes(`<CmdID>${retries[0].command_uuid}</CmdID>`))).toBe(true);
    const results = await db
      .selectFrom('windows_mdm_command_results')
      .select(['command_uuid', 'status_code'])
      .where('enrollment_id', '=', enrollmentId)
      .execute();
    expect(results).toEqual([{ command_uuid: add.command_uuid, status_code: '418' }]);

    // The device's next session applies the retry, and nothing is left owed.
    const next = await d.runSession();
    expect(next.commandsExecuted).toBe(1);
    expect(d.tree.get(uri)?.data).toBe('1');
    expect(
      await db
        .selectFrom('windows_mdm_command_queue')
        .select('command_uuid')
        .where('enrollment_id', '=', enrollmentId)
        .execute(),
    ).toEqual([]);
  });

  it('overlapping sessions of one device while commands are queued: every command answered exactly once, none lost', async () => {
    const s = srv.app.services;
    const db = s.database.db;
    const { d, enrollmentId } = await enrolledDevice();
    const uuids: string[] = [];
    const enqueue = async (i: number) => {
      const r = await s.windowsCommands.enqueueRaw(
        [d.hardwareUuid],
        `<Replace><Item><Target><LocURI>./Device/Vendor/MSFT/Race/${i}</LocURI></Target><Data>${i}</Data></Item></Replace>`,
      );
      uuids.push(r.command_uuid);
    };
    await enqueue(0);
    await enqueue(1);
    // Two sessions at once, and more commands queued while they run.
    await Promise.all([d.runSession(), d.runSession(), enqueue(2), enqueue(3)]);
    // Whatever the interleaving, one more session picks up anything queued after both had read.
    await d.runSession();
    for (let i = 0; i < 4; i++) expect(d.tree.get(`./Device/Vendor/MSFT/Race/${i}`)?.data).toBe(String(i));
    expect(
      await db
        .selectFrom('windows_mdm_command_queue')
        .select('command_uuid')
        .where('enrollment_id', '=', enrollmentId)
        .execute(),
    ).toEqual([]);
    const results = await db
      .selectFrom('windows_mdm_command_results')
      .select(['command_uuid', 'status_code'])
      .where('enrollment_id', '=', enrollmentId)
      .execute();
    expect(results.map((r) => r.command_uuid).sort()).toEqual([...uuids].sort());
    expect(results.every((r) => r.status_code === '200')).toBe(true);
  });

  it('answers to commands of another device are ignored and change nothing', async () => {
    const s = srv.app.services;
    const db = s.database.db;
    const a = await enrolledDevice();
    const b = await enrolledDevice();
    const cmd = await s.windowsCommands.enqueueRaw(
      [a.d.hardwareUuid],
      `<Exec><Item><Target><LocURI>./Device/Vendor/MSFT/Reboot/RebootNow</LocURI></Target></Item></Exec>`,
    );
    const msg = await answerMessage(b.d, b.enrollmentId, [
      { cmdRef: cmd.command_uuid, cmd: 'Exec', code: '200' },
    ]);
    const res = await api(srv, 'POST', '/api/mdm/microsoft/management', {
      rawBody: msg,
      headers: { 'content-type': syncml },
    });
    expect(parseSyncMessage(res.text).commands[0]).toMatchObject({ cmdRef: '0', data: '200' });
    expect(
      await db
        .selectFrom('windows_mdm_command_results')
        .selectAll()
        .where('command_uuid', '=', cmd.command_uuid)
        .execute(),
    ).toEqual([]);
    expect(
      (
        await db
          .selectFrom('windows_mdm_command_queue')
          .select('enrollment_id')
          .where('command_uuid', '=', cmd.command_uuid)
          .execute()
      ).map((r) => r.enrollment_id),
    ).toEqual([a.enrollmentId]);
  });

  it('last-seen times are written in batches, not inside the session', async () => {
    const s = srv.app.services;
    const { d, enrollmentId } = await enrolledDevice();
    await s.database.db
      .updateTable('mdm_windows_enrollments')
      .set({ last_seen_at: null })
      .where('id', '=', enrollmentId)
      .execute();
    await d.runSession();
    await s.windows.flush();
    const row = await s.database.db
      .selectFrom('mdm_windows_enrollments')
      .select('last_seen_at')
      .where('id', '=', enrollmentId)
      .executeTakeFirst();
    expect(row?.last_seen_at).toBeTruthy();
  });
});
