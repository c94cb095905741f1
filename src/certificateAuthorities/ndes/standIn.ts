import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import ntlmHash from '@ewsjs/ntlm-client/lib/hash.js';

/**
 * A stand-in for an NDES server's admin page (`/certsrv/mscep_admin/`), for tests and local runs:
 * Windows authentication by the NTLM handshake (NEGOTIATE, CHALLENGE, AUTHENTICATE on one
 * kept-alive connection, NTLMv2 responses checked against the configured password), and the page
 * NDES answers with, in UTF-16LE with no byte-order mark: a one-time password, or NDES's texts for
 * a full password cache or an account without enroll permission.
 */

const signature = Buffer.from('NTLMSSP\0', 'latin1');
const flagUnicode = 0x1;
const flagRequestTarget = 0x4;
const flagNtlm = 0x200;
const flagTargetTypeDomain = 0x10000;
const flagNtlm2Key = 0x80000;
const flagTargetInfo = 0x800000;

export type NdesPageMode = 'password' | 'cacheFull' | 'noPermission';

export interface NdesStandInOptions {
  /** The account allowed in: `user` (any domain) and its password. */
  username: string;
  password: string;
  /** The NetBIOS domain the server names in its CHALLENGE. */
  domain?: string;
  /** The one-time password each page shows (e.g. an upstream SCEP server's challenge). */
  nextPassword: () => string;
}

export interface NdesStandIn {
  /** The admin page's URL. */
  adminUrl: string;
  /** What the next authenticated page shows. */
  mode: NdesPageMode;
  /** Passwords handed out so far. */
  issued: string[];
  /** Requests that presented a wrong NTLM response. */
  rejected: number;
  close(): Promise<void>;
}

function utf16(s: string): Buffer {
  return Buffer.from(s, 'utf16le');
}

function challengeMessage(serverChallenge: Buffer, domain: string): Buffer {
  const target = utf16(domain);
  const info = Buffer.concat([
    Buffer.from([0x02, 0x00]),
    Buffer.from([target.length & 0xff, target.length >> 8]),
    target,
    Buffer.alloc(4),
  ]);
  const head = Buffer.alloc(48);
  signature.copy(head, 0);
  head.writeUInt32LE(2, 8);
  head.writeUInt16LE(target.length, 12);
  head.writeUInt16LE(target.length, 14);
  head.writeUInt32LE(48, 16);
  head.writeUInt32LE(
    flagUnicode | flagRequestTarget | flagNtlm | flagTargetTypeDomain | flagNtlm2Key | flagTargetInfo,
    20,
  );
  serverChallenge.copy(head, 24);
  head.writeUInt16LE(info.length, 40);
  head.writeUInt16LE(info.length, 42);
  head.writeUInt32LE(48 + target.length, 44);
  return Buffer.concat([head, target, info]);
}

function field(msg: Buffer, at: number): Buffer {
  const len = msg.readUInt16LE(at);
  const off = msg.readUInt32LE(at + 4);
  if (off + len > msg.length) throw new Error('field out of range');
  return msg.subarray(off, off + len);
}

/** Checks an AUTHENTICATE message's NTLMv2 response for the account; the user name must match. */
function authenticates(msg: Buffer, serverChallenge: Buffer, opts: NdesStandInOptions): boolean {
  if (!msg.subarray(0, 8).equals(signature) || msg.readUInt32LE(8) !== 3) return false;
  const ntResponse = field(msg, 20);
  const domain = field(msg, 28).toString('utf16le');
  const user = field(msg, 36).toString('utf16le');
  if (user.toLowerCase() !== opts.username.toLowerCase() || ntResponse.length <= 16) return false;
  // NTLMv2: HMAC-MD5 keyed by the NT hash over the upper-cased user and the domain, in UTF-16LE.
  const key = createHmac('md5', ntlmHash.createNTLMHash(opts.password))
    .update(utf16(user.toUpperCase() + domain))
    .digest();
  const proof = createHmac('md5', key)
    .update(Buffer.concat([serverChallenge, ntResponse.subarray(16)]))
    .digest();
  return timingSafeEqual(proof, ntResponse.subarray(0, 16));
}

function page(mode: NdesPageMode, password: string): string {
  const body =
    mode === 'cacheFull'
      ? '<P> The password cache is full. </P>'
      : mode === 'noPermission'
        ? '<P> You do not have sufficient permission to enroll with SCEP. </P>'
        : `<P> The enrollment challenge password is: <B> ${password} </B> <P> This password can be used only once and will expire within 60 minutes. </P>`;
  return `<HTML><Head><Title>Network Device Enrollment Service</Title></Head><Body>${body}</Body></HTML>`;
}

export async function startNdesStandIn(opts: NdesStandInOptions): Promise<NdesStandIn> {
  // The handshake's server challenge lives with the connection, as IIS keeps it.
  const pending = new WeakMap<Socket, Buffer>();
  const domain = opts.domain ?? 'FLOTILLA';
  const state = { mode: 'password' as NdesPageMode, issued: [] as string[], rejected: 0 };

  const server = http.createServer((req, res) => {
    const deny = (header: string | string[]) => {
      res.writeHead(401, { 'www-authenticate': header, 'content-length': '0' });
      res.end();
    };
    const auth = /^(NTLM|Negotiate)\s+(\S+)$/i.exec(req.headers.authorization ?? '');
    if (!auth) return deny(['Negotiate', 'NTLM']);
    const msg = Buffer.from(auth[2], 'base64');
    const type = msg.length >= 12 && msg.subarray(0, 8).equals(signature) ? msg.readUInt32LE(8) : 0;
    if (type === 1) {
      const serverChallenge = randomBytes(8);
      pending.set(req.socket, serverChallenge);
      return deny(`${auth[1]} ${challengeMessage(serverChallenge, domain).toString('base64')}`);
    }
    const serverChallenge = pending.get(req.socket);
    pending.delete(req.socket);
    let ok = false;
    try {
      ok = type === 3 && !!serverChallenge && authenticates(msg, serverChallenge, opts);
    } catch {
      ok = false;
    }
    if (!ok) {
      state.rejected++;
      return deny(['Negotiate', 'NTLM']);
    }
    let password = '';
    if (state.mode === 'password') {
      password = opts.nextPassword();
      state.issued.push(password);
    }
    // NDES answers in UTF-16LE, without a byte-order mark or a charset.
    const html = Buffer.from(page(state.mode, password), 'utf16le');
    res.writeHead(200, { 'content-type': 'text/html', 'content-length': String(html.length) });
    res.end(html);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    adminUrl: `http://127.0.0.1:${port}/certsrv/mscep_admin/`,
    get mode() {
      return state.mode;
    },
    set mode(m: NdesPageMode) {
      state.mode = m;
    },
    get issued() {
      return state.issued;
    },
    get rejected() {
      return state.rejected;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
