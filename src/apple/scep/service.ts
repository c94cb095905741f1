import { createHash, randomBytes, timingSafeEqual, X509Certificate, type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { AssetName, type ConfigAssetService } from '../../configassets/service.js';
import { certificateParts } from '../../crypto/x509.js';
import { issueFromSpki, issuingCa } from '../../crypto/issue.js';
import { nameValue } from '../../crypto/name.js';
import { pemPairs } from '../../crypto/pemBundle.js';
import { OID } from '../../crypto/oids.js';
import { dbNow } from '../../db/dialect.js';
import {
  respondToPkiOperation,
  type PkiOperationResult,
  type ScepGrant,
  type ScepPolicy,
} from './responder.js';
import { ChallengeUsedError, type ScepCertificateRow, type ScepStore } from './store.js';

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

/**
 * How often a running server re-reads the CA assets: `flotilla certs rotate-ca` runs in another
 * process, and every server picks up its new CA (and the retired one's trust) within this.
 */
export const caRecheckMs = 60_000;

/** Identity certificates are valid this long. */
export const scepCertificateDays = 365;

export interface AppleScepCa {
  certPem: string;
  keyPem: string;
  x509: X509Certificate;
  certDer: Buffer;
  key: KeyObject;
}

function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/**
 * The Apple SCEP server: the built-in CA (assets ca_cert/ca_key), the challenges it accepts (the
 * configured static one and one-time challenges embedded in enrollment profiles), and issuing.
 */
export class AppleScepService {
  private ca?: { pemKey: string; value: AppleScepCa };
  private importedCas?: { pem: string; value: X509Certificate[]; readAt: number };
  private previous?: { pem: string; value: AppleScepCa[] };

  constructor(
    private readonly assets: ConfigAssetService,
    readonly store: ScepStore,
    private readonly staticChallenge: string | undefined,
    private readonly challengeTtlSeconds: number,
    private readonly logger: Logger,
  ) {}

  /**
   * CAs imported from a previous MDM (`flotilla import`): device identities they issued still
   * authenticate. Re-read from the database at most once a minute, so an import run by the CLI
   * while the server runs is picked up without a restart; parsed only when the bundle changes.
   */
  async importedCaCertificates(): Promise<X509Certificate[]> {
    const now = Date.now();
    if (this.importedCas && now - this.importedCas.readAt < 60_000) return this.importedCas.value;
    const pem = (await this.assets.getOne(AssetName.appleImportedCaCerts, { fresh: true }))?.toString() ?? '';
    const value =
      this.importedCas?.pem === pem
        ? this.importedCas.value
        : (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? []).map(
            (p) => new X509Certificate(p),
          );
    this.importedCas = { pem, value, readAt: now };
    return value;
  }

  /**
   * Our own CAs retired by a rotation, newest first: their device identities still authenticate
   * and renew, and FileVault keys escrowed to them still open. Re-read like the current CA.
   */
  async previousCas(): Promise<AppleScepCa[]> {
    const got = await this.assets.get([AssetName.applePreviousCaCerts, AssetName.applePreviousCaKeys], {
      maxAgeMs: caRecheckMs,
    });
    const certs = got[AssetName.applePreviousCaCerts]?.toString() ?? '';
    const keys = got[AssetName.applePreviousCaKeys]?.toString() ?? '';
    if (this.previous?.pem !== certs + keys) {
      const value = pemPairs(certs, keys).map(({ certPem, keyPem }) => {
        const parsed = issuingCa({ certPem, keyPem });
        return {
          certPem,
          keyPem,
          x509: new X509Certificate(parsed.certDer),
          certDer: parsed.certDer,
          key: parsed.key,
        };
      });
      this.previous = { pem: certs + keys, value };
    }
    return this.previous.value;
  }

  /** Every CA besides the current one whose device identities authenticate: retired, then imported. */
  async trustedOtherCaCertificates(): Promise<X509Certificate[]> {
    const [previous, imported] = await Promise.all([this.previousCas(), this.importedCaCertificates()]);
    return [...previous.map((c) => c.x509), ...imported];
  }

  /**
   * The CA certificate and key (parsed once; re-read if the assets change, and from the database
   * at most every `caRecheckMs`, so a rotation by the CLI reaches a running server).
   */
  async caCertificate(): Promise<AppleScepCa> {
    const got = await this.assets.get([AssetName.appleScepCaCert, AssetName.appleScepCaKey], {
      maxAgeMs: caRecheckMs,
    });
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

  /**
   * A fresh one-time challenge for a SCEP payload: stored as a hash, valid for `ttlSeconds`, used up
   * by the first certificate issued through it. With `deviceId` the certificate is bound to that
   * UDID and may take over its enrollment (re-enrollment and renewal profiles, ADE). With
   * `renewCommandUuid` it is the shared challenge of an identity-renewal command: every device that
   * command went to uses it, so it lasts until it expires, and its certificates name the command.
   */
  async issueChallenge(opts: {
    purpose: string;
    deviceId?: string;
    ttlSeconds?: number;
    renewCommandUuid?: string;
  }): Promise<string> {
    const challenge = randomBytes(24).toString('base64url');
    await this.store.insertChallenge({
      challengeSha256: sha256Hex(challenge),
      deviceId: opts.deviceId ?? null,
      purpose: opts.purpose,
      expiresAt: dbNow((opts.ttlSeconds ?? this.challengeTtlSeconds) * 1000),
      renewCommandUuid: opts.renewCommandUuid ?? null,
    });
    return challenge;
  }

  /**
   * What a PKCSReq challenge allows: the configured static challenge (compared in constant time;
   * its certificates are bound to no device), or an unexpired one-time challenge.
   */
  async challengeGrant(challenge: string | undefined): Promise<ScepGrant | undefined> {
    if (!challenge) return undefined;
    if (this.staticChallenge && sameSecret(challenge, this.staticChallenge)) return { boundDeviceId: null };
    // Looked up by hash: the index compares hashes, so timing says nothing about the challenge.
    const hash = sha256Hex(challenge);
    const row = await this.store.liveChallenge(hash);
    if (!row) return undefined;
    // A renewal command's challenge is shared by its devices: not consumed, its command recorded.
    if (row.renew_command_uuid)
      return { boundDeviceId: row.device_id, renewCommandUuid: row.renew_command_uuid };
    return { challengeSha256: hash, boundDeviceId: row.device_id };
  }

  deleteExpiredChallenges(): Promise<number> {
    return this.store.deleteExpiredChallenges();
  }

  capabilities(): string {
    return scepCapabilities.join('\n');
  }

  /** Handles one PKIOperation message; throws ScepMessageError for bytes that are not one. */
  async pkiOperation(der: Buffer): Promise<PkiOperationResult> {
    const ca = await this.caCertificate();
    const policy: ScepPolicy = {
      challengeGrant: (c) => this.challengeGrant(c),
      renewalSigner: (certDer) => this.renewalSignerState(certDer, ca),
      issue: async (csr, grant) => {
        const extra = csr.requestedExtensions.get(OID.subjectAltName);
        try {
          return await this.issueIdentity(
            { spki: csr.spki, subjectDer: csr.subjectRaw, extraExtensions: extra ? [extra] : [] },
            grant,
          );
        } catch (err) {
          if (err instanceof ChallengeUsedError) return undefined;
          throw err;
        }
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

  /**
   * Issues and records an identity certificate in one transaction, consuming the grant's one-time
   * challenge and binding the certificate to the grant's device.
   */
  async issueIdentity(
    req: { spki: Buffer; subjectDer: Buffer; extraExtensions?: Buffer[] },
    grant: ScepGrant = {},
  ): Promise<Buffer> {
    const ca = await this.caCertificate();
    let issued: Buffer | undefined;
    await this.store.issueWithNewSerial(
      (serial) => {
        const cert = issueFromSpki({
          spki: req.spki,
          subjectDer: req.subjectDer,
          days: scepCertificateDays,
          ca,
          usage: 'client',
          serialHex: serial.toString(16),
          extraExtensions: req.extraExtensions ?? [],
        });
        issued = cert.certDer;
        return {
          name: nameValue(req.subjectDer, 'CN') ?? '',
          notBefore: cert.notBefore,
          notAfter: cert.notAfter,
          certificatePem: cert.certPem,
          sha256: createHash('sha256').update(cert.certDer).digest('hex'),
        };
      },
      {
        boundDeviceId: grant.boundDeviceId ?? null,
        consumeChallengeSha256: grant.challengeSha256,
        renewCommandUuid: grant.renewCommandUuid ?? null,
      },
    );
    return issued!;
  }

  /**
   * A renewal must be signed by a certificate this CA issued, that is recorded, not revoked, not
   * expired and not already replaced by a newer identity of its device; the new certificate is
   * bound to the device the old one authenticated.
   */
  private async renewalSignerState(
    certDer: Buffer,
    ca: AppleScepCa,
  ): Promise<{ state: 'ok' | 'expired' | 'unknown' | 'replaced'; boundDeviceId?: string | null }> {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(certDer);
      // A device still holding an identity from a CA retired by a rotation renews like any other.
      const issuers = [ca, ...(await this.previousCas())];
      if (!issuers.some((i) => cert.checkIssued(i.x509) && cert.verify(i.x509.publicKey)))
        return { state: 'unknown' };
    } catch {
      return { state: 'unknown' };
    }
    const row = await this.certificateFor(certDer);
    if (!row || row.revoked) return { state: 'unknown' };
    const now = Date.now();
    if (new Date(cert.validTo).getTime() < now || new Date(cert.validFrom).getTime() > now)
      return { state: 'expired' };
    if (await this.store.isReplaced(row.sha256)) return { state: 'replaced' };
    return { state: 'ok', boundDeviceId: row.enrollment_id ?? row.bound_device_id };
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
