import type { Principal } from '../admin/roles.js';
import { HttpError, invalid } from '../http/errors.js';
import {
  defaultAppConfig,
  defaultContactUrl,
  maskedSecret,
  serverFacts,
  type AppConfig,
} from './defaults.js';
import type { ConfigPatch } from './schema.js';
import type { AppConfigStore } from './store.js';
import { configProblems } from './validation.js';
import { audienceOf, readAnswer, writeAnswer } from './view.js';

export type { AppConfig } from './defaults.js';

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep-merges `patch` into `base`: objects merge, everything else replaces. */
export function deepMerge<T>(base: T, patch: Json): T {
  const out: Json = { ...(base as Json) };
  for (const [k, v] of Object.entries(patch)) {
    out[k] = isObject(v) && isObject(out[k]) ? deepMerge(out[k], v) : v;
  }
  return out as T;
}

/** Settings Fleet stores as raw JSON: a new value replaces the old one whole instead of merging. */
const replacedWhole = new Set(['agent_options', 'features.additional_queries']);

/**
 * Applies a settings patch with Go's JSON-decoding rules, as Fleet does: objects merge key by key
 * (maps too), arrays and raw JSON values replace, `undefined` (a `null` Fleet ignores) changes
 * nothing.
 */
function applyPatch<T>(base: T, patch: Json, path = ''): T {
  const out: Json = { ...(base as Json) };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    const at = path ? `${path}.${k}` : k;
    out[k] = isObject(v) && isObject(out[k]) && !replacedWhole.has(at) ? applyPatch(out[k], v, at) : v;
  }
  return out as T;
}

const isMasked = (v: unknown) => v === maskedSecret;

/** Options of one `PATCH /config`. */
export interface UpdateOptions {
  /** Validate only; store nothing. */
  dryRun?: boolean;
  /** GitOps: features, SSO, end-user authentication and account provisioning are replaced, not merged. */
  overwrite?: boolean;
}

/** Global settings (Fleet's app config), stored as one JSON document. */
export class AppConfigService {
  constructor(
    private readonly store: AppConfigStore,
    private readonly defaultServerUrl: string,
    /** Server facts shown read-only in `GET /config`. */
    private readonly runtime: { debugLogging?: boolean } = {},
  ) {}

  defaults(): AppConfig {
    return defaultAppConfig(this.defaultServerUrl);
  }

  /** The stored settings over the defaults, secrets in clear (for the server's own use). */
  async get(): Promise<AppConfig> {
    const stored = await this.store.read();
    return stored ? applyPatch(this.defaults(), stored) : this.defaults();
  }

  /**
   * Applies a partial document from inside the server (setup, APNs certificate upload, tests) and
   * returns the result. Unlike `update`, read-only flags may be set and nothing is validated.
   */
  async patch(patch: Json, opts: { dryRun?: boolean } = {}): Promise<AppConfig> {
    const next = applyPatch(await this.get(), patch);
    if (!opts.dryRun) await this.store.write(next as unknown as Json);
    return next;
  }

  /** The URL devices use to reach the server: the stored setting, else the configured one. */
  async serverUrl(): Promise<string> {
    return (await this.get()).server_settings.server_url || this.defaultServerUrl;
  }

  private facts() {
    return serverFacts({ debug: this.runtime.debugLogging ?? false });
  }

  /** Read-only facts other areas add to `GET /config` (certificate expiry), computed per read. */
  private readonly readFacts: (() => Promise<Json>)[] = [];

  addReadFacts(fn: () => Promise<Json>): void {
    this.readFacts.push(fn);
  }

  /** `GET /config` for this reader: secrets masked, SMTP/SSO/agent options only for admins. */
  async document(reader: Principal): Promise<Json> {
    const extra = Object.assign({}, ...(await Promise.all(this.readFacts.map((f) => f()))));
    return readAnswer(await this.get(), audienceOf(reader), { ...this.facts(), ...extra });
  }

  /** The answer to a `PATCH /config` that produced `cfg`. */
  answer(cfg: AppConfig): Json {
    return writeAnswer(cfg, this.facts());
  }

  /**
   * `PATCH /config` with Fleet's semantics: read-only parts are ignored, masked secrets keep the
   * stored ones, the result is validated as a whole, and with `dryRun` nothing is stored.
   * Returns the settings before and after.
   */
  async update(
    input: ConfigPatch,
    opts: UpdateOptions = {},
  ): Promise<{ before: AppConfig; after: AppConfig }> {
    const before = await this.get();
    const patch = this.writablePart(input, before);
    let base = before;
    if (opts.overwrite) {
      const d = this.defaults();
      base = structuredClone(before);
      base.features = d.features;
      base.sso_settings = d.sso_settings;
      base.mdm.end_user_authentication = d.mdm.end_user_authentication;
      base.mdm.apple_account_provisioning = d.mdm.apple_account_provisioning;
    }
    const after = applyPatch(base, patch as Json);
    this.settle(before, after, patch);
    const problems = configProblems(before, after, patch);
    if (problems.length) throw new HttpError(422, 'Validation Failed', problems);
    if (!opts.dryRun) await this.store.write(after as unknown as Json);
    return { before, after };
  }

  /**
   * The part of a PATCH body that may change stored settings: server-set and read-only values
   * dropped, legacy spellings moved to their current keys, secrets sent back masked (or, where Fleet
   * allows it, empty) replaced by the stored ones.
   */
  private writablePart(input: ConfigPatch, before: AppConfig): ConfigPatch {
    const p = structuredClone(input);
    delete p.license;
    delete p.certificates;
    delete p.logging;
    delete p.update_interval;
    delete p.vulnerabilities;
    delete p.smtp_test;
    delete p.yara_rules;
    if (p.host_settings) p.features = p.host_settings; // Fleet: the legacy key wins
    delete p.host_settings;

    if (p.smtp_settings) {
      delete p.smtp_settings.configured;
      if (isMasked(p.smtp_settings.password)) delete p.smtp_settings.password;
    }
    if (p.conditional_access) {
      delete p.conditional_access.microsoft_entra_tenant_id;
      delete p.conditional_access.microsoft_entra_connection_configured;
    }

    const mdm = p.mdm;
    if (mdm) {
      delete mdm.enabled_and_configured;
      delete mdm.apple_bm_enabled_and_configured;
      delete mdm.apple_bm_terms_expired;
      delete mdm.android_enabled_and_configured;
      delete mdm.apple_bm_default_team;
      // Installing updates on new hosts is a macOS-only setting; Fleet drops it for iOS and iPadOS.
      if (mdm.ios_updates) delete mdm.ios_updates.update_new_hosts;
      if (mdm.ipados_updates) delete mdm.ipados_updates.update_new_hosts;
      if (mdm.macos_settings) {
        const legacy = mdm.macos_settings.enable_disk_encryption;
        if (mdm.enable_disk_encryption === undefined && legacy !== undefined)
          mdm.enable_disk_encryption = legacy;
        delete mdm.macos_settings.enable_disk_encryption;
      }
      const aap = mdm.apple_account_provisioning;
      if (aap && (aap.oauth_idp_client_secret == null || isMasked(aap.oauth_idp_client_secret))) {
        delete aap.oauth_idp_client_secret;
      }
    }

    const integrations = p.integrations;
    if (integrations?.jira) {
      const stored = new Map((before.integrations.jira ?? []).map((j) => [`${j.url}\n${j.project_key}`, j]));
      for (const j of integrations.jira) {
        if (j.api_token && !isMasked(j.api_token)) continue;
        const old = stored.get(`${j.url}\n${j.project_key}`);
        if (old) j.api_token = old.api_token;
        else if (isMasked(j.api_token))
          throw invalid('api_token is required for a new integration', 'Jira integration');
      }
    }
    if (integrations?.zendesk) {
      const stored = new Map((before.integrations.zendesk ?? []).map((z) => [`${z.url}\n${z.group_id}`, z]));
      for (const z of integrations.zendesk) {
        if (z.api_token && !isMasked(z.api_token)) continue;
        const old = stored.get(`${z.url}\n${z.group_id}`);
        if (old) z.api_token = old.api_token;
        else if (isMasked(z.api_token)) {
          throw invalid('api_token is required for a new integration', 'Zendesk integration');
        }
      }
    }
    if (integrations?.google_calendar) {
      integrations.google_calendar.forEach((g, i) => {
        if (g.api_key_json === null || isMasked(g.api_key_json)) {
          g.api_key_json = before.integrations.google_calendar?.[i]?.api_key_json ?? null;
        }
      });
    }
    return p;
  }

  /** What Fleet derives after applying a PATCH, before validating it. */
  private settle(before: AppConfig, after: AppConfig, patch: ConfigPatch): void {
    const mdm = after.mdm;
    if (!after.org_info.contact_url) after.org_info.contact_url = defaultContactUrl;

    // Turning Windows MDM off turns its migration off and clears the Entra allow-lists, unless the
    // same request sets them.
    if (before.mdm.windows_enabled_and_configured && !mdm.windows_enabled_and_configured) {
      if (patch.mdm?.windows_migration_enabled !== true) mdm.windows_migration_enabled = false;
      if (!patch.mdm?.windows_entra_tenant_ids?.length) mdm.windows_entra_tenant_ids = [];
      if (!patch.mdm?.windows_entra_client_ids?.length) mdm.windows_entra_client_ids = [];
    }
    // Entra client IDs are compared case-insensitively, so they are stored lower-case and once.
    if (mdm.windows_entra_client_ids) {
      mdm.windows_entra_client_ids = [
        ...new Set(mdm.windows_entra_client_ids.map((id) => id.trim().toLowerCase())),
      ];
    }

    // Locking the end user's account details follows end-user authentication unless set explicitly.
    const eua = mdm.macos_setup.enable_end_user_authentication;
    if (
      eua !== before.mdm.macos_setup.enable_end_user_authentication &&
      patch.mdm?.macos_setup?.lock_end_user_info === undefined &&
      (before.mdm.enabled_and_configured || !eua)
    ) {
      mdm.macos_setup.lock_end_user_info = eua;
    }

    // Without a token URL and client ID, account provisioning is off and its secret is dropped.
    const aap = mdm.apple_account_provisioning;
    if (
      !aap.oauth_idp_token_url &&
      !aap.oauth_idp_client_id &&
      !patch.mdm?.apple_account_provisioning?.oauth_idp_client_secret
    ) {
      aap.oauth_idp_client_secret = null;
    }
  }
}
