import { hostname } from 'node:os';
import type { Logger } from 'pino';
import { createOrbit } from './agents/orbit/index.js';
import { createDevice, createDeviceTokens } from './agents/device/index.js';
import { createDiskEncryption } from './diskencryption/index.js';
import { createOsqueryAgent } from './agents/osquery/index.js';
import { createWindowsServices } from './windows/service.js';
import { ActivityService } from './admin/activityService.js';
import { ActivityStore } from './admin/activityStore.js';
import { AuthService } from './admin/authService.js';
import { SessionService } from './admin/sessionService.js';
import { UserStore } from './admin/userStore.js';
import { UserService } from './admin/userService.js';
import { createUserLifecycle } from './admin/lifecycle.js';
import { HostService } from './hosts/service.js';
import { LabelService } from './labels/service.js';
import { AppConfigService } from './appconfig/service.js';
import { AppConfigStore } from './appconfig/store.js';
import type { Config } from './config.js';
import { ConfigAssetService } from './configassets/service.js';
import { ConfigAssetStore } from './configassets/store.js';
import { SecretBox } from './crypto/secretbox.js';
import { HostEvents } from './hosts/events.js';
import { HostStore } from './hosts/store.js';
import { LabelStore } from './labels/store.js';
import { EnrollSecretService } from './teams/enrollSecretService.js';
import { EnrollSecretStore } from './teams/enrollSecretStore.js';
import { TeamService } from './teams/service.js';
import { TeamStore } from './teams/store.js';
import type { Database } from './db/database.js';
import { registerCronJobs } from './cron/jobs.js';
import { createAppleProfileDelivery, createAppleProfiles } from './apple/profiles/index.js';
import { createWindowsProfileSecrets, createWindowsProfiles } from './windows/profiles/index.js';
import { WindowsScepCertificateIdVariable } from './windows/profiles/scepVariable.js';
import { createApplePush } from './apple/push/index.js';
import { createApplePlatform } from './apple/platform.js';
import { createWindowsPlatform } from './windows/platform.js';
import { createMdm } from './mdm/index.js';
import { CronScheduler } from './cron/scheduler.js';
import { CronStore } from './cron/store.js';
import { AppleScepService } from './apple/scep/service.js';
import { ScepStore } from './apple/scep/store.js';
import { AppleEnrollmentService } from './apple/enrollment/service.js';
import { createAppleMdm } from './apple/checkin/index.js';
import { createAppleScepRenewal } from './apple/renewal/index.js';
import { createAppleDep } from './apple/dep/index.js';
import { createAdeHostPort, createAppleAde } from './apple/ade/index.js';
import { createAppleBootstrap } from './apple/bootstrap/index.js';
import { withMacosSetup } from './mdm/hostDetail.js';
import { createAppleFacts } from './apple/facts/index.js';
import { withAppleSecurityInfo } from './apple/facts/hostDetail.js';
import { DeclarativeManagementService } from './apple/ddm/service.js';
import { RateLimitService, rateLimitPolicies } from './ratelimit/service.js';
import { RateLimitStore } from './ratelimit/store.js';
import { createEndUserSso } from './sso/index.js';
import { createAndroid } from './android/index.js';
import { createCertificates } from './certs/index.js';
import { createCertificateAuthorities } from './certificateAuthorities/index.js';
import { declarationToken } from './apple/profiles/validate.js';
import {
  HostIdentityStore,
  HostIdentityVariables,
  ProfileExpander,
  ProfileVariableChecker,
  ProfileVariableStore,
  SecretDefinitionStore,
  SecretVariableService,
  SecretVariableStore,
  type FleetVariableSource,
  type VariableUploadRule,
} from './mdm/variables/index.js';

/**
 * Which `$FLEET_VAR_*` each platform's uploads take, by `Platform.family`, with Fleet's wording and
 * status: Apple refuses with 400 "… in configuration profiles.", Windows with 422 "… in Windows
 * profiles."; Android profiles take neither variables nor secrets.
 */
const variableUploadRules: Record<string, VariableUploadRule> = {
  apple: {
    documents: 'configuration profiles',
    status: 400,
    unsupported: (name) => name === 'SCEP_WINDOWS_CERTIFICATE_ID',
  },
  windows: {
    documents: 'Windows profiles',
    status: 422,
    unsupported: (name) => name === 'HOST_END_USER_EMAIL_IDP' || name.startsWith('DIGICERT_'),
  },
  android: {
    documents: 'Android profiles',
    status: 422,
    refusal:
      "Couldn't add. Fleet variables ($FLEET_VAR_*) and secret variables ($FLEET_SECRET_*) aren't supported in Android configuration profiles.",
  },
};

/**
 * Every service, wired to its stores and clients. Routes and cron jobs get their services from
 * here; tests build it directly.
 */
export function createServices(config: Config, database: Database, serverKey: string, logger: Logger) {
  const { db } = database;
  const box = new SecretBox(serverKey);
  const userStore = new UserStore(db);
  const activities = new ActivityService(new ActivityStore(db));
  const assets = new ConfigAssetService(new ConfigAssetStore(db), box);
  const auth = new AuthService(userStore, config.sessionDurationSeconds);
  const appConfig = new AppConfigService(new AppConfigStore(db, box), config.serverUrl);
  // Login and enrollment rate limits, counted in the database so every process shares them.
  const rateLimits = new RateLimitService(new RateLimitStore(db), rateLimitPolicies(config));
  const sessions = new SessionService(userStore, auth, appConfig, activities, rateLimits, logger);
  // Hosts, teams, enroll secrets and labels (admin API area).
  const hostStore = new HostStore(db);
  const hostEvents = new HostEvents(logger);
  const teamStore = new TeamStore(db);
  const enrollSecretStore = new EnrollSecretStore(db);
  const labelStore = new LabelStore(db);
  const enrollSecrets = new EnrollSecretService(db, enrollSecretStore, teamStore, activities);
  const teams = new TeamService(
    db,
    teamStore,
    enrollSecretStore,
    hostStore,
    userStore,
    activities,
    hostEvents,
  );
  const labels = new LabelService(db, labelStore, hostStore, activities, hostEvents);
  const users = new UserService(db, userStore, teamStore, auth, activities);
  // Invites, password change / reset and the SMTP client that mails their links.
  const lifecycle = createUserLifecycle({ config, db, logger, appConfig, userStore, teamStore, activities });
  // Apple push: APNs client, push certificate and push service.
  const applePushParts = createApplePush({ config, db, assets, appConfig, logger });
  // Fleet variables and secrets: `$FLEET_VAR_*` filled per host by the variable sources,
  // `$FLEET_SECRET_*` from secrets sealed at rest; the expander the profile managers deliver with.
  const secretVariableStore = new SecretVariableStore(db, box);
  const hostIdentityVariables = new HostIdentityVariables(new HostIdentityStore(db));
  // Certificate authorities (NDES, custom SCEP), the SCEP proxy, and their certificate variables.
  const certificateAuthorities = createCertificateAuthorities({
    config,
    db,
    box,
    activities,
    serverUrl: () => appConfig.serverUrl(),
    logger,
  });
  const variableSources: FleetVariableSource[] = [
    hostIdentityVariables,
    ...certificateAuthorities.variableSources,
    new WindowsScepCertificateIdVariable(),
  ];
  const profileExpander = new ProfileExpander(variableSources, secretVariableStore);
  const profileVariableChecks = new ProfileVariableChecker(
    variableSources,
    secretVariableStore,
    new ProfileVariableStore(db),
    variableUploadRules,
  );
  // Windows profile secrets: filled only as a queued command leaves for the PC, never stored.
  const windowsProfileSecrets = createWindowsProfileSecrets({ db, variables: profileExpander, logger });
  // Windows MDM (MS-MDE2 enrollment, SyncML management, commands).
  const windows = createWindowsServices({
    renderSecrets: (e, cmd) => windowsProfileSecrets.render(e, cmd),
    config,
    database,
    appConfig,
    assets,
    hostStore,
    userStore,
    activities,
    logger,
  });
  // Apple SCEP server and enrollment profiles.
  const appleScep = new AppleScepService(
    assets,
    new ScepStore(db),
    config.appleScepChallenge,
    config.appleScepChallengeTtlSeconds,
    logger,
  );
  const appleEnrollment = new AppleEnrollmentService(appleScep, applePushParts.certificates, appConfig);
  // Apple profile delivery: the signer (the SCEP CA, as Fleet signs) and the preparer the command
  // queue fills and signs ProfileWithSecrets commands with at delivery.
  const appleProfileDelivery = createAppleProfileDelivery({
    config,
    db,
    signingIdentity: () => appleScep.caCertificate(),
    secrets: profileExpander,
  });
  // Declarative Device Management: answers the DeclarativeManagement check-ins (secrets filled at delivery).
  const declarativeManagement = new DeclarativeManagementService(db, profileExpander);
  // Apple check-in and command queue (device endpoint, queue, lifecycle events).
  const appleMdm = createAppleMdm({
    config,
    db,
    logger,
    hostStore,
    hostEvents,
    identityCa: () => appleScep.caCertificate(),
    importedCas: () => appleScep.trustedOtherCaCertificates(),
    serverUrl: () => appConfig.serverUrl(),
    onCertificateAssociated: (der, deviceId) => appleScep.associateEnrollment(der, deviceId),
    declarativeManagement: (req) => declarativeManagement.handle(req),
    activities,
    // ADE: a device assigned in ABM is installed from ADE; its pending host takes the device's UDID.
    depEnrollment: createAdeHostPort(db),
    commandPreparers: appleProfileDelivery.commandPreparers,
  });
  // Apple device facts: DeviceInformation / SecurityInfo refetch jobs and SecurityInfo answers.
  const appleFacts = createAppleFacts({
    db,
    logger,
    appleMdmEvents: appleMdm.appleMdmEvents,
    appleQueue: appleMdm.appleQueue,
    applePush: applePushParts.push,
    pushCertificates: applePushParts.certificates,
    hostEvents,
    options: {
      staleAfterSeconds: config.appleRefetchIntervalSeconds,
      batchSize: config.appleRefetchBatchSize,
    },
  });
  // Apple configuration profiles and declarations: store, manager, results, DDM endpoints.
  const appleProfiles = createAppleProfiles({
    config,
    db,
    logger,
    appleMdmEvents: appleMdm.appleMdmEvents,
    appleQueue: appleMdm.appleQueue,
    applePush: applePushParts.push,
    variables: profileExpander,
    signer: appleProfileDelivery.signer,
  });
  // Apple bootstrap packages: admin API, download, InstallEnterpriseApplication results.
  const appleBootstrap = createAppleBootstrap({
    db,
    logger,
    teamStore,
    activities,
    appConfig,
    appleMdmEvents: appleMdm.appleMdmEvents,
    appleQueue: appleMdm.appleQueue,
    hostEvents,
    maxUploadBytes: config.appleBootstrapPackageMaxBytes,
  });
  // Windows configuration profiles: store, manager, results (a listener on the SyncML session).
  const windowsProfiles = createWindowsProfiles({ config, db, logger, windows, variables: profileExpander });
  // Disk encryption: FileVault / BitLocker enforcement, key escrow and verification.
  const { diskEncryption } = createDiskEncryption({
    db,
    logger,
    appConfig,
    teamStore,
    activities,
    appleScep,
    assets,
    appleProfileManager: appleProfiles.manager,
  });
  // Android through Google's Android Management API: binding, enrollment, Pub/Sub, policies.
  const android = createAndroid({
    config,
    db,
    logger,
    assets,
    appConfig,
    activities,
    hostStore,
    hostEvents,
    teamStore,
    enrollSecrets,
  });
  // The MDM core over each platform's adapter: commands (run, list, results), host actions
  // (refetch, lock, unlock, wipe), configuration profiles, and the MDM part of host detail.
  const mdm = createMdm({
    db,
    platforms: [
      createApplePlatform({
        db,
        queue: appleMdm.appleQueue,
        push: applePushParts.push,
        certificates: applePushParts.certificates,
        conflicts: appleMdm.appleEnrollmentConflicts,
        profiles: appleProfiles.profiles,
      }),
      createWindowsPlatform({ db, windows, profiles: windowsProfiles.profiles }),
      android.platform,
    ],
    activities,
    hosts: hostStore,
    hostEvents,
    diskEncryption,
    profileVariables: profileVariableChecks,
  });
  // The secret API ($FLEET_SECRET_*): a changed value re-sends the profiles that use it.
  const secretVariables = new SecretVariableService(
    secretVariableStore,
    new SecretDefinitionStore(db, declarationToken),
    mdm.profiles,
    activities,
  );
  const hosts = new HostService(
    db,
    hostStore,
    labelStore,
    teamStore,
    activities,
    hostEvents,
    withMacosSetup(withAppleSecurityInfo(mdm.hostDetail, appleFacts), appleBootstrap),
  );
  // osquery: enrollment, config, detail queries (vitals, MDM checks), dynamic labels. Profile
  // checks feed the same verifiers as the MDM protocols' own (ProfileList, SyncML Get).
  const { osquery } = createOsqueryAgent({
    config,
    db,
    logger,
    hostStore,
    teamStore,
    enrollSecrets,
    appConfig,
    hostEvents,
    diskEncryption,
    appleProfileVerifier: appleProfiles.results,
    windowsProfileVerifier: windowsProfiles.results,
  });
  // Apple ADE: ABM server tokens, the DEP syncer cron and the pending hosts it creates.
  const appleDep = createAppleDep({ config, db, box, assets, appConfig, hostStore, hostEvents, logger });
  // Expiry monitoring: every certificate the server depends on (list, GET /config, daily warnings).
  const certificates = createCertificates({
    db,
    logger,
    config,
    assets,
    activities,
    apns: applePushParts.certificates,
    abmTokens: appleDep.tokens,
  });
  appConfig.addReadFacts(() => certificates.configFacts());
  // fleetd (orbit): enrollment, config notifications, device tokens, BitLocker key escrow.
  const deviceTokens = createDeviceTokens(db);
  const { orbit, orbitStore } = createOrbit({
    db,
    hostStore,
    enrollSecrets,
    appConfig,
    activities,
    hostEvents,
    diskEncryption,
    deviceTokens,
    dep: appleDep,
    logger,
  });
  // Fleet Desktop's device endpoints (authenticated by the device token orbit registers).
  const { device } = createDevice({
    deviceTokens,
    hostStore,
    hostDetail: hosts,
    mdm: orbitStore,
    appConfig,
    enrollment: appleEnrollment,
    dep: appleDep,
    logger,
  });
  // Apple ADE enrollment and setup experience: the automatic enroll endpoint, the hold in Setup
  // Assistant and its release (DeviceConfigured), custom setup assistants.
  const appleAde = createAppleAde({
    config,
    db,
    logger,
    teamStore,
    appConfig,
    activities,
    enrollmentProfiles: appleEnrollment,
    dep: appleDep,
    appleMdmEvents: appleMdm.appleMdmEvents,
    appleQueue: appleMdm.appleQueue,
    applePush: applePushParts.push,
    bootstrap: appleBootstrap,
    hostEvents,
  });
  // Apple SCEP identity renewal (the renew_scep_certificates cron).
  const appleScepRenewal = createAppleScepRenewal({
    config,
    db,
    logger,
    hostStore,
    activities,
    appleScep,
    pushCertificates: applePushParts.certificates,
    appConfig,
    appleQueue: appleMdm.appleQueue,
    applePush: applePushParts.push,
  });
  // End-user authentication (SAML before ADE enrollment) and the EULA.
  const endUserSso = createEndUserSso({
    config,
    db,
    appConfig,
    automaticEnrollmentToken: () => appleDep.automaticEnrollmentToken(),
    logger,
  });
  const cronStore = new CronStore(db);
  const cron = new CronScheduler(cronStore, config.instanceId ?? `${hostname()}:${process.pid}`, logger);
  const services = {
    config,
    database,
    logger,
    box,
    userStore,
    activities,
    assets,
    auth,
    appConfig,
    sessions,
    rateLimits,
    hostStore,
    hostEvents,
    teamStore,
    enrollSecretStore,
    labelStore,
    enrollSecrets,
    teams,
    labels,
    hosts,
    users,
    ...lifecycle,
    cronStore,
    cron,
    appleScep,
    appleEnrollment,
    ...appleMdm,
    profiles: mdm.profiles,
    profileExpander,
    secretVariables,
    certificateAuthorities,
    profileManagerJobs: mdm.profileManagerJobs,
    profileManager: appleProfiles.manager,
    appleProfileSigner: appleProfileDelivery.signer,
    declarativeManagement,
    windowsProfileStore: windowsProfiles.store,
    windowsProfileManager: windowsProfiles.manager,
    windowsProfilesTick: windowsProfiles.tick,
    windows,
    windowsCommands: windows.commands,
    orbit,
    osquery,
    deviceTokens,
    device,
    diskEncryption,
    apnsCertificates: applePushParts.certificates,
    applePush: applePushParts.push,
    apnsClient: applePushParts.client,
    commands: mdm.commands,
    hostActions: mdm.hostActions,
    appleDep,
    certificates,
    appleAde,
    appleBootstrap,
    appleScepRenewal,
    appleFacts,
    android,
    endUserAuth: endUserSso.endUserAuth,
    eula: endUserSso.eula,
    /** Starts the cron jobs (unless this process stays out of cron work). */
    startBackground: async () => {
      if (config.cronEnabled) cron.start();
    },
    stopBackground: () => cron.stop(),
  };
  registerCronJobs(cron, services);
  return services;
}

export type Services = ReturnType<typeof createServices>;
