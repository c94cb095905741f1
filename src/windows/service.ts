import type { Logger } from 'pino';
import type { ActivityService } from '../admin/activityService.js';
import type { UserStore } from '../admin/userStore.js';
import type { AppConfigService } from '../appconfig/service.js';
import type { Config } from '../config.js';
import { AssetName, type ConfigAssetService } from '../configassets/service.js';
import type { Database } from '../db/database.js';
import type { HostStore } from '../hosts/store.js';
import { BatchWriter } from '../db/batchWriter.js';
import { WindowsCommandService } from './commands.js';
import { fleetMdmName, WindowsEnrollmentAuthorizer, WindowsMdmLifecycle } from './lifecycle.js';
import { WindowsCertificateRenewal } from './mde2/renewal.js';
import { WstepRenewalStore } from './mde2/renewalStore.js';
import { WindowsEnrollmentService, windowsPaths } from './mde2/service.js';
import { WindowsMdmStore } from './store.js';
import {
  ManagementSessionService,
  type QueuedCommandRenderer,
  type SessionContributor,
} from './syncml/session.js';
import { HttpWnsClient, type WnsClient } from '../clients/wns/client.js';
import { EnrollSecretStore } from '../teams/enrollSecretStore.js';
import { certificatePems } from '../crypto/pemBundle.js';
import { FleetdInstaller } from './fleetd/install.js';
import { FleetdInstallStore } from './fleetd/store.js';
import { ClientCertificateVerifier } from './mde2/clientCert.js';
import { ClientCertificateStore } from './mde2/clientCertStore.js';
import { windowsProviderId } from './mde2/provisioning.js';
import { PushChannelReader } from './push/channel.js';
import { WindowsPushService } from './push/service.js';
import { WindowsPushStore } from './push/store.js';

/** Wires the Windows MDM services: enrollment (MS-MDE2), management (SyncML) and commands. */
export function createWindowsServices(deps: {
  config: Config;
  database: Database;
  appConfig: AppConfigService;
  assets: ConfigAssetService;
  hostStore: HostStore;
  userStore: UserStore;
  activities: ActivityService;
  logger: Logger;
  /** Fills `$FLEET_SECRET_*` in a queued command as it leaves for the PC (Windows profiles). */
  renderSecrets?: QueuedCommandRenderer;
  /** WNS client override (tests); by default built from the config when WNS is configured. */
  wnsClient?: WnsClient;
}) {
  const store = new WindowsMdmStore(deps.database.db);
  const lifecycle = new WindowsMdmLifecycle(deps.hostStore, deps.activities);
  const authorizer = new WindowsEnrollmentAuthorizer(deps.hostStore, deps.userStore, {
    onPremiseUsers: deps.config.windowsOnPremiseEnrollment,
  });
  // The enabled switch and the server URL are read on every device message; cache them briefly.
  // The promise is cached so concurrent messages share one read when the cache runs out.
  let settingsCache: { at: number; value: Promise<{ enabled: boolean; serverUrl: string }> } | undefined;
  const settings = () => {
    if (!settingsCache || Date.now() - settingsCache.at >= 1000) {
      const value = deps.appConfig.get().then((cfg) => ({
        enabled: cfg.mdm.windows_enabled_and_configured,
        serverUrl: cfg.server_settings.server_url || deps.config.serverUrl,
      }));
      settingsCache = { at: Date.now(), value };
      value.catch(() => (settingsCache = undefined));
    }
    return settingsCache.value;
  };
  const serverUrl = async () => (await settings()).serverUrl;
  const log = deps.logger.child({ area: 'windows-mdm' });
  // Last-seen times are written in batches (every 2 s or 1,000 enrollments), not per message.
  const lastSeen = new BatchWriter<number>((ids) => store.touchLastSeen(ids), {
    intervalMs: 2000,
    maxItems: 1000,
    logger: log,
    name: 'windows_last_seen',
  });
  const wstepCa = async () => {
    // Re-read at most once a minute, so a CA rotated by the CLI reaches a running server.
    const a = await deps.assets.get([AssetName.windowsWstepCert, AssetName.windowsWstepKey], {
      maxAgeMs: 60_000,
    });
    const cert = a[AssetName.windowsWstepCert];
    const key = a[AssetName.windowsWstepKey];
    if (!cert || !key) throw new Error('the Windows WSTEP CA is missing; run prepare or restart the server');
    return { certPem: cert.toString(), keyPem: key.toString() };
  };
  // MS-MDE2 certificate renewal: what the device is told, and the Renew request's handler.
  const renewalSchedule = {
    periodDays: deps.config.windowsCertRenewPeriodDays,
    retryIntervalDays: deps.config.windowsCertRenewRetryIntervalDays,
  };
  const renewal = new WindowsCertificateRenewal(
    new WstepRenewalStore(deps.database.db),
    { ca: wstepCa, schedule: renewalSchedule },
    log,
  );
  const enrollment = new WindowsEnrollmentService(
    store,
    authorizer,
    lifecycle,
    {
      serverUrl,
      pollIntervalMinutes: deps.config.windowsPollIntervalMinutes,
      ca: wstepCa,
      renewalSchedule,
      renewal,
    },
    log,
  );
  const { push, contributors } = createWindowsPush(deps, store, serverUrl, log);
  // Device certificates from a CA retired by `flotilla certs rotate-ca windows` stay valid.
  const wstepCas = async () => {
    const a = await deps.assets.get([AssetName.windowsWstepCert, AssetName.windowsPreviousCaCerts], {
      maxAgeMs: 60_000,
    });
    const current = a[AssetName.windowsWstepCert]?.toString();
    return [
      ...(current ? [current] : []),
      ...certificatePems(a[AssetName.windowsPreviousCaCerts]?.toString()),
    ];
  };
  const clientCertificates = new ClientCertificateVerifier(
    new ClientCertificateStore(deps.database.db),
    wstepCas,
    log,
  );
  const management = new ManagementSessionService(
    store,
    lifecycle,
    {
      managementUrl: async () => (await serverUrl()) + windowsPaths.management,
      nonceTtlSeconds: deps.config.windowsDigestNonceTtlSeconds,
      lastSeen,
      contributors,
      clientCertificate: (forwarded, enrollment) => clientCertificates.verify(forwarded, enrollment),
      renderSecrets: deps.renderSecrets,
    },
    log,
  );
  const commands = new WindowsCommandService(store, push);

  const enabled = async (): Promise<boolean> => (await settings()).enabled;
  return {
    store,
    enrollment,
    management,
    commands,
    /** WNS push: wakes PCs after commands are queued (`push`), re-push cron (`repushPending`). */
    push,
    enabled,
    /** Forgets the cached switch and server URL (after a settings change, in tests). */
    invalidateEnabled: () => (settingsCache = undefined),
    /** Writes buffered last-seen times and sends coalesced pushes now (shutdown, tests). */
    flush: async () => {
      await lastSeen.flush();
      await push.flush();
    },
    mdmName: fleetMdmName,
  };
}

export type WindowsServices = ReturnType<typeof createWindowsServices>;

/**
 * WNS push and the session's server-initiated commands: the push channel reader (only when WNS
 * and a PFN are configured) and the fleetd installer (only when an installer is configured).
 */
function createWindowsPush(
  deps: { config: Config; database: Database; logger: Logger; wnsClient?: WnsClient },
  store: WindowsMdmStore,
  serverUrl: () => Promise<string>,
  log: Logger,
): { push: WindowsPushService; contributors: SessionContributor[] } {
  const { config } = deps;
  const db = deps.database.db;
  const policy = {
    allowedHosts: config.windowsWnsAllowedHosts
      .split(',')
      .map((h) => h.trim().toLowerCase())
      .filter(Boolean),
    allowHttp: config.windowsWnsAllowHttp,
  };
  const wnsConfigured = Boolean(config.windowsWnsPackageSid && config.windowsWnsClientSecret);
  const client =
    deps.wnsClient ??
    (wnsConfigured
      ? new HttpWnsClient({
          ...policy,
          packageSid: config.windowsWnsPackageSid as string,
          clientSecret: config.windowsWnsClientSecret as string,
          tokenUrl: config.windowsWnsTokenUrl,
        })
      : undefined);
  const pushStore = new WindowsPushStore(db);
  const push = new WindowsPushService(pushStore, client, log, {
    coalesceMs: config.windowsWnsCoalesceMs,
    batchSize: 500,
    backoffBaseMs: config.windowsWnsRepushBackoffSeconds * 1000,
    backoffMaxMs: config.windowsWnsRepushMaxBackoffSeconds * 1000,
  });
  const contributors: SessionContributor[] = [];
  if (client && config.windowsWnsPfn) {
    contributors.push(
      new PushChannelReader(
        pushStore,
        {
          pfn: config.windowsWnsPfn,
          providerId: windowsProviderId,
          maxAgeMs: config.windowsWnsChannelMaxAgeHours * 3600_000,
          policy,
        },
        log,
      ),
    );
  } else if (client) {
    log.warn('windows push: WNS is configured without a PFN (FLOTILLA_WINDOWS_WNS_PFN); PCs cannot register');
  }
  const installerUrl = config.windowsFleetdInstallerUrl;
  const installerSha = config.windowsFleetdInstallerSha256;
  if (installerUrl && installerSha) {
    contributors.push(
      new FleetdInstaller(
        new FleetdInstallStore(db),
        store,
        new EnrollSecretStore(db),
        { installer: { url: installerUrl, sha256: installerSha }, serverUrl },
        log,
      ),
    );
  } else if (installerUrl || installerSha) {
    log.warn('windows mdm: the fleetd installer needs both its URL and its SHA-256; not sending it');
  }
  return { push, contributors };
}
