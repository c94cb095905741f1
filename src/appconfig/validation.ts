import type { ErrorDetail } from '../http/errors.js';
import type { AppConfig } from './defaults.js';
import type { ConfigPatch } from './schema.js';

/*
 * Fleet's checks on the settings after a PATCH is applied (names and reasons as Fleet words them).
 * Fleet Free also refuses many settings with "Requires Fleet Premium license"; Flotilla does not
 * gate settings by license, so those checks are left out.
 */

const versionText = /^\d+(\.\d+)?(\.\d+)?$/;
const entraGuid = /^[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}$/;

function isDate(s: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  const d = new Date(`${s}T00:00:00Z`);
  return !Number.isNaN(d.getTime()) && d.toISOString().startsWith(s);
}

function httpUrl(s: string): URL | undefined {
  try {
    const u = new URL(s);
    return u.protocol === 'http:' || u.protocol === 'https:' ? u : undefined;
  } catch {
    return undefined;
  }
}

type OsUpdates = AppConfig['mdm']['macos_updates'];

/** Fleet's `AppleOSUpdateSettings.Validate`. */
function osUpdatesProblem(u: OsUpdates): string | undefined {
  const min = u.minimum_version ?? '';
  const deadline = u.deadline ?? '';
  if (min === '' && deadline === '') return undefined;
  if (deadline === '') return 'deadline is required when minimum_version is provided';
  if (min === '') return 'minimum_version is required when deadline is provided';
  if (!versionText.test(min)) {
    return 'minimum_version accepts version numbers only. (E.g., "13.0.1.") NOT "Ventura 13" or "13.0.1 (22A400)"';
  }
  if (!isDate(deadline)) return 'deadline accepts YYYY-MM-DD format only (E.g., "2023-06-01.")';
  return undefined;
}

/** Fleet's `WindowsUpdates.Validate`. */
function windowsUpdatesProblem(u: AppConfig['mdm']['windows_updates']): string | undefined {
  const deadline = u.deadline_days;
  const grace = u.grace_period_days;
  if (deadline === null && grace !== null)
    return 'deadline_days is required when grace_period_days is provided';
  if (deadline !== null && grace === null)
    return 'grace_period_days is required when deadline_days is provided';
  if (deadline === null || grace === null) return undefined;
  if (deadline > 30) return 'deadline_days must be an integer between 0 and 30';
  if (grace > 7) return 'grace_period_days must be an integer between 0 and 7';
  return undefined;
}

function endUserAuthEmpty(e: AppConfig['mdm']['end_user_authentication']): boolean {
  return !e.entity_id && !e.issuer_uri && !e.metadata && !e.metadata_url && !e.idp_name;
}

type SsoProvider = AppConfig['mdm']['end_user_authentication'];

/**
 * Fleet's `validateSSOProviderSettings`: metadata or a metadata URL (not both), an entity id of at
 * least 5 characters and an IdP name; a value left empty is fine when the stored one is set.
 */
function ssoProviderProblems(incoming: SsoProvider, existing: SsoProvider): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  if (!incoming.metadata && !incoming.metadata_url && !existing.metadata && !existing.metadata_url) {
    out.push({ name: 'metadata', reason: 'either metadata or metadata_url must be defined' });
  }
  if (incoming.metadata && incoming.metadata_url) {
    out.push({ name: 'metadata', reason: 'both metadata and metadata_url are defined, only one is allowed' });
  }
  if (!incoming.entity_id) {
    if (!existing.entity_id) out.push({ name: 'entity_id', reason: 'required' });
  } else if ([...incoming.entity_id].length < 5) {
    out.push({ name: 'entity_id', reason: 'must be 5 or more characters' });
  }
  if (!incoming.idp_name && !existing.idp_name) out.push({ name: 'idp_name', reason: 'required' });
  if (incoming.metadata_url) {
    let u: URL | undefined;
    try {
      u = new URL(incoming.metadata_url);
    } catch {
      out.push({ name: 'metadata_url', reason: `parse "${incoming.metadata_url}": invalid URI for request` });
    }
    if (u && u.protocol !== 'https:' && u.protocol !== 'http:') {
      out.push({ name: 'metadata_url', reason: 'must be either https or http' });
    }
  }
  return out;
}

function duplicates<T>(items: T[] | null, key: (t: T) => string): T | undefined {
  const seen = new Set<string>();
  for (const item of items ?? []) {
    const k = key(item);
    if (seen.has(k)) return item;
    seen.add(k);
  }
  return undefined;
}

/** The problems with `after` (the settings a PATCH would store), given `before` and the PATCH. */
export function configProblems(before: AppConfig, after: AppConfig, patch: ConfigPatch): ErrorDetail[] {
  const errors: ErrorDetail[] = [];
  const add = (name: string, reason: string) => errors.push({ name, reason });
  const mdm = after.mdm;

  if (!after.org_info.org_name) add('org_name', 'organization name must be present');
  if (!after.server_settings.server_url) add('server_url', 'Fleet server URL must be present');

  const expiry = after.activity_expiry_settings;
  if (expiry.activity_expiry_enabled && expiry.activity_expiry_window < 1) {
    add('activity_expiry_settings.activity_expiry_window', 'must be greater than 0');
  }

  const jiraDup = duplicates(after.integrations.jira, (j) => `${j.url}\n${j.project_key}`);
  if (jiraDup) {
    add(
      'Jira integration',
      `duplicate Jira integration for url ${jiraDup.url} and project key ${jiraDup.project_key}`,
    );
  }
  const zendeskDup = duplicates(after.integrations.zendesk, (z) => `${z.url}\n${z.group_id}`);
  if (zendeskDup) {
    add(
      'Zendesk integration',
      `duplicate Zendesk integration for url ${zendeskDup.url} and group id ${zendeskDup.group_id}`,
    );
  }

  if (after.gitops.gitops_mode_enabled) {
    if (!after.gitops.repository_url) {
      add('UI GitOps Mode: ', 'Repository URL is required when GitOps mode is enabled');
    } else if (!httpUrl(after.gitops.repository_url)) {
      add('UI Gitops Mode: ', 'Git repository URL must include protocol (e.g. https://)');
    }
  }

  if (mdm.apple_server_url && mdm.apple_server_url !== before.mdm.apple_server_url) {
    let u: URL | undefined;
    try {
      u = new URL(mdm.apple_server_url);
    } catch {
      add('mdmAppleServerURL', 'must include a URL scheme (e.g. https://)');
    }
    if (u && u.protocol !== 'http:' && u.protocol !== 'https:') {
      add('mdmAppleServerURL', 'URL scheme must be http or https');
    } else if (u && !u.hostname) add('mdmAppleServerURL', 'must include a host');
  }

  for (const [name, u] of [
    ['macos_updates', mdm.macos_updates],
    ['ios_updates', mdm.ios_updates],
    ['ipados_updates', mdm.ipados_updates],
  ] as const) {
    const problem = osUpdatesProblem(u);
    if (problem) add(name, problem);
  }
  const windowsUpdates = windowsUpdatesProblem(mdm.windows_updates);
  if (windowsUpdates) add('windows_updates', windowsUpdates);

  // The end-user authentication IdP is checked only when it changes (as Fleet does).
  const idp = mdm.end_user_authentication;
  const oldIdp = before.mdm.end_user_authentication;
  if ((Object.keys(idp) as (keyof typeof idp)[]).some((k) => idp[k] !== oldIdp[k])) {
    for (const p of ssoProviderProblems(idp, oldIdp)) add(p.name, p.reason);
  }

  const eua = mdm.macos_setup.enable_end_user_authentication;
  if (
    endUserAuthEmpty(mdm.end_user_authentication) &&
    !endUserAuthEmpty(before.mdm.end_user_authentication)
  ) {
    if (eua) {
      add(
        'end_user_authentication',
        'End user authentication is enabled. Please disable end user authentication in Controls > Setup experience and try again',
      );
    }
  } else if (eua && endUserAuthEmpty(mdm.end_user_authentication)) {
    add(
      'setup_experience.enable_end_user_authentication',
      "Couldn't enable setup_experience.enable_end_user_authentication because no IdP is configured for MDM features.",
    );
  }
  if (mdm.macos_setup.lock_end_user_info && !eua) {
    add(
      'setup_experience.lock_end_user_info',
      '"enable_end_user_authentication" must be set to "true" in order to enable "lock_end_user_info".',
    );
  }

  const migration = mdm.macos_migration;
  const migrationChanged =
    migration.enable !== before.mdm.macos_migration.enable ||
    migration.mode !== before.mdm.macos_migration.mode ||
    migration.webhook_url !== before.mdm.macos_migration.webhook_url;
  if (migrationChanged && migration.enable) {
    if (migration.mode !== 'voluntary' && migration.mode !== 'forced') {
      add('macos_migration.mode', "mode must be one of 'voluntary' or 'forced'");
    }
    if (!httpUrl(migration.webhook_url))
      add('macos_migration.webhook_url', 'webhook_url must be https or http');
  }

  const windowsOn = mdm.windows_enabled_and_configured;
  if (!windowsOn && mdm.windows_migration_enabled) {
    add(
      'mdm.windows_migration_enabled',
      "Couldn't enable Windows MDM migration, Windows MDM is not enabled.",
    );
  }
  if (!windowsOn && mdm.enable_turn_on_windows_mdm_manually) {
    add(
      'mdm.enable_turn_on_windows_mdm_manually',
      "Couldn't enable Turn on Windows MDM Manually, Windows MDM is not enabled.",
    );
  }
  for (const id of mdm.windows_entra_tenant_ids ?? []) {
    if (!entraGuid.test(id)) add('mdm.windows_entra_tenant_ids', `Invalid Entra tenant ID: ${id}`);
  }
  for (const id of mdm.windows_entra_client_ids ?? []) {
    if (!entraGuid.test(id)) add('mdm.windows_entra_client_ids', `Invalid Entra client ID: ${id}`);
  }
  if (!windowsOn && (mdm.windows_entra_tenant_ids ?? []).length > 0) {
    add('mdm.windows_entra_tenant_ids', "Couldn't set Windows Entra tenant IDs, Windows MDM is not enabled.");
  }
  if (!windowsOn && (mdm.windows_entra_client_ids ?? []).length > 0) {
    add('mdm.windows_entra_client_ids', "Couldn't set Windows Entra client IDs, Windows MDM is not enabled.");
  }
  if (mdm.windows_migration_enabled && mdm.enable_turn_on_windows_mdm_manually) {
    add(
      'mdm.enable_turn_on_windows_mdm_manually',
      "Couldn't enable Turn on Windows MDM Manually, Windows MDM migration is also enabled. Please enable only one.",
    );
  }

  if (!mdm.enable_disk_encryption && mdm.windows_require_bitlocker_pin) {
    if (before.mdm.enable_disk_encryption) {
      add(
        'mdm.enable_disk_encryption',
        "Couldn't disable disk encryption, you need to disable the BitLocker PIN requirement first.",
      );
    } else {
      add(
        'mdm.windows_require_bitlocker_pin',
        "Couldn't enable BitLocker PIN requirement, you must enable disk encryption first.",
      );
    }
  }

  const aap = mdm.apple_account_provisioning;
  const tokenUrl = aap.oauth_idp_token_url ?? '';
  const clientId = aap.oauth_idp_client_id ?? '';
  const secretSent = patch.mdm?.apple_account_provisioning?.oauth_idp_client_secret;
  if (tokenUrl && clientId) {
    if (!aap.oauth_idp_client_secret) {
      add(
        'mdm.apple_account_provisioning.oauth_idp_client_secret',
        'oauth_idp_client_secret must be set together with oauth_idp_token_url and oauth_idp_client_id',
      );
    } else if (
      !secretSent &&
      tokenUrl !== (before.mdm.apple_account_provisioning.oauth_idp_token_url ?? '')
    ) {
      // A stored secret is not sent to a new token endpoint.
      add(
        'mdm.apple_account_provisioning.oauth_idp_client_secret',
        'oauth_idp_client_secret must be provided when changing oauth_idp_token_url',
      );
    }
    const u = httpUrl(tokenUrl);
    if (!u || u.protocol !== 'https:') {
      add('mdm.apple_account_provisioning.oauth_idp_token_url', 'must be a valid https URL');
    }
  } else if (tokenUrl || clientId || secretSent) {
    add(
      'mdm.apple_account_provisioning',
      'oauth_idp_token_url, oauth_idp_client_id, and oauth_idp_client_secret must all be set together, or all be empty',
    );
  }

  return errors;
}
