import { beforeAll, expect, it } from 'vitest';
import { SimulatedFleetd } from '../../src/agents/sim/fleetd.js';
import { api, setupAdmin } from '../helpers/api.js';
import { hostIdOf, teamWithSecret } from '../helpers/fleetd.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

describeEachDialect('simulated fleetd: enrollment, vitals and re-enrollment', (server) => {
  let srv: TestServer;
  let admin = '';

  beforeAll(async () => {
    srv = server();
    admin = await setupAdmin(srv);
  });

  it('orbit and osquery enroll as one host in the secret’s team; the first check-in fills its vitals', async () => {
    const { teamId, secret } = await teamWithSecret(srv, admin, 'Vitals');
    const fleetd = new SimulatedFleetd({ serverUrl: srv.url, enrollSecret: secret, platform: 'darwin' });
    await fleetd.enroll();
    const hostId = await hostIdOf(srv, fleetd.machine.uuid);

    const round = await fleetd.distributedRound();
    expect(round.sent).toEqual(
      expect.arrayContaining([
        'fleet_detail_query_os_version',
        'fleet_detail_query_system_info',
        'fleet_detail_query_osquery_info',
      ]),
    );
    // Nothing is due right after: the next check-in carries no queries and writes nothing.
    const next = await fleetd.distributedRound();
    expect(next.sent).toEqual([]);
    expect(next.written).toBeUndefined();

    const res = await api(srv, 'GET', `/api/latest/fleet/hosts/${hostId}`, { token: admin });
    expect(res.status, res.text).toBe(200);
    const m = fleetd.machine;
    expect(res.body.host).toMatchObject({
      id: hostId,
      team_id: teamId,
      uuid: m.uuid,
      hostname: m.hostname,
      computer_name: m.computerName,
      hardware_serial: m.serial,
      hardware_model: m.hardwareModel,
      platform: 'darwin',
      os_version: `macOS ${m.osVersion}`,
      osquery_version: fleetd.osqueryVersion,
      memory: m.memoryBytes,
      primary_ip: m.primaryIp,
      primary_mac: m.primaryMac,
    });
  });

  it('re-enrolls on 401 when the server no longer knows its node keys, and stays the same host', async () => {
    const { secret } = await teamWithSecret(srv, admin, 'Re-enroll');
    const fleetd = new SimulatedFleetd({ serverUrl: srv.url, enrollSecret: secret, platform: 'windows' });
    await fleetd.enroll();
    await fleetd.distributedRound();
    const hostId = await hostIdOf(srv, fleetd.machine.uuid);

    const oldKeys = { osquery: fleetd.osquery.nodeKey, orbit: fleetd.orbit.nodeKey };
    await srv.app.services.database.db
      .updateTable('hosts')
      .set({ node_key: null, orbit_node_key: null })
      .where('id', '=', hostId)
      .execute();

    await fleetd.distributedRound();
    expect(fleetd.osquery.enrollments).toBe(2);
    expect(fleetd.osquery.nodeKey).not.toBe(oldKeys.osquery);
    await fleetd.pollConfig();
    expect(fleetd.orbit.enrollments).toBe(2);
    expect(fleetd.orbit.nodeKey).not.toBe(oldKeys.orbit);
    expect(await hostIdOf(srv, fleetd.machine.uuid)).toBe(hostId);
    const hosts = await srv.app.services.database.db
      .selectFrom('hosts')
      .select('id')
      .where('uuid', '=', fleetd.machine.uuid)
      .execute();
    expect(hosts).toHaveLength(1);
  });
});
