import { beforeAll, expect, it } from 'vitest';
import type { SimulatedWindowsDevice } from '../../src/windows/sim/device.js';
import { setupAdmin } from '../helpers/api.js';
import { uploadProfile } from '../helpers/profiles.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';
import { enableWindowsMdm } from '../helpers/windowsDevice.js';
import { convergeWindows, enrollPc, syncmlItem, windowsHostRows } from '../helpers/windowsProfiles.js';

const secret = 'windows-418-secret';
const POLICY = './Device/Vendor/MSFT/Policy/Config';

async function resultsOf(srv: TestServer, commandUuid: string) {
  return srv.app.services.database.db
    .selectFrom('windows_mdm_command_results')
    .select('status_code')
    .where('command_uuid', '=', commandUuid)
    .execute();
}

async function commandText(srv: TestServer, commandUuid: string) {
  const c = await srv.app.services.database.db
    .selectFrom('windows_mdm_commands')
    .select('raw_command')
    .where('command_uuid', '=', commandUuid)
    .executeTakeFirstOrThrow();
  return c.raw_command;
}

describeEachDialect(
  'Windows profiles: an Add answered 418 is retried as Replace, and the profile follows the retry',
  (server) => {
    let srv: TestServer;
    let admin = '';
    let d: SimulatedWindowsDevice;

    beforeAll(async () => {
      srv = server();
      admin = await setupAdmin(srv);
      await enableWindowsMdm(srv, secret);
      ({ d } = await enrollPc(srv, secret));
      await d.runSession();
    });

    it('links the retry to the profile row: verifying, then verified, with the retry answered 200', async () => {
      const uri = `${POLICY}/Experience/AllowCortana`;
      d.tree.set(uri, { data: '1', format: 'int' });
      const res = await uploadProfile(srv, admin, {
        name: 'Cortana.xml',
        bytes: `<Add>${syncmlItem(uri, '0')}</Add>`,
      });
      expect(res.status).toBe(200);
      await srv.app.services.windowsProfilesTick();
      const [queued] = await windowsHostRows(srv, d.hardwareUuid);
      expect(queued).toMatchObject({ status: 'pending', retries: 0 });
      const original = queued.command_uuid;

      // One session: the Add is answered 418, the Replace copy goes out in the same answer and is applied.
      await d.runSession();
      expect(d.tree.get(uri)?.data).toBe('0');
      const [row] = await windowsHostRows(srv, d.hardwareUuid);
      expect(row).toMatchObject({ status: 'verifying', retries: 0, detail: null });
      expect(row.command_uuid).not.toBe(original);
      expect(row.command_uuid).toMatch(/^profile-[0-9a-f-]{36}$/);
      expect(await resultsOf(srv, original)).toEqual([{ status_code: '418' }]);
      expect(await resultsOf(srv, row.command_uuid)).toEqual([{ status_code: '200' }]);
      expect(await commandText(srv, row.command_uuid)).toContain('<Replace>');

      await convergeWindows(srv, [d], 2);
      expect((await windowsHostRows(srv, d.hardwareUuid)).map((r) => [r.status, r.detail])).toEqual([
        ['verified', null],
      ]);
    });

    it("fails the profile with the retry's answer when the Replace copy is refused too", async () => {
      const uri = `${POLICY}/Experience/AllowFindMyDevice`;
      // A node that exists and is read-only: Add answers 418 (exists), Replace 405 (not allowed).
      d.tree.set(uri, { data: '1', format: 'int' });
      d.refusals.set(`Replace ${uri}`, '405');
      const res = await uploadProfile(srv, admin, {
        name: 'Find my device.xml',
        bytes: `<Add>${syncmlItem(uri, '0')}</Add>`,
      });
      expect(res.status).toBe(200);
      await srv.app.services.windowsProfilesTick();
      await d.runSession();
      // The first failure is re-sent once (retries 1), the second one fails: both times the 405 of the retry.
      let row = (await windowsHostRows(srv, d.hardwareUuid)).find((r) => r.profile_name === 'Find my device');
      expect(row).toMatchObject({ status: null, retries: 1, detail: `${uri}: status 405` });
      await convergeWindows(srv, [d], 2);
      row = (await windowsHostRows(srv, d.hardwareUuid)).find((r) => r.profile_name === 'Find my device');
      expect(row).toMatchObject({ status: 'failed', retries: 1, detail: `${uri}: status 405` });
      expect(await resultsOf(srv, row!.command_uuid)).toEqual([{ status_code: '405' }]);
      expect(d.tree.get(uri)?.data).toBe('1');
    });
  },
);
