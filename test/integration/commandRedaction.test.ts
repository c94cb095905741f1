import { afterAll, expect, it } from 'vitest';
import { buildCommandPlist } from '../../src/apple/commands/build.js';
import { parsePlistDict } from '../../src/apple/plist/parse.js';
import { api, setupAdmin } from '../helpers/api.js';
import { apiUser, createTeam } from '../helpers/adminFixtures.js';
import { installPushCertificate, startFakeApns } from '../helpers/apns.js';
import { enrolledDevice, testTopic } from '../helpers/appleDevice.js';
import { describeEachDialect } from '../helpers/testServer.js';

const apns = await startFakeApns();
afterAll(() => apns.fake.close());

const v1 = '/api/v1/fleet';
const b64 = (b: Buffer | string) => Buffer.from(b).toString('base64');

/** The text and everything base64 inside it, decoded (two levels: a plist's <data> inside base64). */
function everyReading(text: string, depth = 2): string[] {
  const out = [text];
  if (depth === 0) return out;
  for (const token of text.match(/[A-Za-z0-9+/]{8,}={0,2}/g) ?? []) {
    out.push(...everyReading(Buffer.from(token, 'base64').toString('latin1'), depth - 1));
  }
  return out;
}

/** Whether a secret shows up in a response, in clear or base64-encoded anywhere in it. */
function leaks(text: string, secret: string): boolean {
  if (text.includes(secret) || text.includes(b64(secret))) return true;
  return everyReading(text).some((t) => t.includes(secret));
}

type Who = 'admin' | 'maintainer' | 'teamMaintainer' | 'observer' | 'observer_plus' | 'teamObserver';
const mayUnlock: Who[] = ['admin', 'maintainer', 'teamMaintainer'];
const mayNotUnlock: Who[] = ['observer', 'observer_plus', 'teamObserver'];

const recoveryNew = 'Recovery-New-Secret-7431';
const recoveryOld = 'Recovery-Old-Secret-9902';
const bypassCode = 'BYPASS-K9QX-7T2M-44PL';

describeEachDialect(
  'command payloads and results: secrets only for callers who may unlock or wipe',
  (server) => {
    const tokens = {} as Record<Who, string>;
    let hostId = 0;
    let udid = '';
    let pin = '';
    let lockUuid = '';
    let recoveryUuid = '';
    let bypassUuid = '';
    let listUuid = '';

    // Every test needs the locked Mac and its commands: the first test makes them, or the first
    // test that runs when it is skipped.
    let locked: Promise<void> | undefined;
    const lockedMac = () => (locked ??= lockMacAndRunCommands());

    it('locks a team Mac as admin and runs secret-carrying commands on it', () => lockedMac());

    async function lockMacAndRunCommands(): Promise<void> {
      const srv = server();
      const s = srv.app.services;
      tokens.admin = await setupAdmin(srv);
      await installPushCertificate(s, { topic: testTopic });
      const teamId = await createTeam(srv, tokens.admin, 'Redaction team');
      const otherTeam = await createTeam(srv, tokens.admin, 'Other team');
      tokens.maintainer = (await apiUser(srv, tokens.admin, 'Maint', { global_role: 'maintainer' })).token;
      tokens.observer = (await apiUser(srv, tokens.admin, 'Obs', { global_role: 'observer' })).token;
      tokens.observer_plus = (
        await apiUser(srv, tokens.admin, 'ObsPlus', { global_role: 'observer_plus' })
      ).token;
      tokens.teamMaintainer = (
        await apiUser(srv, tokens.admin, 'TeamMaint', {
          teams: [
            { id: teamId, role: 'maintainer' },
            { id: otherTeam, role: 'observer' },
          ],
        })
      ).token;
      tokens.teamObserver = (
        await apiUser(srv, tokens.admin, 'TeamObs', {
          teams: [
            { id: teamId, role: 'observer' },
            { id: otherTeam, role: 'maintainer' },
          ],
        })
      ).token;

      const d = await enrolledDevice(srv, { deviceName: 'Redaction Mac' });
      udid = d.udid;
      hostId = (await s.hostStore.findByUuid(udid))!.id;
      const moved = await api(srv, 'POST', `${v1}/hosts/transfer`, {
        token: tokens.admin,
        body: { team_id: teamId, hosts: [hostId] },
      });
      expect(moved.status).toBe(200);

      const lock = await api(srv, 'POST', `${v1}/hosts/${hostId}/lock?view_pin=true`, {
        token: tokens.admin,
      });
      expect(lock.status).toBe(200);
      pin = lock.body.unlock_pin;
      expect(pin).toMatch(/^\d{6}$/);

      const run = async (requestType: string, fields: Record<string, unknown>) => {
        const res = await api(srv, 'POST', `${v1}/commands/run`, {
          token: tokens.admin,
          body: { command: b64(buildCommandPlist(requestType, fields).plist), host_uuids: [udid] },
        });
        expect(res.status).toBe(200);
        return res.body.command_uuid as string;
      };
      recoveryUuid = await run('SetRecoveryLock', { CurrentPassword: recoveryOld, NewPassword: recoveryNew });
      bypassUuid = await run('ActivationLockBypassCode', {});
      listUuid = await run('ProfileList', { ManagedOnly: false });

      const handled = await d.connect();
      expect(handled.map((c) => c.requestType)).toEqual([
        'DeviceLock',
        'SetRecoveryLock',
        'ActivationLockBypassCode',
        'ProfileList',
      ]);
      lockUuid = handled[0].commandUuid;
      // The device's answer to ActivationLockBypassCode carries the code (the simulator omits it).
      const answer = Buffer.from(
        `<?xml version="1.0" encoding="UTF-8"?><plist version="1.0"><dict><key>ActivationLockBypassCode</key><string>${bypassCode}</string><key>CommandUUID</key><string>${bypassUuid}</string><key>Status</key><string>Acknowledged</string><key>UDID</key><string>${udid}</string></dict></plist>`,
      );
      await s.database.db
        .updateTable('nano_command_results')
        .set({ result: answer })
        .where('command_uuid', '=', bypassUuid)
        .execute();
    }

    const results = (who: Who, uuid: string, path = `${v1}/commands/results`) =>
      api(server(), 'GET', `${path}?command_uuid=${uuid}`, { token: tokens[who] });

    const commandOf = (row: { payload: string }) =>
      parsePlistDict(Buffer.from(row.payload, 'base64')).Command as Record<string, unknown>;

    it('lists commands without the PIN for every role', async () => {
      await lockedMac();
      for (const who of [...mayUnlock, ...mayNotUnlock]) {
        const list = await api(server(), 'GET', `${v1}/commands?host_identifier=${udid}`, {
          token: tokens[who],
        });
        expect(list.status, who).toBe(200);
        expect(list.body.results.map((r: { command_uuid: string }) => r.command_uuid)).toContain(lockUuid);
        for (const secret of [pin, recoveryNew, recoveryOld, bypassCode]) {
          expect(leaks(list.text, secret), `${who} ${secret}`).toBe(false);
        }
      }
    });

    it('shows the lock PIN and other secrets to admins and maintainers', async () => {
      await lockedMac();
      for (const who of mayUnlock) {
        const lock = await results(who, lockUuid);
        expect(lock.status, who).toBe(200);
        expect(lock.body.results).toHaveLength(1);
        expect(commandOf(lock.body.results[0])).toMatchObject({ RequestType: 'DeviceLock', PIN: pin });
        expect(lock.text).toContain(b64(buildCommandPlist('DeviceLock', { PIN: pin }, lockUuid).plist));

        const recovery = await results(who, recoveryUuid);
        expect(commandOf(recovery.body.results[0])).toMatchObject({
          CurrentPassword: recoveryOld,
          NewPassword: recoveryNew,
        });
        const bypass = await results(who, bypassUuid);
        const answer = parsePlistDict(Buffer.from(bypass.body.results[0].result, 'base64'));
        expect(answer.ActivationLockBypassCode).toBe(bypassCode);
      }
    });

    it('redacts the PIN, passwords and bypass code for roles that may not unlock or wipe', async () => {
      await lockedMac();
      for (const who of mayNotUnlock) {
        for (const path of [`${v1}/commands/results`, `${v1}/mdm/apple/commandresults`]) {
          const lock = await results(who, lockUuid, path);
          expect(lock.status, who).toBe(200);
          expect(lock.body.results).toHaveLength(1);
          const row = lock.body.results[0];
          expect(row).toMatchObject({
            host_uuid: udid,
            command_uuid: lockUuid,
            status: 'Acknowledged',
            request_type: 'DeviceLock',
          });
          expect(leaks(lock.text, pin), `${who} sees the PIN at ${path}`).toBe(false);
          // Still a well-formed plist, with the value replaced.
          expect(commandOf(row)).toEqual({ RequestType: 'DeviceLock', PIN: '******' });
          expect(parsePlistDict(Buffer.from(row.payload, 'base64')).CommandUUID).toBe(lockUuid);
        }

        const recovery = await results(who, recoveryUuid);
        expect(recovery.status).toBe(200);
        for (const secret of [recoveryNew, recoveryOld])
          expect(leaks(recovery.text, secret), who).toBe(false);
        expect(commandOf(recovery.body.results[0])).toEqual({
          RequestType: 'SetRecoveryLock',
          CurrentPassword: '******',
          NewPassword: '******',
        });

        const bypass = await results(who, bypassUuid);
        expect(bypass.status).toBe(200);
        expect(leaks(bypass.text, bypassCode), who).toBe(false);
        const answer = parsePlistDict(Buffer.from(bypass.body.results[0].result, 'base64'));
        expect(answer).toMatchObject({ ActivationLockBypassCode: '******', Status: 'Acknowledged' });
      }
    });

    it('leaves commands without secrets byte for byte as stored', async () => {
      await lockedMac();
      const admin = await results('admin', listUuid);
      for (const who of mayNotUnlock) {
        const mine = await results(who, listUuid);
        expect(mine.status).toBe(200);
        expect(mine.body).toEqual(admin.body);
      }
    });

    it('still lets only admins and maintainers see the PIN through unlock', async () => {
      await lockedMac();
      for (const who of mayNotUnlock) {
        const res = await api(server(), 'POST', `${v1}/hosts/${hostId}/unlock`, { token: tokens[who] });
        expect(res.status, who).toBe(403);
        expect(leaks(res.text, pin)).toBe(false);
      }
    });
  },
  apns.overrides,
);
