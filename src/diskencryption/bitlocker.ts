import { CmsError } from '../crypto/cms.js';
import { openBase64Envelope, sealBase64Envelope } from '../crypto/escrowEnvelope.js';

/** The Windows MDM (WSTEP) certificate and its key, PEM. */
export type WstepIdentity = () => Promise<{ certPem: string; keyPem: string }>;

/**
 * BitLocker recovery passwords at rest, as Fleet keeps them: enveloped (CMS EnvelopedData,
 * AES-256-CBC, RSA key transport) to the Windows MDM certificate before they are stored, so the
 * row holds nothing readable without the WSTEP private key, which is itself sealed at rest under
 * the server key. Reading a key back decrypts it with that key, on demand.
 */
export class BitLockerKeys {
  constructor(private readonly wstep: WstepIdentity) {}

  async seal(recoveryKey: Buffer): Promise<string> {
    const { certPem } = await this.wstep();
    return sealBase64Envelope(recoveryKey, certPem);
  }

  /** The recovery password, or undefined when the blob cannot be opened with the WSTEP key. */
  async open(base64: string): Promise<string | undefined> {
    const { certPem, keyPem } = await this.wstep();
    try {
      return openBase64Envelope(base64, { cert: certPem, key: keyPem }).toString('utf8');
    } catch (err) {
      if (err instanceof CmsError) return undefined;
      throw err;
    }
  }
}
