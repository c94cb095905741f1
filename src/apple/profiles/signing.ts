import type { KeyObject } from 'node:crypto';
import { buildSignedData } from '../../crypto/cms.js';
import { unwrapSigned } from './validate.js';

/**
 * The certificate and key InstallProfile payloads are signed with (the Apple SCEP CA, as Fleet
 * does). The parsed forms, when given, spare a key parse per signature.
 */
export interface SigningIdentity {
  certPem: string;
  keyPem: string;
  certDer?: Buffer;
  key?: KeyObject;
}

/** Is this profile already a CMS SignedData (DER) rather than a plist? */
export const isSignedProfile = (bytes: Buffer): boolean => bytes[0] === 0x30;

/**
 * Signs configuration profiles for InstallProfile (CMS SignedData, content attached, DER, SHA-256,
 * signer certificate included), so a device shows them as signed by the organisation. A profile
 * uploaded already signed keeps its own signature (wrapping it a second time makes devices refuse
 * it); with `resignSignedUploads` its content is taken out and signed by the server instead.
 */
export class ProfileSigner {
  constructor(
    private readonly identity: () => Promise<SigningIdentity>,
    private readonly opts: { resignSignedUploads: boolean } = { resignSignedUploads: false },
  ) {}

  /** The bytes an InstallProfile's `Payload` carries for this profile. */
  async payloadFor(profile: Buffer): Promise<Buffer> {
    if (isSignedProfile(profile) && !this.opts.resignSignedUploads) return profile;
    const content = isSignedProfile(profile) ? unwrapSigned(profile) : profile;
    const signer = await this.identity();
    return buildSignedData({
      content,
      signerCert: signer.certDer ?? signer.certPem,
      signerKey: signer.key ?? signer.keyPem,
    });
  }
}
