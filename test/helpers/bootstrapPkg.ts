import { randomBytes } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import type { ApiResponse } from './api.js';
import type { TestServer } from './testServer.js';

/**
 * A product archive as `productbuild --sign` lays it out: the 28-byte xar header, the
 * zlib-compressed TOC (with a `<signature>` element when signed), then the heap. The heap is random
 * bytes; only the header and TOC matter to the server's check.
 */
export function makePkg(
  opts: {
    signed?: boolean;
    xSignature?: boolean;
    heapBytes?: number;
    checksum?: number;
    magic?: number;
  } = {},
): Buffer {
  const sig =
    opts.signed === false
      ? ''
      : opts.xSignature
        ? '<x-signature style="CMS"><offset>20</offset><size>4096</size></x-signature>'
        : '<signature style="RSA"><offset>20</offset><size>256</size><KeyInfo xmlns="http://www.w3.org/2000/09/xmldsig#"><X509Data><X509Certificate>MIIBdummy</X509Certificate></X509Data></KeyInfo></signature>';
  const toc = Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?><xar><toc><creation-time>2024-01-01T00:00:00</creation-time>` +
      `<checksum style="sha1"><offset>0</offset><size>20</size></checksum>${sig}` +
      `<file id="1"><name>Distribution</name><type>file</type></file></toc></xar>`,
  );
  const z = deflateSync(toc);
  const header = Buffer.alloc(28);
  header.writeUInt32BE(opts.magic ?? 0x78617221, 0);
  header.writeUInt16BE(28, 4);
  header.writeUInt16BE(1, 6);
  header.writeBigUInt64BE(BigInt(z.length), 8);
  header.writeBigUInt64BE(BigInt(toc.length), 16);
  header.writeUInt32BE(opts.checksum ?? 1, 24);
  return Buffer.concat([header, z, randomBytes(opts.heapBytes ?? 4096)]);
}

/** POST /bootstrap as multipart (`package` file, optional `team_id`, fields in the given order). */
export async function uploadPkg(
  srv: TestServer,
  token: string | undefined,
  file: { name?: string; bytes: Buffer } | undefined,
  fields: { team_id?: string; teamFirst?: boolean; path?: string } = {},
): Promise<ApiResponse> {
  const form = new FormData();
  const addTeam = () => {
    if (fields.team_id !== undefined) form.append('team_id', fields.team_id);
  };
  if (fields.teamFirst !== false) addTeam();
  if (file) form.append('package', new Blob([new Uint8Array(file.bytes)]), file.name ?? 'bootstrap.pkg');
  if (fields.teamFirst === false) addTeam();
  const res = await fetch(`${srv.url}${fields.path ?? '/api/v1/fleet/bootstrap'}`, {
    method: 'POST',
    headers: token ? { authorization: `Bearer ${token}` } : {},
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

/** A raw GET/HEAD of the download with optional headers; the body as bytes. */
export async function fetchPkg(
  url: string,
  opts: { method?: 'GET' | 'HEAD'; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; body: Buffer }> {
  const res = await fetch(url, { method: opts.method ?? 'GET', headers: opts.headers ?? {} });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}
