import type { IncomingMessage, ServerResponse } from 'node:http';

/** google.rpc status names by HTTP status, as Google's JSON errors carry them. */
const statusNames: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  409: 'ALREADY_EXISTS',
  412: 'FAILED_PRECONDITION',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  501: 'NOT_IMPLEMENTED',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

const defaultMessages: Record<number, string> = {
  400: 'Request contains an invalid argument.',
  401: 'Request had invalid authentication credentials.',
  403: 'The caller does not have permission',
  404: 'Requested entity was not found.',
  409: 'Requested entity already exists',
  429: 'Quota exceeded.',
  500: 'Internal error encountered.',
  503: 'The service is currently unavailable.',
};

export const notFoundMessage = defaultMessages[404]!;

/** An answer the stand-in gives as Google does: `{error: {code, message, status}}`. */
export class GoogleHttpError extends Error {
  constructor(
    readonly status: number,
    message?: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message ?? defaultMessages[status] ?? `HTTP ${status}`);
  }

  get body(): { error: { code: number; message: string; status: string } } {
    return {
      error: { code: this.status, message: this.message, status: statusNames[this.status] ?? 'UNKNOWN' },
    };
  }
}

/** Bodies above this are refused: nothing Flotilla sends Google comes near it. */
const maxBody = 4 * 1024 * 1024;

export async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > maxBody) throw new GoogleHttpError(413, 'Request entity too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
) {
  if (status === 304) {
    res.writeHead(304, headers).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers }).end(text);
}

export function sendError(res: ServerResponse, err: GoogleHttpError) {
  const headers: Record<string, string> =
    err.retryAfterSeconds !== undefined ? { 'retry-after': String(err.retryAfterSeconds) } : {};
  sendJson(res, err.status, err.body, headers);
}

/** AMAPI's duration strings: `3600s`, `1.5s`. */
export function parseDurationSeconds(raw: unknown): number | undefined {
  if (typeof raw !== 'string') return undefined;
  const m = /^(\d+(?:\.\d+)?)s$/.exec(raw);
  return m ? Number(m[1]) : undefined;
}

/** How many requests / deliveries the stand-in remembers: enough for any test, bounded for the load generator. */
const logLimit = 50_000;

/** Appends to a log, dropping the oldest entries (in batches) once it passes the limit. */
export function appendBounded<T>(log: T[], entry: T): void {
  log.push(entry);
  if (log.length > logLimit * 1.1) log.splice(0, log.length - logLimit);
}
