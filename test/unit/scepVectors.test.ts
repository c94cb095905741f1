import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parsePlist } from 'plist';
import { describe, expect, it } from 'vitest';
import { enrollmentProfileObject } from '../../src/apple/enrollment/profile.js';
import { FailInfo, MessageType, PkiStatus, readPkiMessage } from '../../src/apple/scep/message.js';
import { respondToPkiOperation, type ScepPolicy } from '../../src/apple/scep/responder.js';
import { decodeScepMessageParam } from '../../src/apple/scep/routes.js';
import { parseContentInfo } from '../../src/crypto/cms.js';
import { certificateParts } from '../../src/crypto/x509.js';
import { issueFromSpki } from '../../src/crypto/issue.js';

const vectorDir = join(import.meta.dirname, '../vectors/apple');
const read = (name: string) => readFileSync(join(vectorDir, name));

const testCa = {
  certDer: new X509Certificate(read('scep-testca-cert.micromdm-scep.pem')).raw,
  // Published test key, PEM-encrypted with an empty passphrase.
  key: createPrivateKey({ key: read('scep-testca-key-emptypass.micromdm-scep.key'), passphrase: '' }),
};

function policy(over: Partial<ScepPolicy> = {}): ScepPolicy & { issuedTo: string[] } {
  const issuedTo: string[] = [];
  return {
    issuedTo,
    challengeGrant: async (c) => (c === 'right' ? {} : undefined),
    renewalSigner: async () => ({ state: 'unknown' }),
    issue: async (csr) => {
      issuedTo.push(csr.subject.map((a) => `${a.type}=${a.value}`).join(','));
      return issueFromSpki({
        spki: csr.spki,
        subjectDer: csr.subjectRaw,
        days: 365,
        ca: testCa,
        usage: 'client',
      }).certDer;
    },
    ...over,
  };
}

describe('SCEP vectors', () => {
  const pkcsReq = read('scep-PKCSReq.micromdm-scep.der');

  it('reads the PKCSReq vector: verified SHA-1 signature, attributes, 3DES envelope to the test CA', () => {
    const msg = readPkiMessage(pkcsReq);
    expect(msg.signatureValid).toBe(true);
    expect(msg.messageType).toBe(MessageType.PKCSReq);
    expect(msg.transactionId).toMatch(/^[0-9A-F]{40}$/);
    expect(msg.senderNonce?.length).toBeGreaterThanOrEqual(8);
    expect(msg.parsed.signers[0].hash).toBe('sha1');
    expect(new X509Certificate(msg.signerCertDer).subject).toContain('CN=MDM SCEP SIGNER');
  });

  it('answers the vector (no challenge in its CSR) with a CertRep FAILURE badRequest signed by the CA', async () => {
    const p = policy();
    const msg = readPkiMessage(pkcsReq);
    const result = await respondToPkiOperation(pkcsReq, testCa, p);
    expect(result).toMatchObject({ status: 'FAILURE', failInfo: 'badRequest', reason: 'missing challenge' });
    expect(p.issuedTo).toEqual([]);
    const rep = readPkiMessage(result.certRep);
    expect(rep.signatureValid).toBe(true);
    expect(rep.signerCertDer.equals(testCa.certDer)).toBe(true);
    expect(rep).toMatchObject({
      messageType: MessageType.CertRep,
      pkiStatus: PkiStatus.FAILURE,
      failInfo: FailInfo.badRequest,
      transactionId: msg.transactionId,
    });
    expect(rep.recipientNonce?.equals(msg.senderNonce!)).toBe(true);
    expect(rep.senderNonce?.equals(msg.senderNonce!)).toBe(false);
  });

  it('issues for the vector when the policy accepts it, copying the subject and encrypting to the requester', async () => {
    const p = policy({ challengeGrant: async () => ({}) });
    const msg = readPkiMessage(pkcsReq);
    const result = await respondToPkiOperation(pkcsReq, testCa, p);
    expect(result.status).toBe('SUCCESS');
    expect(p.issuedTo[0]).toMatch(/^CN=com\.apple\.security\.scep\.063D7953-/);
    const issued = new X509Certificate(result.issuedCertDer!);
    expect(issued.verify(new X509Certificate(testCa.certDer).publicKey)).toBe(true);
    const rep = readPkiMessage(result.certRep);
    expect(rep).toMatchObject({
      signatureValid: true,
      pkiStatus: PkiStatus.SUCCESS,
      transactionId: msg.transactionId,
    });
    expect(rep.parsed.certificates[0].equals(result.issuedCertDer!)).toBe(true);
    // The envelope names the requester's (vector's) signer certificate as its recipient.
    const env = parseContentInfo(rep.content!).content;
    const rid = env.child(1).child(0).child(1);
    const signer = certificateParts(msg.signerCertDer);
    expect(rid.child(0).raw.equals(signer.issuer)).toBe(true);
    expect(rid.child(1).content.equals(signer.serial)).toBe(true);
  });

  it('answers a PKCSReq encrypted to another CA with badMessageCheck', async () => {
    const { createCertificateAuthority } = await import('../../src/crypto/certificateAuthority.js');
    const other = createCertificateAuthority('Other');
    const otherCa = { certDer: new X509Certificate(other.certPem).raw, key: createPrivateKey(other.keyPem) };
    const result = await respondToPkiOperation(
      pkcsReq,
      otherCa,
      policy({ challengeGrant: async () => ({}) }),
    );
    expect(result).toMatchObject({ status: 'FAILURE', failInfo: 'badMessageCheck' });
  });

  it('reads the CertRep vector: SUCCESS with a verified signature and an envelope', () => {
    const rep = readPkiMessage(read('scep-CertRep.micromdm-scep.der'));
    expect(rep.signatureValid).toBe(true);
    expect(rep.messageType).toBe(MessageType.CertRep);
    expect(rep.pkiStatus).toBe(PkiStatus.SUCCESS);
    expect(rep.recipientNonce?.length).toBeGreaterThan(0);
    expect(parseContentInfo(rep.content!).contentType).toBe('1.2.840.113549.1.7.3');
  });

  it('decodes GET message parameters in standard, URL-safe and space-mangled base64', () => {
    const der = pkcsReq;
    const std = der.toString('base64');
    expect(decodeScepMessageParam(std)?.equals(der)).toBe(true);
    expect(decodeScepMessageParam(std.replace(/\+/g, ' '))?.equals(der)).toBe(true);
    expect(
      decodeScepMessageParam(std.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''))?.equals(der),
    ).toBe(true);
    expect(decodeScepMessageParam('not*base64')).toBeUndefined();
    expect(decodeScepMessageParam('')).toBeUndefined();
  });
});

describe('enrollment profile against the NanoMDM template', () => {
  it('carries every SCEP and MDM key of the template', () => {
    const template = parsePlist(read('enroll-template.nanomdm.mobileconfig').toString()) as any;
    const ours = enrollmentProfileObject({
      serverUrl: 'https://mdm.example.org/',
      scepChallenge: 'c',
      topic: 'com.apple.mgmt.External.x',
      orgName: 'Acme',
    }) as any;
    const keys = (o: object) => Object.keys(o).sort();
    for (const k of keys(template.PayloadContent[0].PayloadContent))
      expect(ours.PayloadContent[0].PayloadContent).toHaveProperty([k]);
    for (const k of keys(template.PayloadContent[1]).filter((k) => k !== 'ServerCapabilities'))
      expect(ours.PayloadContent[1]).toHaveProperty([k]);
    for (const k of keys(template)) expect(ours).toHaveProperty([k]);
    expect(ours.PayloadContent[0].PayloadContent.URL).toBe('https://mdm.example.org/mdm/apple/scep');
    expect(ours.PayloadContent[1].ServerURL).toBe('https://mdm.example.org/mdm/apple/mdm');
    const renewal = enrollmentProfileObject({
      serverUrl: 'https://m',
      scepChallenge: 'c',
      topic: 't',
      orgName: '',
      renewal: true,
    }) as any;
    expect(renewal.PayloadContent[0].PayloadContent.Subject).toEqual([
      [['O', 'Fleet']],
      [['CN', 'Fleet Identity']],
    ]);
  });
});
