import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { profileWithSecretsSubtype } from '../../src/apple/commands/queue.js';
import { deliveryOf, installProfileCommand } from '../../src/apple/profiles/delivery.js';
import { SecretProfileDelivery } from '../../src/apple/profiles/secretDelivery.js';
import { ProfileSigner } from '../../src/apple/profiles/signing.js';
import { parseAppleProfile } from '../../src/apple/profiles/validate.js';
import { parsePlistDict } from '../../src/apple/plist/parse.js';
import { createCertificateAuthority } from '../../src/crypto/certificateAuthority.js';
import { cmsVerifyAttached } from '../../src/crypto/cms.js';
import { issueCertificate } from '../../src/crypto/issue.js';
import { HttpError } from '../../src/http/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-profile-signing-'));
const file = (name: string, data?: string | Buffer) => {
  const p = join(dir, name);
  if (data !== undefined) writeFileSync(p, data);
  return p;
};
const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: ['ignore', 'pipe', 'pipe'] });

// The server's signer (the Apple SCEP CA in production) and an outside signer of an upload.
const serverCa = createCertificateAuthority('Flotilla Profile Signing Test CA');
file('server-ca.pem', serverCa.certPem);
const vendorCa = createCertificateAuthority('Vendor CA');
file('vendor-ca.pem', vendorCa.certPem);
const vendorKeys = generateKeyPairSync('rsa', { modulusLength: 2048 });
const vendorKey = vendorKeys.privateKey;
const vendorCert = issueCertificate({
  publicKeyPem: vendorKeys.publicKey.export({ type: 'spki', format: 'pem' }) as string,
  subject: { CN: 'Vendor Profile Signer', O: 'Vendor' },
  days: 30,
  ca: vendorCa,
  usage: 'client',
});
file('vendor.pem', vendorCert.certPem);
file('vendor.key', vendorKey.export({ type: 'pkcs8', format: 'pem' }) as string);

function profile(identifier: string, extra = ''): Buffer {
  return Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>PayloadContent</key><array><dict>
<key>PayloadType</key><string>com.apple.dock</string>
<key>PayloadIdentifier</key><string>${identifier}.p</string>
<key>PayloadUUID</key><string>11111111-2222-3333-4444-555555555555</string>
<key>PayloadVersion</key><integer>1</integer>${extra}
</dict></array>
<key>PayloadDisplayName</key><string>${identifier}</string>
<key>PayloadIdentifier</key><string>${identifier}</string>
<key>PayloadType</key><string>Configuration</string>
<key>PayloadUUID</key><string>AAAAAAAA-2222-3333-4444-555555555555</string>
<key>PayloadVersion</key><integer>1</integer>
</dict></plist>`);
}

/**
 * `openssl <tool> -verify` of an attached DER signature against `caFile`; returns the content.
 * The vendor's signer is a client certificate, so its check takes any purpose.
 */
function opensslVerify(tool: 'cms' | 'smime', der: Buffer, caFile: string, anyPurpose = false): Buffer {
  const purpose = anyPurpose ? ['-purpose', 'any'] : [];
  return openssl(
    tool,
    '-verify',
    '-inform',
    'DER',
    '-in',
    file(`${tool}.der`, der),
    '-CAfile',
    caFile,
    ...purpose,
  );
}

/** A profile signed by openssl with the vendor's certificate, as an admin would upload it. */
function vendorSigned(content: Buffer): Buffer {
  return openssl(
    'cms',
    '-sign',
    '-nodetach',
    '-binary',
    '-outform',
    'DER',
    '-in',
    file('upload.mobileconfig', content),
    '-signer',
    file('vendor.pem'),
    '-inkey',
    file('vendor.key'),
  );
}

const signer = new ProfileSigner(async () => serverCa);

describe('InstallProfile payload signing', () => {
  it('signs an unsigned profile so that openssl cms and smime verify it against the server CA', async () => {
    const plain = profile('com.example.signed');
    const signed = await signer.payloadFor(plain);
    expect(signed[0]).toBe(0x30);
    expect(opensslVerify('cms', signed, file('server-ca.pem')).equals(plain)).toBe(true);
    expect(opensslVerify('smime', signed, file('server-ca.pem')).equals(plain)).toBe(true);
    // Signed by the CA itself, and not verifiable against another root.
    expect(cmsVerifyAttached(signed).signerCertDer.equals(new X509Certificate(serverCa.certPem).raw)).toBe(
      true,
    );
    expect(() => opensslVerify('cms', signed, file('vendor-ca.pem'))).toThrow();
  });

  it('takes an upload signed by openssl, sends it with its own signature, or re-signs it when asked', async () => {
    const plain = profile('com.example.vendor');
    const upload = vendorSigned(plain);
    const parsed = parseAppleProfile(upload);
    expect(parsed).toMatchObject({ identifier: 'com.example.vendor', scope: 'System' });
    expect(parsed.bytes.equals(upload)).toBe(true);

    const kept = await signer.payloadFor(upload);
    expect(kept.equals(upload)).toBe(true);
    expect(opensslVerify('cms', kept, file('vendor-ca.pem'), true).equals(plain)).toBe(true);

    const resigner = new ProfileSigner(async () => serverCa, { resignSignedUploads: true });
    const resigned = await resigner.payloadFor(upload);
    expect(opensslVerify('smime', resigned, file('server-ca.pem')).equals(plain)).toBe(true);
  });

  it('refuses a signed upload that uses Fleet variables or secrets (they cannot be filled in it)', () => {
    for (const [ref, reason] of [
      ['$FLEET_VAR_HOST_UUID', 'a signed profile cannot contain Fleet variables ($FLEET_VAR_*)'],
      ['${FLEET_SECRET_WIFI}', 'a signed profile cannot contain secret variables ($FLEET_SECRET_*)'],
    ]) {
      const upload = vendorSigned(profile('com.example.vars', `<key>x</key><string>${ref}</string>`));
      let err: unknown;
      try {
        parseAppleProfile(upload);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(HttpError);
      expect((err as HttpError).statusCode).toBe(422);
      expect((err as HttpError).errors).toEqual([{ name: 'profile', reason }]);
    }
  });
});

describe('profile delivery kinds', () => {
  it('tells shared, per-host, secret and user-scope profiles apart', () => {
    const withVar = profile('a', '<key>s</key><string>$FLEET_VAR_HOST_HARDWARE_SERIAL</string>');
    const withSecret = profile('b', '<key>s</key><string>${FLEET_SECRET_PSK}</string>');
    expect(deliveryOf(profile('c'), 'System')).toEqual({ perHost: false, secrets: false, userScope: false });
    expect(deliveryOf(withVar, 'System')).toEqual({ perHost: true, secrets: false, userScope: false });
    expect(deliveryOf(withSecret, 'User')).toEqual({ perHost: false, secrets: true, userScope: true });
    // Text that only looks like a variable is not one.
    expect(deliveryOf(profile('d', '<key>s</key><string>$FLEET_VARX</string>'), 'System').perHost).toBe(
      false,
    );
  });

  it('stores a profile with secrets as it is, with subtype ProfileWithSecrets; others as a signed command', async () => {
    const withSecret = profile('b', '<key>s</key><string>$FLEET_SECRET_PSK</string>');
    const stored = await installProfileCommand(signer, withSecret, true);
    expect(stored).toMatchObject({ requestType: 'InstallProfile', subtype: profileWithSecretsSubtype });
    expect(stored.plist.equals(withSecret)).toBe(true);

    const plain = await installProfileCommand(signer, profile('c'), false);
    expect(plain.subtype).toBeUndefined();
    const cmd = parsePlistDict(plain.plist);
    expect(cmd.CommandUUID).toBe(plain.commandUuid);
    const payload = (cmd.Command as Record<string, unknown>).Payload as Buffer;
    expect(opensslVerify('cms', payload, file('server-ca.pem')).equals(profile('c'))).toBe(true);
  });
});

describe('ProfileWithSecrets delivery', () => {
  const stored = profile('com.example.wifi', '<key>Password</key><string>$FLEET_SECRET_WIFI_PSK</string>');
  const command = {
    enrollmentId: 'UDID-1',
    commandUuid: 'CMD-1',
    requestType: 'InstallProfile',
    subtype: profileWithSecretsSubtype,
    command: stored,
  };

  it('fills the secret in memory, signs, and wraps the profile in its InstallProfile command', async () => {
    const failed: string[] = [];
    const delivery = new SecretProfileDelivery(
      {
        expandSecrets: async (text) => ({
          ok: true,
          text: text.replace('$FLEET_SECRET_WIFI_PSK', 's3cr&amp;t'),
        }),
      },
      signer,
      { failPendingInstall: async (h) => (failed.push(h), 1) },
      { deviceOf: async () => 'UDID-1' },
    );
    const out = await delivery.prepare(command);
    expect(out.ok).toBe(true);
    const cmd = parsePlistDict((out as { command: Buffer }).command);
    expect(cmd).toMatchObject({ CommandUUID: 'CMD-1', Command: { RequestType: 'InstallProfile' } });
    const content = opensslVerify(
      'cms',
      (cmd.Command as Record<string, unknown>).Payload as Buffer,
      file('server-ca.pem'),
    );
    expect(parsePlistDict(content).PayloadContent).toEqual([expect.objectContaining({ Password: 's3cr&t' })]);
    expect(failed).toEqual([]);
  });

  it("fails the host's row with the expander's text when a secret is gone, and builds nothing", async () => {
    const failed: { host: string; command: string; detail: string }[] = [];
    const detail = 'Couldn\'t deliver. Secret variable "$FLEET_SECRET_WIFI_PSK" is missing.';
    const delivery = new SecretProfileDelivery(
      { expandSecrets: async () => ({ ok: false, detail }) },
      signer,
      { failPendingInstall: async (host, cmd, d) => (failed.push({ host, command: cmd, detail: d }), 1) },
      { deviceOf: async (id) => (id === 'UDID-1:USER' ? 'UDID-1' : undefined) },
    );
    const out = await delivery.prepare({ ...command, enrollmentId: 'UDID-1:USER' });
    expect(out).toEqual({ ok: false, detail });
    expect(failed).toEqual([{ host: 'UDID-1', command: 'CMD-1', detail }]);
  });
});
