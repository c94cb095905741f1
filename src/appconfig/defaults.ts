import type {
  AbmAssignment,
  AndroidCertificate,
  GoogleCalendarIntegration,
  JiraIntegration,
  ProfileSpec,
  SetupSoftware,
  VppAssignment,
  ZendeskIntegration,
} from './schema.js';

/** What Fleet shows instead of a stored secret, and what a client sends back to keep it. */
export const maskedSecret = '********';

/** Fleet's defaults for the two URLs it fills in when they are empty. */
export const defaultContactUrl = 'https://fleetdm.com/company/contact';
export const defaultTransparencyUrl = 'https://fleetdm.com/transparency';

/** Fleet's agent options for a new install (osquery options and decorators). */
export function defaultAgentOptions(): Record<string, unknown> {
  return {
    config: {
      options: {
        pack_delimiter: '/',
        logger_tls_period: 10,
        distributed_plugin: 'tls',
        disable_distributed: false,
        logger_tls_endpoint: '/api/osquery/log',
        distributed_interval: 10,
        distributed_tls_max_attempts: 3,
      },
      decorators: {
        load: ['SELECT uuid AS host_uuid FROM system_info;', 'SELECT hostname AS hostname FROM system_info;'],
      },
    },
    overrides: {},
  };
}

interface Features {
  enable_host_users: boolean;
  enable_software_inventory: boolean;
  historical_data: { uptime: boolean; vulnerabilities: boolean };
  // Fleet omits these two until they are set.
  additional_queries?: Record<string, string> | null;
  detail_query_overrides?: Record<string, string | null> | null;
}

const osUpdates = () => ({
  minimum_version: null as string | null,
  deadline: null as string | null,
  update_new_hosts: null as boolean | null,
});

/**
 * The stored settings document before anyone edits it: Fleet's `AppConfig` with its new-install
 * defaults (JSON-tag key names), plus the values Flotilla decides itself (server URL, analytics
 * off). Every key the GET answer shows from the document is here; `view.ts` adds the read-only
 * server facts (license, logging, update_interval, vulnerabilities).
 */
export function defaultAppConfig(serverUrl: string) {
  return {
    org_info: {
      org_name: '',
      org_logo_url: '',
      org_logo_url_light_background: '',
      org_logo_url_dark_mode: '',
      org_logo_url_light_mode: '',
      contact_url: defaultContactUrl,
    },
    server_settings: {
      server_url: serverUrl,
      live_query_disabled: false,
      query_reports_disabled: false,
      scripts_disabled: false,
      ai_features_disabled: false,
      // Flotilla sends no usage statistics, so this starts off (Fleet turns it on for new installs).
      enable_analytics: false,
      deferred_save_host: false,
      query_report_cap: 0,
    },
    smtp_settings: {
      enable_smtp: false,
      configured: false,
      sender_address: '',
      server: '',
      port: 587,
      authentication_type: 'authtype_username_password',
      user_name: '',
      password: '',
      enable_ssl_tls: true,
      authentication_method: 'authmethod_plain',
      domain: '',
      verify_ssl_certs: true,
      enable_start_tls: true,
    },
    host_expiry_settings: { host_expiry_enabled: false, host_expiry_window: 0 },
    activity_expiry_settings: {
      activity_expiry_enabled: false,
      activity_expiry_window: 0,
      preserve_host_activities_on_reenrollment: false,
    },
    conditional_access: {
      microsoft_entra_tenant_id: '',
      microsoft_entra_connection_configured: false,
      okta_idp_id: null as string | null,
      okta_assertion_consumer_service_url: null as string | null,
      okta_audience_uri: null as string | null,
      okta_certificate: null as string | null,
      bypass_disabled: null as boolean | null,
    },
    features: {
      enable_host_users: true,
      enable_software_inventory: true,
      historical_data: { uptime: true, vulnerabilities: true },
    } as Features,
    agent_options: defaultAgentOptions(),
    sso_settings: {
      entity_id: '',
      issuer_uri: '',
      idp_image_url: '',
      metadata: '',
      metadata_url: '',
      idp_name: '',
      enable_sso: false,
      enable_sso_idp_login: false,
      enable_jit_provisioning: false,
      enable_jit_role_sync: false,
      sso_server_url: '',
    },
    fleet_desktop: { transparency_url: defaultTransparencyUrl, alternative_browser_host: '' },
    vulnerability_settings: { databases_path: '' },
    webhook_settings: {
      activities_webhook: { enable_activities_webhook: false, destination_url: '' },
      host_status_webhook: {
        enable_host_status_webhook: false,
        destination_url: '',
        host_percentage: 0,
        days_count: 0,
      },
      failing_policies_webhook: {
        enable_failing_policies_webhook: false,
        destination_url: '',
        policy_ids: null as number[] | null,
        host_batch_size: 0,
      },
      vulnerabilities_webhook: {
        enable_vulnerabilities_webhook: false,
        destination_url: '',
        host_batch_size: 0,
      },
      interval: '24h0m0s',
    },
    integrations: {
      jira: null as JiraIntegration[] | null,
      zendesk: null as ZendeskIntegration[] | null,
      google_calendar: null as GoogleCalendarIntegration[] | null,
      conditional_access_enabled: null as boolean | null,
    },
    mdm: {
      apple_server_url: '',
      apple_business_manager: null as AbmAssignment[] | null,
      // Read-only: set by the server (APNs certificate, ABM token, Android binding).
      enabled_and_configured: false,
      apple_bm_enabled_and_configured: false,
      apple_bm_terms_expired: false,
      android_enabled_and_configured: false,
      apple_account_provisioning: {
        oauth_idp_token_url: null as string | null,
        oauth_idp_client_id: null as string | null,
        oauth_idp_client_secret: null as string | null,
      },
      volume_purchasing_program: null as VppAssignment[] | null,
      windows_enabled_and_configured: false,
      enable_disk_encryption: false,
      name_template: null as string | null,
      enable_recovery_lock_password: false,
      macos_updates: osUpdates(),
      ios_updates: osUpdates(),
      ipados_updates: osUpdates(),
      windows_updates: { deadline_days: null as number | null, grace_period_days: null as number | null },
      windows_migration_enabled: false,
      enable_turn_on_windows_mdm_manually: false,
      windows_entra_tenant_ids: null as string[] | null,
      windows_entra_client_ids: null as string[] | null,
      windows_require_bitlocker_pin: null as boolean | null,
      apple_require_hardware_attestation: false,
      macos_migration: { enable: false, mode: '', webhook_url: '' },
      macos_settings: { custom_settings: null as ProfileSpec[] | null },
      macos_setup: {
        bootstrap_package: null as string | null,
        enable_end_user_authentication: false,
        enable_managed_local_account: false,
        enable_release_device_manually: false,
        end_user_local_account_type: 'admin',
        lock_end_user_info: false,
        macos_setup_assistant: null as string | null,
        manual_agent_install: null as boolean | null,
        require_all_software_macos: false,
        require_all_software_windows: false,
        script: null as string | null,
        software: null as SetupSoftware[] | null,
      },
      windows_settings: { custom_settings: null as ProfileSpec[] | null },
      android_settings: {
        certificates: null as AndroidCertificate[] | null,
        custom_settings: null as ProfileSpec[] | null,
      },
      end_user_authentication: {
        entity_id: '',
        issuer_uri: '',
        metadata: '',
        metadata_url: '',
        idp_name: '',
      },
    },
    scripts: null as string[] | null,
    gitops: {
      gitops_mode_enabled: false,
      repository_url: '',
      exceptions: { labels: false, software: false, secrets: false },
    },
  };
}

/** Fleet's global settings document as Flotilla stores it (secrets in clear; `view.ts` masks them). */
export type AppConfig = ReturnType<typeof defaultAppConfig>;

/** One hour and thirty days, in nanoseconds (Go's `time.Duration` as JSON). */
const hourNs = 3_600_000_000_000;
const thirtyDaysNs = 720 * hourNs;

/**
 * The read-only facts Fleet adds to `GET /config` from its server configuration. Flotilla runs no
 * osquery result/status logging plugins and no vulnerability processing, so those say so.
 */
export function serverFacts(opts: { debug: boolean }) {
  const noPlugin = () => ({ plugin: '', config: null });
  return {
    license: { tier: 'free', expiration: '0001-01-01T00:00:00Z', managed_cloud: false },
    logging: { debug: opts.debug, json: true, result: noPlugin(), status: noPlugin(), audit: noPlugin() },
    update_interval: { osquery_detail: hourNs, osquery_policy: hourNs },
    vulnerabilities: {
      databases_path: '',
      periodicity: hourNs,
      cpe_database_url: '',
      cpe_translations_url: '',
      cve_feed_prefix_url: '',
      current_instance_checks: 'no',
      disable_data_sync: true,
      recent_vulnerability_max_age: thirtyDaysNs,
      disable_win_os_vulnerabilities: false,
      osv_for_vulnerabilities: false,
    },
  };
}

/** Top-level keys of the GET answer that come from the server, not the document. */
export const serverFactKeys = ['license', 'logging', 'update_interval', 'vulnerabilities'] as const;
