import { dbNow } from '../db/dialect.js';
import type { Services } from '../services.js';

/**
 * Every cron job of the server is registered here. Each area adds its own
 * `services.cron.register({ name, intervalSeconds, run: () => services.<area>.<method>() })` line:
 * a job is a thin call into a service, never logic of its own.
 */
export function registerCronJobs(services: Services): void {
  const { cron, config } = services;

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

  // Profiles: reconcile Apple profiles and declarations, and ask hosts for ProfileList.
  cron.register({
    name: 'mdm_apple_profile_manager',
    intervalSeconds: 30,
    run: async () => void (await services.profileManager.tick()),
  });

  // Windows profiles: reconcile, send Delete for removals, read profiles back with Get to verify.
  cron.register({
    name: 'mdm_windows_profile_manager',
    intervalSeconds: 30,
    run: async () => void (await services.windowsProfilesTick()),
  });

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

  // Test-only: a job that does nothing but record its run, so tests can count runs per tick.
  if (config.cronTestJobIntervalSeconds > 0) {
    cron.register({
      name: 'test_tick',
      intervalSeconds: config.cronTestJobIntervalSeconds,
      run: async () => {},
    });
  }
}
