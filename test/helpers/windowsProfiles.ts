import { SimulatedWindowsDevice } from '../../src/windows/sim/device.js';
import type { TestServer } from './testServer.js';

/** One SyncML Item setting `uri` to `data`. */
export const syncmlItem = (uri: string, data: string, format = 'int') =>
  `<Item><Meta><Format xmlns="syncml:metinf">${format}</Format></Meta><Target><LocURI>${uri}</LocURI></Target><Data>${data}</Data></Item>`;

/** A PC enrolled through fleetd and MS-MDE2 (no management session yet). */
export async function enrollPc(
  srv: TestServer,
  enrollSecret: string,
  opts: { userSignedIn?: boolean } = {},
): Promise<{ d: SimulatedWindowsDevice; hostId: number }> {
  const d = new SimulatedWindowsDevice({ serverUrl: srv.url, enrollSecret, keyBits: 1024, ...opts });
  await d.orbitEnroll();
  const cfg = await d.orbitConfig();
  await d.enrollProgrammatically(cfg.notifications.windows_mdm_discovery_endpoint as string);
  const host = await srv.app.services.hostStore.findByUuid(d.hardwareUuid);
  if (!host) throw new Error('host not created');
  return { d, hostId: host.id };
}

/** A host's Windows profile status rows, by profile name. */
export function windowsHostRows(srv: TestServer, hostUuid: string) {
  return srv.app.services.database.db
    .selectFrom('host_mdm_windows_profiles')
    .selectAll()
    .where('host_uuid', '=', hostUuid)
    .orderBy('profile_name')
    .execute();
}

/** Raw SyncML of the commands queued for a host's enrollments. */
export async function queuedFor(srv: TestServer, hostUuid: string): Promise<string[]> {
  const rows = await srv.app.services.database.db
    .selectFrom('windows_mdm_command_queue as q')
    .innerJoin('mdm_windows_enrollments as e', 'e.id', 'q.enrollment_id')
    .innerJoin('windows_mdm_commands as c', 'c.command_uuid', 'q.command_uuid')
    .select('c.raw_command')
    .where('e.host_uuid', '=', hostUuid)
    .execute();
  return rows.map((r) => r.raw_command);
}

/** Manager tick, then one management session per PC; repeated. */
export async function convergeWindows(srv: TestServer, pcs: SimulatedWindowsDevice[], rounds = 3) {
  for (let i = 0; i < rounds; i++) {
    await srv.app.services.windowsProfilesTick();
    for (const d of pcs) await d.runSession();
  }
}
