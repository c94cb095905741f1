import { createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { inject } from 'vitest';
import { issueCertificate } from '../../src/crypto/issue.js';
import { encodeName } from '../../src/crypto/name.js';
import { SimulatedAppleDevice, type SimulatedAppleDeviceOptions } from '../../src/apple/sim/device.js';
import type { TestServer } from './testServer.js';

// One RSA key shared by the quick test devices (each still gets its own certificate); the run's
// global setup makes it once for every test file.
let sharedKey: { publicKeyPem: string; keyPem: string } | undefined;
function testKey() {
  sharedKey ??= inject('flotillaSharedCrypto')?.deviceKey;
  if (!sharedKey) {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    sharedKey = {
      publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
      keyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }).toString(),
    };
  }
  return sharedKey;
}

/**
 * A device identity issued straight from the server's SCEP CA and recorded as SCEP records it (no
 * SCEP round trip). `boundDeviceId` binds it to a UDID as a bound challenge or a renewal would;
 * with `ca` it comes from another CA and is recorded nowhere.
 */
export async function issueDeviceIdentity(
  srv: TestServer,
  subject: Record<string, string> = { CN: 'Fleet Identity', O: 'Fleet', OU: 'Fleet Device Enrollment' },
  ca?: { certPem: string; keyPem: string },
  opts: { boundDeviceId?: string } = {},
): Promise<{ certPem: string; keyPem: string }> {
  const key = testKey();
  if (ca) {
    const cert = issueCertificate({
      publicKeyPem: key.publicKeyPem,
      subject,
      days: 365,
      ca,
      usage: 'client',
    });
    return { certPem: cert.certPem, keyPem: key.keyPem };
  }
  const der = await srv.app.services.appleScep.issueIdentity(
    {
      spki: createPublicKey(key.publicKeyPem).export({ type: 'spki', format: 'der' }),
      subjectDer: encodeName(subject),
    },
    { boundDeviceId: opts.boundDeviceId ?? null },
  );
  return { certPem: new X509Certificate(der).toString(), keyPem: key.keyPem };
}

export const testTopic = 'com.apple.mgmt.External.11111111-2222-3333-4444-555555555555';

/** A simulated device that already holds an identity from the server's CA. */
export async function quickDevice(
  srv: TestServer,
  opts: Partial<SimulatedAppleDeviceOptions> = {},
): Promise<SimulatedAppleDevice> {
  return new SimulatedAppleDevice({
    serverUrl: srv.url,
    topic: testTopic,
    identity: opts.identity ?? (await issueDeviceIdentity(srv)),
    ...opts,
  });
}

/** A device that has sent Authenticate and TokenUpdate. */
export async function enrolledDevice(
  srv: TestServer,
  opts: Partial<SimulatedAppleDeviceOptions> = {},
): Promise<SimulatedAppleDevice> {
  const d = await quickDevice(srv, opts);
  await d.authenticate();
  await d.tokenUpdate();
  return d;
}
