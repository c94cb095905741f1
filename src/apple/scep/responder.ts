import type { KeyObject } from 'node:crypto';
import { parseCsr, type ParsedCsr } from '../../crypto/csr.js';
import { envelopedDecrypt } from '../../crypto/envelope.js';
import {
  buildCertRep,
  MessageType,
  readPkiMessage,
  type FailInfoName,
  type ScepEnvelope,
} from './message.js';

/**
 * The PKIOperation protocol steps, free of storage: read the pkiMessage, check its signature,
 * decrypt the CSR, ask the policy whether it may be signed, and answer a CertRep. Anything that is
 * a pkiMessage gets a CertRep (FAILURE with failInfo when refused); only bytes that are not a
 * pkiMessage at all raise ScepMessageError (HTTP 400).
 */
export interface ScepPolicy {
  /** For PKCSReq: what the challenge allows (undefined when it is not one we accept). */
  challengeGrant(challenge: string | undefined): Promise<ScepGrant | undefined>;
  /** For RenewalReq: is the signer certificate one we issued and still valid, and whose is it? */
  renewalSigner(
    certDer: Buffer,
  ): Promise<{ state: 'ok' | 'expired' | 'unknown' | 'replaced'; boundDeviceId?: string | null }>;
  /** Signs the CSR under the grant; undefined when a one-time challenge was used up meanwhile. */
  issue(csr: ParsedCsr, grant: ScepGrant): Promise<Buffer | undefined>;
}

/** What a request was allowed by: the challenge to consume, and the device the certificate is for. */
export interface ScepGrant {
  /** A one-time challenge (by hash) that issuing consumes. */
  challengeSha256?: string;
  /** The UDID the issued certificate is bound to, when the server knows it. */
  boundDeviceId?: string | null;
  /** The identity-renewal command whose shared challenge was used (recorded on the certificate). */
  renewCommandUuid?: string | null;
}

export interface PkiOperationResult {
  certRep: Buffer;
  status: 'SUCCESS' | 'FAILURE';
  failInfo?: FailInfoName;
  /** Why it failed, for the log (never secrets). */
  reason?: string;
  messageType?: string;
  transactionId?: string;
  issuedCertDer?: Buffer;
}

export async function respondToPkiOperation(
  der: Buffer,
  ca: { certDer: Buffer; key: KeyObject },
  policy: ScepPolicy,
): Promise<PkiOperationResult> {
  const msg: ScepEnvelope = readPkiMessage(der);
  const fail = (failInfo: FailInfoName, reason: string): PkiOperationResult => ({
    certRep: buildCertRep({
      ca,
      transactionId: msg.transactionId,
      recipientNonce: msg.senderNonce,
      status: 'FAILURE',
      failInfo,
    }),
    status: 'FAILURE',
    failInfo,
    reason,
    messageType: msg.messageType,
    transactionId: msg.transactionId,
  });

  if (!msg.signatureValid) return fail('badMessageCheck', `signature: ${msg.signatureError}`);
  const renewal = msg.messageType === MessageType.RenewalReq;
  if (msg.messageType !== MessageType.PKCSReq && !renewal)
    return fail('badRequest', `unsupported messageType ${msg.messageType}`);
  if (!msg.transactionId || !msg.senderNonce?.length)
    return fail('badRequest', 'missing transactionID or senderNonce');
  if (!msg.content) return fail('badRequest', 'no enveloped CSR');

  let csr: ParsedCsr;
  try {
    const csrDer = envelopedDecrypt(msg.content, { cert: ca.certDer, key: ca.key });
    try {
      csr = parseCsr(csrDer);
    } catch (err) {
      return fail('badRequest', (err as Error).message);
    }
  } catch (err) {
    return fail('badMessageCheck', (err as Error).message);
  }

  let grant: ScepGrant | undefined;
  if (renewal) {
    const signer = await policy.renewalSigner(msg.signerCertDer);
    if (signer.state === 'expired') return fail('badTime', 'renewal signer certificate has expired');
    if (signer.state === 'replaced')
      return fail('badCertId', 'renewal signer certificate has already been replaced by a newer one');
    if (signer.state !== 'ok')
      return fail('badCertId', 'renewal signer certificate was not issued by this CA');
    grant = { boundDeviceId: signer.boundDeviceId ?? null };
  } else {
    grant = await policy.challengeGrant(csr.challengePassword);
    if (!grant)
      return fail(
        'badRequest',
        csr.challengePassword === undefined ? 'missing challenge' : 'wrong challenge',
      );
  }

  const issuedCertDer = await policy.issue(csr, grant);
  if (!issuedCertDer) return fail('badRequest', 'challenge already used');
  return {
    certRep: buildCertRep({
      ca,
      transactionId: msg.transactionId,
      recipientNonce: msg.senderNonce,
      status: 'SUCCESS',
      issuedCertDer,
      requesterCertDer: msg.signerCertDer,
    }),
    status: 'SUCCESS',
    messageType: msg.messageType,
    transactionId: msg.transactionId,
    issuedCertDer,
  };
}
