/**
 * The console's only way to the server: the admin API, with the session's Bearer token. Errors
 * come back as ApiError carrying Fleet's error body, so every page can show the server's words.
 */

const tokenKey = 'flotilla.token';

export const apiPrefix = '/api/latest/fleet';

export function storedToken(): string | null {
  return localStorage.getItem(tokenKey);
}

export function storeToken(token: string | null) {
  if (token) localStorage.setItem(tokenKey, token);
  else localStorage.removeItem(tokenKey);
}

/** Fleet's REST error body. */
export interface FleetErrorBody {
  message?: string;
  errors?: { name: string; reason: string }[];
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: FleetErrorBody,
  ) {
    super(describeError(status, body));
  }
}

/** The server's own words for a failure: the reasons (which say what is wrong), else the message. */
export function describeError(status: number, body: FleetErrorBody): string {
  const reasons = (body.errors ?? []).map((e) => e.reason).filter((r) => r && r !== body.message);
  const message = body.message || `Request failed (HTTP ${status})`;
  return reasons.length ? `${message}: ${reasons.join('; ')}` : message;
}

/** Called when the session is gone (401 with a token): the app shows the login page. */
let onSessionLost: (() => void) | undefined;
export function whenSessionLost(fn: () => void) {
  onSessionLost = fn;
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export function withQuery(path: string, query?: Query): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) {
    if (v !== undefined && v !== null && v !== '') qs.set(k, String(v));
  }
  const s = qs.toString();
  return s ? `${path}?${s}` : path;
}

interface RequestOptions {
  query?: Query;
  /** A JSON body, or FormData for uploads. */
  body?: unknown;
  /** Return the raw Response (downloads). */
  raw?: boolean;
}

async function request<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
  const headers: Record<string, string> = {};
  const token = storedToken();
  if (token) headers.authorization = `Bearer ${token}`;
  let body: BodyInit | undefined;
  if (opts.body instanceof FormData) body = opts.body;
  else if (opts.body !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.body);
  }
  const url = withQuery(path.startsWith('/api/') ? path : `${apiPrefix}${path}`, opts.query);
  const res = await fetch(url, { method, headers, body });
  if (!res.ok) {
    let errBody: FleetErrorBody = {};
    try {
      errBody = (await res.json()) as FleetErrorBody;
    } catch {
      errBody = { message: res.statusText };
    }
    // Only the first of several calls refused together reports the loss (the token is gone after it).
    if (res.status === 401 && token && storedToken() === token) {
      storeToken(null);
      onSessionLost?.();
    }
    throw new ApiError(res.status, errBody);
  }
  if (opts.raw) return res as unknown as T;
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

export const api = {
  get: <T>(path: string, query?: Query) => request<T>('GET', path, { query }),
  post: <T>(path: string, body?: unknown, query?: Query) => request<T>('POST', path, { body, query }),
  patch: <T>(path: string, body?: unknown) => request<T>('PATCH', path, { body }),
  put: <T>(path: string, body?: unknown) => request<T>('PUT', path, { body }),
  delete: <T>(path: string, body?: unknown) => request<T>('DELETE', path, { body }),
  /** The raw response, for files the admin downloads. */
  download: (path: string, query?: Query) => request<Response>('GET', path, { query, raw: true }),
};
