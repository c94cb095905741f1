import { randomUUID } from 'node:crypto';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HttpError } from '../../http/errors.js';

/**
 * Fleet's error answers for the agent endpoints (orbit and Fleet Desktop). Fleet encodes them all
 * the same way: `{"message", "errors": [{"name": "base", "reason"}], "uuid"}`, where the message of
 * an authentication error is fixed and the real reason is only logged.
 */

/** Fleet's AuthRequiredError (a missing or unknown orbit node key or device token): 401. */
export class AgentAuthError extends HttpError {
  constructor(
    /** Logged only; the answer never says why. */
    readonly internal: string,
  ) {
    super(401, 'Authentication required', [{ name: 'base', reason: 'Authentication required' }]);
  }
}

/**
 * Fleet's AuthFailedError (an unknown enroll secret): 401. The body also says `node_invalid: true`,
 * as osquery's enroll refusal does; Fleet's orbit enroll body does not, fleetd only reads the
 * status, and Flotilla's earlier answer (which tests and tools rely on) had it.
 */
export class AgentAuthFailedError extends HttpError {
  readonly extraBody = { node_invalid: true };
  constructor(readonly internal: string) {
    super(401, 'Authentication failed', [{ name: 'base', reason: 'Authentication failed' }]);
  }
}

/** Fleet's BadRequestError: 400 "Bad request" with the public reason (empty when only logged). */
export class AgentBadRequest extends HttpError {
  constructor(
    reason: string,
    /** Logged only (Fleet's InternalErr). */
    readonly internal = '',
  ) {
    super(400, 'Bad request', [{ name: 'base', reason }]);
  }
}

/** What Fleet answers when a body does not decode into the request (bad JSON, wrong types). */
export const jsonDecoderError = () => new AgentBadRequest('json decoder error');

/** Fleet's messages for "this MDM is off" (400, message and reason alike). */
export const appleMdmNotConfiguredMessage =
  "MDM features aren't turned on in Fleet. For more information about setting up MDM, please visit https://fleetdm.com/docs/using-fleet";
export const windowsMdmNotConfiguredMessage =
  "Windows MDM isn't turned on. For more information about setting up MDM, please visit https://fleetdm.com/learn-more-about/windows-mdm";

export const mdmNotConfigured = (message: string) =>
  new HttpError(400, message, [{ name: 'base', reason: message }]);

/**
 * Fastify's own refusals, in Fleet's words: a body that is not JSON is a "json decoder error", an
 * empty one "Expected JSON Body"; a too-large body keeps its 413.
 */
function fromFastify(err: FastifyError): HttpError | undefined {
  switch (err.code) {
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return new AgentBadRequest('Expected JSON Body');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return jsonDecoderError();
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new HttpError(413, 'Request Entity Too Large', [
        { name: 'base', reason: 'request body exceeds the max size limit' },
      ]);
  }
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500 && err.statusCode !== 429) {
    return jsonDecoderError();
  }
  return undefined;
}

/**
 * Installs the agent error form on a plugin scope and logs each refusal once, as `<what> request
 * rejected` with the status and the internal reason. Nothing from the body, the URL or the
 * headers is logged: they carry node keys, device tokens and disk keys.
 */
export function installAgentErrorHandler(
  scope: FastifyInstance,
  what: 'orbit' | 'device',
  onFailure?: (req: FastifyRequest, status: number) => Promise<void>,
): void {
  // Counting a failure must not turn the refusal into a 500 (the rate-limit table may be down too).
  const countFailure = async (req: FastifyRequest, status: number) => {
    try {
      await onFailure?.(req, status);
    } catch (err) {
      req.log.error({ err }, `${what} failure not counted`);
    }
  };
  scope.setErrorHandler(async (error: FastifyError | Error, req: FastifyRequest, reply: FastifyReply) => {
    const uuid = randomUUID();
    const http = error instanceof HttpError ? error : fromFastify(error as FastifyError);
    if (!http) {
      // A database error may quote the statement or the duplicate value (a node key, a token
      // hash): only its kind and code are logged.
      const e = error as { code?: unknown; sql?: unknown; sqlMessage?: unknown };
      const fromDb =
        e.sql !== undefined || e.sqlMessage !== undefined || /^(ER_|SQLITE_)/.test(String(e.code ?? ''));
      req.log.error(
        fromDb ? { uuid, err_type: error.name, err_code: e.code } : { uuid, err: error },
        `${what} request failed`,
      );
      await countFailure(req, 500);
      return reply.status(500).send({
        message: 'Internal Server Error',
        errors: [{ name: 'base', reason: 'internal error' }],
        uuid,
      });
    }
    const internal = (http as { internal?: string }).internal;
    req.log.info(
      { uuid, status: http.statusCode, reason: internal || http.errors[0]?.reason },
      `${what} request rejected`,
    );
    await countFailure(req, http.statusCode);
    return reply
      .status(http.statusCode)
      .headers(http.headers)
      .send({
        message: http.message,
        errors: http.errors,
        uuid,
        ...(http as { extraBody?: Record<string, unknown> }).extraBody,
      });
  });
}
