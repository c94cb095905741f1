import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { Actor } from '../../admin/activityService.js';
import type { AppConfigService } from '../../appconfig/service.js';
import {
  AmapiError,
  type AndroidManagementClient,
  type NotificationType,
} from '../../clients/amapi/types.js';
import { AssetName, type ConfigAssetService } from '../../configassets/service.js';
import { badRequest, forbidden, HttpError } from '../../http/errors.js';
import type { AndroidClientProvider } from '../serviceAccount.js';
import { googleErrorLog, googleFailure } from './googleErrors.js';
import type { AndroidEnterpriseStore, BoundEnterprise } from './store.js';

/** Where Pub/Sub pushes AMAPI's notifications (Fleet's path; `?token=` authenticates the push). */
export const pubsubPushPath = '/api/v1/fleet/android_enterprise/pubsub';
/** Google's callback after signup; the last segment is the signup token. */
export const signupCallbackPath = '/api/v1/fleet/android_enterprise/connect';
/** The policy every enrollment token starts a device on, before it gets its own. */
export const defaultPolicyId = '1';
/** Google's service account that publishes AMAPI notifications to the enterprise's topic. */
export const amapiPublisher = 'serviceAccount:android-cloud-policy@system.gserviceaccount.com';
export const signupSuccessMessage = 'Android Enterprise successfully connected';

const notificationTypes: NotificationType[] = ['ENROLLMENT', 'STATUS_REPORT', 'COMMAND', 'USAGE_LOGS'];

/** What every device reports in its status reports (Flotilla maps these onto the host). */
export const statusReportingSettings = {
  deviceSettingsEnabled: true,
  memoryInfoEnabled: true,
  networkInfoEnabled: true,
  displayInfoEnabled: true,
  powerManagementEventsEnabled: true,
  hardwareStatusEnabled: true,
  systemPropertiesEnabled: true,
  softwareInfoEnabled: true,
  commonCriteriaModeEnabled: true,
  applicationReportsEnabled: true,
};

const sha256Hex = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

/** Fleet's 4xx for a state conflict: `Validation Failed` naming the field, with another status. */
const stateError = (status: number, name: string, reason: string) =>
  new HttpError(status, 'Validation Failed', [{ name, reason }]);

export const alreadyConfigured = () =>
  stateError(409, 'android', 'Android is already enabled and configured');
export const notConfigured = () => stateError(409, 'android', 'Android MDM is NOT configured');

export const noServiceAccount = () =>
  badRequest(
    'Android needs a Google Cloud service account: upload its JSON key with PUT ' +
      '/api/v1/fleet/android_enterprise/service_account or set FLOTILLA_ANDROID_SERVICE_ACCOUNT_FILE',
    'service_account',
  );

export interface AndroidEnterpriseDeps {
  store: AndroidEnterpriseStore;
  clients: AndroidClientProvider;
  assets: ConfigAssetService;
  appConfig: AppConfigService;
  activities: { record: (actor: Actor, type: string, details: Record<string, unknown>) => Promise<unknown> };
  config: { androidPushAudience?: string; androidPushServiceAccountEmail?: string };
  logger: Logger;
  /** Called after a bind or unbind commits (the push endpoint drops its cached credentials). */
  bindingChanged?: () => void;
}

/** Google resources made during one signup callback, deleted again if the binding fails. */
interface Made {
  topic?: string;
  subscription?: string;
  enterprise?: string;
}

/**
 * Binding this server to an Android Enterprise (Fleet's signup flow), reading it, and unbinding it.
 * Every Google call goes through the service account's client; a Google failure part way through
 * deletes what was made at Google and stores nothing.
 */
export class AndroidEnterpriseService {
  /** How often the signup SSE stream looks for the binding, and sends its heartbeat comment. */
  signupSse = { checkIntervalMs: 3000, heartbeatIntervalMs: 5000 };

  constructor(private readonly deps: AndroidEnterpriseDeps) {}

  /** The bound enterprise, if any. */
  bound(): Promise<BoundEnterprise | undefined> {
    return this.deps.store.bound();
  }

  /** Android MDM is on: an enterprise is bound (or the app-config flag says so). */
  async configured(): Promise<boolean> {
    const cfg = await this.deps.appConfig.get();
    return cfg.mdm.android_enabled_and_configured === true || (await this.bound()) !== undefined;
  }

  private async serverUrl(): Promise<string> {
    return (await this.deps.appConfig.serverUrl()).replace(/\/+$/, '');
  }

  private async client(): Promise<AndroidManagementClient> {
    const client = await this.deps.clients.get();
    if (!client) throw noServiceAccount();
    return client;
  }

  /** `GET /android_enterprise/signup_url`: Google's signup page for a new enterprise. */
  async signupUrl(userId: number): Promise<string> {
    if (await this.configured()) throw alreadyConfigured();
    const serverUrl = await this.serverUrl();
    let host: string;
    try {
      host = new URL(serverUrl).hostname;
    } catch {
      throw badRequest(`the server URL is not a URL: ${serverUrl}`, 'server_url');
    }
    if (['localhost', '127.0.0.1', '::1', '[::1]'].includes(host.toLowerCase())) {
      throw badRequest(`Android Enterprise cannot be enabled with localhost server URL: ${serverUrl}`);
    }
    const client = await this.client();
    // The callback's only credential: random, kept here as its hash.
    const token = randomBytes(32).toString('base64url');
    let signup;
    try {
      signup = await client.signupUrlsCreate(`${serverUrl}${signupCallbackPath}/${token}`);
    } catch (err) {
      this.deps.logger.warn(googleErrorLog(err), 'android: signupUrls.create failed');
      throw googleFailure(err);
    }
    await this.deps.store.beginSignup(userId, signup.name, sha256Hex(token));
    return signup.url;
  }

  /**
   * Google's callback (`GET /android_enterprise/connect/:token?enterpriseToken=`): the Pub/Sub topic
   * and push subscription, the enterprise, its default policy; then the row, the flag and the
   * activity. Throws Fleet's errors for a bad request; a Google failure throws a 502 after undoing.
   */
  async connect(signupToken: string, enterpriseToken: string): Promise<void> {
    if (!enterpriseToken) throw badRequest('enterpriseToken is required', 'enterpriseToken');
    if (await this.configured()) throw alreadyConfigured();
    const tokenHash = sha256Hex(signupToken);
    const signup = await this.deps.store.pendingSignup(tokenHash);
    if (!signup) throw forbidden('invalid signup token');
    const client = await this.client();
    const serverUrl = await this.serverUrl();
    const log = this.deps.logger;

    const pubsubToken = randomBytes(64).toString('base64url');
    const topicId = `a${randomUUID()}`;
    const made: Made = {};
    let enterpriseName: string;
    try {
      made.topic = await client.pubsubCreateTopic(topicId, { messageRetentionDuration: '86400s' });
      await client.pubsubGrantTopicRole(made.topic, 'roles/pubsub.publisher', amapiPublisher);
      const audience = this.deps.config.androidPushAudience;
      made.subscription = await client.pubsubCreatePushSubscription({
        subscriptionId: topicId,
        topicName: made.topic,
        pushEndpoint: `${serverUrl}${pubsubPushPath}?token=${pubsubToken}`,
        ackDeadlineSeconds: 60,
        ...(audience
          ? {
              oidcToken: {
                serviceAccountEmail:
                  this.deps.config.androidPushServiceAccountEmail ?? client.serviceAccountEmail,
                audience,
              },
            }
          : {}),
      });
      const enterprise = await client.enterprisesCreate({
        enterpriseToken,
        signupUrlName: signup.signupName,
        pubsubTopic: made.topic,
        enabledNotificationTypes: notificationTypes,
      });
      made.enterprise = enterprise.name;
      enterpriseName = enterprise.name;
      try {
        await client.policiesPatch(`${enterpriseName}/policies/${defaultPolicyId}`, {
          statusReportingSettings,
        });
      } catch (err) {
        if (!(err instanceof AmapiError && err.notModified)) throw err;
      }
    } catch (err) {
      log.warn(googleErrorLog(err), 'android: binding the enterprise failed; undoing');
      await this.undo(client, made);
      throw googleFailure(err);
    }

    const enterpriseId = enterpriseName.replace(/^enterprises\//, '');
    if (!(await this.deps.store.completeSignup(signup.id, tokenHash, enterpriseId, topicId))) {
      // Another use of the same callback bound it first; this one's enterprise goes.
      await this.undo(client, made);
      throw alreadyConfigured();
    }
    await this.deps.assets.set({ [AssetName.androidPubsubToken]: pubsubToken });
    this.deps.bindingChanged?.();
    await this.deleteOtherEnterprises(client, enterpriseName);
    await this.deps.appConfig.patch({ mdm: { android_enabled_and_configured: true } });
    await this.deps.activities.record(signup.user ? { user: signup.user } : null, 'enabled_android_mdm', {});
    log.info({ enterprise: enterpriseName, topic: topicId }, 'android: enterprise bound');
  }

  /** Best effort: deletes these Google resources, enterprise first (a failure is logged, not thrown). */
  private async undo(client: AndroidManagementClient, made: Made): Promise<void> {
    const steps: [string, (() => Promise<void>) | undefined][] = [
      ['enterprises.delete', made.enterprise ? () => client.enterprisesDelete(made.enterprise!) : undefined],
      [
        'subscriptions.delete',
        made.subscription ? () => client.pubsubDeleteSubscription(made.subscription!) : undefined,
      ],
      ['topics.delete', made.topic ? () => client.pubsubDeleteTopic(made.topic!) : undefined],
    ];
    for (const [call, step] of steps) {
      if (!step) continue;
      try {
        await step();
      } catch (err) {
        this.deps.logger.warn(
          { ...googleErrorLog(err), delete: call },
          'android: a best-effort Google delete failed',
        );
      }
    }
  }

  /**
   * Enterprises the project owns besides the new one: earlier signups' leftovers. Like Fleet, they
   * are deleted (the service account's project is meant for this server alone).
   */
  private async deleteOtherEnterprises(client: AndroidManagementClient, keep: string): Promise<void> {
    let names: string[];
    try {
      names = await client.enterprisesList();
    } catch (err) {
      this.deps.logger.warn(googleErrorLog(err), 'android: could not list the project enterprises');
      return;
    }
    for (const name of names) {
      if (name === keep) continue;
      try {
        await client.enterprisesDelete(name);
        this.deps.logger.info({ enterprise: name }, 'android: deleted another enterprise of the project');
      } catch (err) {
        this.deps.logger.warn({ ...googleErrorLog(err), enterprise: name }, 'android: could not delete it');
      }
    }
  }

  /**
   * `DELETE /android_enterprise`: deletes the enterprise at Google (already gone is fine) and its
   * Pub/Sub subscription and topic, then forgets it here and turns MDM off for every Android host.
   */
  async unbind(actor: Actor): Promise<void> {
    const bound = await this.bound();
    const wasOn = (await this.deps.appConfig.get()).mdm.android_enabled_and_configured === true;
    if (bound) {
      const client = await this.deps.clients.get();
      if (!client) {
        this.deps.logger.warn(
          { enterprise: bound.name },
          'android: no service account; the enterprise is forgotten here but not deleted at Google',
        );
      } else {
        try {
          await client.enterprisesDelete(bound.name);
        } catch (err) {
          if (!(err instanceof AmapiError && err.notFound)) {
            this.deps.logger.warn(googleErrorLog(err), 'android: enterprises.delete failed');
            throw googleFailure(err);
          }
        }
        if (bound.pubsubTopicId) {
          const project = `projects/${client.projectId}`;
          await this.undo(client, {
            subscription: `${project}/subscriptions/${bound.pubsubTopicId}`,
            topic: `${project}/topics/${bound.pubsubTopicId}`,
          });
        }
      }
    }
    const hostIds = await this.deps.store.unbindAll();
    await this.deps.assets.delete([AssetName.androidPubsubToken]);
    this.deps.bindingChanged?.();
    await this.deps.appConfig.patch({ mdm: { android_enabled_and_configured: false } });
    if (bound || wasOn) await this.deps.activities.record(actor, 'disabled_android_mdm', {});
    this.deps.logger.info(
      { enterprise: bound?.name, unenrolledHosts: hostIds.length },
      'android: enterprise unbound',
    );
  }
}
