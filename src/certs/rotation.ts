import { X509Certificate } from 'node:crypto';
import type { Transaction } from 'kysely';
import type { Logger } from 'pino';
import { AssetName, type ConfigAssetService } from '../configassets/service.js';
import { createCertificateAuthority } from '../crypto/certificateAuthority.js';
import { certificatePems, joinPems, pemPairs } from '../crypto/pemBundle.js';
import type { DB } from '../db/schema.js';

/** Which built-in CA: Apple's SCEP CA or Windows' WSTEP CA. */
export type CaPlatform = 'apple' | 'windows';
export const caPlatforms: CaPlatform[] = ['apple', 'windows'];

/** The activity a rotation records. */
export const rotatedCaActivity = 'rotated_certificate_authority';

/** Where each CA lives among the config assets, and what its certificates are called. */
const slots = {
  apple: {
    cert: AssetName.appleScepCaCert,
    key: AssetName.appleScepCaKey,
    previousCerts: AssetName.applePreviousCaCerts,
    previousKeys: AssetName.applePreviousCaKeys,
    commonName: 'Flotilla Apple MDM CA',
    name: 'the Apple SCEP CA',
  },
  windows: {
    cert: AssetName.windowsWstepCert,
    key: AssetName.windowsWstepKey,
    previousCerts: AssetName.windowsPreviousCaCerts,
    previousKeys: AssetName.windowsPreviousCaKeys,
    commonName: 'Flotilla Windows MDM CA',
    name: 'the Windows WSTEP CA',
  },
} as const;

/** A refusal the operator can act on (no CA yet, a concurrent rotation): nothing was changed. */
export class CaRotationError extends Error {}

/** One CA certificate as the summary and the activity show it (never its key). */
export interface CaFacts {
  subject: string;
  serial: string;
  sha256: string;
  not_before: string;
  not_after: string;
}

export interface CaRotationSummary {
  platform: CaPlatform;
  dry_run: boolean;
  /** The CA that stops issuing and stays trusted. */
  retired_ca: CaFacts;
  /** The CA that issues from now on; null on a dry run (nothing is generated). */
  new_ca: CaFacts | null;
  new_ca_subject: string;
  /** Every retired CA still trusted after the rotation, newest first. */
  previous_cas: CaFacts[];
  /** Escrowed disk-encryption keys of the platform (BitLocker / FileVault) that stay readable. */
  escrowed_keys_kept_readable: number;
}

const apiTime = (d: string) => new Date(d).toISOString().replace(/\.\d{3}Z$/, 'Z');

export function caFacts(pem: string): CaFacts {
  const x = new X509Certificate(pem);
  return {
    subject: /^CN=(.*)$/m.exec(x.subject)?.[1] ?? x.subject.split('\n')[0] ?? '',
    serial: x.serialNumber.toLowerCase(),
    sha256: x.fingerprint256.replace(/:/g, '').toLowerCase(),
    not_before: apiTime(x.validFrom),
    not_after: apiTime(x.validTo),
  };
}

export interface CaRotationDeps {
  assets: ConfigAssetService;
  /** Records the activity (no actor: the operator ran the CLI) inside the rotation's transaction. */
  recordActivity(details: Record<string, unknown>, trx: Transaction<DB>): Promise<unknown>;
  escrowedKeys(platform: CaPlatform): Promise<number>;
  logger: Logger;
  /** Makes the new CA (tests may pass a cheaper one). */
  createCa?: (commonName: string) => { certPem: string; keyPem: string };
}

/**
 * Rotates a built-in CA: a new CA issues from now on, and the one it replaces joins the list of
 * retired CAs (certificate and key, sealed like every asset), which stay trusted: Apple device
 * identities they issued keep checking in and renewing, Windows certificates keep renewing (the
 * renewal hands out the new root), and disk-encryption keys escrowed to them keep opening with
 * the retired keys. Running servers re-read the CA assets at most once a minute, so a rotation
 * made by the CLI reaches them without a restart.
 */
export class CaRotationService {
  constructor(private readonly deps: CaRotationDeps) {}

  async rotate(platform: CaPlatform, opts: { dryRun?: boolean } = {}): Promise<CaRotationSummary> {
    const slot = slots[platform];
    const have = await this.deps.assets.get([slot.cert, slot.key, slot.previousCerts, slot.previousKeys], {
      fresh: true,
    });
    const certPem = have[slot.cert]?.toString();
    const keyPem = have[slot.key]?.toString();
    if (!certPem || !keyPem)
      throw new CaRotationError(
        `${slot.name} has not been created yet: start the server once (it creates the built-in CAs), then rotate`,
      );
    const previousCerts = have[slot.previousCerts]?.toString();
    const previous = pemPairs(previousCerts, have[slot.previousKeys]?.toString());
    const retired = [{ certPem, keyPem }, ...previous];
    // A generation number in the subject tells the CAs apart in listings and on devices.
    const newSubject = `${slot.commonName} ${retired.length + 1}`;
    const escrowed = await this.deps.escrowedKeys(platform);
    const summary: CaRotationSummary = {
      platform,
      dry_run: Boolean(opts.dryRun),
      retired_ca: caFacts(certPem),
      new_ca: null,
      new_ca_subject: newSubject,
      previous_cas: retired.map((c) => caFacts(c.certPem)),
      escrowed_keys_kept_readable: escrowed,
    };
    if (opts.dryRun) return summary;

    const next = (this.deps.createCa ?? createCertificateAuthority)(newSubject);
    summary.new_ca = caFacts(next.certPem);
    const details = {
      platform,
      retired_ca: summary.retired_ca,
      new_ca: summary.new_ca,
      previous_cas: summary.previous_cas.length,
    };
    // Only if no one else rotated (or created the CA) since we read it; all four assets and the
    // activity in one transaction, so a failure leaves the old CA in place.
    const done = await this.deps.assets.replaceIf(
      { [slot.cert]: certPem, [slot.previousCerts]: previousCerts ?? null },
      {
        [slot.cert]: next.certPem,
        [slot.key]: next.keyPem,
        [slot.previousCerts]: joinPems(retired.map((c) => c.certPem)),
        [slot.previousKeys]: joinPems(retired.map((c) => c.keyPem)),
      },
      (trx) => this.deps.recordActivity(details, trx),
    );
    if (!done)
      throw new CaRotationError(
        `${slot.name} changed while rotating (another rotation?); nothing was changed`,
      );
    this.deps.logger.info(details, 'certificate authority rotated');
    return summary;
  }
}

/** The retired CA certificates of each platform (for the expiry listing). */
export function previousCaPems(bundle: string | undefined): string[] {
  return certificatePems(bundle);
}
