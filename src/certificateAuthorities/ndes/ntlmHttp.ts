import http from 'node:http';
import https from 'node:https';
import ntlm from '@ewsjs/ntlm-client';

/** NDES admin pages are a few KB; this bounds what a server can make us buffer. */
const maxBodyBytes = 1024 * 1024;

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

export interface NtlmCredentials {
  /** `user`, or `DOMAIN\user` (the domain then goes into the NTLM messages). */
  username: string;
  password: string;
}

function authSchemes(headers: http.IncomingHttpHeaders): string[] {
  const raw = headers['www-authenticate'];
  const values = Array.isArray(raw) ? raw : raw ? raw.split(/,(?=\s*(?:NTLM|Negotiate|Basic)\b)/i) : [];
  return values.map((v) => v.trim());
}

function splitDomain(username: string): { user: string; domain: string } {
  const i = username.indexOf('\\');
  return i < 0
    ? { user: username, domain: '' }
    : { user: username.slice(i + 1), domain: username.slice(0, i) };
}

/**
 * GET with Windows authentication as an NDES admin page wants it: first anonymously; on a 401
 * offering NTLM (or Negotiate), the NTLM handshake on one kept-alive connection (the server ties
 * the handshake to it); on a 401 offering only Basic, Basic. Credentials never leave this function.
 */
export async function ntlmGet(url: string, creds: NtlmCredentials, timeoutMs: number): Promise<HttpAnswer> {
  const target = new URL(url);
  const lib = target.protocol === 'https:' ? https : http;
  // One socket for the whole exchange: NTLM authenticates the connection, not the request.
  const agent = new lib.Agent({ keepAlive: true, maxSockets: 1 });
  const deadline = Date.now() + timeoutMs;

  const get = (authorization?: string) =>
    new Promise<HttpAnswer>((resolve, reject) => {
      const req = lib.request(
        target,
        {
          method: 'GET',
          agent,
          headers: authorization ? { authorization } : {},
          timeout: Math.max(1, deadline - Date.now()),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > maxBodyBytes) req.destroy(new Error('answer too large'));
            else chunks.push(c);
          });
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', reject);
      req.end();
    });

  try {
    const first = await get();
    if (first.status !== 401) return first;
    const schemes = authSchemes(first.headers);
    const ntlmScheme = schemes.find((s) => /^(NTLM|Negotiate)\b/i.test(s))?.split(/\s/)[0];
    if (!ntlmScheme) {
      if (!schemes.some((s) => /^Basic\b/i.test(s))) return first;
      const basic = Buffer.from(`${creds.username}:${creds.password}`, 'utf8').toString('base64');
      return await get(`Basic ${basic}`);
    }
    const { user, domain } = splitDomain(creds.username);
    const type1 = ntlm.createType1Message('', domain).replace(/^NTLM /, '');
    const challenged = await get(`${ntlmScheme} ${type1}`);
    const offer = authSchemes(challenged.headers)
      .map((s) => /^(?:NTLM|Negotiate)\s+(\S+)/i.exec(s)?.[1])
      .find(Boolean);
    if (challenged.status !== 401 || !offer) return challenged;
    const type2 = ntlm.decodeType2Message(offer);
    const type3 = ntlm
      .createType3Message(type2, user, creds.password, '', domain || undefined)
      .replace(/^NTLM /, '');
    return await get(`${ntlmScheme} ${type3}`);
  } finally {
    agent.destroy();
  }
}
