import { createHash, randomBytes, timingSafeEqual, X509Certificate, type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { AssetName, type ConfigAssetService } from '../../configassets/service.js';
import { certificateParts } from '../../crypto/x509.js';
import { issueFromSpki, issuingCa } from '../../crypto/issue.js';
import { nameValue } from '../../crypto/name.js';
import { OID } from '../../crypto/oids.js';
import { respondToPkiOperation, type PkiOperationResult, type ScepPolicy } from './responder.js';
import type { ScepCertificateRow, ScepStore } from './store.js';

/** Capabilities we advertise in GetCACaps (micromdm/scep's set, POST first). */
export const scepCapabilities = [
  'POSTPKIOperation',
  'SHA-256',
  'SHA-1',
  'AES',
  'DES3',
  'SCEPStandard',
  'Renewal',
];

/** Identity certificates are valid this long. */
export const scepCertificateDays = 365;

export interface AppleScepCa {
  certPem: string;
  keyPem: string;
  x509: X509Certificate;
  certDer: Buffer;
  key: KeyObject;
}

function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/**
 * The Apple SCEP server: the built-in CA (assets ca_cert/ca_key), the challenges it accepts (the
 * configured static one and the per-server one embedded in enrollment profiles), and issuing.
 */
export class AppleScepService {
  private ca?: { pemKey: string; value: AppleScepCa };

  constructor(
    private readonly assets: ConfigAssetService,
    readonly store: ScepStore,
    private readonly staticChallenge: string | undefined,
    private readonly logger: Logger,
  ) {}

  /** The CA certificate and key (parsed once; re-read if the assets change). */
  async caCertificate(): Promise<AppleScepCa> {
    const got = await this.assets.get([AssetName.appleScepCaCert, AssetName.appleScepCaKey]);
    const certPem = got.ca_cert?.toString();
    const keyPem = got.ca_key?.toString();
    if (!certPem || !keyPem)
      throw new Error('the Apple SCEP CA has not been created (run prepare or start the server once)');
    if (this.ca?.pemKey !== certPem + keyPem) {
      const parsed = issuingCa({ certPem, keyPem });
      this.ca = {
        pemKey: certPem + keyPem,
        value: {
          certPem,
          keyPem,
          x509: new X509Certificate(parsed.certDer),
          certDer: parsed.certDer,
          key: parsed.key,
        },
      };
    }
    return this.ca.value;
  }

  /** The per-server challenge embedded in enrollment profiles; created on first use. */
  async challenge(): Promise<string> {
    const existing = await this.assets.getOne(AssetName.scepChallenge);
    if (existing) return existing.toString();
    await this.assets.set({ [AssetName.scepChallenge]: randomBytes(24).toString('base64url') });
    // Another process may have written one at the same moment; everyone settles on what is stored.
    const stored = await this.assets.getOne(AssetName.scepChallenge, { fresh: true });
    return stored!.toString();
  }

  async challengeValid(challenge: string | undefined): Promise<boolean> {
    if (!challenge) return false;
    if (this.staticChallenge && sameSecret(challenge, this.staticChallenge)) return true;
    const perServer = await this.assets.getOne(AssetName.scepChallenge);
    return perServer !== undefined && sameSecret(challenge, perServer.toString());
  }

  capabilities(): string {
    return scepCapabilities.join('\n');
  }

  /** Handles one PKIOperation message; throws ScepMessageError for bytes that are not one. */
  async pkiOperation(der: Buffer): Promise<PkiOperationResult> {
    const ca = await this.caCertificate();
    const policy: ScepPolicy = {
      challengeValid: (c) => this.challengeValid(c),
      renewalSigner: (certDer) => this.renewalSignerState(certDer, ca),
      issue: async (csr) => {
        let issued: Buffer | undefined;
        const extra = csr.requestedExtensions.get(OID.subjectAltName);
        await this.store.issueWithNewSerial((serial) => {
          const cert = issueFromSpki({
            spki: csr.spki,
            subjectDer: csr.subjectRaw,
            days: scepCertificateDays,
            ca,
            usage: 'client',
            serialHex: serial.toString(16),
            extraExtensions: extra ? [extra] : [],
          });
          issued = cert.certDer;
          return {
            name: nameValue(csr.subjectRaw, 'CN') ?? '',
            notBefore: cert.notBefore,
            notAfter: cert.notAfter,
            certificatePem: cert.certPem,
            sha256: createHash('sha256').update(cert.certDer).digest('hex'),
          };
        });
        return issued!;
      },
    };
    const result = await respondToPkiOperation(der, ca, policy);
    if (result.status === 'FAILURE') {
      this.logger.info(
        { messageType: result.messageType, failInfo: result.failInfo, reason: result.reason },
        'scep request refused',
      );
    }
    return result;
  }

  /** A renewal must be signed by a certificate this CA issued, that is recorded, not revoked and not expired. */
  private async renewalSignerState(certDer: Buffer, ca: AppleScepCa): Promise<'ok' | 'expired' | 'unknown'> {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(certDer);
      if (!cert.checkIssued(ca.x509) || !cert.verify(ca.x509.publicKey)) return 'unknown';
    } catch {
      return 'unknown';
    }
    const row = await this.certificateFor(certDer);
    if (!row || row.revoked) return 'unknown';
    const now = Date.now();
    if (new Date(cert.validTo).getTime() < now || new Date(cert.validFrom).getTime() > now) return 'expired';
    return 'ok';
  }

  /** The stored record of a certificate we issued (by its DER), if any. */
  async certificateFor(certDer: Buffer): Promise<ScepCertificateRow | undefined> {
    return this.store.getBySha256(createHash('sha256').update(certDer).digest('hex'));
  }

  /** Links an issued certificate to its enrollment (check-in calls this at Authenticate). */
  async associateEnrollment(certDer: Buffer, enrollmentId: string): Promise<void> {
    const serial = parseInt(certificateParts(certDer).serial.toString('hex'), 16);
    if (Number.isSafeInteger(serial)) await this.store.setEnrollmentId(serial, enrollmentId);
  }
}
