import { randomBytes, type KeyObject } from 'node:crypto';
import {
  buildCertsOnly,
  buildSignedData,
  CmsError,
  parseSignedData,
  verifySigner,
  type CmsAttribute,
  type ParsedSignedData,
} from '../../crypto/cms.js';
import { octets, printable, readDer, Tag } from '../../crypto/der.js';
import { envelopedEncrypt, type ContentCipher } from '../../crypto/envelope.js';
import { OID } from '../../crypto/oids.js';

/**
 * SCEP pkiMessages (RFC 8894 §3): the signed attributes that carry messageType, pkiStatus,
 * failInfo, nonces and transactionID, for requests and CertRep answers alike.
 */
export const MessageType = {
  CertRep: '3',
  RenewalReq: '17',
  UpdateReq: '18',
  PKCSReq: '19',
  CertPoll: '20',
  GetCert: '21',
  GetCRL: '22',
} as const;

export const PkiStatus = { SUCCESS: '0', FAILURE: '2', PENDING: '3' } as const;

export const FailInfo = {
  badAlg: '0',
  badMessageCheck: '1',
  badRequest: '2',
  badTime: '3',
  badCertId: '4',
} as const;
export type FailInfoName = keyof typeof FailInfo;

/** A message that is not a SCEP pkiMessage at all (answered with HTTP 400, not a CertRep). */
export class ScepMessageError extends Error {}

export interface ScepEnvelope {
  messageType?: string;
  transactionId?: string;
  senderNonce?: Buffer;
  recipientNonce?: Buffer;
  pkiStatus?: string;
  failInfo?: string;
  /** eContent: the EnvelopedData DER (requests, successful CertReps). */
  content?: Buffer;
  signerCertDer: Buffer;
  /** True when the signature checks out against the signer certificate the message carries. */
  signatureValid: boolean;
  signatureError?: string;
  parsed: ParsedSignedData;
}

function attrText(sd: ParsedSignedData, oid: string): string | undefined {
  const v = sd.signers[0]?.attributes.get(oid)?.[0];
  if (!v) return undefined;
  return v.tag === Tag.OCTET_STRING ? v.content.toString('latin1') : v.text();
}

function attrOctets(sd: ParsedSignedData, oid: string): Buffer | undefined {
  const v = sd.signers[0]?.attributes.get(oid)?.[0];
  return v?.tag === Tag.OCTET_STRING ? Buffer.from(v.content) : undefined;
}

/**
 * Reads a pkiMessage: its SCEP attributes and content, and whether its signature verifies against
 * the certificate it carries (SCEP requests are self-authenticating; trust is decided later).
 */
export function readPkiMessage(der: Buffer): ScepEnvelope {
  let sd: ParsedSignedData;
  try {
    readDer(der);
    sd = parseSignedData(der);
  } catch (err) {
    throw new ScepMessageError(`not a SCEP pkiMessage: ${(err as Error).message}`);
  }
  const signer = sd.signers[0];
  if (!signer || !signer.signedAttrsRaw)
    throw new ScepMessageError('pkiMessage has no signer with signed attributes');
  let signerCertDer: Buffer | undefined;
  let signatureValid = false;
  let signatureError: string | undefined;
  try {
    signerCertDer = verifySigner(signer, sd.content ?? Buffer.alloc(0), sd.certificates);
    signatureValid = true;
  } catch (err) {
    signatureError = (err as Error).message;
    signerCertDer = sd.certificates[0];
  }
  if (!signerCertDer) throw new ScepMessageError('pkiMessage carries no signer certificate');
  let messageType: string | undefined;
  let transactionId: string | undefined;
  let pkiStatus: string | undefined;
  let failInfo: string | undefined;
  try {
    messageType = attrText(sd, OID.scepMessageType);
    transactionId = attrText(sd, OID.scepTransactionId);
    pkiStatus = attrText(sd, OID.scepPkiStatus);
    failInfo = attrText(sd, OID.scepFailInfo);
  } catch (err) {
    throw new ScepMessageError(`bad SCEP attribute: ${(err as Error).message}`);
  }
  if (messageType === undefined) throw new ScepMessageError('pkiMessage has no messageType');
  return {
    messageType,
    transactionId,
    senderNonce: attrOctets(sd, OID.scepSenderNonce),
    recipientNonce: attrOctets(sd, OID.scepRecipientNonce),
    pkiStatus,
    failInfo,
    content: sd.content,
    signerCertDer,
    signatureValid,
    signatureError,
    parsed: sd,
  };
}

function scepAttributes(a: {
  messageType: string;
  transactionId?: string;
  senderNonce: Buffer;
  recipientNonce?: Buffer;
  pkiStatus?: string;
  failInfo?: string;
}): CmsAttribute[] {
  const out: CmsAttribute[] = [
    { oid: OID.scepMessageType, values: [printable(a.messageType)] },
    { oid: OID.scepSenderNonce, values: [octets(a.senderNonce)] },
  ];
  if (a.transactionId !== undefined)
    out.push({ oid: OID.scepTransactionId, values: [printable(a.transactionId)] });
  if (a.recipientNonce) out.push({ oid: OID.scepRecipientNonce, values: [octets(a.recipientNonce)] });
  if (a.pkiStatus !== undefined) out.push({ oid: OID.scepPkiStatus, values: [printable(a.pkiStatus)] });
  if (a.failInfo !== undefined) out.push({ oid: OID.scepFailInfo, values: [printable(a.failInfo)] });
  return out;
}

export interface CertRepOptions {
  ca: { certDer: Buffer; key: KeyObject };
  transactionId?: string;
  /** The request's senderNonce, echoed as recipientNonce. */
  recipientNonce?: Buffer;
  status: 'SUCCESS' | 'FAILURE';
  failInfo?: FailInfoName;
  /** SUCCESS: the issued certificate and the requester's certificate to encrypt it to. */
  issuedCertDer?: Buffer;
  requesterCertDer?: Buffer;
  cipher?: ContentCipher;
}

/** Builds a CertRep signed by the CA; SUCCESS carries the issued certificate encrypted to the requester. */
export function buildCertRep(opts: CertRepOptions): Buffer {
  const attrs = scepAttributes({
    messageType: MessageType.CertRep,
    transactionId: opts.transactionId,
    senderNonce: randomBytes(16),
    recipientNonce: opts.recipientNonce,
    pkiStatus: PkiStatus[opts.status],
    failInfo: opts.status === 'FAILURE' ? FailInfo[opts.failInfo ?? 'badRequest'] : undefined,
  });
  if (opts.status === 'SUCCESS') {
    if (!opts.issuedCertDer || !opts.requesterCertDer)
      throw new CmsError('SUCCESS needs the issued and requester certificates');
    const degenerate = buildCertsOnly([opts.issuedCertDer]);
    const envelope = envelopedEncrypt(degenerate, [opts.requesterCertDer], opts.cipher ?? 'aes-256-cbc');
    return buildSignedData({
      content: envelope,
      signerCert: opts.ca.certDer,
      signerKey: opts.ca.key,
      extraSignedAttributes: attrs,
      extraCerts: [opts.issuedCertDer],
      certsFirst: true,
    });
  }
  return buildSignedData({
    content: Buffer.alloc(0),
    detached: true,
    signerCert: opts.ca.certDer,
    signerKey: opts.ca.key,
    extraSignedAttributes: attrs,
  });
}

/** Builds a client's PKCSReq / RenewalReq around an EnvelopedData (already encrypted to the CA). */
export function buildPkiRequest(opts: {
  messageType: typeof MessageType.PKCSReq | typeof MessageType.RenewalReq;
  transactionId: string;
  senderNonce: Buffer;
  envelope: Buffer;
  signerCertDer: Buffer;
  signerKey: KeyObject;
  hash?: 'sha1' | 'sha256';
}): Buffer {
  return buildSignedData({
    content: opts.envelope,
    signerCert: opts.signerCertDer,
    signerKey: opts.signerKey,
    hash: opts.hash ?? 'sha256',
    extraSignedAttributes: scepAttributes({
      messageType: opts.messageType,
      transactionId: opts.transactionId,
      senderNonce: opts.senderNonce,
    }),
  });
}
