import { generateKeyPair } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { FakeApnsServer } from '../clients/apns/fakeServer.js';
import { createCertificateAuthority, randomSerialHex } from '../crypto/certificateAuthority.js';
import type { HostPort } from './options.js';

/**
 * The APNs stand-in of `flotilla sim`: the HTTP/2 stand-in from src/clients/apns, listening where
 * the server under test sends its pushes. The server must trust its TLS certificate, and reads
 * that trust (FLOTILLA_APNS_CA_FILE) only when it starts, so the stand-in's CA is kept in a
 * directory and reused by every run; the server certificate is issued anew by it at each start.
 */

export interface StandInSettings {
  /** FLOTILLA_APNS_BASE_URL for the server under test. */
  baseUrl: string;
  /** FLOTILLA_APNS_CA_FILE for the server under test (absolute). */
  caFile: string;
}

interface StandInCa {
  certPem: string;
  keyPem: string;
  caFile: string;
}

const caFileName = 'apns-ca.pem';
const caKeyFileName = 'apns-ca.key';

/** The stand-in's CA from `dir`, made (and written there) on first use. */
export function standInCa(dir: string): StandInCa {
  const caFile = resolve(dir, caFileName);
  const keyFile = resolve(dir, caKeyFileName);
  if (existsSync(caFile) && existsSync(keyFile)) {
    return { certPem: readFileSync(caFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8'), caFile };
  }
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca = createCertificateAuthority('Flotilla sim APNs stand-in CA', { years: 5 });
  writeFileSync(keyFile, ca.keyPem, { mode: 0o600 });
  chmodSync(keyFile, 0o600);
  writeFileSync(caFile, ca.certPem, { mode: 0o644 });
  return { ...ca, caFile };
}

/** The base URL the server under test should push to for this listen address. */
function advertisedHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return hostname();
  return isIP(host) === 6 ? `[${host}]` : host;
}

export function standInSettings(listen: HostPort, dir: string): StandInSettings {
  return {
    baseUrl: `https://${advertisedHost(listen.host)}:${listen.port}`,
    caFile: resolve(dir, caFileName),
  };
}

/** Names the server certificate is good for: the listen host, loopback, and this machine's name. */
function subjectAltNames(host: string): { type: number; value?: string; ip?: string }[] {
  const names = new Set(['localhost', hostname()]);
  const ips = new Set(['127.0.0.1', '::1']);
  if (isIP(host)) {
    if (host !== '0.0.0.0' && host !== '::') ips.add(host);
  } else names.add(host);
  return [...[...names].map((value) => ({ type: 2, value })), ...[...ips].map((ip) => ({ type: 7, ip }))];
}

async function issueServerCertificate(
  ca: StandInCa,
  host: string,
): Promise<{ certPem: string; keyPem: string }> {
  const { privateKey: keyPem } = await promisify(generateKeyPair)('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  const key = forge.pki.privateKeyFromPem(keyPem);
  const caCert = forge.pki.certificateFromPem(ca.certPem);
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  cert.serialNumber = randomSerialHex();
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 30 * 86_400_000);
  cert.setSubject([{ name: 'commonName', value: advertisedHost(host).replace(/^\[|\]$/g, '') }]);
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: subjectAltNames(host) },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(ca.keyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

/**
 * Starts the stand-in at `listen`. It accepts any client certificate (the server's push
 * certificate may be Apple's), still checking that its UID is the push topic.
 */
export async function startApnsStandIn(
  listen: HostPort,
  dir: string,
): Promise<{ apns: FakeApnsServer; settings: StandInSettings }> {
  const ca = standInCa(dir);
  const tls = { ...(await issueServerCertificate(ca, listen.host)), caPem: ca.certPem };
  const apns = await FakeApnsServer.start({
    acceptAnyClientCertificate: true,
    tls,
    host: listen.host,
    port: listen.port,
  });
  return { apns, settings: standInSettings(listen, dir) };
}

/** The two settings, as lines to paste into the server's environment. */
export function serverSettingsText(settings: StandInSettings): string {
  return `FLOTILLA_APNS_BASE_URL=${settings.baseUrl}\nFLOTILLA_APNS_CA_FILE=${settings.caFile}\n`;
}
