import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { parseSignedData } from '../../crypto/cms.js';
import { buildCsr } from '../../crypto/csr.js';
import { envelopedDecrypt, envelopedEncrypt } from '../../crypto/envelope.js';
import { selfSignedCertificate } from '../../crypto/issue.js';
import { certificateParts, certPem, toCertDer } from '../../crypto/x509.js';
import { buildPkiRequest, FailInfo, MessageType, PkiStatus, readPkiMessage } from './message.js';

/**
 * A real SCEP client (RFC 8894) over HTTP: GetCACaps, GetCACert, then a PKCSReq (or RenewalReq)
 * signed by a throwaway self-signed certificate (or the certificate being renewed), with the CSR
 * encrypted to the CA. Used by the simulated Apple device, the tests and the benchmark.
 */
export class ScepClientError extends Error {
  constructor(
    message: string,
    readonly failInfo?: string,
  ) {
    super(message);
  }
}

export interface ScepEnrollOptions {
  /** The SCEP URL, e.g. `https://mdm.example.com/mdm/apple/scep` (no query string). */
  url: string;
  challenge: string;
  subjectCN: string;
  /** Reuse this RSA key (PEM); a new 2048-bit key is made otherwise. */
  keyPem?: string;
  /** Extra subject attributes after CN (e.g. { O: 'Fleet', OU: '…' }). */
  subject?: Record<string, string>;
  /** Send a RenewalReq signed by this certificate (no challenge needed). */
  renew?: { certPem: string; keyPem: string };
  /** Use GET with a base64 `message` instead of POST. */
  forceGet?: boolean;
  fetchImpl?: typeof fetch;
}

export interface ScepEnrollResult {
  certPem: string;
  keyPem: string;
  caCertPem: string;
}

async function get(f: typeof fetch, url: string): Promise<{ body: Buffer; contentType: string }> {
  const res = await f(url);
  const body = Buffer.from(await res.arrayBuffer());
  if (!res.ok)
    throw new ScepClientError(
      `SCEP ${url.split('?')[1]} answered HTTP ${res.status}: ${body.toString('utf8').slice(0, 200)}`,
    );
  return { body, contentType: res.headers.get('content-type') ?? '' };
}

/** The CA certificate from GetCACert (a DER cert, or the first cert of a certs-only PKCS#7). */
export async function getCaCertificate(url: string, f: typeof fetch = fetch): Promise<Buffer> {
  const { body, contentType } = await get(f, `${url}?operation=GetCACert`);
  if (contentType.includes('x-x509-ca-ra-cert')) {
    const certs = parseSignedData(body).certificates;
    if (!certs[0]) throw new ScepClientError('GetCACert returned no certificate');
    return certs[0];
  }
  return body;
}

export async function scepEnroll(opts: ScepEnrollOptions): Promise<ScepEnrollResult> {
  const f = opts.fetchImpl ?? fetch;
  const caps = (await get(f, `${opts.url}?operation=GetCACaps`)).body
    .toString('utf8')
    .split(/\r?\n/)
    .map((s) => s.trim());
  const caCertDer = await getCaCertificate(opts.url, f);

  const key: KeyObject = opts.keyPem
    ? createPrivateKey(opts.keyPem)
    : generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const keyPem = opts.keyPem ?? (key.export({ type: 'pkcs1', format: 'pem' }) as string);

  const subject = { CN: opts.subjectCN, ...(opts.subject ?? {}) };
  const csr = buildCsr({
    privateKey: key,
    subject,
    challengePassword: opts.renew ? undefined : opts.challenge,
  });

  // The request's signer: the certificate being renewed, or a throwaway self-signed one.
  let signerCertDer: Buffer;
  let signerKey: KeyObject;
  if (opts.renew) {
    signerCertDer = toCertDer(opts.renew.certPem);
    signerKey = createPrivateKey(opts.renew.keyPem);
  } else {
    signerCertDer = selfSignedCertificate({
      privateKey: key,
      subject: { CN: 'SCEP SIGNER', O: 'Flotilla' },
    }).certDer;
    signerKey = key;
  }

  const cipher = caps.includes('AES') ? 'aes-256-cbc' : 'des-ede3-cbc';
  const envelope = envelopedEncrypt(csr, [caCertDer], cipher);
  const senderNonce = randomBytes(16);
  const transactionId = createHash('sha256').update(csr).digest('hex').toUpperCase();
  const request = buildPkiRequest({
    messageType: opts.renew ? MessageType.RenewalReq : MessageType.PKCSReq,
    transactionId,
    senderNonce,
    envelope,
    signerCertDer,
    signerKey,
    hash: caps.includes('SHA-256') || caps.includes('SCEPStandard') ? 'sha256' : 'sha1',
  });

  const usePost = !opts.forceGet && (caps.includes('POSTPKIOperation') || caps.includes('SCEPStandard'));
  const res = usePost
    ? await f(`${opts.url}?operation=PKIOperation`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-pki-message' },
        body: new Uint8Array(request),
      })
    : await f(`${opts.url}?operation=PKIOperation&message=${encodeURIComponent(request.toString('base64'))}`);
  const body = Buffer.from(await res.arrayBuffer());
  if (!res.ok)
    throw new ScepClientError(
      `SCEP PKIOperation answered HTTP ${res.status}: ${body.toString('utf8').slice(0, 200)}`,
    );

  const rep = readPkiMessage(body);
  if (!rep.signatureValid) throw new ScepClientError(`CertRep signature invalid: ${rep.signatureError}`);
  if (!rep.signerCertDer.equals(caCertDer))
    throw new ScepClientError('CertRep is not signed by the CA certificate');
  if (rep.messageType !== MessageType.CertRep)
    throw new ScepClientError(`unexpected messageType ${rep.messageType}`);
  if (rep.transactionId !== transactionId) throw new ScepClientError('CertRep transactionID does not match');
  if (!rep.recipientNonce?.equals(senderNonce))
    throw new ScepClientError('CertRep recipientNonce does not match our senderNonce');
  if (rep.pkiStatus === PkiStatus.FAILURE) {
    const name = Object.entries(FailInfo).find(([, v]) => v === rep.failInfo)?.[0] ?? rep.failInfo;
    throw new ScepClientError(`SCEP request refused: ${name}`, name);
  }
  if (rep.pkiStatus !== PkiStatus.SUCCESS || !rep.content)
    throw new ScepClientError(`unexpected pkiStatus ${rep.pkiStatus}`);

  const degenerate = envelopedDecrypt(rep.content, { cert: signerCertDer, key: signerKey });
  const mySpki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  const issued = parseSignedData(degenerate).certificates.find((c) =>
    certificateParts(c).spki.equals(mySpki),
  );
  if (!issued) throw new ScepClientError('CertRep does not contain a certificate for our key');
  return { certPem: certPem(issued), keyPem, caCertPem: certPem(caCertDer) };
}
