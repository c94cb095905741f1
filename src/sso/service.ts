import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { AppConfig, AppConfigService } from '../appconfig/service.js';
import { fromDbTime, toDbTime } from '../db/dialect.js';
import type { DB } from '../db/schema.js';
import { badRequest, invalid } from '../http/errors.js';
import type { IdpAccountStore } from './accountStore.js';
import type { EulaService } from './eulaService.js';
import { IdpMetadataError, parseIdpMetadata, type IdpMetadata, type IdpMetadataFetcher } from './metadata.js';
import {
  authnRequestUrl,
  clockSkewMs,
  SamlRefusal,
  validateSamlResponse,
  type ServiceProvider,
} from './saml.js';
import type { SsoSessionStore } from './sessionStore.js';

/** The ACS: where the IdP posts its answer (Fleet's path, also under the other version prefixes). */
export const acsPath = '/api/v1/fleet/mdm/sso/callback';
/** The page the ACS sends the browser to, with the outcome in the query string (Fleet's). */
export const ssoCallbackPagePath = '/mdm/sso/callback';
/** Fleet's redirects for a failed login: generic, and for a session that timed out. */
export const ssoErrorRedirect = `${ssoCallbackPagePath}?error=true`;
export const ssoSessionExpiredRedirect = `${ssoErrorRedirect}&reason=session_expired`;

/** Fleet's message when no IdP is configured for end-user authentication. */
export const notConfiguredMessage = 'organization not configured to use sso';
/** Fleet's message when a team or No team turns end-user authentication on without an IdP. */
export const noIdpMessage =
  "Couldn't enable macos_setup.enable_end_user_authentication because no IdP is configured for MDM features.";

type IdpSettings = AppConfig['mdm']['end_user_authentication'];

export function idpSettingsEmpty(s: IdpSettings): boolean {
  return !s.entity_id && !s.issuer_uri && !s.metadata && !s.metadata_url && !s.idp_name;
}

/** SHA-256 hex: how session ids and assertion ids are kept (never in clear). */
export function sha256Hex(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}

/** The part of an e-mail before `@` (Fleet's user name rule); the whole value when it has none. */
export function emailLocalPart(email: string): string {
  const at = email.indexOf('@');
  return at > 0 ? email.slice(0, at) : email;
}

export interface InitiateInput {
  initiator?: string;
  user_identifier?: string;
  host_uuid?: string;
}

export interface InitiatedLogin {
  /** The IdP URL the browser goes to. */
  url: string;
  /** The session id for the browser's cookie (secret; the database has only its hash). */
  sessionId: string;
  maxAgeSeconds: number;
}

export interface EndUserAuthDeps {
  db: Kysely<DB>;
  appConfig: AppConfigService;
  sessions: SsoSessionStore;
  accounts: IdpAccountStore;
  eula: EulaService;
  metadataFetcher: IdpMetadataFetcher;
  /** The ADE enrollment profile's token (`/api/mdm/apple/enroll?token=`). */
  automaticEnrollmentToken: () => Promise<string>;
  sessionValiditySeconds: number;
  logger: Logger;
  /** The clock (epoch ms); tests move it. */
  now?: () => number;
}

/** Longest an accepted assertion's ID is remembered (its own NotOnOrAfter is used when sooner). */
const maxAssertionMemoryMs = 7 * 24 * 3600 * 1000;

/**
 * End-user authentication before ADE enrollment (Fleet's MDM SSO): starts a SAML login for the
 * device's user, checks the IdP's answer, records the user (`mdm_idp_accounts`) and hands the
 * browser the enrollment reference and the ADE profile token.
 */
export class EndUserAuthService {
  private readonly log: Logger;
  private readonly now: () => number;

  constructor(private readonly deps: EndUserAuthDeps) {
    this.log = deps.logger.child({ component: 'end-user-sso' });
    this.now = deps.now ?? Date.now;
  }

  private async serviceProvider(cfg: AppConfig): Promise<ServiceProvider & { mdmUrl: string }> {
    const mdmUrl = (cfg.mdm.apple_server_url || (await this.deps.appConfig.serverUrl())).replace(/\/+$/, '');
    return { entityId: cfg.mdm.end_user_authentication.entity_id, acsUrl: mdmUrl + acsPath, mdmUrl };
  }

  /** The IdP metadata the settings name: fetched from `metadata_url` when set, else `metadata`. */
  private async loadMetadata(s: IdpSettings): Promise<IdpMetadata> {
    if (s.metadata_url) return parseIdpMetadata(await this.deps.metadataFetcher.fetch(s.metadata_url));
    if (s.metadata) return parseIdpMetadata(s.metadata);
    throw new IdpMetadataError(`missing metadata for idp ${s.idp_name}`);
  }

  /** Refuses turning end-user authentication on while no IdP is configured (422, Fleet's words). */
  async assertIdpConfigured(field = 'macos_setup.enable_end_user_authentication'): Promise<void> {
    const cfg = await this.deps.appConfig.get();
    if (idpSettingsEmpty(cfg.mdm.end_user_authentication)) throw invalid(noIdpMessage, field);
  }

  /** `POST /mdm/sso`: a new login; the caller sets the session cookie and sends the user to `url`. */
  async initiate(input: InitiateInput): Promise<InitiatedLogin> {
    // Only the ADE lane (Setup Assistant's web view) is served; Fleet's other initiators (OTA,
    // account-driven, orbit setup experience) are other enrollment flows Flotilla does not have.
    if (input.initiator) throw badRequest('unsupported initiator', 'initiator');
    const cfg = await this.deps.appConfig.get();
    const settings = cfg.mdm.end_user_authentication;
    if (idpSettingsEmpty(settings)) throw badRequest(notConfiguredMessage);
    let idp: IdpMetadata;
    try {
      idp = await this.loadMetadata(settings);
    } catch (err) {
      if (!(err instanceof IdpMetadataError)) throw err;
      this.log.warn({ reason: err.message }, 'end-user SSO: IdP metadata unusable');
      throw badRequest('failed to get and parse IdP metadata');
    }
    if (!idp.ssoRedirectUrl) throw badRequest('IdP does not support redirect binding');

    const sp = await this.serviceProvider(cfg);
    const requestId = `id${randomBytes(20).toString('hex')}`;
    const url = await authnRequestUrl(sp, idp, requestId);
    const sessionId = randomBytes(32).toString('base64url');
    const now = this.now();
    const validity = this.deps.sessionValiditySeconds;
    await this.deps.sessions.deleteExpired(toDbTime(new Date(now)));
    await this.deps.sessions.create(sha256Hex(sessionId), {
      requestId,
      initiator: input.initiator ?? '',
      hostUuid: input.host_uuid ?? '',
      metadata: idp.xml,
      createdAt: toDbTime(new Date(now)),
      expiresAt: toDbTime(new Date(now + validity * 1000)),
    });
    this.log.info('end-user SSO login started');
    return { url, sessionId, maxAgeSeconds: validity };
  }

  /**
   * `POST /mdm/sso/callback` (the ACS): checks the IdP's answer for the session in the browser's
   * cookie and returns where to send the browser: Fleet's callback page with the enrollment
   * reference, the ADE profile token and the EULA token, or with `error=true` (and
   * `reason=session_expired` when the session is gone). A refused answer stores nothing.
   */
  async callback(sessionId: string | undefined, samlResponse: string | undefined): Promise<string> {
    const cfg = await this.deps.appConfig.get();
    const settings = cfg.mdm.end_user_authentication;
    if (idpSettingsEmpty(settings)) return this.refuse('not_configured', ssoErrorRedirect);
    const now = this.now();
    const session = sessionId
      ? await this.deps.sessions.consume(sha256Hex(sessionId), toDbTime(new Date(now)))
      : undefined;
    if (!session) return this.refuse('session_expired', ssoSessionExpiredRedirect);
    if (!samlResponse) return this.refuse('malformed', ssoErrorRedirect, 'no SAMLResponse');

    let idp: IdpMetadata;
    try {
      idp = parseIdpMetadata(session.metadata);
    } catch {
      return this.refuse('malformed', ssoErrorRedirect, 'stored IdP metadata unusable');
    }
    const sp = await this.serviceProvider(cfg);
    try {
      const verified = await validateSamlResponse(samlResponse, {
        sp,
        idp,
        audiences: [settings.entity_id, cfg.server_settings.server_url, sp.mdmUrl, sp.acsUrl].filter(Boolean),
        requestId: session.requestId,
        requestCreatedAt: fromDbTime(session.createdAt) ?? new Date(now),
        requestValidityMs: this.deps.sessionValiditySeconds * 1000,
      });
      if ([...verified.nameId].length > 255) throw new SamlRefusal('no_user', 'NameID is too long');
      const stamp = toDbTime(new Date(now));
      const remember = Math.min(
        Math.max(verified.notOnOrAfter?.getTime() ?? 0, now + this.deps.sessionValiditySeconds * 1000) +
          clockSkewMs,
        now + maxAssertionMemoryMs,
      );
      const account = await this.deps.db.transaction().execute(async (trx) => {
        const fresh = await this.deps.sessions.markAssertionUsed(
          sha256Hex(`${idp.entityId}\n${verified.assertionId}`),
          stamp,
          toDbTime(new Date(remember)),
          trx,
        );
        if (!fresh) throw new SamlRefusal('replay', 'assertion was already used');
        return this.deps.accounts.upsert(
          {
            username: emailLocalPart(verified.nameId),
            fullname: [...verified.fullName].slice(0, 255).join(''),
            email: verified.nameId,
          },
          stamp,
          trx,
        );
      });
      const eulaToken = await this.deps.eula.currentToken();
      const profileToken = await this.deps.automaticEnrollmentToken();
      this.log.info({ enrollment_reference: account.uuid }, 'end-user SSO login accepted');
      // Keys in Go's url.Values order (sorted), as Fleet writes them.
      const q = new URLSearchParams();
      q.set('enrollment_reference', account.uuid);
      if (eulaToken) q.set('eula_token', eulaToken);
      q.set('profile_token', profileToken);
      return `${ssoCallbackPagePath}?${q.toString()}`;
    } catch (err) {
      if (err instanceof SamlRefusal) return this.refuse(err.reason, ssoErrorRedirect, err.message);
      throw err;
    }
  }

  private refuse(reason: string, redirect: string, detail?: string): string {
    this.log.warn({ sso_refusal: reason, ...(detail ? { detail } : {}) }, 'end-user SSO callback refused');
    return redirect;
  }
}
