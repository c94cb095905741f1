import { beforeAll, expect, it } from 'vitest';
import { pcWithFleetd, requestRefetch, teamWithSecret, agentServer } from '../helpers/fleetd.js';
import { uploadProfile } from '../helpers/profiles.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const camera = './Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera';
const cameraProfile = `<Replace><Item><Meta><Format xmlns="syncml:metinf">int</Format></Meta><Target><LocURI>${camera}</LocURI></Target><Data>0</Data></Item></Replace>`;

describeEachDialect('simulated fleetd on a PC: Windows profiles verified through mdm_bridge', (server) => {
  let srv: TestServer;
  let admin = '';

  beforeAll(async () => {
    srv = server();
    admin = await agentServer(srv, 'windows');
  });

  async function rowFor(uuid: string) {
    return srv.app.services.database.db
      .selectFrom('host_mdm_windows_profiles')
      .selectAll()
      .where('host_uuid', '=', uuid)
      .where('profile_name', '=', 'Camera off')
      .executeTakeFirst();
  }

  it('the PC applies the profile; osquery reads the setting back through mdm_bridge and the profile is verified', async () => {
    const { teamId, secret } = await teamWithSecret(srv, admin, 'Windows verify');
    const { pc, fleetd, hostId } = await pcWithFleetd(srv, secret);
    const up = await uploadProfile(
      srv,
      admin,
      { name: 'Camera off.xml', bytes: cameraProfile },
      { team_id: String(teamId) },
    );
    expect(up.status, JSON.stringify(up.body)).toBe(200);

    await srv.app.services.windowsProfilesTick();
    await pc.runSession();
    expect(pc.tree.get(camera)?.data).toBe('0');
    expect((await rowFor(pc.hardwareUuid))?.status).toBe('verifying');

    await requestRefetch(srv, admin, hostId);
    const round = await fleetd.distributedRound();
    expect(round.sent).toContain('fleet_detail_query_mdm_config_profiles_windows');
    const [answer] = round.written!.queries.fleet_detail_query_mdm_config_profiles_windows;
    expect(answer.raw_mdm_command_output).toContain('<Data>0</Data>');
    expect((await rowFor(pc.hardwareUuid))?.status).toBe('verified');

    // A local policy turns the camera back on: the next read-back sees the drift, and the profile
    // goes back to pending to be sent again.
    pc.enforced.set(camera, { data: '1', format: 'int' });
    pc.tree.set(camera, { data: '1', format: 'int' });
    await requestRefetch(srv, admin, hostId);
    await fleetd.distributedRound();
    const drifted = await rowFor(pc.hardwareUuid);
    expect(drifted?.status ?? null).toBeNull();
    expect(drifted?.detail).toContain('expected "0", found "1"');
  });
});
