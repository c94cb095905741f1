import { readFileSync } from 'node:fs';
import { z } from 'zod';

const bool = z.preprocess((v) => {
  if (typeof v !== 'string') return v;
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  return v;
}, z.boolean());

/**
 * Every setting, with a default that works on a fresh machine. Each key is read from the env var
 * `FLOTILLA_<KEY_IN_SNAKE_CASE>` (e.g. `serverUrl` ← `FLOTILLA_SERVER_URL`) or from the JSON file
 * named by `FLOTILLA_CONFIG`; the environment wins over the file.
 */
export const configSchema = z
  .object({
    /** The public URL devices and admins reach this server at. */
    serverUrl: z.url().default('http://localhost:8080'),
    listenHost: z.string().min(1).default('0.0.0.0'),
    listenPort: z.coerce.number().int().min(0).max(65535).default(8080),
    /** `sqlite:<path>` (relative to dataDir when not absolute) or `mysql://user:pass@host:port/db`. */
    databaseUrl: z
      .string()
      .regex(/^(sqlite:|mysql:\/\/)/, 'must start with sqlite: or mysql://')
      .default('sqlite:flotilla.db'),
    databasePoolSize: z.coerce.number().int().min(1).max(500).default(10),
    dataDir: z.string().min(1).default('./data'),
    tlsCert: z.string().optional(),
    tlsKey: z.string().optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /**
     * Key that encrypts secrets at rest (at least 32 characters; the first 32 bytes are used).
     * Required on MySQL; on SQLite it is generated into the data directory when absent.
     */
    serverPrivateKey: z.string().min(32, 'must be at least 32 characters').optional(),
    /**
     * Serve the admin console at `/` (built into dist/web by `npm run build`, which `npm start` runs).
     * Off leaves only the API and the device endpoints.
     */
    consoleEnabled: bool.default(true),
    /** Where the built console is (index.html and assets/); unset: the package's dist/web. */
    consoleDir: z.string().min(1).optional(),
    /** Admin sessions expire after this many seconds without use. */
    sessionDurationSeconds: z.coerce
      .number()
      .int()
      .min(60)
      .default(5 * 24 * 3600),
    /**
     * Which proxies to trust for the client address (`X-Forwarded-For`): `false` (none, the
     * default), `true` (any), a hop count, or a comma-separated list of addresses or CIDR ranges.
     * Per-address rate limits see the load balancer's address unless this is set.
     */
    trustProxy: z
      .string()
      .default('false')
      .transform((v): boolean | number | string[] => {
        if (/^(false|0|no|off)?$/i.test(v)) return false;
        if (/^(true|yes|on)$/i.test(v)) return true;
        if (/^\d+$/.test(v)) return Number(v);
        return v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
      }),
    /** Login attempts accepted per client address in each window (0 = no limit). */
    loginAttemptsPerAddress: z.coerce.number().int().min(0).default(10),
    /** Length of the per-address login window, in seconds. */
    loginAddressWindowSeconds: z.coerce.number().int().min(1).max(86400).default(60),
    /** Failed logins per account (e-mail) per window; past it even the right password waits (0 = off). */
    loginFailuresPerAccount: z.coerce.number().int().min(0).default(10),
    /** Length of the per-account login window, in seconds. */
    loginAccountWindowSeconds: z.coerce.number().int().min(1).max(86400).default(900),
    /** Requests per client address to the enrollment endpoints in each window (0 = no limit). */
    enrollRequestsPerAddress: z.coerce.number().int().min(0).default(60),
    /** Length of the per-address enrollment window, in seconds. */
    enrollAddressWindowSeconds: z.coerce.number().int().min(1).max(86400).default(60),
    /**
     * Requests per client address in each window to the unauthenticated user endpoints that take or
     * mail a one-time token: forgot_password, reset_password, GET /invites/:token, POST /users (0 = off).
     */
    userTokenRequestsPerAddress: z.coerce.number().int().min(0).default(20),
    /** Length of that window, in seconds. */
    userTokenAddressWindowSeconds: z.coerce.number().int().min(1).max(86400).default(600),
    /**
     * Fleet Desktop device endpoints (`/device/{token}/...`): failed requests (bad or expired token,
     * refused action) accepted per client address in each window; past it the address gets 429 until
     * the window ends, valid token or not (Fleet bans after 1000 failures a minute; 0 = off).
     */
    deviceFailuresPerAddress: z.coerce.number().int().min(0).default(1000),
    /** Length of that window (and so the longest ban), in seconds. */
    deviceFailureWindowSeconds: z.coerce.number().int().min(1).max(86400).default(60),
    /**
     * End-user authentication (SAML before ADE enrollment): requests per client address to
     * `POST /mdm/sso` and its callback in each window (Fleet: 10 a minute; 0 = no limit).
     */
    mdmSsoRequestsPerAddress: z.coerce.number().int().min(0).default(10),
    /** Length of that window, in seconds. */
    mdmSsoAddressWindowSeconds: z.coerce.number().int().min(1).max(86400).default(60),
    /** How long an end user has from `POST /mdm/sso` to the IdP's answer (Fleet: 5 minutes). */
    mdmSsoSessionValiditySeconds: z.coerce.number().int().min(30).max(86400).default(300),
    /** Largest EULA (PDF) accepted by `POST /setup_experience/eula`. */
    eulaMaxUploadBytes: z.coerce
      .number()
      .int()
      .min(1024)
      .default(10 * 1024 * 1024),
    /** How long an invite link stays usable (Fleet: 5 days). */
    inviteValidityDays: z.coerce.number().int().min(1).max(365).default(5),
    /** How long a password reset link stays usable (Fleet: 24 hours). */
    passwordResetValidityMinutes: z.coerce
      .number()
      .int()
      .min(5)
      .max(7 * 1440)
      .default(1440),
    /** Largest request body accepted on the admin API. */
    maxBodyBytes: z.coerce
      .number()
      .int()
      .min(1024)
      .default(2 * 1024 * 1024),
    /** Run the in-process cron jobs in this process. */
    cronEnabled: bool.default(true),
    /** Identifies this process in the cron lease table; defaults to hostname and pid. */
    instanceId: z.string().optional(),
    /** Test only: run a no-op `test_tick` cron job every this many seconds (0 = off). */
    cronTestJobIntervalSeconds: z.coerce.number().int().min(0).max(86400).default(0),
    /** Apple: static SCEP challenge accepted in addition to the one-time challenges in profiles. */
    appleScepChallenge: z.string().optional(),
    /** Apple: how long the one-time SCEP challenge in a downloaded enrollment profile stays usable. */
    appleScepChallengeTtlSeconds: z.coerce
      .number()
      .int()
      .min(60)
      .max(30 * 86400)
      .default(3600),
    /**
     * SCEP proxy: how long the one-time challenge in a custom SCEP proxy URL stays usable (Fleet:
     * 7 days, so a device that was offline when the profile came still gets its certificate).
     */
    scepProxyChallengeTtlSeconds: z.coerce
      .number()
      .int()
      .min(60)
      .max(90 * 86400)
      .default(7 * 86400),
    /** SCEP proxy: timeout of each call to an upstream SCEP server or NDES admin page (Fleet: 30 s). */
    scepProxyTimeoutSeconds: z.coerce.number().int().min(1).max(600).default(30),
    /**
     * Apple: a new identity may take over an enrolled UDID once that enrollment has been silent this
     * many days (0 = never; check-out, a wipe, or a bound certificate still allow it).
     */
    appleReenrollAfterSilentDays: z.coerce.number().int().min(0).max(3650).default(30),
    /**
     * Apple: identity certificates expiring within this many days are renewed by the hourly
     * `renew_scep_certificates` job (Fleet: 180; identities are valid 365 days).
     */
    appleScepRenewalWindowDays: z.coerce.number().int().min(1).max(330).default(180),
    /** Apple: most identity certificates asked to renew per run of that job (Fleet: 100). */
    appleScepRenewalBatchSize: z.coerce.number().int().min(1).max(10000).default(100),
    /** Apple: first wait before a failed identity renewal is tried again; doubles per failure, at most 7 days. */
    appleScepRenewalRetryMinutes: z.coerce
      .number()
      .int()
      .min(1)
      .max(7 * 24 * 60)
      .default(60),
    /**
     * Apple: enrollment profile (XML, signed, or base64 of either) that renews devices migrated from
     * another MDM, with that MDM's identifiers, ServerURL and Topic (Fleet's
     * FLEET_SILENT_MIGRATION_ENROLLMENT_PROFILE). Without it such devices are reported, not renewed.
     */
    appleMigrationEnrollmentProfileFile: z.string().optional(),
    /** Apple: APNs base URL: production, sandbox, or any URL (tests point it at a local stand-in). */
    apnsBaseUrl: z.string().default('production'),
    /** Apple: trust CAs (PEM file) for a custom APNs base URL, e.g. a local stand-in. */
    apnsCaFile: z.string().optional(),
    /** Apple: most APNs pushes in flight at once over the HTTP/2 session. */
    apnsMaxConcurrentStreams: z.coerce.number().int().min(1).max(1000).default(100),
    /** Apple: how often the re-push cron (`apple_mdm_apns_pusher`) runs. */
    apnsRepushIntervalSeconds: z.coerce.number().int().min(1).default(60),
    /** Apple: first re-push delay for a device with pending commands; doubles per try up to the max. */
    apnsRepushBackoffSeconds: z.coerce.number().int().min(1).default(60),
    /** Apple: longest delay between re-pushes of one device. */
    apnsRepushMaxBackoffSeconds: z.coerce.number().int().min(1).default(3600),
    /** Apple: enrollments pushed per re-push batch. */
    apnsRepushBatchSize: z.coerce.number().int().min(1).max(10000).default(500),
    /** Apple: how long a process caches the APNs certificate read from storage (renewals show up after this). */
    apnsCertCacheSeconds: z.coerce.number().int().min(0).default(30),
    /** Apple: header carrying the device's client certificate when a TLS terminator checks it. */
    appleClientCertHeader: z.string().optional(),
    /** Apple: largest check-in or command report accepted (results such as app lists can be large). */
    appleMdmMaxBodyBytes: z.coerce
      .number()
      .int()
      .min(1024)
      .default(20 * 1024 * 1024),
    /** Apple: a command handed to a device this many times without a decodable answer is given up. */
    appleCommandMaxDeliveries: z.coerce.number().int().min(1).max(1000).default(5),
    /** Apple: acknowledged command results (and their queue rows) are deleted after this many days. */
    appleCommandRetentionDays: z.coerce.number().min(0).default(30),
    /**
     * Apple device facts: DeviceInformation and SecurityInfo answers older than this are asked for
     * again by the refetch jobs (Fleet's iPhone/iPad refetch: 1 hour).
     */
    appleRefetchIntervalSeconds: z.coerce
      .number()
      .int()
      .min(60)
      .max(30 * 86400)
      .default(3600),
    /** Apple device facts: how often `apple_mdm_iphone_ipad_refetcher` and `apple_mdm_macos_refetcher` run. */
    appleRefetchJobIntervalSeconds: z.coerce.number().int().min(1).max(86400).default(3600),
    /** Apple device facts: hosts per shared DeviceInformation / SecurityInfo command. */
    appleRefetchBatchSize: z.coerce.number().int().min(1).max(100_000).default(1000),
    /** Apple ADE: base URL of Apple's DEP API; a token's nano_dep_names.config_base_url overrides it. */
    appleDepBaseUrl: z.url().default('https://mdmenrollment.apple.com'),
    /** Apple ADE: seconds between runs of the DEP syncer (Fleet's mdm.apple_dep_sync_periodicity, 1 min). */
    appleDepSyncPeriodicitySeconds: z.coerce.number().int().min(1).max(86400).default(60),
    /**
     * Apple ADE: an ADE device still held in Setup Assistant this long after it enrolled is released
     * (DeviceConfigured) even though profiles or its bootstrap package are still pending. Fleet's
     * release job gives up after its third retry, about 15 minutes (30 s + 5 min + 10 min).
     */
    appleSetupReleaseTimeoutSeconds: z.coerce
      .number()
      .int()
      .min(60)
      .max(7 * 86400)
      .default(900),
    /** Apple ADE: seconds between runs of the job that releases settled ADE devices. */
    appleSetupReleaseIntervalSeconds: z.coerce.number().int().min(1).max(3600).default(30),
    /** Apple ADE: Apple's software lookup service, for the newest OS a device must update to before enrolling. */
    appleGdmfUrl: z.url().default('https://gdmf.apple.com/v2/pmv'),
    /** Apple ADE: largest bootstrap package accepted, in bytes (Fleet's installer limit: 3 GiB). */
    appleBootstrapPackageMaxBytes: z.coerce
      .number()
      .int()
      .min(1024)
      .default(3 * 1024 * 1024 * 1024),
    /** Android: base URL of Google's Android Management API (a local stand-in in tests). */
    androidApiUrl: z.url().default('https://androidmanagement.googleapis.com/'),
    /** Android: base URL of Google Cloud Pub/Sub's REST API (topic, IAM binding, push subscription). */
    androidPubsubApiUrl: z.url().default('https://pubsub.googleapis.com/'),
    /**
     * Android: a Google Cloud service-account JSON file (with `project_id`) to call Google with. It
     * can also be uploaded through the admin API; either way it is stored encrypted.
     */
    androidServiceAccountFile: z.string().optional(),
    /**
     * Android: when set, the Pub/Sub push endpoint also requires the Google-signed OIDC token push
     * subscriptions attach, with this audience (the subscription is created to attach it).
     */
    androidPushAudience: z.string().optional(),
    /** Android: the service account that signs those OIDC tokens (its `email` claim); default the bound one's. */
    androidPushServiceAccountEmail: z.string().optional(),
    /** Android: where Google publishes the public keys that sign OIDC tokens (PEM certificates JSON). */
    androidOidcCertsUrl: z.url().default('https://www.googleapis.com/oauth2/v1/certs'),
    /** Android: lifetime of an enrollment token (Fleet: about an hour). */
    androidEnrollmentTokenTtlSeconds: z.coerce
      .number()
      .int()
      .min(60)
      .max(90 * 86400)
      .default(3600),
    /** Windows: largest SOAP or SyncML body accepted from a device. */
    windowsMaxBodyBytes: z.coerce
      .number()
      .int()
      .min(1024)
      .default(2 * 1024 * 1024),
    /** Windows: minutes between a device's management sessions (DMClient poll schedule). */
    windowsPollIntervalMinutes: z.coerce.number().int().min(1).max(1440).default(1),
    /** Windows: seconds a management digest nonce stays valid before the device is challenged again. */
    windowsDigestNonceTtlSeconds: z.coerce.number().int().min(30).default(300),
    /** Windows: accept on-premise user name (Flotilla user e-mail) and password enrollment. */
    windowsOnPremiseEnrollment: bool.default(false),
    /**
     * Windows: days before its MDM certificate expires that a device starts renewing it (My/WSTEP/Renew
     * RenewPeriod). An issued certificate has about 185 days left, so at most 180 (more would renew again
     * right after each renewal).
     */
    windowsCertRenewPeriodDays: z.coerce.number().int().min(1).max(180).default(60),
    /** Windows: days a device waits before retrying a failed certificate renewal (RetryInterval). */
    windowsCertRenewRetryIntervalDays: z.coerce.number().int().min(1).max(1000).default(4),
    /** Windows: header carrying the device's client certificate when a TLS terminator checks it (URL-escaped PEM). */
    windowsClientCertHeader: z.string().optional(),
    /** Windows push (WNS): the Store app's Package SID (`S-1-15-2-…`); push is off without it and the secret. */
    windowsWnsPackageSid: z.string().optional(),
    /** Windows push (WNS): the app's client secret from Partner Center. */
    windowsWnsClientSecret: z.string().optional(),
    /** Windows push (WNS): the app's Package Family Name, written to each PC's DMClient Push/PFN. */
    windowsWnsPfn: z.string().optional(),
    /** Windows push (WNS): OAuth token endpoint (a local stand-in in tests). */
    windowsWnsTokenUrl: z.url().default('https://login.live.com/accesstoken.srf'),
    /** Windows push (WNS): host suffixes a device's ChannelURI may point at (comma-separated); anything else is refused. */
    windowsWnsAllowedHosts: z.string().min(1).default('notify.windows.com'),
    /** Windows push (WNS), tests only: also accept plain-http ChannelURIs on the allowed hosts. */
    windowsWnsAllowHttp: bool.default(false),
    /** Windows push (WNS): pushes for commands queued within this many milliseconds go out together. */
    windowsWnsCoalesceMs: z.coerce.number().int().min(0).max(60_000).default(1000),
    /** Windows push (WNS): re-read a PC's ChannelURI when the last answer is older than this. */
    windowsWnsChannelMaxAgeHours: z.coerce.number().int().min(1).max(720).default(24),
    /** Windows push (WNS): how often the re-push cron (`windows_mdm_wns_pusher`) runs. */
    windowsWnsRepushIntervalSeconds: z.coerce.number().int().min(1).default(60),
    /** Windows push (WNS): first re-push delay for a PC with pending commands; doubles per try up to the max. */
    windowsWnsRepushBackoffSeconds: z.coerce.number().int().min(1).default(60),
    /** Windows push (WNS): longest delay between re-pushes of one PC. */
    windowsWnsRepushMaxBackoffSeconds: z.coerce.number().int().min(1).default(3600),
    /** Windows: fleetd MSI sent to PCs enrolled without fleetd (user-driven enrollment) on their first session. */
    windowsFleetdInstallerUrl: z.url().optional(),
    /** Windows: SHA-256 (hex) of that MSI; required with the URL. */
    windowsFleetdInstallerSha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'must be 64 hex characters')
      .optional(),
    /**
     * Certificates: days before expiry at which the daily check records a warning (activity and log
     * line), once per threshold and certificate; comma-separated.
     */
    certificateExpiryWarningDays: z
      .string()
      .default('30,14,1')
      .transform((v, ctx) => {
        const days = v.split(',').map((s) => Number(s.trim()));
        if (days.some((d) => !Number.isInteger(d) || d < 1 || d > 3650)) {
          ctx.addIssue({ code: 'custom', message: 'must be whole days between 1 and 3650, comma-separated' });
          return z.NEVER;
        }
        return [...new Set(days)].sort((a, b) => b - a);
      }),
    /** Windows profiles: re-sends after the first attempt (install error or read-back mismatch) before failed. */
    windowsProfileMaxRetries: z.coerce.number().int().min(0).default(1),
    /** Windows profiles: a read-back mismatch this many seconds after the install was acknowledged is ignored. */
    windowsProfileVerifyGraceSeconds: z.coerce.number().int().min(0).default(3600),
    /** Windows profiles: read verified profiles back from each host this often (seconds). */
    windowsProfileVerifyIntervalSeconds: z.coerce.number().int().min(1).default(3600),
    /** Windows profiles: wrap every install in one <Atomic> (older Fleet) instead of sending it as written. */
    windowsProfileWrapInAtomic: bool.default(false),
    /** Profiles: largest configuration profile / declaration upload, in bytes. */
    profileMaxUploadBytes: z.coerce
      .number()
      .int()
      .min(1024)
      .default(1024 * 1024),
    /** Profiles: hosts per window of the profile manager's cursor walk. */
    profileManagerBatchHosts: z.coerce.number().int().min(1).default(5000),
    /** Profiles: time one profile manager tick may spend before stopping at a window boundary. */
    profileManagerTickBudgetMs: z.coerce.number().int().min(100).default(12_000),
    /** Profiles: seconds between full sweeps of every host (ticks in between handle only hosts marked pending). */
    profileManagerSweepIntervalSeconds: z.coerce.number().int().min(0).default(600),
    /** Profiles: re-sends after the first attempt before a profile is marked failed. */
    profileMaxRetries: z.coerce.number().int().min(0).default(3),
    /** Profiles: ask each Apple host for its ProfileList at least this often (seconds). */
    profileVerifyIntervalSeconds: z.coerce.number().int().min(1).default(3600),
    /** Profiles: a profile missing from a ProfileList counts only if acknowledged this long before it was asked. */
    profileVerifyGraceSeconds: z.coerce.number().int().min(0).default(60),
    /** Profiles: hosts asked for a ProfileList per manager tick. */
    profileVerifyHostsPerTick: z.coerce.number().int().min(1).default(2000),
    /** Profiles: an Apple profile uploaded already signed is re-signed by the server instead of sent as uploaded. */
    appleProfileResignSignedUploads: bool.default(false),
    /** osquery: a host's detail queries (vitals, MDM checks) are sent again after this many seconds (Fleet: 1 h). */
    osqueryDetailUpdateIntervalSeconds: z.coerce.number().int().min(1).default(3600),
    /** osquery: a host's dynamic label queries are sent again after this many seconds (Fleet: 1 h). */
    osqueryLabelUpdateIntervalSeconds: z.coerce.number().int().min(1).default(3600),
    /** osquery: up to this share of an interval is added per host, so hosts do not all refresh at once (Fleet: 10). */
    osqueryMaxJitterPercent: z.coerce.number().int().min(0).max(100).default(10),
    /** osquery: length of the node keys handed out at enrollment (Fleet: 24). */
    osqueryNodeKeySize: z.coerce.number().int().min(16).max(255).default(24),
    /** osquery: what identifies a host at enrollment: `provided` (what osquery sends), `instance`, `uuid` or `hostname`. */
    osqueryHostIdentifier: z.enum(['provided', 'instance', 'uuid', 'hostname']).default('provided'),
    /**
     * osquery: largest request body accepted on /api/osquery/*. Flotilla collects no software
     * inventory, so the largest answers are MDM checks (profile lists, a Windows read-back, a
     * FileVault key: tens of KB); 5 MB leaves room for result logs while bounding what one agent
     * can make the server parse.
     */
    osqueryMaxBodyBytes: z.coerce
      .number()
      .int()
      .min(1024)
      .default(5 * 1024 * 1024),
  })
  .strict();

export type Config = z.infer<typeof configSchema>;

function snakeCase(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
}

export class ConfigError extends Error {}

/** Builds the config from a file, the environment and explicit overrides (in rising precedence). */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<Record<keyof Config, unknown>> = {},
): Config {
  let fromFile: Record<string, unknown> = {};
  if (env.FLOTILLA_CONFIG) {
    try {
      fromFile = JSON.parse(readFileSync(env.FLOTILLA_CONFIG, 'utf8')) as Record<string, unknown>;
    } catch (err) {
      throw new ConfigError(`FLOTILLA_CONFIG: cannot read ${env.FLOTILLA_CONFIG}: ${(err as Error).message}`);
    }
  }
  const fromEnv: Record<string, unknown> = {};
  for (const key of Object.keys(configSchema.shape)) {
    const value = env[`FLOTILLA_${snakeCase(key)}`];
    if (value !== undefined && value !== '') fromEnv[key] = value;
  }
  const merged = { ...fromFile, ...fromEnv, ...overrides };
  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = String(issue.path[0] ?? '');
    const name = key ? `FLOTILLA_${snakeCase(key)} (${key})` : 'config';
    throw new ConfigError(`invalid setting ${name}: ${issue.message}`);
  }
  return parsed.data;
}
