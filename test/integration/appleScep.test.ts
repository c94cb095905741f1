import { execFile } from 'node:child_process';
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  X509Certificate,
} from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';
import { scepEnroll, ScepClientError } from '../../src/apple/scep/client.js';
import {
  buildPkiRequest,
  FailInfo,
  MessageType,
  PkiStatus,
  readPkiMessage,
} from '../../src/apple/scep/message.js';
import { createCertificateAuthority } from '../../src/crypto/certificateAuthority.js';
import { buildCsr } from '../../src/crypto/csr.js';
import { envelopedEncrypt } from '../../src/crypto/envelope.js';
import { issueCertificate, selfSignedCertificate } from '../../src/crypto/issue.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const run = promisify(execFile);
const staticChallenge = 'static-scep-secret';

// Keys are made once: RSA key generation would otherwise dominate the run time.
const deviceKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const deviceKeyPem = deviceKey.export({ type: 'pkcs1', format: 'pem' }) as string;
const otherCa = createCertificateAuthority('Another CA');

async function counts(srv: TestServer) {
  const store = srv.app.services.appleScep.store;
  return { certs: await store.count(), serials: await store.countSerials() };
}

/** A hand-built PKCSReq, so tests can break one part of it at a time. */
function pkcsReq(
  caCertDer: Buffer,
  opts: { csr?: Buffer; challenge?: string; messageType?: '19' | '17' } = {},
) {
  const privateKey = deviceKey;
  const csr =
    opts.csr ??
    buildCsr({
      privateKey,
      subject: { CN: 'hand-built' },
      challengePassword: opts.challenge ?? staticChallenge,
    });
  const signer = selfSignedCertificate({ privateKey, subject: { CN: 'SCEP SIGNER' } });
  const senderNonce = randomBytes(16);
  const der = buildPkiRequest({
    messageType: opts.messageType ?? MessageType.PKCSReq,
    transactionId: 'TX-1',
    senderNonce,
    envelope: envelopedEncrypt(csr, [caCertDer]),
    signerCertDer: signer.certDer,
    signerKey: privateKey,
  });
  return { der, senderNonce };
}

async function postPki(srv: TestServer, body: Buffer) {
  const res = await fetch(`${srv.url}/mdm/apple/scep?operation=PKIOperation`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-pki-message' },
    body: new Uint8Array(body),
  });
  return {
    status: res.status,
    type: res.headers.get('content-type') ?? '',
    body: Buffer.from(await res.arrayBuffer()),
  };
}

describeEachDialect(
  'Apple SCEP server',
  (server) => {
    const scepUrl = () => `${server().url}/mdm/apple/scep`;

    it('answers GetCACaps and GetCACert', async () => {
      const caps = await fetch(`${scepUrl()}?operation=GetCACaps`);
      expect(caps.status).toBe(200);
      const lines = (await caps.text()).split('\n');
      expect(lines).toEqual(
        expect.arrayContaining(['POSTPKIOperation', 'SHA-256', 'AES', 'SCEPStandard', 'Renewal']),
      );
      const ca = await fetch(`${scepUrl()}?operation=GetCACert`);
      expect(ca.headers.get('content-type')).toBe('application/x-x509-ca-cert');
      const der = Buffer.from(await ca.arrayBuffer());
      const stored = await server().app.services.appleScep.caCertificate();
      expect(der.equals(stored.certDer)).toBe(true);
      expect(new X509Certificate(der).ca).toBe(true);
    });

    it('issues a one-year client certificate to our client (static and one-time challenge, POST and GET)', async () => {
      const before = await counts(server());
      const a = await scepEnroll({
        url: scepUrl(),
        challenge: staticChallenge,
        subjectCN: 'device-a',
        subject: { O: 'Fleet' },
      });
      const oneTime = await server().app.services.appleScep.issueChallenge({ purpose: 'test' });
      expect(await server().app.services.appleScep.issueChallenge({ purpose: 'test' })).not.toBe(oneTime);
      const b = await scepEnroll({
        url: scepUrl(),
        challenge: oneTime,
        subjectCN: 'device-b',
        forceGet: true,
        keyPem: deviceKeyPem,
      });
      const ca = new X509Certificate(a.caCertPem);
      for (const r of [a, b]) {
        const x = new X509Certificate(r.certPem);
        expect(x.verify(ca.publicKey)).toBe(true);
        expect(x.checkPrivateKey(createPrivateKey(r.keyPem))).toBe(true);
        expect(x.keyUsage).toContain('1.3.6.1.5.5.7.3.2');
        const days = (new Date(x.validTo).getTime() - Date.now()) / 86_400_000;
        expect(days).toBeGreaterThan(364);
        expect(days).toBeLessThan(366);
      }
      expect(new X509Certificate(a.certPem).subject).toBe('CN=device-a\nO=Fleet');
      expect(await counts(server())).toEqual({ certs: before.certs + 2, serials: before.serials + 2 });
      const row = await server().app.services.appleScep.certificateFor(new X509Certificate(a.certPem).raw);
      expect(row).toMatchObject({ name: 'device-a', revoked: false, enrollment_id: null });
      expect(parseInt(new X509Certificate(a.certPem).serialNumber, 16)).toBe(row!.serial);
      await server().app.services.appleScep.associateEnrollment(
        new X509Certificate(a.certPem).raw,
        'ENROLLMENT-A',
      );
      expect((await server().app.services.appleScep.store.getBySerial(row!.serial))?.enrollment_id).toBe(
        'ENROLLMENT-A',
      );
    });

    it('uses a one-time challenge once, refuses it expired, and binds the certificate to its device', async () => {
      const scep = server().app.services.appleScep;
      const { db } = server().app.services.database;
      const bound = await scep.issueChallenge({ purpose: 'reenrollment', deviceId: 'UDID-BOUND-1' });
      const first = await scepEnroll({
        url: scepUrl(),
        challenge: bound,
        subjectCN: 'bound',
        keyPem: deviceKeyPem,
      });
      const row = await scep.certificateFor(new X509Certificate(first.certPem).raw);
      expect(row).toMatchObject({ bound_device_id: 'UDID-BOUND-1', revoked: false });
      // The challenge row is gone: it is stored once, as a hash, and used up.
      expect(
        await db
          .selectFrom('scep_challenges')
          .select('purpose')
          .where('purpose', '=', 'reenrollment')
          .execute(),
      ).toEqual([]);
      const before = await counts(server());
      await expect(
        scepEnroll({ url: scepUrl(), challenge: bound, subjectCN: 'again', keyPem: deviceKeyPem }),
      ).rejects.toMatchObject({ failInfo: 'badRequest' });
      const expired = await scep.issueChallenge({ purpose: 'expired-test', ttlSeconds: -1 });
      await expect(
        scepEnroll({ url: scepUrl(), challenge: expired, subjectCN: 'late', keyPem: deviceKeyPem }),
      ).rejects.toMatchObject({ failInfo: 'badRequest' });
      expect(await counts(server())).toEqual(before);
      expect(await scep.deleteExpiredChallenges()).toBeGreaterThanOrEqual(1);
      expect(
        await db
          .selectFrom('scep_challenges')
          .select('purpose')
          .where('purpose', '=', 'expired-test')
          .execute(),
      ).toEqual([]);
      // A stored challenge never holds the challenge itself.
      const plain = await scep.issueChallenge({ purpose: 'stored-as-hash' });
      const stored = await db
        .selectFrom('scep_challenges')
        .selectAll()
        .where('purpose', '=', 'stored-as-hash')
        .execute();
      expect(JSON.stringify(stored)).not.toContain(plain);

      // A renewal signed by a certificate that authenticates a device is bound to that device.
      await scep.associateEnrollment(new X509Certificate(first.certPem).raw, 'UDID-BOUND-1');
      const renewed = await scepEnroll({
        url: scepUrl(),
        challenge: '',
        subjectCN: 'bound',
        renew: first,
        keyPem: deviceKeyPem,
      });
      expect(await scep.certificateFor(new X509Certificate(renewed.certPem).raw)).toMatchObject({
        bound_device_id: 'UDID-BOUND-1',
      });
    });

    it('refuses a wrong or missing challenge with CertRep FAILURE badRequest and stores nothing', async () => {
      const before = await counts(server());
      await expect(
        scepEnroll({ url: scepUrl(), challenge: 'wrong', subjectCN: 'x', keyPem: deviceKeyPem }),
      ).rejects.toMatchObject({ failInfo: 'badRequest' });
      await expect(
        scepEnroll({ url: scepUrl(), challenge: '', subjectCN: 'x', keyPem: deviceKeyPem }),
      ).rejects.toBeInstanceOf(ScepClientError);
      expect(await counts(server())).toEqual(before);
    });

    it('renews with a certificate it issued (no challenge) and refuses one from another CA', async () => {
      const first = await scepEnroll({
        url: scepUrl(),
        challenge: staticChallenge,
        subjectCN: 'renew-me',
        keyPem: deviceKeyPem,
      });
      const renewed = await scepEnroll({
        url: scepUrl(),
        challenge: '',
        subjectCN: 'renew-me',
        renew: first,
        keyPem: deviceKeyPem,
      });
      expect(new X509Certificate(renewed.certPem).serialNumber).not.toBe(
        new X509Certificate(first.certPem).serialNumber,
      );
      expect(
        new X509Certificate(renewed.certPem).verify(new X509Certificate(first.caCertPem).publicKey),
      ).toBe(true);

      const before = await counts(server());
      const foreign = issueCertificate({
        publicKeyPem: createPublicKey(deviceKey).export({ type: 'spki', format: 'pem' }) as string,
        subject: { CN: 'foreign' },
        days: 30,
        ca: otherCa,
        usage: 'client',
      });
      const keyPem = deviceKeyPem;
      await expect(
        scepEnroll({
          url: scepUrl(),
          challenge: '',
          subjectCN: 'foreign',
          renew: { certPem: foreign.certPem, keyPem },
        }),
      ).rejects.toMatchObject({ failInfo: 'badCertId' });
      // A revoked certificate of ours is refused too.
      const row = await server().app.services.appleScep.certificateFor(
        new X509Certificate(renewed.certPem).raw,
      );
      await server().app.services.appleScep.store.revoke(row!.serial);
      await expect(
        scepEnroll({
          url: scepUrl(),
          challenge: '',
          subjectCN: 'renew-me',
          renew: renewed,
          keyPem: deviceKeyPem,
        }),
      ).rejects.toMatchObject({
        failInfo: 'badCertId',
      });
      expect(await counts(server())).toEqual(before);
    });

    it("issues to Debian's scepclient, which openssl verify accepts; refuses its wrong challenge", async () => {
      const dir = mkdtempSync(join(tmpdir(), 'scepclient-'));
      const caFile = join(dir, 'ca.pem');
      writeFileSync(caFile, (await server().app.services.appleScep.caCertificate()).certPem);
      const before = await counts(server());
      const args = (challenge: string, sub: string) => [
        '-server-url',
        scepUrl(),
        '-private-key',
        join(dir, sub, 'key.pem'),
        '-certificate',
        join(dir, sub, 'cert.pem'),
        '-challenge',
        challenge,
        '-cn',
        `scepclient-${sub}`,
        '-organization',
        'Flotilla Test',
      ];
      mkdirSync(join(dir, 'bad'));
      mkdirSync(join(dir, 'good'));
      await expect(
        run('scepclient', args('not-the-challenge', 'bad'), { timeout: 20_000 }),
      ).rejects.toThrow();
      expect(existsSync(join(dir, 'bad', 'cert.pem'))).toBe(false);
      expect(await counts(server())).toEqual(before);

      await run('scepclient', args(staticChallenge, 'good'), { timeout: 20_000 });
      const certFile = join(dir, 'good', 'cert.pem');
      expect(existsSync(certFile)).toBe(true);
      const verified = await run('openssl', ['verify', '-CAfile', caFile, certFile]);
      expect(verified.stdout).toContain('OK');
      expect(new X509Certificate(readFileSync(certFile)).subject).toContain('CN=scepclient-good');
      expect((await counts(server())).certs).toBe(before.certs + 1);

      // With the certificate present, scepclient sends a RenewalReq signed by it (no challenge).
      const firstSerial = new X509Certificate(readFileSync(certFile)).serialNumber;
      await run('scepclient', args('', 'good'), { timeout: 20_000 });
      expect((await counts(server())).certs).toBe(before.certs + 2);
      const renewed = new X509Certificate(readFileSync(certFile));
      expect(renewed.serialNumber).not.toBe(firstSerial);
      expect((await run('openssl', ['verify', '-CAfile', caFile, certFile])).stdout).toContain('OK');
    }, 60_000);

    it('answers bad input with 400 or a CertRep FAILURE, never a 500, and stores nothing', async () => {
      const srv = server();
      const before = await counts(srv);
      const ca = await srv.app.services.appleScep.caCertificate();

      const badB64 = await fetch(
        `${scepUrl()}?operation=PKIOperation&message=${encodeURIComponent('!!!not base64!!!')}`,
      );
      expect(badB64.status).toBe(400);
      expect((await postPki(srv, randomBytes(300))).status).toBe(400);
      expect((await postPki(srv, Buffer.from('30030201', 'hex'))).status).toBe(400);
      expect((await fetch(`${scepUrl()}?operation=PKIOperation`, { method: 'POST' })).status).toBe(400);
      expect((await fetch(`${scepUrl()}?operation=Nope`)).status).toBe(400);
      expect((await fetch(`${scepUrl()}`)).status).toBe(400);

      const expectFailure = (body: Buffer, nonce: Buffer, failInfo: string) => {
        const rep = readPkiMessage(body);
        expect(rep.signatureValid).toBe(true);
        expect(rep.signerCertDer.equals(ca.certDer)).toBe(true);
        expect(rep.messageType).toBe(MessageType.CertRep);
        expect(rep.pkiStatus).toBe(PkiStatus.FAILURE);
        expect(rep.failInfo).toBe(failInfo);
        expect(rep.recipientNonce?.equals(nonce)).toBe(true);
        expect(rep.transactionId).toBe('TX-1');
        expect(rep.content).toBeUndefined();
      };

      // A CSR that is not a CSR.
      const badCsr = pkcsReq(ca.certDer, { csr: randomBytes(64) });
      const res = await postPki(srv, badCsr.der);
      expect(res.status).toBe(200);
      expect(res.type).toBe('application/x-pki-message');
      expectFailure(res.body, badCsr.senderNonce, FailInfo.badRequest);

      // A CSR whose self-signature is broken.
      const csr = buildCsr({
        privateKey: deviceKey,
        subject: { CN: 'x' },
        challengePassword: staticChallenge,
      });
      csr[csr.length - 5] ^= 0xff;
      const brokenCsr = pkcsReq(ca.certDer, { csr });
      expectFailure((await postPki(srv, brokenCsr.der)).body, brokenCsr.senderNonce, FailInfo.badRequest);

      // Wrong challenge.
      const wrong = pkcsReq(ca.certDer, { challenge: 'nope' });
      expectFailure((await postPki(srv, wrong.der)).body, wrong.senderNonce, FailInfo.badRequest);

      // Tampered message: the signature no longer matches.
      const good = pkcsReq(ca.certDer);
      const tampered = Buffer.from(good.der);
      tampered[tampered.length - 10] ^= 0x01;
      expectFailure((await postPki(srv, tampered)).body, good.senderNonce, FailInfo.badMessageCheck);

      // Encrypted to another CA: we cannot open it.
      const misaddressed = pkcsReq(new X509Certificate(otherCa.certPem).raw);
      expectFailure(
        (await postPki(srv, misaddressed.der)).body,
        misaddressed.senderNonce,
        FailInfo.badMessageCheck,
      );

      // Unsupported message type (GetCRL).
      const getCrl = pkcsReq(ca.certDer, { messageType: '22' as '19' });
      expectFailure((await postPki(srv, getCrl.der)).body, getCrl.senderNonce, FailInfo.badRequest);

      expect(await counts(srv)).toEqual(before);

      // The same hand-built request, untampered, succeeds by GET with URL-safe base64 (as Debian's client sends).
      const ok = pkcsReq(ca.certDer);
      const urlSafe = ok.der.toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
      const viaGet = await fetch(`${scepUrl()}?operation=PKIOperation&message=${urlSafe}`);
      const rep = readPkiMessage(Buffer.from(await viaGet.arrayBuffer()));
      expect(rep.pkiStatus).toBe(PkiStatus.SUCCESS);
      expect((await counts(srv)).certs).toBe(before.certs + 1);
    });
  },
  { appleScepChallenge: staticChallenge },
);
