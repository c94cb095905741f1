import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { FakeApnsServer } from '../../src/clients/apns/fakeServer.js';
import { issuePushCertificate, type IssuedPem } from '../../src/clients/apns/testCertificates.js';
import { createCertificateAuthority } from '../../src/crypto/certificateAuthority.js';
import type { Config } from '../../src/config.js';
import type { Services } from '../../src/services.js';

/**
 * Plays Apple's push CA in tests: it signs push certificates and the APNs stand-in trusts it. The
 * run's global setup makes it once for every test file.
 */
export const testPushCa =
  inject('flotillaSharedCrypto')?.pushCa ?? createCertificateAuthority('Test Apple Push CA');

export function newPushTopic(): string {
  return `com.apple.mgmt.External.${randomUUID()}`;
}

/** A push certificate signed by the test push CA (for the stored key when `keyPem` is given). */
export function makePushCertificate(
  opts: { topic?: string; keyPem?: string; days?: number } = {},
): IssuedPem & { topic: string } {
  const topic = opts.topic ?? newPushTopic();
  return { ...issuePushCertificate({ ca: testPushCa, topic, keyPem: opts.keyPem, days: opts.days }), topic };
}

/**
 * Makes the server's APNs certificate through the service, as an admin would: request a CSR (the
 * server creates and stores the key), have "Apple" sign it, upload it. Returns the certificate.
 * With the run's global setup the key is one made for the whole run, stored as the server stores
 * the key it creates (making an RSA key per test server is slow).
 */
export async function installPushCertificate(
  services: Services,
  opts: { topic?: string } = {},
): Promise<IssuedPem & { topic: string }> {
  const sharedKey = inject('flotillaSharedCrypto')?.apnsKeyPem;
  if (sharedKey && !(await services.assets.getOne('apns_key', { fresh: true })))
    await services.assets.set({ apns_key: sharedKey });
  await services.apnsCertificates.requestCsr({ organization: 'Test' });
  const keyPem = (await services.assets.getOne('apns_key', { fresh: true }))!.toString('utf8');
  const cert = makePushCertificate({ topic: opts.topic, keyPem });
  await services.apnsCertificates.upload(Buffer.from(cert.certPem));
  return cert;
}

/**
 * Starts the APNs stand-in (trusting the test push CA) and returns the config overrides that point
 * the server's APNs client at it. Start it before the server (top-level await in a test file).
 */
export async function startFakeApns(): Promise<{ fake: FakeApnsServer; overrides: Partial<Config> }> {
  const fake = await FakeApnsServer.start({ trustedClientCaPem: testPushCa.certPem });
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-apns-'));
  const caFile = join(dir, 'apns-ca.pem');
  writeFileSync(caFile, fake.caPem);
  return { fake, overrides: { apnsBaseUrl: fake.url, apnsCaFile: caFile } };
}
