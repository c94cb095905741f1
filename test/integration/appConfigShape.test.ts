import { beforeAll, expect, it } from 'vitest';
import { apiUser, createTeam } from '../helpers/adminFixtures.js';
import { api, setupAdmin } from '../helpers/api.js';
import { openSecrets } from '../../src/appconfig/secretsAtRest.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const v1 = '/api/v1/fleet';
const keys = (o: object) => Object.keys(o).sort();
const sorted = (...k: string[]) => [...k].sort();

/**
 * Fleet's `GET /config` key sets (the JSON tags of fleet.AppConfig and the facts the endpoint adds),
 * at every level Flotilla serves.
 */
const fleetKeys = {
  top: sorted(
    'org_info',
    'server_settings',
    'smtp_settings',
    'host_expiry_settings',
    'activity_expiry_settings',
    'conditional_access',
    'features',
    'agent_options',
    'sso_settings',
    'fleet_desktop',
    'vulnerability_settings',
    'webhook_settings',
    'integrations',
    'mdm',
    'scripts',
    'gitops',
    'license',
    'logging',
    'update_interval',
    'vulnerabilities',
    // Flotilla's own read-only fact: certificate expiry (Fleet's UI reads it from /apns, /abm_tokens).
    'certificates',
  ),
  org_info: sorted(
    'org_name',
    'org_logo_url',
    'org_logo_url_light_background',
    'org_logo_url_dark_mode',
    'org_logo_url_light_mode',
    'contact_url',
  ),
  server_settings: sorted(
    'server_url',
    'live_query_disabled',
    'query_reports_disabled',
    'scripts_disabled',
    'ai_features_disabled',
    'enable_analytics',
    'deferred_save_host',
    'query_report_cap',
  ),
  smtp_settings: sorted(
    'enable_smtp',
    'configured',
    'sender_address',
    'server',
    'port',
    'authentication_type',
    'user_name',
    'password',
    'enable_ssl_tls',
    'authentication_method',
    'domain',
    'verify_ssl_certs',
    'enable_start_tls',
  ),
  host_expiry_settings: sorted('host_expiry_enabled', 'host_expiry_window'),
  activity_expiry_settings: sorted(
    'activity_expiry_enabled',
    'activity_expiry_window',
    'preserve_host_activities_on_reenrollment',
  ),
  conditional_access: sorted(
    'microsoft_entra_tenant_id',
    'microsoft_entra_connection_configured',
    'okta_idp_id',
    'okta_assertion_consumer_service_url',
    'okta_audience_uri',
    'okta_certificate',
    'bypass_disabled',
  ),
  features: sorted('enable_host_users', 'enable_software_inventory', 'historical_data'),
  historical_data: sorted('uptime', 'vulnerabilities'),
  sso_settings: sorted(
    'entity_id',
    'issuer_uri',
    'idp_image_url',
    'metadata',
    'metadata_url',
    'idp_name',
    'enable_sso',
    'enable_sso_idp_login',
    'enable_jit_provisioning',
    'enable_jit_role_sync',
    'sso_server_url',
  ),
  fleet_desktop: sorted('transparency_url', 'alternative_browser_host'),
  vulnerability_settings: ['databases_path'],
  webhook_settings: sorted(
    'activities_webhook',
    'host_status_webhook',
    'failing_policies_webhook',
    'vulnerabilities_webhook',
    'interval',
  ),
  activities_webhook: sorted('enable_activities_webhook', 'destination_url'),
  host_status_webhook: sorted(
    'enable_host_status_webhook',
    'destination_url',
    'host_percentage',
    'days_count',
  ),
  failing_policies_webhook: sorted(
    'enable_failing_policies_webhook',
    'destination_url',
    'policy_ids',
    'host_batch_size',
  ),
  vulnerabilities_webhook: sorted('enable_vulnerabilities_webhook', 'destination_url', 'host_batch_size'),
  integrations: sorted('jira', 'zendesk', 'google_calendar', 'conditional_access_enabled'),
  mdm: sorted(
    'apple_server_url',
    'apple_business_manager',
    'apple_bm_enabled_and_configured',
    'apple_bm_terms_expired',
    'enabled_and_configured',
    'android_enabled_and_configured',
    'apple_account_provisioning',
    'volume_purchasing_program',
    'windows_enabled_and_configured',
    'enable_disk_encryption',
    'name_template',
    'enable_recovery_lock_password',
    'macos_updates',
    'ios_updates',
    'ipados_updates',
    'windows_updates',
    'windows_migration_enabled',
    'enable_turn_on_windows_mdm_manually',
    'windows_entra_tenant_ids',
    'windows_entra_client_ids',
    'windows_require_bitlocker_pin',
    'apple_require_hardware_attestation',
    'macos_migration',
    'macos_settings',
    'macos_setup',
    'windows_settings',
    'android_settings',
    'end_user_authentication',
  ),
  apple_account_provisioning: sorted('oauth_idp_token_url', 'oauth_idp_client_id', 'oauth_idp_client_secret'),
  os_updates: sorted('minimum_version', 'deadline', 'update_new_hosts'),
  windows_updates: sorted('deadline_days', 'grace_period_days'),
  macos_migration: sorted('enable', 'mode', 'webhook_url'),
  macos_settings: ['custom_settings'],
  macos_setup: sorted(
    'bootstrap_package',
    'enable_end_user_authentication',
    'enable_managed_local_account',
    'enable_release_device_manually',
    'end_user_local_account_type',
    'lock_end_user_info',
    'macos_setup_assistant',
    'manual_agent_install',
    'require_all_software_macos',
    'require_all_software_windows',
    'script',
    'software',
  ),
  windows_settings: ['custom_settings'],
  android_settings: sorted('certificates', 'custom_settings'),
  end_user_authentication: sorted('entity_id', 'issuer_uri', 'metadata', 'metadata_url', 'idp_name'),
  gitops: sorted('gitops_mode_enabled', 'repository_url', 'exceptions'),
  exceptions: sorted('labels', 'software', 'secrets'),
  license: sorted('tier', 'expiration', 'managed_cloud'),
  logging: sorted('debug', 'json', 'result', 'status', 'audit'),
  logging_plugin: sorted('plugin', 'config'),
  update_interval: sorted('osquery_detail', 'osquery_policy'),
  vulnerabilities: sorted(
    'databases_path',
    'periodicity',
    'cpe_database_url',
    'cpe_translations_url',
    'cve_feed_prefix_url',
    'current_instance_checks',
    'disable_data_sync',
    'recent_vulnerability_max_age',
    'disable_win_os_vulnerabilities',
    'osv_for_vulnerabilities',
  ),
};

/**
 * Asserts the key set of every object Flotilla serves in the config document. `features` also
 * shows `additional_queries` and `detail_query_overrides` once they are set (Fleet omits them
 * until then).
 */
function expectFleetShape(cfg: any, opts: { featureExtras?: string[] } = {}) {
  expect(keys(cfg)).toEqual(fleetKeys.top);
  expect(keys(cfg.features)).toEqual(sorted(...fleetKeys.features, ...(opts.featureExtras ?? [])));
  for (const k of [
    'org_info',
    'server_settings',
    'smtp_settings',
    'host_expiry_settings',
    'activity_expiry_settings',
    'conditional_access',
    'sso_settings',
    'fleet_desktop',
    'vulnerability_settings',
    'webhook_settings',
    'integrations',
    'mdm',
    'gitops',
    'license',
    'logging',
    'update_interval',
    'vulnerabilities',
  ] as const) {
    expect(keys(cfg[k]), k).toEqual(fleetKeys[k]);
  }
  expect(keys(cfg.features.historical_data)).toEqual(fleetKeys.historical_data);
  for (const w of [
    'activities_webhook',
    'host_status_webhook',
    'failing_policies_webhook',
    'vulnerabilities_webhook',
  ] as const) {
    expect(keys(cfg.webhook_settings[w]), w).toEqual(fleetKeys[w]);
  }
  for (const k of [
    'apple_account_provisioning',
    'windows_updates',
    'macos_migration',
    'macos_settings',
    'macos_setup',
    'windows_settings',
    'android_settings',
    'end_user_authentication',
  ] as const) {
    expect(keys(cfg.mdm[k]), `mdm.${k}`).toEqual(fleetKeys[k]);
  }
  for (const k of ['macos_updates', 'ios_updates', 'ipados_updates']) {
    expect(keys(cfg.mdm[k]), `mdm.${k}`).toEqual(fleetKeys.os_updates);
  }
  expect(keys(cfg.gitops.exceptions)).toEqual(fleetKeys.exceptions);
  for (const p of ['result', 'status', 'audit']) {
    expect(keys(cfg.logging[p]), `logging.${p}`).toEqual(fleetKeys.logging_plugin);
  }
}

/** A global config shaped like what `fleetctl gitops` sends from a default.yml's org_settings, controls and agent_options. */
function gitopsDocument(serverUrl: string) {
  return {
    org_info: {
      org_name: 'Acme GitOps',
      org_logo_url: 'https://acme.test/logo-dark.png',
      org_logo_url_light_background: 'https://acme.test/logo-light.png',
      contact_url: 'https://acme.test/it-help',
    },
    server_settings: {
      server_url: serverUrl,
      enable_analytics: false,
      live_query_disabled: true,
      query_reports_disabled: false,
      scripts_disabled: false,
      ai_features_disabled: true,
      deferred_save_host: false,
      query_report_cap: 2000,
    },
    smtp_settings: {
      enable_smtp: true,
      sender_address: 'fleet@acme.test',
      server: 'smtp.acme.test',
      port: 465,
      authentication_type: 'authtype_username_password',
      user_name: 'fleet',
      password: 'smtp-gitops-secret',
      enable_ssl_tls: true,
      authentication_method: 'authmethod_login',
      domain: 'acme.test',
      verify_ssl_certs: true,
      enable_start_tls: true,
    },
    sso_settings: {
      enable_sso: true,
      entity_id: 'fleet.acme.test',
      idp_name: 'Okta',
      metadata_url: 'https://acme.okta.test/app/metadata',
      enable_jit_provisioning: true,
    },
    host_expiry_settings: { host_expiry_enabled: true, host_expiry_window: 30 },
    activity_expiry_settings: { activity_expiry_enabled: true, activity_expiry_window: 90 },
    features: {
      enable_host_users: true,
      enable_software_inventory: false,
      additional_queries: { time: 'SELECT * FROM time' },
      detail_query_overrides: { users: null },
    },
    fleet_desktop: { transparency_url: 'https://acme.test/transparency' },
    vulnerability_settings: { databases_path: '' },
    webhook_settings: {
      interval: '6h',
      failing_policies_webhook: {
        enable_failing_policies_webhook: true,
        destination_url: 'https://hooks.acme.test/policies',
        policy_ids: [1, 2],
        host_batch_size: 100,
      },
      host_status_webhook: {
        enable_host_status_webhook: false,
        destination_url: '',
        host_percentage: 0,
        days_count: 0,
      },
      vulnerabilities_webhook: {
        enable_vulnerabilities_webhook: false,
        destination_url: '',
        host_batch_size: 0,
      },
      activities_webhook: {
        enable_activities_webhook: true,
        destination_url: 'https://hooks.acme.test/activities',
      },
    },
    integrations: {
      jira: [
        {
          url: 'https://acme.atlassian.test',
          username: 'fleet-bot',
          api_token: 'jira-gitops-secret',
          project_key: 'IT',
          enable_software_vulnerabilities: true,
        },
      ],
      zendesk: [],
      google_calendar: [],
      conditional_access_enabled: false,
    },
    agent_options: {
      config: { options: { distributed_interval: 3, distributed_tls_max_attempts: 4 } },
      overrides: { platforms: { darwin: { options: { distributed_interval: 5 } } } },
      command_line_flags: {},
    },
    mdm: {
      apple_server_url: '',
      end_user_authentication: {
        idp_name: 'Okta',
        entity_id: 'fleet-mdm.acme.test',
        metadata_url: 'https://acme.okta.test/app/mdm/metadata',
      },
      macos_updates: { minimum_version: '15.1', deadline: '2030-01-31' },
      ios_updates: { minimum_version: '18.1', deadline: '2030-02-28' },
      ipados_updates: { minimum_version: null, deadline: null },
      windows_updates: { deadline_days: 5, grace_period_days: 2 },
      macos_settings: {
        custom_settings: [{ path: 'lib/macos/passcode.mobileconfig', labels_include_all: ['Engineering'] }],
      },
      windows_settings: { custom_settings: [{ path: 'lib/windows/firewall.xml' }] },
      android_settings: { custom_settings: [] },
      macos_setup: {
        bootstrap_package: null,
        enable_end_user_authentication: true,
        macos_setup_assistant: null,
        enable_release_device_manually: true,
        script: null,
        software: null,
        manual_agent_install: false,
      },
      macos_migration: { enable: false, mode: '', webhook_url: '' },
      windows_enabled_and_configured: true,
      windows_migration_enabled: false,
      enable_disk_encryption: true,
      windows_require_bitlocker_pin: false,
      // Read-only in Fleet; GitOps files carry it under controls.
      android_enabled_and_configured: false,
    },
    scripts: ['lib/scripts/hello.sh'],
  };
}

/** The stored settings row as text (secrets sealed). */
async function rawRow(srv: TestServer): Promise<string | undefined> {
  const row = await srv.app.services.database.db
    .selectFrom('app_config_json')
    .select('json_value')
    .where('id', '=', 1)
    .executeTakeFirst();
  return row?.json_value;
}

/** The stored settings with their secrets opened with the server key. */
async function storedRow(srv: TestServer): Promise<any> {
  const raw = await rawRow(srv);
  return raw ? openSecrets(JSON.parse(raw), srv.app.services.box) : undefined;
}

describeEachDialect('GET/PATCH /config: Fleet’s whole settings document', (server) => {
  let admin = '';
  let observer = '';
  let teamAdmin = '';

  beforeAll(async () => {
    admin = await setupAdmin(server());
    observer = (await apiUser(server(), admin, 'obs', { global_role: 'observer' })).token;
    const team = await createTeam(server(), admin, 'Team A');
    teamAdmin = (await apiUser(server(), admin, 'ta', { teams: [{ id: team, role: 'admin' }] })).token;
  });

  /** The GitOps document applied, as the GitOps test leaves the settings for the tests after it. */
  async function gitopsApplied(): Promise<void> {
    const srvUrl = 'https://fleet.acme.test';
    if ((await server().app.services.appConfig.serverUrl()) === srvUrl) return;
    const res = await api(server(), 'PATCH', `${v1}/config?overwrite=true`, {
      token: admin,
      body: gitopsDocument(srvUrl),
    });
    expect(res.status, res.text).toBe(200);
  }

  it('GET on a fresh server answers with exactly Fleet’s keys and its defaults', async () => {
    const res = await api(server(), 'GET', `${v1}/config`, { token: admin });
    expect(res.status).toBe(200);
    const cfg = res.body;
    expectFleetShape(cfg);
    expect(cfg.org_info).toEqual({
      org_name: 'Acme',
      org_logo_url: '',
      org_logo_url_light_background: '',
      org_logo_url_dark_mode: '',
      org_logo_url_light_mode: '',
      contact_url: 'https://fleetdm.com/company/contact',
    });
    expect(cfg.server_settings.server_url).toBe(server().config.serverUrl);
    expect(cfg.smtp_settings).toMatchObject({
      enable_smtp: false,
      configured: false,
      port: 587,
      password: '',
      authentication_type: 'authtype_username_password',
      authentication_method: 'authmethod_plain',
      verify_ssl_certs: true,
      enable_start_tls: true,
    });
    expect(cfg.features).toEqual({
      enable_host_users: true,
      enable_software_inventory: true,
      historical_data: { uptime: true, vulnerabilities: true },
    });
    expect(cfg.agent_options.config.decorators.load).toEqual([
      'SELECT uuid AS host_uuid FROM system_info;',
      'SELECT hostname AS hostname FROM system_info;',
    ]);
    expect(cfg.fleet_desktop).toEqual({
      transparency_url: 'https://fleetdm.com/transparency',
      alternative_browser_host: '',
    });
    expect(cfg.webhook_settings.interval).toBe('24h0m0s');
    expect(cfg.webhook_settings.failing_policies_webhook.policy_ids).toBeNull();
    expect(cfg.integrations).toEqual({
      jira: null,
      zendesk: null,
      google_calendar: null,
      conditional_access_enabled: null,
    });
    expect(cfg.mdm.macos_updates).toEqual({ minimum_version: null, deadline: null, update_new_hosts: null });
    expect(cfg.mdm.windows_updates).toEqual({ deadline_days: null, grace_period_days: null });
    expect(cfg.mdm.macos_setup.end_user_local_account_type).toBe('admin');
    expect(cfg.mdm.macos_settings.custom_settings).toBeNull();
    expect(cfg.mdm.apple_business_manager).toBeNull();
    expect(cfg.scripts).toBeNull();
    expect(cfg.license).toEqual({ tier: 'free', expiration: '0001-01-01T00:00:00Z', managed_cloud: false });
    expect(cfg.update_interval).toEqual({
      osquery_detail: 3_600_000_000_000,
      osquery_policy: 3_600_000_000_000,
    });
  });

  it('takes a GitOps-style full document and GET shows it back', async () => {
    const srvUrl = 'https://fleet.acme.test';
    const doc = gitopsDocument(srvUrl);
    const res = await api(server(), 'PATCH', `${v1}/config?overwrite=true`, { token: admin, body: doc });
    expect(res.status, res.text).toBe(200);
    // The answer is the stored document, masked, with Fleet's PATCH extras.
    expect(res.body.smtp_settings.password).toBe('********');
    expect(res.body.update_interval).toBeNull();
    expect(res.body.vulnerabilities).toBeNull();
    expect(res.body.license.tier).toBe('free');

    const cfg = (await api(server(), 'GET', `${v1}/config`, { token: admin })).body;
    expectFleetShape(cfg, { featureExtras: ['additional_queries', 'detail_query_overrides'] });
    expect(cfg.org_info).toEqual({
      ...doc.org_info,
      org_logo_url_dark_mode: '',
      org_logo_url_light_mode: '',
    });
    expect(cfg.server_settings).toEqual(doc.server_settings);
    expect(cfg.smtp_settings).toEqual({ ...doc.smtp_settings, password: '********', configured: false });
    expect(cfg.sso_settings).toMatchObject(doc.sso_settings);
    expect(cfg.host_expiry_settings).toEqual(doc.host_expiry_settings);
    expect(cfg.activity_expiry_settings).toMatchObject(doc.activity_expiry_settings);
    expect(cfg.features).toEqual({
      ...doc.features,
      historical_data: { uptime: true, vulnerabilities: true },
    });
    expect(cfg.fleet_desktop.transparency_url).toBe('https://acme.test/transparency');
    expect(cfg.webhook_settings).toEqual({ ...doc.webhook_settings, interval: '6h0m0s' });
    expect(cfg.integrations).toEqual({
      ...doc.integrations,
      jira: [
        {
          ...doc.integrations.jira[0],
          api_token: '********',
          enable_failing_policies: false,
        },
      ],
    });
    // Agent options are replaced whole, not merged into the defaults.
    expect(cfg.agent_options).toEqual(doc.agent_options);
    expect(cfg.mdm).toMatchObject({
      ...doc.mdm,
      windows_settings: { custom_settings: [{ path: 'lib/windows/firewall.xml' }] },
      ios_updates: { ...doc.mdm.ios_updates, update_new_hosts: null },
      ipados_updates: { ...doc.mdm.ipados_updates, update_new_hosts: null },
    });
    expect(cfg.mdm.end_user_authentication).toEqual({
      ...doc.mdm.end_user_authentication,
      issuer_uri: '',
      metadata: '',
    });
    expect(cfg.scripts).toEqual(doc.scripts);

    // What the server itself uses from the document.
    const s = server().app.services;
    expect(await s.appConfig.serverUrl()).toBe(srvUrl);
    expect((await s.appConfig.get()).mdm.windows_enabled_and_configured).toBe(true);
    // Secrets are stored sealed under the server key and open to what was sent.
    const raw = (await rawRow(server()))!;
    for (const secret of ['smtp-gitops-secret', 'jira-gitops-secret']) expect(raw).not.toContain(secret);
    const row = await storedRow(server());
    expect(row.smtp_settings.password).toBe('smtp-gitops-secret');
    expect(row.integrations.jira[0].api_token).toBe('jira-gitops-secret');
  });

  it('objects merge and arrays and scalars replace; null leaves a plain setting and clears an optional one', async () => {
    await gitopsApplied();
    const res = await api(server(), 'PATCH', `${v1}/config`, {
      token: admin,
      body: {
        org_info: { org_logo_url: null },
        server_settings: { query_report_cap: 10 },
        webhook_settings: { failing_policies_webhook: { policy_ids: [7] } },
        features: { detail_query_overrides: { mdm: 'SELECT 1' } },
        mdm: { ipados_updates: { minimum_version: '18.2', deadline: '2031-01-01' }, windows_updates: null },
        scripts: null,
      },
    });
    expect(res.status, res.text).toBe(200);
    const cfg = (await api(server(), 'GET', `${v1}/config`, { token: admin })).body;
    expect(cfg.org_info.org_logo_url).toBe('https://acme.test/logo-dark.png');
    expect(cfg.org_info.org_name).toBe('Acme GitOps');
    expect(cfg.server_settings).toMatchObject({ query_report_cap: 10, live_query_disabled: true });
    expect(cfg.webhook_settings.failing_policies_webhook).toMatchObject({
      policy_ids: [7],
      destination_url: 'https://hooks.acme.test/policies',
    });
    expect(cfg.features.detail_query_overrides).toEqual({ users: null, mdm: 'SELECT 1' });
    expect(cfg.mdm.ipados_updates).toEqual({
      minimum_version: '18.2',
      deadline: '2031-01-01',
      update_new_hosts: null,
    });
    expect(cfg.mdm.windows_updates).toEqual({ deadline_days: 5, grace_period_days: 2 });
    expect(cfg.scripts).toBeNull();
  });

  it('accepts and ignores the read-only parts of the document', async () => {
    await gitopsApplied();
    const before = (await api(server(), 'GET', `${v1}/config`, { token: admin })).body;
    const rowBefore = await storedRow(server());
    const res = await api(server(), 'PATCH', `${v1}/config`, {
      token: admin,
      body: {
        mdm: {
          enabled_and_configured: true,
          apple_bm_enabled_and_configured: true,
          apple_bm_terms_expired: true,
          android_enabled_and_configured: true,
          ios_updates: { update_new_hosts: true },
        },
        smtp_settings: { configured: true },
        conditional_access: { microsoft_entra_tenant_id: 'x', microsoft_entra_connection_configured: true },
        license: { tier: 'premium', expiration: '2099-01-01T00:00:00Z' },
        logging: { debug: true },
        update_interval: { osquery_detail: 1 },
        vulnerabilities: { databases_path: '/tmp' },
      },
    });
    expect(res.status, res.text).toBe(200);
    expect((await api(server(), 'GET', `${v1}/config`, { token: admin })).body).toEqual(before);
    expect(await storedRow(server())).toEqual(rowBefore);
  });

  it('masks the SMTP password and integration tokens, and keeps them when they come back masked', async () => {
    await gitopsApplied();
    const got = await api(server(), 'GET', `${v1}/config`, { token: admin });
    expect(got.text).not.toContain('smtp-gitops-secret');
    expect(got.text).not.toContain('jira-gitops-secret');
    expect(got.body.smtp_settings.password).toBe('********');

    // Send the whole GET answer back, as a client that edits one field does.
    const edited = structuredClone(got.body);
    edited.smtp_settings.server = 'smtp2.acme.test';
    const res = await api(server(), 'PATCH', `${v1}/config`, { token: admin, body: edited });
    expect(res.status, res.text).toBe(200);
    expect(res.body.smtp_settings).toMatchObject({ server: 'smtp2.acme.test', password: '********' });
    const row = await storedRow(server());
    expect(row.smtp_settings).toMatchObject({ server: 'smtp2.acme.test', password: 'smtp-gitops-secret' });
    expect(row.integrations.jira[0].api_token).toBe('jira-gitops-secret');

    // A new value replaces the secret.
    expect(
      (
        await api(server(), 'PATCH', `${v1}/config`, {
          token: admin,
          body: { smtp_settings: { password: 'rotated-smtp' } },
        })
      ).status,
    ).toBe(200);
    expect((await storedRow(server())).smtp_settings.password).toBe('rotated-smtp');
  });

  it('dry_run validates and answers with the result but changes nothing', async () => {
    await gitopsApplied();
    const before = (await api(server(), 'GET', `${v1}/config`, { token: admin })).body;
    const rowBefore = await storedRow(server());
    const activitiesBefore = (await api(server(), 'GET', `${v1}/activities?per_page=100`, { token: admin }))
      .body.activities.length;
    const dry = await api(server(), 'PATCH', `${v1}/config?dry_run=true`, {
      token: admin,
      body: {
        org_info: { org_name: 'Dry Corp' },
        smtp_settings: { password: 'dry-secret' },
        mdm: { windows_enabled_and_configured: false },
        integrations: { jira: [] },
      },
    });
    expect(dry.status, dry.text).toBe(200);
    expect(dry.body.org_info.org_name).toBe('Dry Corp');
    expect(dry.body.smtp_settings.password).toBe('********');
    expect((await api(server(), 'GET', `${v1}/config`, { token: admin })).body).toEqual(before);
    expect(await storedRow(server())).toEqual(rowBefore);
    const activitiesAfter = (await api(server(), 'GET', `${v1}/activities?per_page=100`, { token: admin }))
      .body.activities.length;
    expect(activitiesAfter).toBe(activitiesBefore);

    // A dry run still validates.
    const bad = await api(server(), 'PATCH', `${v1}/config?dry_run=true`, {
      token: admin,
      body: { mdm: { macos_updates: { minimum_version: '16.0', deadline: null } } },
    });
    expect(bad.status).toBe(422);
    expect(bad.body.errors).toEqual([
      { name: 'macos_updates', reason: 'deadline is required when minimum_version is provided' },
    ]);
  });

  it('answers unknown keys, wrong types and invalid values as Fleet does, storing nothing', async () => {
    await gitopsApplied();
    const rowBefore = await storedRow(server());
    const unknownTop = await api(server(), 'PATCH', `${v1}/config`, {
      token: admin,
      body: { org_info: { org_name: 'x' }, nonsense: true },
    });
    expect(unknownTop.status).toBe(400);
    expect(unknownTop.body).toEqual({
      message: 'Bad Request',
      errors: [{ name: 'base', reason: 'unsupported key provided: "nonsense"' }],
      uuid: expect.any(String),
    });

    const unknownNested = await api(server(), 'PATCH', `${v1}/config`, {
      token: admin,
      body: { mdm: { macos_setup: { frobnicate: 1 } } },
    });
    expect(unknownNested.status).toBe(400);
    expect(unknownNested.body.errors).toEqual([
      { name: 'base', reason: 'unsupported key provided: "frobnicate"' },
    ]);

    const wrongType = await api(server(), 'PATCH', `${v1}/config`, {
      token: admin,
      body: { server_settings: { enable_analytics: 'yes' } },
    });
    expect(wrongType.status).toBe(400);
    expect(wrongType.body).toEqual({
      message: 'Bad request',
      errors: [{ name: 'base', reason: 'failed to decode app config' }],
      uuid: expect.any(String),
    });

    const invalid = await api(server(), 'PATCH', `${v1}/config`, {
      token: admin,
      body: { org_info: { org_name: '' }, activity_expiry_settings: { activity_expiry_window: 0 } },
    });
    expect(invalid.status).toBe(422);
    expect(invalid.body.message).toBe('Validation Failed');
    expect(invalid.body.errors).toEqual([
      { name: 'org_name', reason: 'organization name must be present' },
      { name: 'activity_expiry_settings.activity_expiry_window', reason: 'must be greater than 0' },
    ]);
    expect(await storedRow(server())).toEqual(rowBefore);
  });

  it('lets observers read the settings without secrets and refuses their changes', async () => {
    await gitopsApplied();
    const res = await api(server(), 'GET', `${v1}/config`, { token: observer });
    expect(res.status).toBe(200);
    // Fleet shows SMTP, SSO and agent options to admins only.
    expect(keys(res.body)).toEqual(
      fleetKeys.top.filter((k) => !['smtp_settings', 'sso_settings', 'agent_options'].includes(k)),
    );
    expect(res.body.integrations.jira[0].api_token).toBe('********');
    expect(res.text).not.toContain('rotated-smtp');
    expect(res.text).not.toContain('jira-gitops-secret');

    // A team admin sees SMTP and SSO (masked) but not the agent options.
    const ta = await api(server(), 'GET', `${v1}/config`, { token: teamAdmin });
    expect(ta.body.smtp_settings.password).toBe('********');
    expect(ta.body).toHaveProperty('sso_settings');
    expect(ta.body).not.toHaveProperty('agent_options');

    const rowBefore = await storedRow(server());
    const patch = await api(server(), 'PATCH', `${v1}/config`, {
      token: observer,
      body: { org_info: { org_name: 'Observed' } },
    });
    expect(patch.status).toBe(403);
    expect(patch.body.message).toBe('forbidden');
    expect(await storedRow(server())).toEqual(rowBefore);
  });
});
