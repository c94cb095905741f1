import {
  SimulatedFleetd,
  type DistributedRound,
  type SimulatedFleetdOptions,
} from '../../src/agents/sim/fleetd.js';
import { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { SimulatedWindowsDevice } from '../../src/windows/sim/device.js';
import { api, setupAdmin } from './api.js';
import { installPushCertificate } from './apns.js';
import { createTeam } from './adminFixtures.js';
import type { TestServer } from './testServer.js';

/**
 * Readies a test server for agents and returns an admin token: its own URL as server URL, and
 * Windows MDM on (`windows`) or an APNs certificate installed so Apple MDM is on (`apple`).
 */
export async function agentServer(srv: TestServer, mdm: 'windows' | 'apple'): Promise<string> {
  const admin = await setupAdmin(srv);
  const s = srv.app.services;
  if (mdm === 'windows') {
    await s.appConfig.patch({
      server_settings: { server_url: srv.url },
      mdm: { windows_enabled_and_configured: true },
    });
    s.windows.invalidateEnabled();
  } else {
    await s.appConfig.patch({ server_settings: { server_url: srv.url } });
    await installPushCertificate(s);
  }
  return admin;
}

/** A team with its own enroll secret (so each test's hosts and summaries are its own). */
export async function teamWithSecret(
  srv: TestServer,
  admin: string,
  name: string,
): Promise<{ teamId: number; secret: string }> {
  const teamId = await createTeam(srv, admin, name);
  const secret = `${name.replace(/\W+/g, '-')}-secret-${teamId}`;
  await srv.app.services.enrollSecrets.replace(null, teamId, [secret]);
  return { teamId, secret };
}

/** The host the server keeps for a hardware UUID. */
export async function hostIdOf(srv: TestServer, uuid: string): Promise<number> {
  const host = await srv.app.services.hostStore.findByUuid(uuid);
  if (!host) throw new Error(`no host with UUID ${uuid}`);
  return host.id;
}

/** The team the server has the host in. */
export async function teamOf(srv: TestServer, hostId: number): Promise<number | null> {
  const row = await srv.app.services.database.db
    .selectFrom('hosts')
    .select('team_id')
    .where('id', '=', hostId)
    .executeTakeFirstOrThrow();
  return row.team_id;
}

/** Runs a cron job now, through the scheduler as the trigger endpoint does, and waits for it. */
export async function runCronJob(srv: TestServer, name: string): Promise<void> {
  const { finished } = await srv.app.services.cron.trigger(name);
  const outcome = await finished;
  if (!outcome.ran) throw new Error(`cron job ${name} did not run: ${JSON.stringify(outcome)}`);
}

/** The admin's "Refetch": the host's next distributed read carries the detail, label and policy queries. */
export async function requestRefetch(srv: TestServer, admin: string, hostId: number): Promise<void> {
  const res = await api(srv, 'POST', `/api/latest/fleet/hosts/${hostId}/refetch`, { token: admin });
  if (res.status !== 200) throw new Error(`refetch failed: ${res.status} ${res.text}`);
}

/**
 * A refetch as a Mac with fleetd lives it: osquery's next read carries the detail, label and policy
 * queries and fleetd answers them; then the Mac checks in with MDM and answers the refetch's
 * DeviceInformation. (osquery goes first on purpose: the DeviceInformation result clears the
 * host's refetch flag, so a Mac answering it first leaves osquery nothing to run.)
 */
export async function refetchAndCheckIn(
  srv: TestServer,
  admin: string,
  pair: { hostId: number; fleetd: SimulatedFleetd; mac?: SimulatedAppleDevice },
): Promise<DistributedRound> {
  await requestRefetch(srv, admin, pair.hostId);
  const round = await pair.fleetd.distributedRound();
  await pair.mac?.connect();
  return round;
}

/** Apple profile manager tick, then the Mac handles what was queued; repeated. */
export async function convergeMac(srv: TestServer, mac: SimulatedAppleDevice, rounds = 3): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await srv.app.services.profileManager.tick();
    await mac.connect();
  }
}

export interface MacWithFleetd {
  mac: SimulatedAppleDevice;
  fleetd: SimulatedFleetd;
  hostId: number;
}

/**
 * A Mac enrolled in Apple MDM (enrollment profile with the secret, SCEP, check-in) running fleetd
 * enrolled with the same secret, after its first distributed round (all detail queries answered).
 * The manual enrollment profile carries no team; fleetd's enrollment puts the host in the secret's.
 */
export async function macWithFleetd(
  srv: TestServer,
  secret: string,
  opts: Partial<SimulatedFleetdOptions> = {},
): Promise<MacWithFleetd> {
  const mac = new SimulatedAppleDevice({ serverUrl: srv.url, platform: 'macos' });
  await mac.enroll(`${srv.url}/api/mdm/apple/enroll?token=${encodeURIComponent(secret)}`);
  const fleetd = new SimulatedFleetd({ serverUrl: srv.url, enrollSecret: secret, apple: mac, ...opts });
  await fleetd.enroll();
  await fleetd.distributedRound();
  return { mac, fleetd, hostId: await hostIdOf(srv, mac.udid) };
}

export interface PcWithFleetd {
  pc: SimulatedWindowsDevice;
  fleetd: SimulatedFleetd;
  hostId: number;
}

/**
 * A PC running fleetd enrolled with the secret; orbit's config asks for programmatic Windows MDM
 * enrollment, fleetd hands it to the PC (discovery, policy, WSTEP, first management session), and
 * osquery reports the enrollment in its next distributed round.
 */
export async function pcWithFleetd(
  srv: TestServer,
  secret: string,
  opts: Partial<SimulatedFleetdOptions> = {},
): Promise<PcWithFleetd> {
  const pc = new SimulatedWindowsDevice({ serverUrl: srv.url, enrollSecret: secret, keyBits: 1024 });
  const fleetd = new SimulatedFleetd({ serverUrl: srv.url, enrollSecret: secret, windows: pc, ...opts });
  await fleetd.enroll();
  await fleetd.distributedRound();
  const poll = await fleetd.pollConfig();
  if (!poll.actions.includes('windows_mdm_enrolled'))
    throw new Error(
      `orbit config did not lead to Windows MDM enrollment: ${JSON.stringify(poll.notifications)}`,
    );
  return { pc, fleetd, hostId: await hostIdOf(srv, pc.hardwareUuid) };
}
