import { AmapiError } from '../../clients/amapi/types.js';
import { HttpError } from '../../http/errors.js';

/**
 * A failed Google call as the admin sees it: 502, naming the call and Google's status and message.
 * Other failures (network, timeouts) say only that Google could not be reached: their messages can
 * carry request URLs, and a signup callback URL holds a secret.
 */
export function googleFailure(err: unknown): HttpError {
  const reason =
    err instanceof AmapiError
      ? `Google refused the request: ${err.message}`
      : 'Google could not be reached; try again later';
  return new HttpError(502, 'Bad Gateway', [{ name: 'base', reason }]);
}

/** What may be logged about a failed Google call (never its message when it is not Google's answer). */
export function googleErrorLog(err: unknown): Record<string, unknown> {
  if (err instanceof AmapiError) return { call: err.call, status: err.status, google: err.googleMessage };
  const e = err as { name?: string; code?: string };
  return { error: e?.name ?? 'Error', code: e?.code };
}
