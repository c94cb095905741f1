import { CmsError } from '../crypto/cms.js';
import { openBase64Envelope, sealBase64Envelope } from '../crypto/escrowEnvelope.js';
import { pairsForEnvelope } from './escrowRecipient.js';

/** The Windows MDM (WSTEP) certificate and its key, PEM. */
export type WstepIdentity = () => Promise<{ certPem: string; keyPem: string }>;

/** WSTEP CAs retired by `flotilla certs rotate-ca windows`, newest first. */
export type RetiredWstepIdentities = () => Promise<{ certPem: string; keyPem: string }[]>;

/**
 * BitLocker recovery passwords at rest, as Fleet keeps them: enveloped (CMS EnvelopedData,
 * AES-256-CBC, RSA key transport) to the Windows MDM certificate before they are stored, so the
 * row holds nothing readable without the WSTEP private key, which is itself sealed at rest under
 * the server key. Reading a key back decrypts it with that key, on demand.
 */
export class BitLockerKeys {
  /**
   * A CA rotation keeps the retired key pairs and `open` tries them after the current one, rather
   * than re-sealing every escrowed key to the new CA: a rotation then writes four asset rows, not
   * one row per host in a transaction as large as the fleet, and cannot leave keys half re-sealed;
   * FileVault needs the retired Apple keys anyway (Macs keep escrowing to the CA certificate in
   * their installed profile until it is replaced), so both platforms follow one rule.
   */
  constructor(
    private readonly wstep: WstepIdentity,
    private readonly retired: RetiredWstepIdentities = async () => [],
  ) {}

  async seal(recoveryKey: Buffer): Promise<string> {
    const { certPem } = await this.wstep();
    return sealBase64Envelope(recoveryKey, certPem);
  }

  /** The recovery password, or undefined when no WSTEP key, current or retired, opens the blob. */
  async open(base64: string): Promise<string | undefined> {
    const pairs = [await this.wstep(), ...(await this.retired())].map((p) => ({
      cert: p.certPem,
      key: p.keyPem,
    }));
    for (const pair of pairsForEnvelope(base64, pairs)) {
      try {
        return openBase64Envelope(base64, pair).toString('utf8');
      } catch (err) {
        if (!(err instanceof CmsError)) throw err;
      }
    }
    return undefined;
  }
}
