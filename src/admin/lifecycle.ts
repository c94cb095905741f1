import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { AppConfigService } from '../appconfig/service.js';
import { SmtpMailSender, smtpSettingsFrom, type MailSender } from '../clients/smtp/client.js';
import type { Config } from '../config.js';
import type { DB } from '../db/schema.js';
import type { TeamStore } from '../teams/store.js';
import type { ActivityService } from './activityService.js';
import { InviteService } from './inviteService.js';
import { InviteStore } from './inviteStore.js';
import { PasswordService } from './passwordService.js';
import type { UserStore } from './userStore.js';

/**
 * The user-lifecycle services (invites, password change and reset) and the SMTP client that mails
 * their links. SMTP settings are Fleet's `smtp_settings` in the app config, read for every message.
 */
export function createUserLifecycle(deps: {
  config: Config;
  db: Kysely<DB>;
  logger: Logger;
  appConfig: AppConfigService;
  userStore: UserStore;
  teamStore: TeamStore;
  activities: ActivityService;
  /** Replaces the SMTP client (tests). */
  mailer?: MailSender;
}) {
  const { config, db, logger, appConfig, userStore } = deps;
  const mailer = deps.mailer ?? new SmtpMailSender(async () => smtpSettingsFrom(await appConfig.get()));
  const invites = new InviteService(
    db,
    new InviteStore(db),
    userStore,
    deps.teamStore,
    deps.activities,
    mailer,
    appConfig,
    config.inviteValidityDays,
    logger,
  );
  const passwords = new PasswordService(
    db,
    userStore,
    mailer,
    appConfig,
    logger,
    config.passwordResetValidityMinutes,
  );
  return { mailer, invites, passwords };
}
