import { createHash, X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import type { CertificateAuthorityStore } from '../certificateAuthorities/store.js';
import {
  UpstreamScepError,
  type ScepUpstreamClient,
  type UpstreamAnswer,
} from '../certificateAuthorities/scepUpstream.js';
import { parseSignedData } from '../crypto/cms.js';
import { Tag } from '../crypto/der.js';
import { OID } from '../crypto/oids.js';
import { dbNow, fromDbTime, toDbTime } from '../db/dialect.js';
import { parseProxyIdentifier, type ProxyIdentifier } from './identifier.js';
import type { ScepProxyStore } from './store.js';

/** Managed-certificate `type` values (Fleet's CAConfigAssetType). */
export const managedCertificateTypes = { ndes: 'ndes', customScep: 'custom_scep_proxy' } as const;

/** Fleet treats an NDES challenge as expired this long after it was fetched (NDES keeps it 60 minutes). */
export const ndesChallengeValidityMs = 57 * 60 * 1000;

/** Fleet's answer when the identifier names no CA this server can reach. */
export const scepProxyNotConfigured = 'SCEP proxy is not configured';

/** A refusal the proxy answers with an HTTP status and a plain-text reason (Fleet's words). */
export class ScepProxyError extends Error {
  constructor(
    readonly status: 400 | 500,
    message: string,
  ) {
    super(message);
  }
}

const sha256Hex = (s: string) => createHash('sha256').update(s).digest('hex');

const operationText = {
  GetCACaps: 'Could not GetCACaps from SCEP server',
  GetCACert: 'Could not GetCACert from SCEP server',
  PKIOperation: 'Could not do PKIOperation on SCEP server',
} as const;

/**
 * The certificate a successful CertRep issued, when the upstream lists it beside its own (micromdm
 * and NDES do): the one certificate in the SignedData that is not a CA.
 */
export function issuedCertificate(certRep: Buffer): X509Certificate | undefined {
  try {
    const sd = parseSignedData(certRep);
    const status = sd.signers[0]?.attributes.get(OID.scepPkiStatus)?.[0];
    const text = status?.tag === Tag.OCTET_STRING ? status.content.toString('latin1') : status?.text();
    if (text !== '0') return undefined;
    return sd.certificates.map((der) => new X509Certificate(der)).find((c) => !c.ca);
  } catch {
    return undefined;
  }
}

export interface ScepProxyOptions {
  /** How long a custom SCEP URL's one-time challenge stays usable. */
  challengeTtlSeconds: number;
}

/**
 * The SCEP server devices reach at `/mdm/scep/proxy/<identifier>`: checks that the identifier
 * names a certificate this server expanded a profile for, and for a PKIOperation that its
 * one-time challenge (custom SCEP) is unused or its NDES challenge still fresh, then passes the
 * request to the CA's SCEP URL and its answer back unchanged.
 */
export class ScepProxyService {
  constructor(
    private readonly cas: CertificateAuthorityStore,
    private readonly store: ScepProxyStore,
    private readonly upstream: ScepUpstreamClient,
    private readonly opts: ScepProxyOptions,
    private readonly logger: Logger,
  ) {}

  async getCaCaps(identifier: string): Promise<UpstreamAnswer> {
    const { url } = await this.upstreamFor(identifier, false);
    return this.pass('GetCACaps', () => this.upstream.getCaCaps(url));
  }

  async getCaCert(identifier: string, message?: string): Promise<UpstreamAnswer> {
    const { url } = await this.upstreamFor(identifier, false);
    return this.pass('GetCACert', () => this.upstream.getCaCert(url, message));
  }

  async pkiOperation(identifier: string, der: Buffer): Promise<UpstreamAnswer> {
    const { url, id } = await this.upstreamFor(identifier, true);
    const answer = await this.pass('PKIOperation', () => this.upstream.pkiOperation(url, der));
    const issued = issuedCertificate(answer.body);
    if (issued) {
      await this.store.recordIssued(id, {
        notBefore: toDbTime(new Date(issued.validFrom)),
        notAfter: toDbTime(new Date(issued.validTo)),
        serial: issued.serialNumber.toLowerCase(),
      });
    }
    return answer;
  }

  /** Removes custom SCEP challenges past their lifetime (cron). */
  deleteExpiredChallenges(): Promise<number> {
    return this.store.deleteChallengesBefore(dbNow(-this.opts.challengeTtlSeconds * 1000));
  }

  private async pass(op: keyof typeof operationText, call: () => Promise<UpstreamAnswer>) {
    try {
      return await call();
    } catch (err) {
      if (!(err instanceof UpstreamScepError)) throw err;
      this.logger.warn({ operation: op, reason: err.message }, 'scep proxy: upstream failed');
      throw new ScepProxyError(500, operationText[op]);
    }
  }

  private refuse(message: string, id?: ProxyIdentifier): never {
    this.logger.info(
      { reason: message, hostUuid: id?.hostUuid, profileUuid: id?.profileUuid, caName: id?.caName },
      'scep proxy: request refused',
    );
    throw new ScepProxyError(400, message);
  }

  /** The upstream SCEP URL for an identifier, after Fleet's checks (and the challenge's, when asked). */
  private async upstreamFor(
    raw: string,
    checkChallenge: boolean,
  ): Promise<{ url: string; id: ProxyIdentifier }> {
    const id = parseProxyIdentifier(raw);
    if (!id) return this.refuse('invalid identifier in URL path');
    if (!id.profileUuid.startsWith('a') && !id.profileUuid.startsWith('w')) {
      return this.refuse(
        `invalid profile UUID (only Apple and Windows config profiles are supported): ${id.profileUuid}`,
        id,
      );
    }
    const managed = await this.store.managedCertificate(id);
    if (!managed) return this.refuse('unknown identifier in URL path', id);

    if (managed.type === managedCertificateTypes.ndes) {
      const [ndes] = await this.cas.byTypeWithSecrets('ndes_scep_proxy');
      if (!ndes) return this.refuse(scepProxyNotConfigured, id);
      const fetchedAt = fromDbTime(managed.challenge_retrieved_at);
      if (checkChallenge && fetchedAt && fetchedAt.getTime() + ndesChallengeValidityMs < Date.now()) {
        return this.refuse('challenge password has expired', id);
      }
      return { url: ndes.url, id };
    }

    if (managed.type === managedCertificateTypes.customScep) {
      const ca = (await this.cas.byTypeWithSecrets('custom_scep_proxy')).find((c) => c.name === id.caName);
      if (!ca) return this.refuse(scepProxyNotConfigured, id);
      if (checkChallenge) {
        const consumed = await this.store.consumeChallenge(
          { ...id, challengeSha256: sha256Hex(id.challenge) },
          dbNow(-this.opts.challengeTtlSeconds * 1000),
        );
        if (!id.challenge || !consumed) return this.refuse('custom scep challenge failed', id);
      }
      return { url: ca.url, id };
    }
    return this.refuse(scepProxyNotConfigured, id);
  }
}
