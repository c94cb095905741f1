import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DepCredentials } from '../../src/clients/dep/client.js';
import type { FakeDepServer } from '../../src/clients/dep/fakeServer.js';
import type { DepDevice } from '../../src/clients/dep/types.js';
import { api, type ApiResponse } from './api.js';
import type { TestServer } from './testServer.js';

/** The MIME entity ABM encrypts: headers, a blank line, the credentials between MESSAGE markers. */
export function serverTokenPlaintext(creds: DepCredentials): string {
  return (
    'Content-Type: text/plain;charset=UTF-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n' +
    `-----BEGIN MESSAGE-----\n${JSON.stringify(creds)}\n-----END MESSAGE-----`
  );
}

/** A server token (.p7m) as ABM makes it, encrypted by `openssl smime` to `certPem`. */
export function makeServerToken(certPem: string, plaintext: string): Buffer {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-abm-'));
  try {
    writeFileSync(join(dir, 'cert.pem'), certPem);
    writeFileSync(join(dir, 'token.txt'), plaintext);
    execFileSync('openssl', [
      'smime',
      '-encrypt',
      '-aes128',
      '-binary',
      '-in',
      join(dir, 'token.txt'),
      '-out',
      join(dir, 'token.p7m'),
      join(dir, 'cert.pem'),
    ]);
    return readFileSync(join(dir, 'token.p7m'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A throwaway self-signed certificate (not ours): tokens encrypted to it must be refused. */
export function otherCertificate(): string {
  const dir = mkdtempSync(join(tmpdir(), 'flotilla-abm-'));
  try {
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-subj',
        '/CN=someone else',
        '-days',
        '2',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
      ],
      { stdio: 'ignore' },
    );
    return readFileSync(join(dir, 'cert.pem'), 'utf8');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The server's ABM certificate PEM (`GET /mdm/apple/abm_public_key`). */
export async function abmPublicKey(srv: TestServer, token: string): Promise<string> {
  const res = await api(srv, 'GET', '/api/v1/fleet/mdm/apple/abm_public_key', { token });
  if (res.status !== 200) throw new Error(`abm_public_key: ${res.status} ${res.text}`);
  return Buffer.from(res.body.public_key as string, 'base64').toString('utf8');
}

/** A multipart request with the token file in field `token`. */
export async function sendToken(
  srv: TestServer,
  token: string,
  method: 'POST' | 'PATCH',
  path: string,
  file: Buffer | undefined,
  field = 'token',
): Promise<ApiResponse> {
  const form = new FormData();
  if (file) form.append(field, new Blob([new Uint8Array(file)]), 'server_token.p7m');
  const res = await fetch(srv.url + path, {
    method,
    headers: { authorization: `Bearer ${token}` },
    body: form,
  });
  const text = await res.text();
  let body: any = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON
  }
  return { status: res.status, body, headers: res.headers, text };
}

export interface ConnectedAccount {
  tokenId: number;
  orgName: string;
  credentials: DepCredentials;
}

/**
 * A new ABM organisation in the stand-in, its server token uploaded through the API, default teams
 * set. Org names and serials are unique per call so tests do not see each other's devices.
 */
export async function connectAccount(
  srv: TestServer,
  adminToken: string,
  fake: FakeDepServer,
  opts: { orgName?: string; macos?: number | null; ios?: number | null; ipados?: number | null } = {},
): Promise<ConnectedAccount> {
  const orgName = opts.orgName ?? `Org ${randomBytes(4).toString('hex')}`;
  const credentials = fake.addAccount(orgName);
  const cert = await abmPublicKey(srv, adminToken);
  const res = await sendToken(
    srv,
    adminToken,
    'POST',
    '/api/v1/fleet/abm_tokens',
    makeServerToken(cert, serverTokenPlaintext(credentials)),
  );
  if (res.status !== 200) throw new Error(`upload failed: ${res.status} ${res.text}`);
  const tokenId = res.body.abm_token.id as number;
  if (opts.macos !== undefined || opts.ios !== undefined || opts.ipados !== undefined) {
    const t = await api(srv, 'PATCH', `/api/v1/fleet/abm_tokens/${tokenId}/teams`, {
      token: adminToken,
      body: {
        macos_team_id: opts.macos ?? null,
        ios_team_id: opts.ios ?? null,
        ipados_team_id: opts.ipados ?? null,
      },
    });
    if (t.status !== 200) throw new Error(`teams failed: ${t.status} ${t.text}`);
  }
  return { tokenId, orgName, credentials };
}

let serialCounter = 0;

/** A unique serial for this test run. */
export function newSerial(prefix = 'C'): string {
  serialCounter++;
  return `${prefix}${randomBytes(3).toString('hex').toUpperCase()}${serialCounter}`;
}

export function mac(serial = newSerial('M')): DepDevice {
  return {
    serial_number: serial,
    model: 'MacBook Pro',
    os: 'OSX',
    device_family: 'Mac',
    color: 'SPACE GRAY',
  };
}

export function iphone(serial = newSerial('P')): DepDevice {
  return { serial_number: serial, model: 'iPhone 14', os: 'iOS', device_family: 'iPhone' };
}

export function ipad(serial = newSerial('T')): DepDevice {
  return { serial_number: serial, model: 'iPad Pro', os: 'iPadOS', device_family: 'iPad' };
}
