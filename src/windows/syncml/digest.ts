import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * OMA-DM MD5 digest (syncml:auth-md5) as Windows uses it for the management channel:
 * Data = b64( MD5( b64( MD5(user:password) ) + ":" + nonce ) ), nonce being the decoded NextNonce
 * bytes. The server keeps only MD5(user:password).
 */
export function credentialsHash(deviceId: string, password: string): Buffer {
  return createHash('md5').update(`${deviceId}:${password}`).digest();
}

export function digestFromHash(hash: Buffer, nonce: Buffer): string {
  return createHash('md5')
    .update(Buffer.concat([Buffer.from(hash.toString('base64')), Buffer.from(':'), nonce]))
    .digest('base64');
}

export function digestMatches(hash: Buffer, nonce: Buffer, presentedB64: string): boolean {
  const expected = Buffer.from(digestFromHash(hash, nonce), 'base64');
  const got = Buffer.from(presentedB64, 'base64');
  return got.length === expected.length && timingSafeEqual(got, expected);
}
