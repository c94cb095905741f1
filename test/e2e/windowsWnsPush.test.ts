import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FakeWnsServer } from '../../src/clients/wns/fakeServer.js';
import { prepareCommand } from '../../src/windows/commands.js';
import { SimulatedWindowsDevice } from '../../src/windows/sim/device.js';
import { api, setupAdmin } from '../helpers/api.js';
import { uploadProfile } from '../helpers/profiles.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';
import { enableWindowsMdm } from '../helpers/windowsDevice.js';

const sid = 'S-1-15-2-4242424242-1111111111-2222222222';
const clientSecret = 'wns-e2e-client-secret';
const pfn = 'Flotilla.MdmPush_8wekyb3d8bbwe';
const enrollSecret = 'wns-push-secret';
const pushBase = './Vendor/MSFT/DMClient/Provider/Fleet/Push';

// The stand-in runs for the whole file: the servers' config points at its token endpoint.
const wns = await FakeWnsServer.start({ packageSid: sid, clientSecret });
afterAll(async () => {
  await wns.close();
});

const exec = (locUri: string) =>
  Buffer.from(`<Exec><Item><Target><LocURI>${locUri}</LocURI></Target></Item></Exec>`).toString('base64');

async function channelRow(srv: TestServer, d: SimulatedWindowsDevice) {
  const { db } = srv.app.services.database;
  return db
    .selectFrom('windows_mdm_push_channels as c')
    .innerJoin('mdm_windows_enrollments as e', 'e.id', 'c.enrollment_id')
    .select([
      'c.pfn',
      'c.channel_uri',
      'c.channel_status',
      'c.checked_at',
      'c.last_push_error',
      'c.push_failures',
    ])
    .where('e.mdm_device_id', '=', d.deviceId)
    .executeTakeFirst();
}

async function enrollmentId(srv: TestServer, d: SimulatedWindowsDevice): Promise<number> {
  const row = await srv.app.services.database.db
    .selectFrom('mdm_windows_enrollments')
    .select('id')
    .where('mdm_device_id', '=', d.deviceId)
    .executeTakeFirstOrThrow();
  return row.id;
}

describeEachDialect(
  'Windows push: a PC woken by WNS fetches its commands at once',
  (server) => {
    let srv: TestServer;
    let admin = '';
    let d: SimulatedWindowsDevice;
    let channel = '';

    const run = async (locUri: string, hostUuid = d.hardwareUuid) => {
      const res = await api(srv, 'POST', '/api/v1/fleet/commands/run', {
        token: admin,
        body: { command: exec(locUri), host_uuids: [hostUuid] },
      });
      expect(res.status).toBe(200);
      return res.body.command_uuid as string;
    };
    const resultStatus = async (commandUuid: string) => {
      const res = await api(srv, 'GET', `/api/v1/fleet/commands/results?command_uuid=${commandUuid}`, {
        token: admin,
      });
      return res.body.results[0].status as string;
    };

    beforeAll(async () => {
      srv = server();
      admin = await setupAdmin(srv);
      await enableWindowsMdm(srv, enrollSecret);
      d = new SimulatedWindowsDevice({ serverUrl: srv.url, enrollSecret, keyBits: 1024, wns });
      await d.orbitEnroll();
      await d.enrollProgrammatically();
    });

    it('asks a new PC for its channel once, stores it, and does not ask again while it is fresh', async () => {
      await d.runSession();
      const row = await channelRow(srv, d);
      channel = row?.channel_uri ?? '';
      expect(row).toMatchObject({ pfn, channel_status: '0', last_push_error: null, push_failures: 0 });
      expect(channel.startsWith(`${wns.url}/w/`)).toBe(true);
      expect(d.tree.get(`${pushBase}/PFN`)?.data).toBe(pfn);
      // Nothing was queued, so nothing was pushed.
      expect(wns.pushesTo(channel)).toHaveLength(0);

      const sentBefore = d.received.length;
      await d.runSession();
      expect(d.received.slice(sentBefore).some((m) => m.includes('/Push/ChannelURI'))).toBe(false);
    });

    it('pushes when an admin queues a command and the PC runs it without polling', async () => {
      const pushes = wns.pushesTo(channel).length;
      const sessions = d.pushedSessions.length;
      const commandUuid = await run('./Device/Vendor/MSFT/Reboot/RebootNow');
      await wns.waitForPush(channel, pushes);
      await d.pushedSessions[sessions];
      expect(d.execs.map((e) => e.locUri)).toContain('./Device/Vendor/MSFT/Reboot/RebootNow');
      expect(await resultStatus(commandUuid)).toBe('200');
      expect(wns.pushesTo(channel)[pushes].headers).toEqual({
        contentType: 'application/octet-stream',
        wnsType: 'wns/raw',
        cachePolicy: 'cache',
      });
      expect((await channelRow(srv, d))?.last_push_error).toBeNull();
    });

    it('coalesces pushes asked for together into one per PC', async () => {
      const s = srv.app.services;
      const id = await enrollmentId(srv, d);
      const cmds = ['./Device/Vendor/MSFT/RemoteFind/Location', './Device/Vendor/MSFT/RemoteRing/Ring'].map(
        (u) => prepareCommand(`<Exec><Item><Target><LocURI>${u}</LocURI></Target></Item></Exec>`),
      );
      for (const c of cmds) await s.windows.store.enqueue([id], c);
      const pushes = wns.pushesTo(channel).length;
      const sessions = d.pushedSessions.length;
      s.windows.push.push([id]);
      s.windows.push.push([id, id]);
      await s.windows.flush();
      await d.pushedSessions[sessions];
      expect(wns.pushesTo(channel).length).toBe(pushes + 1);
      for (const c of cmds) expect(await resultStatus(c.commandUuid)).toBe('200');
    });

    it('pushes what the profile manager queues: the PC applies a new profile at once', async () => {
      const profile = readFileSync(
        new URL('../vectors/windows/fleet_profile_replace_int_BlockMDMUnenrollment.xml', import.meta.url),
      );
      const up = await uploadProfile(srv, admin, { name: 'Block unenroll.xml', bytes: profile });
      expect(up.status).toBe(200);
      const pushes = wns.pushesTo(channel).length;
      const sessions = d.pushedSessions.length;
      await srv.app.services.windowsProfilesTick();
      await wns.waitForPush(channel, pushes);
      await d.pushedSessions[sessions];
      const rows = await srv.app.services.database.db
        .selectFrom('host_mdm_windows_profiles')
        .select(['profile_name', 'status', 'operation_type'])
        .where('host_uuid', '=', d.hardwareUuid)
        .execute();
      expect(rows).toEqual([
        { profile_name: 'Block unenroll', status: 'verifying', operation_type: 'install' },
      ]);
    });

    it('gets a new token once when WNS answers 401, then pushes', async () => {
      const issued = wns.tokensIssued;
      const pushes = wns.pushesTo(channel).length;
      const sessions = d.pushedSessions.length;
      wns.revokeTokens();
      const commandUuid = await run('./Device/Vendor/MSFT/Reboot/RebootNow');
      await wns.waitForPush(channel, pushes);
      await d.pushedSessions[sessions];
      expect(wns.tokensIssued).toBe(issued + 1);
      const statuses = wns.channelRequests.filter((r) => channel.endsWith(r.channelId)).map((r) => r.status);
      expect(statuses.slice(-2)).toEqual([401, 200]);
      expect(await resultStatus(commandUuid)).toBe('200');
    });

    it('wakes a PC again from the re-push cron while its commands are still queued', async () => {
      const s = srv.app.services;
      const row = { id: await enrollmentId(srv, d) };
      // Queued without a push, as if the push had gone out before the queueing transaction committed.
      const cmd = prepareCommand(
        `<Exec><Item><Target><LocURI>./Device/Vendor/MSFT/RemoteFind/Location</LocURI></Target></Item></Exec>`,
      );
      await s.windows.store.enqueue([row.id], cmd);
      await s.database.db
        .updateTable('windows_mdm_push_channels')
        .set({ next_push_at: null })
        .where('enrollment_id', '=', row.id)
        .execute();
      const pushes = wns.pushesTo(channel).length;
      const sessions = d.pushedSessions.length;
      const { finished } = await s.cron.trigger('windows_mdm_wns_pusher');
      await finished;
      await wns.waitForPush(channel, pushes);
      await d.pushedSessions[sessions];
      expect(await resultStatus(cmd.commandUuid)).toBe('200');
      const after = await channelRow(srv, d);
      expect(after?.push_failures).toBe(1);
      // Nothing queued any more: the cron finds nothing to push.
      expect(await s.windows.push.repushPending()).toEqual({ pushed: 0, failed: 0 });
    });

    it('forgets a channel WNS reports expired (410) and asks the PC for it at its next session', async () => {
      wns.expireChannel(channel);
      const commandUuid = await run('./Device/Vendor/MSFT/Reboot/RebootNow');
      await srv.app.services.windows.flush();
      const row = await channelRow(srv, d);
      expect(row).toMatchObject({ channel_uri: null, checked_at: null, last_push_error: 'channel expired' });
      expect(wns.channelRequests.filter((r) => channel.endsWith(r.channelId)).at(-1)?.status).toBe(410);
      // The cron does not push an enrollment without a channel.
      expect(await srv.app.services.windows.push.repushPending()).toEqual({ pushed: 0, failed: 0 });

      // The PC polls: it gets the command and is asked for its (renewed) channel again.
      const before = d.received.length;
      await d.runSession();
      expect(await resultStatus(commandUuid)).toBe('200');
      expect(d.received.slice(before).some((m) => m.includes(`${pushBase}/ChannelURI`))).toBe(true);
      expect((await channelRow(srv, d))?.channel_uri).toBe(channel);
    });

    it('refuses a ChannelURI outside the allowed WNS hosts and never contacts it', async () => {
      const contacted = wns.channelRequests.length;
      const rogue = new SimulatedWindowsDevice({
        serverUrl: srv.url,
        enrollSecret,
        keyBits: 1024,
        // The PC reports a URI on a host the server does not allow (same stand-in, another name).
        wns: {
          registerChannel: (p, onPush) => wns.registerChannel(p, onPush).replace('127.0.0.1', 'localhost'),
        },
      });
      await rogue.orbitEnroll();
      await rogue.enrollProgrammatically();
      await rogue.runSession();
      expect(rogue.tree.get(`${pushBase}/ChannelURI`)?.data.startsWith('http://localhost:')).toBe(true);
      const row = await channelRow(srv, rogue);
      expect(row).toMatchObject({ pfn, channel_uri: null, channel_status: '0' });

      const commandUuid = await run('./Device/Vendor/MSFT/Reboot/RebootNow', rogue.hardwareUuid);
      await srv.app.services.windows.flush();
      expect(wns.channelRequests.length).toBe(contacted);
      expect(rogue.pushedSessions).toHaveLength(0);
      expect(await resultStatus(commandUuid)).toBe('Pending');
    });
  },
  {
    windowsWnsPackageSid: sid,
    windowsWnsClientSecret: clientSecret,
    windowsWnsPfn: pfn,
    windowsWnsTokenUrl: wns.tokenUrl,
    windowsWnsAllowedHosts: '127.0.0.1',
    windowsWnsAllowHttp: true,
    // Long enough for the profile manager's transaction to commit before its push goes out.
    windowsWnsCoalesceMs: 200,
  },
);
