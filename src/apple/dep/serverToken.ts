import { generateKeyPairSync } from 'node:crypto';
import { z } from 'zod';
import type { DepCredentials } from '../../clients/dep/client.js';
import { envelopedDecrypt } from '../../crypto/envelope.js';
import { selfSignedCertificate } from '../../crypto/issue.js';

/**
 * The ABM server token (`*.p7m`) and the key pair it is encrypted to.
 *
 * ABM hands out the token as an S/MIME message: MIME headers, a blank line, then base64 CMS
 * EnvelopedData (BER, indefinite lengths) encrypted to the certificate the admin uploaded (our
 * "ABM public key"). Inside is another MIME entity whose body is the OAuth credentials JSON between
 * `-----BEGIN MESSAGE-----` and `-----END MESSAGE-----`.
 */

/** A real server token is about 1.5 KiB; anything far larger is not one. */
export const maxServerTokenBytes = 64 * 1024;

/** Why a token was refused; the service turns it into Fleet's 400. */
export class ServerTokenError extends Error {}

const credentialsSchema = z.object({
  consumer_key: z.string().min(1).max(1024),
  consumer_secret: z.string().min(1).max(1024),
  access_token: z.string().min(1).max(1024),
  access_secret: z.string().min(1).max(1024),
  access_token_expiry: z
    .string()
    .max(64)
    .refine((v) => !Number.isNaN(Date.parse(v)), 'must be a date'),
});

export type ServerTokenCredentials = Required<DepCredentials>;

/** The CMS bytes of an uploaded token: the base64 body of the S/MIME message, or raw DER as given. */
function envelopeBytes(file: Buffer): Buffer {
  if (file.length === 0) throw new ServerTokenError('the token file is empty');
  if (file.length > maxServerTokenBytes) throw new ServerTokenError('the token file is too large');
  // Already binary CMS (a SEQUENCE): use as is.
  if (file[0] === 0x30) return file;
  const text = file.toString('latin1');
  // S/MIME: the body starts after the first blank line; a bare base64 file has no headers.
  const blank = /\r?\n\r?\n/.exec(text);
  const hasHeaders = /^[A-Za-z][A-Za-z0-9-]*:/.test(text);
  const body = hasHeaders ? (blank ? text.slice(blank.index + blank[0].length) : '') : text;
  const compact = body.replace(/\s+/g, '');
  if (!compact || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) {
    throw new ServerTokenError('the token file is not an S/MIME message');
  }
  return Buffer.from(compact, 'base64');
}

/** The credentials JSON out of the decrypted MIME entity (headers, blank line, BEGIN/END MESSAGE). */
export function parseDecryptedToken(plain: Buffer): ServerTokenCredentials {
  const text = plain.toString('utf8');
  const begin = '-----BEGIN MESSAGE-----';
  const end = '-----END MESSAGE-----';
  const b = text.indexOf(begin);
  const e = text.indexOf(end, b + begin.length);
  let json: string;
  if (b >= 0 && e > b) json = text.slice(b + begin.length, e);
  else {
    const blank = /\r?\n\r?\n/.exec(text);
    json = blank ? text.slice(blank.index + blank[0].length) : text;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(json.trim());
  } catch {
    throw new ServerTokenError('the decrypted token is not JSON');
  }
  const res = credentialsSchema.safeParse(parsed);
  if (!res.success) throw new ServerTokenError('the decrypted token lacks the OAuth credentials');
  return res.data;
}

/**
 * Decrypts an uploaded server token with the ABM key pair and returns its OAuth credentials.
 * Throws ServerTokenError for anything that is not a token encrypted to this key.
 */
export function decryptServerToken(
  file: Buffer,
  keyPair: { certPem: string; keyPem: string },
): ServerTokenCredentials {
  const der = envelopeBytes(file);
  let plain: Buffer;
  try {
    plain = envelopedDecrypt(der, { cert: keyPair.certPem, key: keyPair.keyPem });
  } catch {
    throw new ServerTokenError('the token cannot be decrypted with this server’s ABM key');
  }
  return parseDecryptedToken(plain);
}

/**
 * A new ABM key pair: RSA 2048 and a self-signed certificate the admin uploads to ABM as the MDM
 * server's public key (ABM encrypts server tokens to it).
 */
export function createAbmKeyPair(): { certPem: string; keyPem: string } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const cert = selfSignedCertificate({
    privateKey,
    subject: { CN: 'Flotilla ABM', O: 'Flotilla' },
    hours: 10 * 366 * 24,
  });
  const keyPem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  return { certPem: cert.certPem, keyPem };
}
