import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it, vi } from 'vitest';
import { buildCommandPlist } from '../../src/apple/commands/build.js';
import { parsePlistDict } from '../../src/apple/plist/parse.js';
import { issueDeviceIdentity, quickDevice, enrolledDevice, testTopic } from '../helpers/appleDevice.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const vectors = join(import.meta.dirname, '../vectors/apple');
const vector = (name: string) => readFileSync(join(vectors, name));
const checkinType = 'application/x-apple-aspen-mdm-checkin';
const reportType = 'application/x-apple-aspen-mdm; charset=UTF-8';

async function enrollment(srv: TestServer, id: string) {
  return srv.app.services.database.db
    .selectFrom('nano_enrollments')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirst();
}

async function queueRows(srv: TestServer, id: string) {
  return srv.app.services.database.db
    .selectFrom('nano_enrollment_queue')
    .select(['command_uuid', 'active'])
    .where('id', '=', id)
    .orderBy('created_at')
    .execute();
}

describeEachDialect('Apple check-in: vectors, lifecycle, Authenticate cases', (server) => {
  it('answers the NanoMDM sample messages and stores what they carry', async () => {
    const srv = server();
    const mac = await quickDevice(srv, { udid: '66ADE930-5FDF-5EC4-8429-15640684C489' });
    const auth = await mac.send(
      mac.serverUrl,
      checkinType,
      vector('checkin-Authenticate-macos.nanomdm.plist'),
    );
    expect(auth.status).toBe(200);
    expect(auth.body.length).toBe(0);
    const device = await srv.app.services.appleEnrollments.getDevice('66ADE930-5FDF-5EC4-8429-15640684C489');
    expect(device).toMatchObject({ serial_number: 'C02MT66KFLHH', platform: 'darwin' });
    expect(device!.authenticate).toBe(vector('checkin-Authenticate-macos.nanomdm.plist').toString('utf8'));

    const tu = await mac.send(mac.serverUrl, checkinType, vector('checkin-TokenUpdate-macos.nanomdm.plist'));
    expect(tu.status).toBe(200);
    const e = await enrollment(srv, '66ADE930-5FDF-5EC4-8429-15640684C489');
    expect(e).toMatchObject({ type: 'Device', token_update_tally: 1 });
    expect(Number(e!.enabled)).toBe(1);
    expect(e!.token_hex).toMatch(/^1ba7c900.*42cc$/);

    // MDM turned on: a host with the UDID, serial and platform; host_mdm enrolled.
    const host = await srv.app.services.hostStore.findByUuid('66ADE930-5FDF-5EC4-8429-15640684C489');
    expect(host).toMatchObject({
      hardware_serial: 'C02MT66KFLHH',
      platform: 'darwin',
      hardware_model: 'iMac14,2',
      computer_name: 'Fruit',
    });
    expect(host!.last_enrolled_at > '2001').toBe(true);
    expect(await srv.app.services.hostStore.getHostMdm(host!.id)).toMatchObject({
      enrolled: true,
      mdm_name: 'Fleet',
    });

    // The DeviceInformation report vector answers a command queued with its CommandUUID.
    const cmd = buildCommandPlist(
      'DeviceInformation',
      { Queries: ['HostName'] },
      '76eda240-5488-4989-8339-f2ae160113c4',
    );
    await srv.app.services.appleQueue.enqueue([mac.udid], {
      commandUuid: cmd.commandUuid,
      requestType: 'DeviceInformation',
      plist: cmd.plist,
    });
    const idle = await mac.send(
      mac.serverUrl,
      reportType,
      Buffer.from(
        `<?xml version="1.0"?><plist version="1.0"><dict><key>UDID</key><string>${mac.udid}</string><key>Status</key><string>Idle</string></dict></plist>`,
      ),
    );
    expect(parsePlistDict(idle.body).CommandUUID).toBe(cmd.commandUuid);
    const report = vector('report-DeviceInformation-acknowledged.nanomdm.plist');
    const ack = await mac.send(mac.serverUrl, reportType, report);
    expect(ack.status).toBe(200);
    expect(ack.body.length).toBe(0);
    const results = await srv.app.services.appleQueue.commandResults(cmd.commandUuid);
    expect(results).toHaveLength(1);
    expect(results[0]).toMatchObject({
      status: 'Acknowledged',
      requestType: 'DeviceInformation',
      hostUuid: mac.udid,
    });
    expect(results[0].raw.equals(report)).toBe(true);
    expect((await srv.app.services.hostStore.findByUuid(mac.udid))!.hostname).toBe('fruit.example.com');
  });

  it('classifies an iPad from its Authenticate and keeps its unlock token', async () => {
    const srv = server();
    const udid = vector('checkin-Authenticate-ipad.nanomdm.plist')
      .toString()
      .match(/<key>UDID<\/key>\s*<string>([^<]+)/)![1];
    const ipad = await quickDevice(srv, { udid });
    expect(
      (await ipad.send(ipad.serverUrl, checkinType, vector('checkin-Authenticate-ipad.nanomdm.plist')))
        .status,
    ).toBe(200);
    expect(
      (
        await ipad.send(
          ipad.serverUrl,
          checkinType,
          vector('checkin-TokenUpdate-ipad-unlocktoken.nanomdm.plist'),
        )
      ).status,
    ).toBe(200);
    const row = await srv.app.services.database.db
      .selectFrom('nano_devices')
      .select(['platform', 'unlock_token'])
      .where('id', '=', udid)
      .executeTakeFirst();
    expect(row!.platform).toBe('ipados');
    expect(Buffer.from(row!.unlock_token!).length).toBeGreaterThan(100);
    expect((await srv.app.services.hostStore.findByUuid(udid))!.platform).toBe('ipados');
  });

  it('turns MDM on only at the first TokenUpdate after Authenticate and emits onEnrolled once', async () => {
    const srv = server();
    const seen: string[] = [];
    srv.app.services.appleMdmEvents.onEnrolled(async (e) => {
      seen.push(e.hostUuid);
    });
    const d = await enrolledDevice(srv, { platform: 'ios' });
    await d.tokenUpdate(); // a token refresh: not a new enrollment
    expect(seen.filter((u) => u === d.udid)).toHaveLength(1);
    expect((await enrollment(srv, d.udid))!.token_update_tally).toBe(2);
    const host = await srv.app.services.hostStore.findByUuid(d.udid);
    expect(host).toMatchObject({ platform: 'ios', hardware_serial: d.serial, hardware_model: 'iPhone15,2' });
  });

  it('a true re-enrollment resets the queue and tokens; a renewal and a migration do not', async () => {
    const srv = server();
    const { db } = srv.app.services.database;
    const queue = srv.app.services.appleQueue;
    const queueOne = async (udid: string) => {
      const c = buildCommandPlist('ProfileList', {});
      await queue.enqueue([udid], { commandUuid: c.commandUuid, requestType: 'ProfileList', plist: c.plist });
      return c.commandUuid;
    };

    // Re-enrollment: a new identity with the fresh-enrollment OU, issued for this device (a
    // re-enrollment profile's bound challenge).
    const a = await enrolledDevice(srv);
    await a.checkin({
      MessageType: 'SetBootstrapToken',
      UDID: a.udid,
      BootstrapToken: Buffer.from('bootstrap-secret'),
    });
    const aCmd = await queueOne(a.udid);
    a.identity = await issueDeviceIdentity(srv, undefined, undefined, { boundDeviceId: a.udid });
    await a.authenticate();
    expect(await queueRows(srv, a.udid)).toEqual([{ command_uuid: aCmd, active: expect.anything() }]);
    expect(Number((await queueRows(srv, a.udid))[0].active)).toBe(0);
    expect(Number((await enrollment(srv, a.udid))!.enabled)).toBe(0);
    expect(await srv.app.services.appleEnrollments.getBootstrapToken(a.udid)).toBeNull();
    await a.tokenUpdate();
    expect((await enrollment(srv, a.udid))!.token_update_tally).toBe(1);
    expect(await a.connect()).toEqual([]);

    // Renewal: the server asked for it (renew marker) and the new identity, issued for this device,
    // has no fresh OU.
    const b = await enrolledDevice(srv);
    await b.checkin({
      MessageType: 'SetBootstrapToken',
      UDID: b.udid,
      BootstrapToken: Buffer.from('bootstrap-b'),
    });
    const bCmd = await queueOne(b.udid);
    const renewCmd = buildCommandPlist('InstallProfile', { Payload: Buffer.from('renewal') });
    await queue.enqueue([], {
      commandUuid: renewCmd.commandUuid,
      requestType: 'InstallProfile',
      plist: renewCmd.plist,
    });
    const oldSha = (
      await db
        .selectFrom('nano_cert_auth_associations')
        .select('sha256')
        .where('id', '=', b.udid)
        .executeTakeFirstOrThrow()
    ).sha256;
    await srv.app.services.appleEnrollments.markRenewal(b.udid, oldSha, renewCmd.commandUuid);
    b.identity = await issueDeviceIdentity(srv, { CN: 'Fleet Identity', O: 'Fleet' }, undefined, {
      boundDeviceId: b.udid,
    });
    await b.authenticate();
    await b.tokenUpdate();
    const be = await enrollment(srv, b.udid);
    expect(Number(be!.enabled)).toBe(1);
    expect(be!.token_update_tally).toBe(2);
    expect(await srv.app.services.appleEnrollments.getBootstrapToken(b.udid)).not.toBeNull();
    expect(await srv.app.services.appleEnrollments.renewalInProgress(b.udid)).toBe(false);
    expect(
      (await db.selectFrom('nano_cert_auth_associations').select('sha256').where('id', '=', b.udid).execute())
        .length,
    ).toBe(2);
    expect((await b.connect()).map((c) => c.commandUuid)).toEqual([bCmd]);
    // The old certificate still identifies the device (until it expires).

    // Migration: an enrollment imported from another server keeps its queue and tokens once.
    const c = await enrolledDevice(srv);
    const cCmd = await queueOne(c.udid);
    await db
      .updateTable('nano_enrollments')
      .set({ enrolled_from_migration: 1 })
      .where('id', '=', c.udid)
      .execute();
    c.identity = await issueDeviceIdentity(srv);
    await c.authenticate();
    const ce = await enrollment(srv, c.udid);
    expect(Number(ce!.enabled)).toBe(1);
    expect(Number(ce!.enrolled_from_migration)).toBe(0);
    expect((await c.connect()).map((x) => x.commandUuid)).toEqual([cCmd]);
  });

  it('CheckOut turns MDM off; deleting the host removes its enrollment state', async () => {
    const srv = server();
    const { db } = srv.app.services.database;
    const out: string[] = [];
    srv.app.services.appleMdmEvents.onCheckedOut(async (e) => {
      out.push(e.hostUuid);
    });
    const d = await enrolledDevice(srv);
    const host = await srv.app.services.hostStore.findByUuid(d.udid);
    await d.checkOut();
    expect(Number((await enrollment(srv, d.udid))!.enabled)).toBe(0);
    expect((await srv.app.services.hostStore.getHostMdm(host!.id))!.enrolled).toBe(false);
    expect(out).toEqual([d.udid]);

    // Enroll again, queue something, then delete the host through the host service.
    d.identity = await issueDeviceIdentity(srv);
    await d.authenticate();
    await d.tokenUpdate();
    const c = buildCommandPlist('DeviceInformation', { Queries: ['DeviceName'] });
    await srv.app.services.appleQueue.enqueue([d.udid], {
      commandUuid: c.commandUuid,
      requestType: 'DeviceInformation',
      plist: c.plist,
    });
    await db
      .insertInto('host_mdm_actions')
      .values({ host_id: host!.id, lock_ref: 'x', fleet_platform: 'darwin' })
      .execute();
    await srv.app.services.hostEvents.emitHostsDeleted([{ id: host!.id, uuid: d.udid, platform: 'darwin' }]);
    for (const table of ['nano_enrollments', 'nano_devices', 'nano_cert_auth_associations'] as const) {
      expect(await db.selectFrom(table).select('id').where('id', '=', d.udid).execute()).toEqual([]);
    }
    expect(await queueRows(srv, d.udid)).toEqual([]);
    expect(
      await db.selectFrom('host_mdm_actions').select('host_id').where('host_id', '=', host!.id).execute(),
    ).toEqual([]);
    // The device's next check-in is refused (its certificate is no longer known).
    await expect(d.connect()).rejects.toThrow(/HTTP 400/);
  });

  it('answers UserAuthenticate, bootstrap tokens, GetToken, DDM without a handler and ReturnToService', async () => {
    const srv = server();
    const d = await enrolledDevice(srv);
    const first = await d.checkin({
      MessageType: 'UserAuthenticate',
      UDID: d.udid,
      UserID: 'USER-1',
      UserShortName: 'ann',
    });
    expect(parsePlistDict(first)).toEqual({ DigestChallenge: '' });
    expect(
      (
        await d.checkin({
          MessageType: 'UserAuthenticate',
          UDID: d.udid,
          UserID: 'USER-1',
          DigestResponse: '',
        })
      ).length,
    ).toBe(0);
    // The user channel's TokenUpdate creates the `UDID:UserID` enrollment without turning anything on.
    await d.checkin({
      MessageType: 'TokenUpdate',
      UDID: d.udid,
      UserID: 'USER-1',
      UserShortName: 'ann',
      Topic: testTopic,
      Token: Buffer.alloc(32, 7),
      PushMagic: 'user-magic',
    });
    expect(await enrollment(srv, `${d.udid}:USER-1`)).toMatchObject({
      type: 'User',
      user_id: 'USER-1',
      device_id: d.udid,
    });

    expect((await d.checkin({ MessageType: 'GetBootstrapToken', UDID: d.udid })).length).toBe(0);
    await d.checkin({
      MessageType: 'SetBootstrapToken',
      UDID: d.udid,
      BootstrapToken: Buffer.from('the-token'),
    });
    const got = parsePlistDict(await d.checkin({ MessageType: 'GetBootstrapToken', UDID: d.udid }));
    expect(Buffer.isBuffer(got.BootstrapToken) && got.BootstrapToken.toString()).toBe('the-token');
    await d.checkin({ MessageType: 'SetBootstrapToken', UDID: d.udid });
    expect(await srv.app.services.appleEnrollments.getBootstrapToken(d.udid)).toBeNull();

    await expect(
      d.checkin({ MessageType: 'GetToken', UDID: d.udid, TokenServiceType: 'com.apple.maid' }),
    ).rejects.toThrow(/HTTP 500/);
    await expect(
      d.checkin({ MessageType: 'GetToken', UDID: d.udid, TokenServiceType: 'com.apple.watch.pairing' }),
    ).rejects.toThrow(/HTTP 400/);

    const tokens = JSON.parse(
      (
        await d.checkin({ MessageType: 'DeclarativeManagement', UDID: d.udid, Endpoint: 'tokens' })
      ).toString(),
    );
    expect(tokens.SyncTokens.DeclarationsToken).toBe('');
    expect(tokens.SyncTokens.Timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const items = JSON.parse(
      (
        await d.checkin({ MessageType: 'DeclarativeManagement', UDID: d.udid, Endpoint: 'declaration-items' })
      ).toString(),
    );
    expect(items.Declarations).toEqual({ Activations: [], Configurations: [], Assets: [], Management: [] });
    await expect(
      d.checkin({
        MessageType: 'DeclarativeManagement',
        UDID: d.udid,
        Endpoint: 'declaration/configuration/x',
      }),
    ).rejects.toThrow(/HTTP 404/);
    await expect(
      d.checkin({ MessageType: 'DeclarativeManagement', UDID: d.udid, Endpoint: 'nope' }),
    ).rejects.toThrow(/HTTP 400/);

    const rts = parsePlistDict(await d.checkin({ MessageType: 'ReturnToService', UDID: d.udid }));
    expect(rts).toEqual({ ReturnToService: { Enabled: false } });
  });

  it('hands DeclarativeManagement to the declarations service it was built with', async () => {
    const srv = server();
    const d = await enrolledDevice(srv);
    const calls: string[] = [];
    const spy = vi.spyOn(srv.app.services.declarativeManagement, 'handle').mockImplementation(async (req) => {
      calls.push(`${req.hostUuid} ${req.endpoint} ${req.data?.toString() ?? ''}`);
      return { status: 200, body: '{"ok":true}', contentType: 'application/json' };
    });
    try {
      const body = await d.checkin({
        MessageType: 'DeclarativeManagement',
        UDID: d.udid,
        Endpoint: 'status',
        Data: Buffer.from('{"StatusItems":{}}'),
      });
      expect(JSON.parse(body.toString())).toEqual({ ok: true });
      expect(calls).toEqual([`${d.udid} status {"StatusItems":{}}`]);
    } finally {
      spy.mockRestore();
    }
  });
});
