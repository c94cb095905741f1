import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { EnrollSecretStore } from '../../teams/enrollSecretStore.js';
import { prepareCommand } from '../commands.js';
import type { WindowsMdmStore } from '../store.js';
import type { SessionContributor, SessionMessage } from '../syncml/session.js';
import { escapeXml } from '../xml.js';
import type { FleetdInstallStore } from './store.js';

/** The MSI product code Fleet installs fleetd under; one code means Windows installs it once. */
const fleetdProductId = '{A427C0AA-E2D5-40DF-ACE8-0D726A6BE096}';
export const fleetdInstallLocUri = `./Device/Vendor/MSFT/EnterpriseDesktopAppManagement/MSI/${encodeURIComponent(fleetdProductId)}/DownloadInstall`;

/** What identifies a user-driven enrollment: the enrolling user is an e-mail (UPN), not a node key. */
const upnPattern = /^[a-zA-Z0-9._%+-]+@[a-zA-Z0-9.-]+\.[a-zA-Z]{2,}$/;

export interface FleetdInstallerOptions {
  /** The fleetd MSI and its SHA-256 (hex); both set or the installer is off. */
  installer: { url: string; sha256: string };
  /** The Fleet URL fleetd enrolls to. */
  serverUrl: () => Promise<string>;
}

/** The Add + Exec that downloads, checks and installs fleetd with the server URL and an enroll secret. */
export function fleetdInstallCommandXml(p: {
  url: string;
  sha256: string;
  fleetUrl: string;
  secret: string;
}) {
  const target = `<Target><LocURI>${fleetdInstallLocUri}</LocURI></Target>`;
  return (
    `<Add><Item>${target}</Item></Add>` +
    `<Exec><Item>${target}<Data><MsiInstallJob id="${fleetdProductId}"><Product Version="1.0.0.0">` +
    `<Download><ContentURLList><ContentURL>${escapeXml(p.url)}</ContentURL></ContentURLList></Download>` +
    `<Validation><FileHash>${p.sha256.toUpperCase()}</FileHash></Validation>` +
    `<Enforcement><CommandLine>/quiet FLEET_URL="${escapeXml(p.fleetUrl)}" FLEET_SECRET="${escapeXml(p.secret)}" ENABLE_SCRIPTS="True"</CommandLine>` +
    `<TimeOut>10</TimeOut><RetryCount>1</RetryCount><RetryInterval>5</RetryInterval></Enforcement>` +
    `</Product></MsiInstallJob></Data>` +
    `<Meta><Type xmlns="syncml:metinf">text/plain</Type><Format xmlns="syncml:metinf">xml</Format></Meta></Item></Exec>`
  );
}

/**
 * Fleet's fleetd bootstrap: a PC enrolled by a user (on-premise or Entra, so not through fleetd)
 * whose host has no fleetd gets, on its first session (Alert 1201), one queued command holding
 * the Add and the Exec of an MsiInstallJob for the configured fleetd MSI, with FLEET_URL and the
 * host's team enroll secret (the global one when the host is unknown or its team has none). Sent
 * once per enrollment; the enroll secret is never logged and is redacted in command results.
 */
export class FleetdInstaller implements SessionContributor {
  constructor(
    private readonly store: FleetdInstallStore,
    private readonly queue: Pick<WindowsMdmStore, 'enqueue'>,
    private readonly secrets: Pick<EnrollSecretStore, 'list'>,
    private readonly opts: FleetdInstallerOptions,
    private readonly log: Logger,
  ) {}

  async contribute(m: SessionMessage): Promise<string[]> {
    const e = m.enrollment;
    if (!m.sessionStart || !upnPattern.test(e.enroll_user_id)) return [];
    const host = await this.store.host(e.host_uuid);
    if (host?.hasFleetd) return [];
    if (await this.store.sentSince(e.id, fleetdInstallLocUri, e.created_at)) return [];
    const secret = await this.enrollSecret(host?.teamId ?? null);
    if (!secret) {
      this.log.warn({ enrollmentId: e.id }, 'windows mdm: no enroll secret to install fleetd with');
      return [];
    }
    const prepared = prepareCommand(
      fleetdInstallCommandXml({
        ...this.opts.installer,
        fleetUrl: await this.opts.serverUrl(),
        secret,
      }),
      randomUUID(),
    );
    await this.queue.enqueue([e.id], prepared);
    this.log.info(
      { enrollmentId: e.id, commandUuid: prepared.commandUuid },
      'windows mdm: fleetd install queued',
    );
    return [prepared.rawCommand];
  }

  /** The team's first enroll secret, else the global one; a secret with `"` cannot go on a command line. */
  private async enrollSecret(teamId: number | null): Promise<string | undefined> {
    const usable = (rows: { secret: string }[]) => rows.find((r) => !r.secret.includes('"'))?.secret;
    const team = teamId === null ? undefined : usable(await this.secrets.list(teamId));
    return team ?? usable(await this.secrets.list(null));
  }
}
