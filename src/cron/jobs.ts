import { dbNow } from '../db/dialect.js';
import type { CronScheduler } from './scheduler.js';
import type { CronStore } from './store.js';

/** What the jobs call: each job is a thin call into one of these, never logic of its own. */
export interface CronJobServices {
  config: {
    apnsRepushIntervalSeconds: number;
    windowsWnsRepushIntervalSeconds: number;
    cronTestJobIntervalSeconds: number;
    appleDepSyncPeriodicitySeconds: number;
    appleSetupReleaseIntervalSeconds: number;
    appleRefetchJobIntervalSeconds: number;
  };
  cronStore: Pick<CronStore, 'deleteRunsBefore'>;
  rateLimits: { deleteExpired(): Promise<unknown> };
  applePush: { repushPending(): Promise<unknown> };
  windows: { push: { repushPending(): Promise<unknown> } };
  /** Each platform's profile manager loop (`mdm_apple_profile_manager`, `mdm_windows_profile_manager`). */
  profileManagerJobs: { name: string; run(): Promise<unknown> }[];
  appleQueue: { deleteOldResults(): Promise<unknown> };
  appleScep: { deleteExpiredChallenges(): Promise<unknown> };
  certificateAuthorities: { scepProxy: { deleteExpiredChallenges(): Promise<unknown> } };
  appleDep: { sync: { runCron(): Promise<unknown> } };
  appleAde: { setup: { releaseDevices(): Promise<unknown> } };
  appleBootstrap: { cleanupOrphans(): Promise<unknown> };
  appleScepRenewal: { service: { run(): Promise<unknown> } };
  appleFacts: { refetchIphonesAndIpads(): Promise<unknown>; refetchMacs(): Promise<unknown> };
  diskEncryption: { verifyKeys(): Promise<unknown> };
  certificates: { warnExpiring(): Promise<unknown> };
  android: { pubsub: { pruneMessages(): Promise<unknown> } };
}

/**
 * Every cron job of the server is registered here, once the services exist. Each area adds its
 * own `cron.register({ name, intervalSeconds, run: () => services.<area>.<method>() })` line.
 */
export function registerCronJobs(cron: CronScheduler, services: CronJobServices): void {
  const { config } = services;

  // Run records are history only; keep a week of them.
  cron.register({
    name: 'cleanup_cron_stats',
    intervalSeconds: 3600,
    run: async () => {
      await services.cronStore.deleteRunsBefore(dbNow(-7 * 24 * 3600 * 1000));
    },
  });

  // Rate-limit counters whose window has ended.
  cron.register({
    name: 'cleanup_rate_limits',
    intervalSeconds: 600,
    run: async () => {
      await services.rateLimits.deleteExpired();
    },
  });

  // Apple: push again to devices whose commands are still pending (NotNow included), with back-off.
  cron.register({
    name: 'apple_mdm_apns_pusher',
    intervalSeconds: config.apnsRepushIntervalSeconds,
    run: async () => {
      await services.applePush.repushPending();
    },
  });

  // Windows: push (WNS) again to PCs whose commands are still queued, with back-off.
  cron.register({
    name: 'windows_mdm_wns_pusher',
    intervalSeconds: config.windowsWnsRepushIntervalSeconds,
    run: async () => void (await services.windows.push.repushPending()),
  });

  // Profiles: each platform's manager reconciles its profiles (diff, enqueue) and verifies them.
  for (const job of services.profileManagerJobs) {
    cron.register({ name: job.name, intervalSeconds: 30, run: async () => void (await job.run()) });
  }

  // Apple: delete acknowledged command results (and their queue rows) older than the retention age.
  cron.register({
    name: 'apple_mdm_command_retention',
    intervalSeconds: 3600,
    run: async () => {
      await services.appleQueue.deleteOldResults();
    },
  });

  // Apple: one-time SCEP challenges that expired unused.
  cron.register({
    name: 'apple_scep_challenge_cleanup',
    intervalSeconds: 3600,
    run: async () => void (await services.appleScep.deleteExpiredChallenges()),
  });

  // SCEP proxy: one-time challenges of custom SCEP proxy URLs that expired unused.
  cron.register({
    name: 'scep_proxy_challenge_cleanup',
    intervalSeconds: 3600,
    run: async () => void (await services.certificateAuthorities.scepProxy.deleteExpiredChallenges()),
  });

  // Disk encryption: FileVault profiles in line with each team's setting, then every escrowed
  // FileVault key not yet checked is decrypted with the Apple MDM CA key and marked 1 or 0.
  cron.register({
    name: 'verify_disk_encryption_keys',
    intervalSeconds: 3600,
    run: async () => void (await services.diskEncryption.verifyKeys()),
  });

  // Apple ADE (Fleet's DEP syncer): every ABM token's devices become pending hosts and get their
  // team's ADE profile; cooled-down assignments are retried.
  cron.register({
    name: 'apple_mdm_dep_profile_assigner',
    intervalSeconds: config.appleDepSyncPeriodicitySeconds,
    run: async () => void (await services.appleDep.sync.runCron()),
  });

  // Apple ADE setup experience: DeviceConfigured for held devices whose profiles, bootstrap package
  // and AccountConfiguration have settled, or that waited past the setup timeout.
  cron.register({
    name: 'apple_mdm_dep_release_devices',
    intervalSeconds: config.appleSetupReleaseIntervalSeconds,
    run: async () => void (await services.appleAde.setup.releaseDevices()),
  });

  // Bootstrap packages: chunks of uploads that never finished.
  cron.register({
    name: 'apple_mdm_bootstrap_package_cleanup',
    intervalSeconds: 3600,
    run: async () => void (await services.appleBootstrap.cleanupOrphans()),
  });

  // Apple: identity certificates expiring within the renewal window get an enrollment profile that
  // renews them (Fleet's renew_scep_certificates); failed renewals are retried with back-off.
  cron.register({
    name: 'renew_scep_certificates',
    intervalSeconds: 3600,
    run: async () => void (await services.appleScepRenewal.service.run()),
  });

  // Apple device facts (Fleet's iPhone/iPad refetcher): DeviceInformation and SecurityInfo for
  // iPhones and iPads whose facts are older than the refetch interval, one command per batch.
  cron.register({
    name: 'apple_mdm_iphone_ipad_refetcher',
    intervalSeconds: config.appleRefetchJobIntervalSeconds,
    run: async () => void (await services.appleFacts.refetchIphonesAndIpads()),
  });

  // Apple device facts for Macs (ours): SecurityInfo for every Mac, DeviceInformation for Macs
  // without osquery, when older than the refetch interval.
  cron.register({
    name: 'apple_mdm_macos_refetcher',
    intervalSeconds: config.appleRefetchJobIntervalSeconds,
    run: async () => void (await services.appleFacts.refetchMacs()),
  });

  // Android: handled Pub/Sub message IDs older than Pub/Sub's retention (24 h) can never come back.
  cron.register({
    name: 'android_pubsub_messages_cleanup',
    intervalSeconds: 3600,
    run: async () => void (await services.android.pubsub.pruneMessages()),
  });

  // Certificates: a warning activity and log line when the APNs certificate, an ABM token, a
  // built-in CA or a device certificate is 30, 14 or 1 days from expiry (once per threshold).
  cron.register({
    name: 'certificate_expiry_warnings',
    intervalSeconds: 86_400,
    run: async () => void (await services.certificates.warnExpiring()),
  });

  // Test-only: a job that does nothing but record its run, so tests can count runs per tick.
  if (config.cronTestJobIntervalSeconds > 0) {
    cron.register({
      name: 'test_tick',
      intervalSeconds: config.cronTestJobIntervalSeconds,
      run: async () => {},
    });
  }
}
