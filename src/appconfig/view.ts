import type { Principal } from '../admin/roles.js';
import {
  defaultContactUrl,
  defaultTransparencyUrl,
  maskedSecret,
  serverFacts,
  type AppConfig,
} from './defaults.js';

export type ServerFacts = ReturnType<typeof serverFacts>;

/** Which parts of the document a reader may see (Fleet's rules for `GET /config`). */
export interface Audience {
  /** SMTP and SSO settings: global admins and admins of any team. */
  smtpAndSso: boolean;
  /** osquery agent options: global admins only. */
  agentOptions: boolean;
}

export function audienceOf(p: Principal): Audience {
  const globalAdmin = p.globalRole === 'admin';
  return {
    smtpAndSso: globalAdmin || p.teams.some((t) => t.role === 'admin'),
    agentOptions: globalAdmin,
  };
}

/**
 * The document as Fleet serves it: secrets masked (`********`, the Apple account provisioning
 * client secret never shown), values Fleet fills in at read time filled in, keys Fleet omits when
 * unset left out.
 */
export function obfuscated(cfg: AppConfig): AppConfig {
  const doc = structuredClone(cfg);
  if (doc.smtp_settings.password) doc.smtp_settings.password = maskedSecret;
  for (const j of doc.integrations.jira ?? []) j.api_token = maskedSecret;
  for (const z of doc.integrations.zendesk ?? []) z.api_token = maskedSecret;
  for (const g of doc.integrations.google_calendar ?? []) {
    if (g.api_key_json !== null) g.api_key_json = maskedSecret;
  }
  doc.mdm.apple_account_provisioning.oauth_idp_client_secret = null;
  if (!doc.org_info.contact_url) doc.org_info.contact_url = defaultContactUrl;
  if (!doc.fleet_desktop.transparency_url) doc.fleet_desktop.transparency_url = defaultTransparencyUrl;
  // Microsoft Entra conditional access comes from its own integration, which Flotilla does not have.
  doc.conditional_access.microsoft_entra_tenant_id = '';
  doc.conditional_access.microsoft_entra_connection_configured = false;
  if (doc.features.additional_queries == null) delete doc.features.additional_queries;
  if (doc.features.detail_query_overrides == null) delete doc.features.detail_query_overrides;
  return doc;
}

/** `GET /config`: the masked document for this reader plus the server's read-only facts. */
export function readAnswer(cfg: AppConfig, audience: Audience, facts: ServerFacts): Record<string, unknown> {
  const doc: Partial<AppConfig> = obfuscated(cfg);
  if (!audience.smtpAndSso) {
    delete doc.smtp_settings;
    delete doc.sso_settings;
  }
  if (!audience.agentOptions) delete doc.agent_options;
  return { ...doc, ...facts };
}

/**
 * `PATCH /config`: Fleet answers with the whole masked document, the license and logging facts,
 * and `update_interval` / `vulnerabilities` as null (its modify endpoint does not load them).
 */
export function writeAnswer(cfg: AppConfig, facts: ServerFacts): Record<string, unknown> {
  return {
    ...obfuscated(cfg),
    license: facts.license,
    logging: facts.logging,
    update_interval: null,
    vulnerabilities: null,
  };
}
