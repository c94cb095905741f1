import { beforeAll, expect, it } from 'vitest';
import { fleetdInstallLocUri } from '../../src/windows/fleetd/install.js';
import { SimulatedWindowsDevice } from '../../src/windows/sim/device.js';
import { adminPassword, api, setupAdmin } from '../helpers/api.js';
import { apiUser } from '../helpers/adminFixtures.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';
import { enableWindowsMdm } from '../helpers/windowsDevice.js';

const enrollSecret = 'fleetd-install-global-secret';
const installerUrl = 'https://downloads.example.com/fleetd-base.msi?v=1&arch=amd64';
const installerSha = 'ab'.repeat(32);

async function installCommands(srv: TestServer) {
  return srv.app.services.database.db
    .selectFrom('windows_mdm_commands')
    .select(['command_uuid', 'raw_command'])
    .where('target_loc_uri', '=', fleetdInstallLocUri)
    .execute();
}

describeEachDialect(
  'Windows: fleetd install on the first session of a PC enrolled without fleetd',
  (server) => {
    let srv: TestServer;
    let admin = '';
    let user: SimulatedWindowsDevice;

    beforeAll(async () => {
      srv = server();
      admin = await setupAdmin(srv);
      await enableWindowsMdm(srv, enrollSecret);
      user = new SimulatedWindowsDevice({ serverUrl: srv.url, enrollSecret, keyBits: 1024 });
      await user.enrollWithPassword('admin@example.com', adminPassword);
    });

    it('sends the Add and the Exec of the MsiInstallJob, in that order, on Alert 1201', async () => {
      await user.runSession();
      const cmds = await installCommands(srv);
      expect(cmds).toHaveLength(1);
      const first = user.received.find((m) => m.includes('MsiInstallJob')) ?? '';
      const add = first.indexOf(`<Add><CmdID>${cmds[0].command_uuid}</CmdID>`);
      const exec = first.indexOf(`<Exec><CmdID>${cmds[0].command_uuid}.1</CmdID>`);
      expect(add).toBeGreaterThan(0);
      expect(exec).toBeGreaterThan(add);
      expect(user.execs).toHaveLength(1);
      expect(user.execs[0].locUri).toBe(fleetdInstallLocUri);
      const data = user.execs[0].data ?? '';
      expect(data).toContain(`<ContentURL>${installerUrl.replace('&', '&amp;')}</ContentURL>`);
      expect(data).toContain(`<FileHash>${installerSha.toUpperCase()}</FileHash>`);
      expect(data).toContain(
        `<CommandLine>/quiet FLEET_URL="${srv.url}" FLEET_SECRET="${enrollSecret}" ENABLE_SCRIPTS="True"</CommandLine>`,
      );
      expect(data).toContain('<MsiInstallJob id="{A427C0AA-E2D5-40DF-ACE8-0D726A6BE096}">');
      // Answered in the same session: nothing left in the queue.
      const queued = await srv.app.services.database.db
        .selectFrom('windows_mdm_command_queue')
        .selectAll()
        .where('command_uuid', '=', cmds[0].command_uuid)
        .execute();
      expect(queued).toEqual([]);
    });

    it('sends it once per enrollment', async () => {
      await user.runSession();
      await user.runSession();
      expect(await installCommands(srv)).toHaveLength(1);
      expect(user.execs).toHaveLength(1);
    });

    it('shows the command in results with the enroll secret redacted for roles that cannot see secrets', async () => {
      const [cmd] = await installCommands(srv);
      const observer = await apiUser(srv, admin, 'Observer', { global_role: 'observer' });
      const payloadFor = async (token: string) => {
        const res = await api(srv, 'GET', `/api/v1/fleet/commands/results?command_uuid=${cmd.command_uuid}`, {
          token,
        });
        expect(res.status).toBe(200);
        return {
          text: res.text,
          payload: Buffer.from(res.body.results[0].payload, 'base64').toString('utf8'),
        };
      };
      const seen = await payloadFor(observer.token);
      expect(seen.payload).toContain('FLEET_SECRET="******"');
      expect(seen.payload).toContain(`FLEET_URL="${srv.url}"`);
      expect(seen.text).not.toContain(enrollSecret);
      // Admins can read enroll secrets anyway, as they can a lock PIN.
      expect((await payloadFor(admin)).payload).toContain(`FLEET_SECRET="${enrollSecret}"`);
      expect(JSON.stringify(srv.logLines)).not.toContain(enrollSecret);
    });

    it('does not send it to a PC enrolled through fleetd', async () => {
      const before = (await installCommands(srv)).length;
      const pc = new SimulatedWindowsDevice({ serverUrl: srv.url, enrollSecret, keyBits: 1024 });
      await pc.orbitEnroll();
      await pc.enrollProgrammatically();
      await pc.runSession();
      expect(pc.execs).toEqual([]);
      expect(await installCommands(srv)).toHaveLength(before);
    });
  },
  {
    windowsOnPremiseEnrollment: true,
    windowsFleetdInstallerUrl: installerUrl,
    windowsFleetdInstallerSha256: installerSha,
    logLevel: 'info',
  },
);
