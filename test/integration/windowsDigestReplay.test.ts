import { beforeAll, expect, it } from 'vitest';
import type { SimulatedWindowsDevice } from '../../src/windows/sim/device.js';
import { buildSyncMessage, parseSyncMessage, statusXml } from '../../src/windows/syncml/codec.js';
import { credentialsHash, digestFromHash } from '../../src/windows/syncml/digest.js';
import { api } from '../helpers/api.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';
import { enableWindowsMdm, enrolledWindowsPc } from '../helpers/windowsDevice.js';

const secret = 'windows-replay-secret';
const syncml = 'application/vnd.syncml.dm+xml';
const management = '/api/mdm/microsoft/management';

/**
 * Every row of the Windows command tables (and the enrollments, without the digest nonce a
 * refusal replaces), to show that a refused message changed nothing.
 */
async function snapshot(srv: TestServer): Promise<string> {
  const s = srv.app.services;
  await s.windows.flush();
  const { db } = s.database;
  const out: Record<string, unknown> = {
    windows_mdm_commands: await db.selectFrom('windows_mdm_commands').selectAll().execute(),
    windows_mdm_command_queue: await db.selectFrom('windows_mdm_command_queue').selectAll().execute(),
    windows_mdm_responses: await db.selectFrom('windows_mdm_responses').selectAll().execute(),
    windows_mdm_command_results: await db.selectFrom('windows_mdm_command_results').selectAll().execute(),
    host_mdm_windows_profiles: await db.selectFrom('host_mdm_windows_profiles').selectAll().execute(),
    mdm_windows_enrollments: (await db.selectFrom('mdm_windows_enrollments').selectAll().execute()).map(
      ({ auth_nonce: _n, auth_nonce_expires_at: _x, ...rest }) => rest,
    ),
  };
  return JSON.stringify(out, (_k, v) =>
    v && v.type === 'Buffer' ? Buffer.from(v.data).toString('base64') : v,
  );
}

const post = (srv: TestServer, body: string) =>
  api(srv, 'POST', management, { rawBody: body, headers: { 'content-type': syncml } });

/** The answer's header Status code and the NextNonce of its challenge, if any. */
function header(text: string) {
  const m = parseSyncMessage(text);
  const hdr = m.commands[0];
  const nonce = /<NextNonce xmlns="syncml:metinf">([^<]+)<\/NextNonce>/.exec(text)?.[1];
  return { m, hdr, nonce };
}

const credData = (msg: string) => /<Cred>.*?<Data>([^<]+)<\/Data><\/Cred>/.exec(msg)?.[1];

/**
 * A digest nonce authenticates one SyncML message: a captured message (with its Cred) is refused
 * when sent again, whether it opened a session or came later in it, and changes nothing stored.
 */
describeEachDialect('Windows management digest replay', (server) => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = server();
    await enableWindowsMdm(srv, secret);
  });

  const replace = (uri: string, value: string) =>
    `<Replace><Item><Target><LocURI>${uri}</LocURI></Target><Meta><Format xmlns="syncml:metinf">int</Format></Meta><Data>${value}</Data></Item></Replace>`;

  it('every message of a session is answered with a fresh nonce; sending a captured message again gets 401 and changes nothing', async () => {
    const s = srv.app.services;
    const d = await enrolledWindowsPc(srv, secret);
    const first = await s.windowsCommands.enqueueRaw(
      [d.hardwareUuid],
      replace('./Device/Vendor/MSFT/Policy/Config/Replay/First', '1'),
    );

    // The genuine session: its first package and the Status for the queued command.
    const sentBefore = d.sent.length;
    const receivedBefore = d.received.length;
    expect(await d.runSession()).toEqual({ messages: 2, commandsExecuted: 1, challenged: false });
    const captured = d.sent.slice(sentBefore);
    const answers = d.received.slice(receivedBefore);
    expect(captured).toHaveLength(2);
    expect(captured[1]).toContain(`<CmdRef>${first.command_uuid}</CmdRef>`);
    // Each message carries credentials over the nonce of the answer before it, so they differ.
    expect(credData(captured[0])).toBeTruthy();
    expect(credData(captured[1])).toBeTruthy();
    expect(credData(captured[1])).not.toBe(credData(captured[0]));
    const nonces = answers.map((a) => header(a).nonce);
    expect(answers.map((a) => header(a).hdr.data)).toEqual(['200', '200']);
    expect(nonces.every(Boolean)).toBe(true);
    expect(new Set(nonces).size).toBe(2);
    expect((await s.windowsCommands.results(first.command_uuid))[0].status).toBe('200');

    // An admin queues the next command; a replay must not get it (nor answer it).
    const second = await s.windowsCommands.enqueueRaw(
      [d.hardwareUuid],
      replace('./Device/Vendor/MSFT/Policy/Config/Replay/Second', '2'),
    );
    const before = await snapshot(srv);
    for (const body of captured) {
      const res = await post(srv, body);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(syncml);
      const { m, hdr, nonce } = header(res.text);
      expect(m.header.targetUri).toBe(d.deviceId);
      expect(m.commands).toHaveLength(1);
      expect(hdr).toMatchObject({ verb: 'Status', cmdRef: '0', cmd: 'SyncHdr', data: '401' });
      expect(nonce).toBeTruthy();
      expect(nonces).not.toContain(nonce);
      expect(res.text).not.toContain(second.command_uuid);
    }
    // Without credentials a message is never accepted, mid-session or not: 407 and a challenge.
    const noCred = await post(srv, captured[1].replace(/<Cred>.*<\/Cred>/, ''));
    expect(header(noCred.text).hdr).toMatchObject({ cmdRef: '0', data: '407' });
    expect(header(noCred.text).nonce).toBeTruthy();
    expect(await snapshot(srv)).toEqual(before);
    expect(await s.windowsCommands.results(second.command_uuid)).toMatchObject([
      { host_uuid: d.hardwareUuid, status: 'Pending' },
    ]);

    // The genuine PC's next session is challenged once (the refusals replaced its nonce) and works.
    expect(await d.runSession()).toEqual({ messages: 3, commandsExecuted: 1, challenged: true });
    expect(d.tree.get('./Device/Vendor/MSFT/Policy/Config/Replay/Second')?.data).toBe('2');
    expect((await s.windowsCommands.results(second.command_uuid))[0].status).toBe('200');
  });

  /** A device message answering the given Statuses, with credentials over the PC's current nonce. */
  async function answerWithCurrentNonce(
    d: SimulatedWindowsDevice,
    statuses: { cmdRef: string; cmd: string; code: string }[],
  ): Promise<string> {
    const e = await srv.app.services.windows.store.enrollmentByDeviceId(d.deviceId);
    expect(e?.auth_nonce).toBeTruthy();
    return buildSyncMessage({
      sessionId: '7',
      msgId: '2',
      target: d.managementUrl!,
      source: d.deviceId,
      cred: {
        type: 'syncml:auth-md5',
        format: 'b64',
        data: digestFromHash(credentialsHash(d.deviceId, d.password!), Buffer.from(e!.auth_nonce!)),
      },
      body: [
        statusXml({ cmdId: '1', msgRef: '1', cmdRef: '0', cmd: 'SyncHdr', code: '200' }),
        ...statuses.map((st, i) => statusXml({ cmdId: String(i + 2), msgRef: '1', ...st })),
      ],
    });
  }

  it('of two copies of one message sent at once, exactly one is accepted and stored', async () => {
    const s = srv.app.services;
    const db = s.database.db;
    const d = await enrolledWindowsPc(srv, secret);
    const enrollmentId = (await s.windows.store.enrollmentByDeviceId(d.deviceId))!.id;
    const uri = './Device/Vendor/MSFT/Policy/Config/Replay/Concurrent';
    const add = await s.windowsCommands.enqueueRaw(
      [d.hardwareUuid],
      `<Add><Item><Target><LocURI>${uri}</LocURI></Target><Data>1</Data></Item></Add>`,
    );
    const msg = await answerWithCurrentNonce(d, [{ cmdRef: add.command_uuid, cmd: 'Add', code: '418' }]);
    const responses = async () =>
      (
        await db
          .selectFrom('windows_mdm_responses')
          .select('id')
          .where('enrollment_id', '=', enrollmentId)
          .execute()
      ).length;
    const responsesBefore = await responses();

    const answers = await Promise.all([post(srv, msg), post(srv, msg)]);
    expect(answers.map((a) => a.status)).toEqual([200, 200]);
    expect(answers.map((a) => header(a.text).hdr.data).sort()).toEqual(['200', '401']);
    const refused = answers.find((a) => header(a.text).hdr.data === '401')!;
    expect(parseSyncMessage(refused.text).commands).toHaveLength(1);

    // One message stored, one result, the Replace retry queued once and nothing else owed.
    expect(await responses()).toBe(responsesBefore + 1);
    const results = await db
      .selectFrom('windows_mdm_command_results')
      .select(['command_uuid', 'status_code'])
      .where('enrollment_id', '=', enrollmentId)
      .execute();
    expect(results).toEqual([{ command_uuid: add.command_uuid, status_code: '418' }]);
    const retries = (
      await db.selectFrom('windows_mdm_commands').select(['command_uuid', 'raw_command']).execute()
    ).filter((c) => c.raw_command.includes('<Replace>') && c.raw_command.includes(uri));
    expect(retries).toHaveLength(1);
    expect(
      (
        await db
          .selectFrom('windows_mdm_command_queue')
          .select('command_uuid')
          .where('enrollment_id', '=', enrollmentId)
          .execute()
      ).map((q) => q.command_uuid),
    ).toEqual([retries[0].command_uuid]);

    // The accepted copy used the PC's nonce, so its next session is challenged, then applies the retry.
    expect(await d.runSession()).toMatchObject({ commandsExecuted: 1, challenged: true });
    expect(d.tree.get(uri)?.data).toBe('1');
    expect(
      await db
        .selectFrom('windows_mdm_command_queue')
        .select('command_uuid')
        .where('enrollment_id', '=', enrollmentId)
        .execute(),
    ).toEqual([]);
  });
});
