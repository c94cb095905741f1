import { randomUUID } from 'node:crypto';
import { beforeAll, expect, it } from 'vitest';
import { dbNow } from '../../src/db/dialect.js';
import { setupAdmin } from '../helpers/api.js';
import { enrolledDevice } from '../helpers/appleDevice.js';
import { enrollAgent, osquery, writeBody } from '../helpers/osqueryAgent.js';
import { appleHostRows, mobileconfig, uploadProfile } from '../helpers/profiles.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const secret = 'osquery-profiles-global-secret';

async function readQueries(srv: TestServer, nodeKey: string): Promise<Record<string, string>> {
  const res = await osquery(srv, 'distributed/read', { node_key: nodeKey });
  expect(res.status).toBe(200);
  return res.body.queries;
}

/** mdm_bridge's answer to a read-back: one Status (and Results when 2xx) per CmdID. */
function bridgeAnswer(reads: { cmdId: string; locUri: string; code: string; data?: string }[]): string {
  const cmds = reads
    .map((r, i) => {
      const status = `<Status><CmdID>${2 * i + 2}</CmdID><MsgRef>1</MsgRef><CmdRef>${r.cmdId}</CmdRef><Cmd>Get</Cmd><Data>${r.code}</Data></Status>`;
      const results =
        r.data === undefined
          ? ''
          : `<Results><CmdID>${2 * i + 3}</CmdID><MsgRef>1</MsgRef><CmdRef>${r.cmdId}</CmdRef><Item><Source><LocURI>${r.locUri}</LocURI></Source><Meta><Format xmlns="syncml:metinf">int</Format></Meta><Data>${r.data}</Data></Item></Results>`;
      return status + results;
    })
    .join('');
  return `<?xml version="1.0" encoding="utf-16"?><SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD></SyncHdr><SyncBody><Status><CmdID>1</CmdID><MsgRef>1</MsgRef><CmdRef>0</CmdRef><Cmd>SyncHdr</Cmd><Data>200</Data></Status>${cmds}</SyncBody></SyncML>`;
}

describeEachDialect(
  'osquery profile checks feed the MDM verifiers',
  (server) => {
    let admin = '';

    beforeAll(async () => {
      const srv = server();
      admin = await setupAdmin(srv);
      await srv.app.services.enrollSecrets.replace(null, null, [secret]);
      await srv.app.services.appConfig.patch({
        mdm: { enabled_and_configured: true, windows_enabled_and_configured: true },
      });
    });

    it('macOS: a listed profile goes verifying → verified, a missing one back to pending after the grace period', async () => {
      const srv = server();
      const mac = await enrolledDevice(srv);
      for (const id of ['com.osq.present', 'com.osq.missing']) {
        const res = await uploadProfile(srv, admin, {
          name: `${id}.mobileconfig`,
          bytes: mobileconfig(id, id),
        });
        expect(res.status).toBe(200);
      }
      await srv.app.services.profileManager.tick();
      await mac.connect();
      const before = await appleHostRows(srv, mac.udid);
      expect(before.map((r) => [r.profile_identifier, r.status])).toEqual([
        ['com.osq.missing', 'verifying'],
        ['com.osq.present', 'verifying'],
      ]);

      const agent = await enrollAgent(srv, secret, { uuid: mac.udid });
      const queries = await readQueries(srv, agent.nodeKey);
      expect(queries.fleet_detail_query_mdm_config_profiles_darwin).toContain('FROM macos_profiles');
      const res = await osquery(
        srv,
        'distributed/write',
        writeBody(agent.nodeKey, {
          fleet_detail_query_mdm_config_profiles_darwin: [
            {
              display_name: 'present',
              identifier: 'com.osq.present',
              install_date: '2024-01-15 10:22:03 +0000',
            },
            { display_name: 'Enrollment', identifier: 'com.fleetdm.fleet.mdm.apple', install_date: '' },
          ],
        }),
      );
      expect(res.status).toBe(200);
      const after = await appleHostRows(srv, mac.udid);
      expect(after.map((r) => [r.profile_identifier, r.status, Number(r.retries)])).toEqual([
        ['com.osq.missing', null, 1],
        ['com.osq.present', 'verified', 0],
      ]);
      expect(after[0].detail).toBe('The profile was acknowledged but is no longer installed on the host.');
    });

    it('macOS: no rows (the table is missing) changes nothing', async () => {
      const srv = server();
      const mac = await enrolledDevice(srv);
      await uploadProfile(srv, admin, {
        name: 'keep.mobileconfig',
        bytes: mobileconfig('com.osq.keep', 'keep'),
      });
      await srv.app.services.profileManager.tick();
      await mac.connect();
      const before = await appleHostRows(srv, mac.udid);
      const agent = await enrollAgent(srv, secret, { uuid: mac.udid });
      await osquery(
        srv,
        'distributed/write',
        writeBody(agent.nodeKey, { fleet_detail_query_mdm_config_profiles_darwin: [] }),
      );
      expect(await appleHostRows(srv, mac.udid)).toEqual(before);
    });

    it('Windows: the mdm_bridge read-back verifies a profile, and a differing value outside the grace period sends it again', async () => {
      const srv = server();
      const agent = await enrollAgent(srv, secret, { platform: 'windows' });
      const { db } = srv.app.services.database;
      const profileUuid = `w${randomUUID()}`;
      const locUri = './Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera';
      const now = dbNow();
      await db
        .insertInto('mdm_windows_configuration_profiles')
        .values({
          profile_uuid: profileUuid,
          team_id: 0,
          name: `Camera ${profileUuid}`,
          syncml: `<Replace><Item><Target><LocURI>${locUri}</LocURI></Target><Meta><Format xmlns="syncml:metinf">int</Format></Meta><Data>0</Data></Item></Replace>`,
          checksum: 'sum-1',
          created_at: now,
          uploaded_at: now,
        })
        .execute();
      await db
        .insertInto('host_mdm_windows_profiles')
        .values({
          host_uuid: agent.uuid,
          profile_uuid: profileUuid,
          profile_name: 'Camera',
          status: 'verifying',
          operation_type: 'install',
          command_uuid: 'profile-install-1',
          checksum: 'sum-1',
          created_at: now,
          updated_at: now,
        })
        .execute();
      const row = () =>
        db
          .selectFrom('host_mdm_windows_profiles')
          .select(['status', 'retries', 'detail'])
          .where('host_uuid', '=', agent.uuid)
          .executeTakeFirstOrThrow();

      const query = (await readQueries(srv, agent.nodeKey)).fleet_detail_query_mdm_config_profiles_windows;
      // The Policy CSP is read at its Result twin, one Get per LocURI with an integer CmdID.
      const get = query.match(
        /^SELECT raw_mdm_command_output FROM mdm_bridge WHERE mdm_command_input = '<SyncBody><Get><CmdID>(\d+)<\/CmdID><Item><Target><LocURI>(.*)<\/LocURI><\/Target><\/Item><\/Get><\/SyncBody>';$/,
      );
      expect(get?.[2]).toBe('./Device/Vendor/MSFT/Policy/Result/Camera/AllowCamera');
      const cmdId = get![1];
      const answer = (data: string) =>
        writeBody(agent.nodeKey, {
          fleet_detail_query_mdm_config_profiles_windows: [
            { raw_mdm_command_output: bridgeAnswer([{ cmdId, locUri: get![2], code: '200', data }]) },
          ],
        });

      expect((await osquery(srv, 'distributed/write', answer('0'))).status).toBe(200);
      expect(await row()).toMatchObject({ status: 'verified', retries: 0 });

      // A differing value within the grace period after the install is not held against the host.
      await db
        .updateTable('host_mdm_windows_profiles')
        .set({ status: 'verifying' })
        .where('host_uuid', '=', agent.uuid)
        .execute();
      await osquery(srv, 'distributed/write', answer('1'));
      expect(await row()).toMatchObject({ status: 'verifying' });
      await db
        .updateTable('host_mdm_windows_profiles')
        .set({ updated_at: dbNow(-2 * 3600 * 1000) })
        .where('host_uuid', '=', agent.uuid)
        .execute();
      await osquery(srv, 'distributed/write', answer('1'));
      const resent = await row();
      expect(resent).toMatchObject({ status: null, retries: 1 });
      expect(resent.detail).toContain(`${locUri}: expected "0", found "1"`);
    });
  },
  { profileVerifyGraceSeconds: 0 },
);
