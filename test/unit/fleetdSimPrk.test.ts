import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import forge from 'node-forge';
import { afterAll, describe, expect, it } from 'vitest';
import { envelopeRecoveryKey } from '../../src/agents/sim/prkEnvelope.js';
import {
  isBitLockerRecoveryPassword,
  newBitLockerRecoveryPassword,
  newPersonalRecoveryKey,
} from '../../src/agents/sim/recoveryKeys.js';

// A test CA made by openssl itself, so nothing of ours vouches for the recipient certificate.
const dir = mkdtempSync(join(tmpdir(), 'fleetd-prk-'));
const keyFile = join(dir, 'ca.key');
const certFile = join(dir, 'ca.crt');
execFileSync(
  'openssl',
  [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    '/CN=Test FileVault Escrow CA/O=Flotilla Tests',
  ],
  { stdio: 'pipe' },
);
const certPem = readFileSync(certFile, 'utf8');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function openssl(args: string[], input: Buffer): string {
  const file = join(dir, `blob-${Math.random().toString(36).slice(2)}.der`);
  writeFileSync(file, input);
  return execFileSync('openssl', [...args, '-in', file], { encoding: 'utf8' });
}

describe('simulated FileVault PRK escrow file', () => {
  it('is CMS EnvelopedData (RSA key transport, 3DES-CBC, BER) that openssl parses and decrypts', () => {
    const prk = newPersonalRecoveryKey();
    const blob = envelopeRecoveryKey(prk, certPem);
    // Apple's shape: indefinite-length outer SEQUENCE and [0].
    expect(blob.subarray(0, 2)).toEqual(Buffer.from([0x30, 0x80]));
    const printed = openssl(['cms', '-cmsout', '-inform', 'DER', '-print'], blob);
    expect(printed).toContain('pkcs7-envelopedData');
    expect(printed).toContain('rsaEncryption');
    expect(printed).toContain('des-ede3-cbc');
    expect(printed).toContain('CN=Test FileVault Escrow CA');
    const decrypted = openssl(
      ['cms', '-decrypt', '-inform', 'DER', '-recip', certFile, '-inkey', keyFile],
      blob,
    );
    expect(decrypted).toBe(prk);
  });

  it('names the certificate by its issuer and serial, and also comes in DER and AES forms', () => {
    const prk = newPersonalRecoveryKey();
    for (const opts of [{ encoding: 'der' as const }, { cipher: 'aes-256-cbc' as const }]) {
      const blob = envelopeRecoveryKey(prk, certPem, opts);
      expect(
        openssl(['cms', '-decrypt', '-inform', 'DER', '-recip', certFile, '-inkey', keyFile], blob),
      ).toBe(prk);
    }
    // node-forge (what the reference suggests for reading Apple's BER) finds the recipient too.
    const blob = envelopeRecoveryKey(prk, certPem);
    const msg = forge.pkcs7.messageFromAsn1(
      forge.asn1.fromDer(forge.util.createBuffer(blob.toString('binary')), false),
    ) as forge.pkcs7.PkcsEnvelopedData;
    const cert = forge.pki.certificateFromPem(certPem);
    const recipient = msg.findRecipient(cert);
    expect(recipient).not.toBeNull();
    msg.decrypt(recipient!, forge.pki.privateKeyFromPem(readFileSync(keyFile, 'utf8')));
    expect((msg as unknown as { content: forge.util.ByteBuffer }).content.getBytes()).toBe(prk);
  });

  it('makes recovery keys in the formats macOS and Windows use', () => {
    const prk = newPersonalRecoveryKey();
    expect(prk).toMatch(/^([A-Z2-9]{4}-){5}[A-Z2-9]{4}$/);
    const bitlocker = newBitLockerRecoveryPassword();
    expect(bitlocker).toMatch(/^(\d{6}-){7}\d{6}$/);
    expect(isBitLockerRecoveryPassword(bitlocker)).toBe(true);
    expect(isBitLockerRecoveryPassword('123456-234567-345678-456789-567890-678901-789012-890123')).toBe(
      false,
    );
  });
});
