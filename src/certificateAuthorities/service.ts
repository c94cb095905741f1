import { X509Certificate } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Logger } from 'pino';
import type { ActivityService, Actor } from '../admin/activityService.js';
import { parseSignedData } from '../crypto/cms.js';
import { isUniqueViolation, toApiTime } from '../db/dialect.js';
import type { DB } from '../db/schema.js';
import { badRequest, invalid, notFound } from '../http/errors.js';
import { NdesChallengeError, type NdesChallengeClient } from './ndes/challenge.js';
import {
  typesIn,
  unsupportedCaTypes,
  type CreateCertificateAuthorityPayload,
  type UnsupportedCaType,
  type UpdateCertificateAuthorityPayload,
} from './payload.js';
import type { ScepUpstreamClient } from './scepUpstream.js';
import type {
  CaType,
  CertificateAuthority,
  CertificateAuthorityChanges,
  CertificateAuthorityStore,
  NewCertificateAuthority,
} from './store.js';
import { ndesCaName } from '../scepProxy/identifier.js';

/** What Fleet shows in place of a stored secret. */
export const maskedSecret = '********';

const addPrefix = "Couldn't add certificate authority. ";
const editPrefix = "Couldn't edit certificate authority. ";

/** How each type is named in messages and activities (Fleet's). */
const display: Record<CaType, string> = { ndes_scep_proxy: 'NDES SCEP', custom_scep_proxy: 'custom SCEP' };
const activity: Record<CaType, string> = {
  ndes_scep_proxy: 'ndes_scep_proxy',
  custom_scep_proxy: 'custom_scep_proxy',
};

/** Fleet's `Preprocess`: surrounding whitespace is not part of a name or URL. */
const trim = (s: string) => s.trim();

function validateName(name: string, prefix: string): void {
  if (name.length === 0) throw invalid(`${prefix}CA name cannot be empty`, 'name');
  if (name.length > 255) throw invalid(`${prefix}CA name cannot be longer than 255 characters`, 'name');
  if (!/^[A-Za-z0-9_]+$/.test(name)) {
    throw invalid(
      `${prefix}Invalid characters in the "name" field. Only letters, numbers and underscores allowed.`,
      'name',
    );
  }
}

/** Go's url.ParseRequestURI and the http(s) scheme rule, with Fleet's words. */
function validateUrl(raw: string, kind: string, prefix: string): void {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    if (raw.startsWith('/')) throw invalid(`${prefix}${kind} URL scheme must be https or http`, 'url');
    throw invalid(`${prefix}Invalid ${kind} URL. Please correct and try again.`, 'url');
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw invalid(`${prefix}${kind} URL scheme must be https or http`, 'url');
  }
}

/** A masked or absent secret in a PATCH means "keep the stored one". */
const keep = (v: string | null | undefined) => v === null || v === undefined || v === maskedSecret;

export interface CertificateAuthoritySummaryJson {
  id: number;
  name: string;
  type: CaType;
}

/** GET /certificate_authorities/:id: the CA with its secrets masked, as Fleet shows it. */
export function certificateAuthorityJson(ca: CertificateAuthority): Record<string, unknown> {
  const out: Record<string, unknown> = { id: ca.id, type: ca.type, name: ca.name, url: ca.url };
  if (ca.type === 'ndes_scep_proxy') {
    out.admin_url = ca.adminUrl ?? '';
    out.username = ca.username ?? '';
    if (ca.hasPassword) out.password = maskedSecret;
  }
  if (ca.type === 'custom_scep_proxy' && ca.hasChallenge) out.challenge = maskedSecret;
  out.created_at = toApiTime(ca.createdAt);
  out.updated_at = toApiTime(ca.updatedAt);
  return out;
}

/**
 * The certificate authorities an admin configures for certificate variables: NDES and custom SCEP
 * servers the SCEP proxy passes device requests to. Creating or changing one contacts it (GetCACert
 * on its SCEP URL, a challenge from the NDES admin page), as Fleet does; secrets are sealed by the
 * store and never leave this service unmasked.
 */
export class CertificateAuthorityService {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly store: CertificateAuthorityStore,
    private readonly activities: ActivityService,
    private readonly upstream: ScepUpstreamClient,
    private readonly ndes: NdesChallengeClient,
    private readonly logger: Logger,
  ) {}

  async list(): Promise<CertificateAuthoritySummaryJson[]> {
    return (await this.store.list()).map((c) => ({ id: c.id, name: c.name, type: c.type }));
  }

  async get(id: number): Promise<Record<string, unknown>> {
    const ca = await this.store.get(id);
    if (!ca) throw notFound(`CertificateAuthority ${id}`);
    return certificateAuthorityJson(ca);
  }

  async create(
    actor: Actor,
    body: CreateCertificateAuthorityPayload,
  ): Promise<CertificateAuthoritySummaryJson> {
    const types = typesIn(body);
    if (types.length === 0) throw badRequest(`${addPrefix}A certificate authority must be specified`);
    if (types.length > 1)
      throw badRequest(`${addPrefix}Only one certificate authority can be created at a time`);
    const type = types[0];
    let ca: NewCertificateAuthority;
    if (body.custom_scep_proxy) {
      const p = body.custom_scep_proxy;
      ca = { type: 'custom_scep_proxy', name: trim(p.name), url: trim(p.url), challenge: p.challenge };
      validateName(ca.name, addPrefix);
      validateUrl(ca.url, 'SCEP', addPrefix);
      if (!p.challenge || p.challenge === maskedSecret) {
        throw invalid(`${addPrefix}Custom SCEP Proxy challenge cannot be empty`, 'challenge');
      }
      await this.checkScepUrl(ca.url, addPrefix, 'custom SCEP');
    } else if (body.ndes_scep_proxy) {
      const p = body.ndes_scep_proxy;
      ca = {
        type: 'ndes_scep_proxy',
        name: trim(p.name) || ndesCaName,
        url: trim(p.url),
        adminUrl: trim(p.admin_url),
        username: trim(p.username),
        password: p.password,
      };
      validateName(ca.name, addPrefix);
      validateUrl(ca.url, 'NDES SCEP', addPrefix);
      if ((await this.store.byTypeWithSecrets('ndes_scep_proxy')).length > 0) {
        throw badRequest(`${addPrefix}Only one NDES SCEP certificate authority can be added.`);
      }
      await this.checkScepUrl(ca.url, addPrefix, 'NDES SCEP');
      await this.checkNdesAdmin(ca.adminUrl!, ca.username!, ca.password!, addPrefix);
    } else {
      const name = unsupportedCaTypes[type as UnsupportedCaType];
      throw badRequest(`${addPrefix}${name} certificate authorities are not supported by this server.`);
    }

    let id: number;
    try {
      id = await this.db.transaction().execute(async (trx) => {
        const newId = await this.store.insert(ca, trx);
        await this.activities.record(actor, `added_${activity[ca.type]}`, { name: ca.name }, { trx });
        return newId;
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw this.nameTaken(addPrefix, ca.name, ca.type);
      throw err;
    }
    return { id, name: ca.name, type: ca.type };
  }

  async update(actor: Actor, id: number, body: UpdateCertificateAuthorityPayload): Promise<void> {
    const types = typesIn(body);
    if (types.length === 0) throw badRequest(`${editPrefix}A certificate authority must be specified`);
    if (types.length > 1)
      throw badRequest(`${editPrefix}Only one certificate authority can be edited at a time`);
    const old = await this.store.getWithSecrets(id);
    if (!old) throw badRequest(`${editPrefix}Certificate authority with ID ${id} does not exist.`);

    let type: CaType;
    const changes: CertificateAuthorityChanges = {};
    if (body.custom_scep_proxy) {
      const p = body.custom_scep_proxy;
      type = 'custom_scep_proxy';
      if (p.name == null && p.url == null && p.challenge == null) {
        throw badRequest(`${editPrefix}Custom SCEP Proxy CA update payload is empty`);
      }
      if (p.url != null && p.challenge == null) {
        throw badRequest(
          `${editPrefix}"challenge" must be set when modifying "url" of an existing certificate authority: ${old.name}`,
        );
      }
      if (p.name != null) validateName((changes.name = trim(p.name)), editPrefix);
      if (p.url != null) {
        validateUrl((changes.url = trim(p.url)), 'SCEP', editPrefix);
        await this.checkScepUrl(changes.url, editPrefix, 'custom SCEP');
      }
      if (p.challenge === '') throw badRequest(`${editPrefix}Custom SCEP Proxy challenge cannot be empty`);
      if (!keep(p.challenge)) changes.challenge = p.challenge!;
    } else if (body.ndes_scep_proxy) {
      const p = body.ndes_scep_proxy;
      type = 'ndes_scep_proxy';
      if (
        p.name == null &&
        p.url == null &&
        p.admin_url == null &&
        p.username == null &&
        p.password == null
      ) {
        throw badRequest(`${editPrefix}NDES SCEP Proxy CA update payload is empty`);
      }
      if ((p.url != null || p.admin_url != null || p.username != null) && p.password == null) {
        throw badRequest(
          `${editPrefix}"password" must be set when modifying an existing certificate authority: ${old.name}`,
        );
      }
      if (p.name != null) validateName((changes.name = trim(p.name)), editPrefix);
      if (p.url != null) {
        validateUrl((changes.url = trim(p.url)), 'NDES SCEP', editPrefix);
        await this.checkScepUrl(changes.url, editPrefix, 'NDES SCEP');
      }
      if (p.username != null) changes.username = trim(p.username);
      if (!keep(p.password)) changes.password = p.password!;
      if (p.admin_url != null) {
        changes.adminUrl = trim(p.admin_url);
        if (!changes.adminUrl) {
          throw badRequest(`${editPrefix}Invalid NDES SCEP admin URL. Please correct and try again.`);
        }
        await this.checkNdesAdmin(
          changes.adminUrl,
          changes.username ?? old.username ?? '',
          changes.password ?? old.password ?? '',
          editPrefix,
        );
      }
    } else {
      const name = unsupportedCaTypes[types[0] as UnsupportedCaType];
      throw badRequest(`${editPrefix}${name} certificate authorities are not supported by this server.`);
    }
    if (old.type !== type) throw badRequest(`${editPrefix}The certificate authority types must be the same.`);

    const name = changes.name ?? old.name;
    try {
      await this.db.transaction().execute(async (trx) => {
        await this.store.update(id, changes, trx);
        await this.activities.record(actor, `edited_${activity[type]}`, { name }, { trx });
      });
    } catch (err) {
      if (isUniqueViolation(err)) throw this.nameTaken(editPrefix, name, type);
      throw err;
    }
  }

  async delete(actor: Actor, id: number): Promise<void> {
    const ca = await this.store.get(id);
    if (!ca) throw notFound(`certificate authority with id ${id}`);
    await this.db.transaction().execute(async (trx) => {
      if (!(await this.store.delete(id, trx))) throw notFound(`certificate authority with id ${id}`);
      await this.activities.record(actor, `deleted_${activity[ca.type]}`, { name: ca.name }, { trx });
    });
  }

  private nameTaken(prefix: string, name: string, type: CaType) {
    return badRequest(
      `${prefix}"${name}" name is already used by another ${display[type]} certificate authority. Please choose a different name and try again.`,
    );
  }

  /** Fleet's check of a SCEP URL: GetCACert must answer with a CA certificate. */
  private async checkScepUrl(url: string, prefix: string, kind: string): Promise<void> {
    try {
      const { body } = await this.upstream.getCaCert(url);
      if (!isCertificateAnswer(body)) throw new Error('GetCACert: not a certificate');
    } catch (err) {
      this.logger.info({ kind, reason: (err as Error).message }, `failed to validate ${kind} URL`);
      throw badRequest(`${prefix}Invalid SCEP URL. Please correct and try again.`);
    }
  }

  /** Fleet's check of NDES admin access: one challenge must be had with these credentials. */
  private async checkNdesAdmin(adminUrl: string, username: string, password: string, prefix: string) {
    try {
      await this.ndes.fetchChallenge({ adminUrl, username, password });
    } catch (err) {
      this.logger.info({ reason: (err as Error).message }, 'failed to validate NDES SCEP admin URL');
      if (err instanceof NdesChallengeError && err.kind === 'cacheFull') {
        throw badRequest(
          `${prefix}The NDES password cache is full. Please increase the number of cached passwords in NDES and try again.`,
        );
      }
      if (err instanceof NdesChallengeError && err.kind === 'permissions') {
        throw badRequest(
          `${prefix}Insufficient permissions for NDES SCEP admin URL. Please correct and try again.`,
        );
      }
      throw badRequest(`${prefix}Invalid NDES SCEP admin URL or credentials. Please correct and try again.`);
    }
  }
}

/** A GetCACert answer: one DER certificate, or a certs-only PKCS#7 with at least one. */
function isCertificateAnswer(body: Buffer): boolean {
  try {
    new X509Certificate(body);
    return true;
  } catch {
    try {
      return parseSignedData(body).certificates.length > 0;
    } catch {
      return false;
    }
  }
}
