import { parseContentInfo } from '../crypto/cms.js';
import { Tag } from '../crypto/der.js';
import { decodeBase64Strict } from '../crypto/escrowEnvelope.js';
import { certificateParts, toCertDer } from '../crypto/x509.js';

/**
 * Which of several key pairs (the current CA and those retired by rotations) an escrowed blob was
 * sealed to, by the recipient's issuer and serial in its EnvelopedData. Only the pairs it names are
 * returned, because a wrong RSA key does not always fail: it unwraps to a random content key whose
 * padding check passes now and then, which would yield garbage instead of "not this key". When the
 * blob names none of them (or cannot be read) all are returned and decryption decides, as before.
 */
export function pairsForEnvelope<T extends { cert: string | Buffer }>(base64: string, pairs: T[]): T[] {
  if (pairs.length < 2) return pairs;
  let named: { issuer: Buffer; serial: Buffer }[];
  try {
    const der = decodeBase64Strict(base64);
    if (!der) return pairs;
    const kids = parseContentInfo(der).content.children;
    const recipientInfos = kids[kids[1].isContext(0) ? 2 : 1].children;
    named = recipientInfos.flatMap((ri) => {
      const rid = ri.tag === Tag.SEQUENCE ? ri.child(1) : undefined;
      return rid?.tag === Tag.SEQUENCE ? [{ issuer: rid.child(0).raw, serial: rid.child(1).content }] : [];
    });
  } catch {
    return pairs;
  }
  const matching = pairs.filter((p) => {
    const me = certificateParts(toCertDer(p.cert));
    return named.some((n) => n.issuer.equals(me.issuer) && n.serial.equals(me.serial));
  });
  return matching.length ? matching : pairs;
}
