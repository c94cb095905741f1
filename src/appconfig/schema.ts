import { z, type ZodError } from 'zod';
import { HttpError } from '../http/errors.js';
import { maskedSecret } from './defaults.js';
import { formatGoDuration, parseGoDuration } from './duration.js';

/*
 * What `PATCH /config` accepts: Fleet's `AppConfig` document, every key optional. Fleet decodes the
 * body onto the stored settings with Go's JSON rules, which these helpers mirror:
 * - `keep`: a plain Go value (string, bool, number, struct). `null` leaves the stored value as it is.
 * - `clearable`: an optional Go value (optjson, pointer, slice, map). `null` stores null.
 * - `section`: a nested object; its keys merge into the stored object, unknown keys are refused.
 * Arrays replace the stored array; their items get Fleet's zero values for missing fields.
 */

function keep<T extends z.ZodType>(t: T) {
  return t.nullish().transform((v) => v ?? undefined);
}

function clearable<T extends z.ZodType>(t: T) {
  return t.nullable().optional();
}

function section<S extends z.ZodRawShape>(shape: S) {
  return keep(z.object(shape).strict());
}

const text = (max = 4096) => keep(z.string().max(max));
const optionalText = (max = 4096) => clearable(z.string().max(max));
const flag = () => keep(z.boolean());
const optionalFlag = () => clearable(z.boolean());
const count = (max = 2_147_483_647) => keep(z.number().int().min(0).max(max));
const optionalCount = (max = 2_147_483_647) => clearable(z.number().int().min(0).max(max));
const names = () => clearable(z.array(z.string().max(4096)));
/** Big free-text values (IdP metadata XML, certificates, scripts). */
const blob = () => keep(z.string().max(1_000_000));

/** An array item's field: absent means Go's zero value. */
const itemText = () => z.string().max(4096).default('');
const itemFlag = () => z.boolean().default(false);

/** Go's `time.Duration`: nanoseconds or duration text, stored as Go writes it ("24h0m0s"). */
const duration = () =>
  keep(
    z.union([z.number().int(), z.string()]).transform((v, ctx) => {
      const ns = typeof v === 'number' ? BigInt(v) : parseGoDuration(v);
      if (ns === undefined) {
        // Go refuses it while decoding the body, so Fleet answers as for a wrong type.
        ctx.addIssue({
          code: 'custom',
          message: `time: invalid duration "${String(v)}"`,
          params: { decode: true },
        });
        return z.NEVER;
      }
      return formatGoDuration(ns);
    }),
  );

/** A configuration profile reference: `{path, labels_*}`, or the legacy bare path. */
const profileSpec = z.preprocess(
  (v) => (typeof v === 'string' ? { path: v } : v),
  z
    .object({
      path: itemText(),
      labels: z.array(z.string()).optional(),
      labels_include_all: z.array(z.string()).optional(),
      labels_include_any: z.array(z.string()).optional(),
      labels_exclude_any: z.array(z.string()).optional(),
    })
    .strict(),
);
const profiles = () => clearable(z.array(profileSpec));

const jiraIntegration = z
  .object({
    url: itemText(),
    username: itemText(),
    api_token: itemText(),
    project_key: itemText(),
    enable_failing_policies: itemFlag(),
    enable_software_vulnerabilities: itemFlag(),
  })
  .strict();

const zendeskIntegration = z
  .object({
    url: itemText(),
    email: itemText(),
    api_token: itemText(),
    group_id: z.number().int().min(0).default(0),
    enable_failing_policies: itemFlag(),
    enable_software_vulnerabilities: itemFlag(),
  })
  .strict();

const googleCalendarIntegration = z
  .object({
    domain: itemText(),
    // The service account key; `********` (as GET shows it) keeps the stored key.
    api_key_json: z
      .union([z.literal(maskedSecret), z.record(z.string(), z.string())])
      .nullable()
      .default(null),
  })
  .strict();

const abmAssignment = z
  .object({
    organization_name: itemText(),
    macos_team: itemText(),
    ios_team: itemText(),
    ipados_team: itemText(),
  })
  .strict();

const vppAssignment = z
  .object({ location: itemText(), teams: z.array(z.string()).nullable().default(null) })
  .strict();

const setupSoftware = z.object({ app_store_id: itemText(), package_path: itemText() }).strict();

/** Android certificate templates: stored as sent (Flotilla has no Android certificate delivery). */
const androidCertificate = z.record(z.string(), z.unknown());

export type JiraIntegration = z.output<typeof jiraIntegration>;
export type ZendeskIntegration = z.output<typeof zendeskIntegration>;
export type GoogleCalendarIntegration = z.output<typeof googleCalendarIntegration>;
export type AbmAssignment = z.output<typeof abmAssignment>;
export type VppAssignment = z.output<typeof vppAssignment>;
export type SetupSoftware = z.output<typeof setupSoftware>;
export type AndroidCertificate = z.output<typeof androidCertificate>;
export type ProfileSpec = z.output<typeof profileSpec>;

const orgInfo = section({
  org_name: text(255),
  org_logo_url: text(2048),
  org_logo_url_light_background: text(2048),
  org_logo_url_dark_mode: text(2048),
  org_logo_url_light_mode: text(2048),
  contact_url: text(2048),
});

const serverSettings = section({
  server_url: keep(z.url().max(2048)),
  live_query_disabled: flag(),
  query_reports_disabled: flag(),
  scripts_disabled: flag(),
  ai_features_disabled: flag(),
  enable_analytics: flag(),
  deferred_save_host: flag(),
  query_report_cap: count(),
});

const smtpSettings = section({
  enable_smtp: flag(),
  configured: flag(), // read-only
  sender_address: text(),
  server: text(),
  port: count(65535),
  authentication_type: text(),
  user_name: text(),
  password: text(),
  enable_ssl_tls: flag(),
  authentication_method: text(),
  domain: text(),
  verify_ssl_certs: flag(),
  enable_start_tls: flag(),
});

const hostExpirySettings = section({ host_expiry_enabled: flag(), host_expiry_window: count() });

const activityExpirySettings = section({
  activity_expiry_enabled: flag(),
  activity_expiry_window: count(),
  preserve_host_activities_on_reenrollment: flag(),
});

const conditionalAccess = section({
  microsoft_entra_tenant_id: text(), // read-only
  microsoft_entra_connection_configured: flag(), // read-only
  okta_idp_id: optionalText(2048),
  okta_assertion_consumer_service_url: optionalText(2048),
  okta_audience_uri: optionalText(2048),
  okta_certificate: clearable(z.string().max(8192)),
  bypass_disabled: optionalFlag(),
});

const features = section({
  enable_host_users: flag(),
  enable_software_inventory: flag(),
  additional_queries: clearable(z.record(z.string(), z.string())),
  detail_query_overrides: clearable(z.record(z.string(), z.string().nullable())),
  historical_data: section({ uptime: flag(), vulnerabilities: flag() }),
});

const ssoSettings = section({
  entity_id: text(),
  issuer_uri: text(),
  idp_image_url: text(),
  metadata: blob(),
  metadata_url: text(),
  idp_name: text(),
  enable_sso: flag(),
  enable_sso_idp_login: flag(),
  enable_jit_provisioning: flag(),
  enable_jit_role_sync: flag(),
  sso_server_url: text(),
});

const fleetDesktop = section({ transparency_url: text(2048), alternative_browser_host: text(255) });

const vulnerabilitySettings = section({ databases_path: text() });

const webhookSettings = section({
  activities_webhook: section({ enable_activities_webhook: flag(), destination_url: text() }),
  host_status_webhook: section({
    enable_host_status_webhook: flag(),
    destination_url: text(),
    host_percentage: keep(z.number().min(0).max(100)),
    days_count: count(),
  }),
  failing_policies_webhook: section({
    enable_failing_policies_webhook: flag(),
    destination_url: text(),
    policy_ids: clearable(z.array(z.number().int().min(0))),
    host_batch_size: count(),
  }),
  vulnerabilities_webhook: section({
    enable_vulnerabilities_webhook: flag(),
    destination_url: text(),
    host_batch_size: count(),
  }),
  interval: duration(),
});

const integrations = section({
  jira: clearable(z.array(jiraIntegration)),
  zendesk: clearable(z.array(zendeskIntegration)),
  // Fleet keeps the stored Google Calendar settings when this is null.
  google_calendar: keep(z.array(googleCalendarIntegration)),
  conditional_access_enabled: optionalFlag(),
});

const osUpdates = () =>
  section({
    minimum_version: optionalText(64),
    deadline: optionalText(64),
    update_new_hosts: optionalFlag(),
  });

const mdm = section({
  apple_server_url: text(2048),
  apple_bm_default_team: text(), // deprecated; accepted and ignored
  apple_business_manager: clearable(z.array(abmAssignment)),
  // Read-only: set by the server; accepted (clients echo them back) and ignored.
  enabled_and_configured: flag(),
  apple_bm_enabled_and_configured: flag(),
  apple_bm_terms_expired: flag(),
  android_enabled_and_configured: flag(),
  apple_account_provisioning: section({
    oauth_idp_token_url: optionalText(2048),
    oauth_idp_client_id: optionalText(),
    oauth_idp_client_secret: optionalText(),
  }),
  volume_purchasing_program: clearable(z.array(vppAssignment)),
  windows_enabled_and_configured: flag(),
  enable_disk_encryption: flag(),
  name_template: optionalText(),
  enable_recovery_lock_password: flag(),
  macos_updates: osUpdates(),
  ios_updates: osUpdates(),
  ipados_updates: osUpdates(),
  windows_updates: section({ deadline_days: optionalCount(), grace_period_days: optionalCount() }),
  windows_migration_enabled: flag(),
  enable_turn_on_windows_mdm_manually: flag(),
  windows_entra_tenant_ids: names(),
  windows_entra_client_ids: names(),
  windows_require_bitlocker_pin: optionalFlag(),
  apple_require_hardware_attestation: flag(),
  macos_migration: section({ enable: flag(), mode: text(), webhook_url: text() }),
  macos_settings: section({
    custom_settings: profiles(),
    enable_disk_encryption: flag(), // legacy spelling of mdm.enable_disk_encryption
  }),
  macos_setup: section({
    bootstrap_package: optionalText(),
    enable_end_user_authentication: flag(),
    enable_managed_local_account: flag(),
    enable_release_device_manually: flag(),
    end_user_local_account_type: text(),
    lock_end_user_info: flag(),
    macos_setup_assistant: optionalText(),
    manual_agent_install: optionalFlag(),
    require_all_software_macos: flag(),
    require_all_software_windows: flag(),
    script: optionalText(),
    software: clearable(z.array(setupSoftware)),
  }),
  windows_settings: section({ custom_settings: profiles() }),
  android_settings: section({
    certificates: clearable(z.array(androidCertificate)),
    custom_settings: profiles(),
  }),
  end_user_authentication: section({
    entity_id: text(),
    issuer_uri: text(),
    metadata: blob(),
    metadata_url: text(),
    idp_name: text(),
  }),
});

const gitops = section({
  gitops_mode_enabled: flag(),
  repository_url: text(2048),
  exceptions: section({ labels: flag(), software: flag(), secrets: flag() }),
});

/** The PATCH body. Read-only parts of the GET answer are accepted so a GET answer can be sent back. */
export const configPatch = z
  .object({
    org_info: orgInfo,
    server_settings: serverSettings,
    smtp_settings: smtpSettings,
    host_expiry_settings: hostExpirySettings,
    activity_expiry_settings: activityExpirySettings,
    conditional_access: conditionalAccess,
    features,
    host_settings: features, // legacy spelling of features
    agent_options: keep(z.record(z.string(), z.unknown())),
    sso_settings: ssoSettings,
    fleet_desktop: fleetDesktop,
    vulnerability_settings: vulnerabilitySettings,
    webhook_settings: webhookSettings,
    integrations,
    mdm,
    scripts: clearable(z.array(z.string().max(4096))),
    gitops,
    // Fleet-only actions, accepted and ignored: a test e-mail, YARA rules.
    smtp_test: flag(),
    yara_rules: clearable(z.array(z.object({ name: z.string(), contents: z.string() }).strict())),
    // Read-only server facts from the GET answer.
    license: z.unknown().optional(),
    certificates: z.unknown().optional(),
    logging: z.unknown().optional(),
    update_interval: z.unknown().optional(),
    vulnerabilities: z.unknown().optional(),
  })
  .strict();

export type ConfigPatch = z.output<typeof configPatch>;

/**
 * Fleet's answers for a body it cannot apply: a value of the wrong type fails Go's first decode
 * (400 "failed to decode app config"); an unknown key fails the strict decode (400, Go's status
 * text as the message); anything else is a validation error (422).
 */
export function configPatchError(err: ZodError): HttpError {
  const decodeFailure = err.issues.some(
    (i) =>
      i.code === 'invalid_type' || i.code === 'invalid_union' || (i.code === 'custom' && i.params?.decode),
  );
  if (decodeFailure) {
    return new HttpError(400, 'Bad request', [{ name: 'base', reason: 'failed to decode app config' }]);
  }
  const unknown = err.issues.find((i) => i.code === 'unrecognized_keys');
  if (unknown && unknown.code === 'unrecognized_keys') {
    return new HttpError(400, 'Bad Request', [
      { name: 'base', reason: `unsupported key provided: "${unknown.keys[0]}"` },
    ]);
  }
  return new HttpError(
    422,
    'Validation Failed',
    err.issues.map((i) => ({ name: i.path.length ? i.path.join('.') : 'base', reason: i.message })),
  );
}
