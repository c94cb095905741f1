import type { TestServer } from './testServer.js';

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
  text: string;
}

/** A small JSON client for the admin API over real HTTP. */
export async function api<T = any>(
  srv: TestServer | string,
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; rawBody?: string | Buffer; headers?: Record<string, string> } = {},
): Promise<ApiResponse<T>> {
  const base = typeof srv === 'string' ? srv : srv.url;
  const headers: Record<string, string> = { ...(opts.headers ?? {}) };
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  let body: string | Uint8Array | undefined;
  if (opts.rawBody !== undefined)
    body = typeof opts.rawBody === 'string' ? opts.rawBody : new Uint8Array(opts.rawBody);
  else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers['content-type'] = 'application/json';
  }
  const res = await fetch(base + path, { method, headers, body: body as BodyInit | undefined });
  const text = await res.text();
  let parsed: any = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON; leave as text
  }
  return { status: res.status, body: parsed as T, headers: res.headers, text };
}

export const adminPassword = 'admin-password-1!';

/** Runs first-time setup and returns the admin's token. */
export async function setupAdmin(srv: TestServer): Promise<string> {
  const res = await api(srv, 'POST', '/api/v1/setup', {
    body: {
      admin: { email: 'admin@example.com', name: 'Admin', password: adminPassword },
      org_info: { org_name: 'Acme' },
    },
  });
  if (res.status !== 200) throw new Error(`setup failed: ${res.status} ${res.text}`);
  return res.body.token as string;
}
