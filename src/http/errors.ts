import { randomUUID } from 'node:crypto';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ZodError } from 'zod';
import { isForeignKeyViolation, isUniqueViolation } from '../db/dialect.js';

export interface ErrorDetail {
  name: string;
  reason: string;
}

/** An error with an HTTP status and Fleet's error body. Services throw these; routes let them pass. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
    readonly errors: ErrorDetail[] = [{ name: 'base', reason: message }],
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

export const badRequest = (reason: string, name = 'base') =>
  new HttpError(400, 'Bad request', [{ name, reason }]);
export const invalid = (reason: string, name = 'base') =>
  new HttpError(422, 'Validation Failed', [{ name, reason }]);
export const unauthenticated = (reason = 'Authentication required') =>
  new HttpError(401, 'Authentication Failed', [{ name: 'base', reason }]);
export const forbidden = (reason = 'forbidden') =>
  new HttpError(403, 'forbidden', [{ name: 'base', reason }]);
export const notFound = (what = 'Resource') =>
  new HttpError(404, 'Resource Not Found', [
    { name: 'base', reason: `${what} was not found in the datastore` },
  ]);
export const alreadyExists = (reason: string) =>
  new HttpError(409, 'Resource Already Exists', [{ name: 'base', reason }]);
export const conflict = (reason: string) => new HttpError(409, 'Conflict', [{ name: 'base', reason }]);
/** A rate limit was hit: 429 with `Retry-After`, worded as Fleet words it. */
export const tooManyRequests = (retryAfterSeconds: number) => {
  const reason = `limit exceeded, retry after: ${retryAfterSeconds}s`;
  return new HttpError(429, reason, [{ name: 'base', reason }], { 'retry-after': String(retryAfterSeconds) });
};

function zodToDetails(err: ZodError): ErrorDetail[] {
  return err.issues.map((i) => {
    if (i.code === 'unrecognized_keys') {
      return { name: i.keys.join(','), reason: `unsupported key provided: "${i.keys.join('", "')}"` };
    }
    return { name: i.path.length ? i.path.join('.') : 'base', reason: i.message };
  });
}

/** Maps every error a route can raise onto Fleet's error body and status codes. */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) => {
    const uuid = randomUUID();
    let status = 500;
    let message = 'Internal Server Error';
    let errors: ErrorDetail[] = [{ name: 'base', reason: 'internal error' }];
    const fe = error as FastifyError;
    if (error instanceof HttpError) {
      status = error.statusCode;
      message = error.message;
      errors = error.errors;
      reply.headers(error.headers);
    } else if (error instanceof ZodError) {
      const unknownKey = error.issues.some((i) => i.code === 'unrecognized_keys');
      status = unknownKey ? 400 : 422;
      message = unknownKey ? 'Bad request' : 'Validation Failed';
      errors = zodToDetails(error);
    } else if (fe.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      status = 413;
      message = 'Request Entity Too Large';
      errors = [
        {
          name: 'base',
          reason: `request body exceeds the max size limit of ${request.routeOptions.bodyLimit ?? 0} bytes`,
        },
      ];
    } else if (fe.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') {
      status = 415;
      message = 'Unsupported Media Type';
      errors = [{ name: 'base', reason: fe.message }];
    } else if (fe.statusCode && fe.statusCode >= 400 && fe.statusCode < 500) {
      // Body parse errors (bad JSON, empty body) and other client errors raised by Fastify.
      status = 400;
      message = 'Bad request';
      errors = [{ name: 'base', reason: fe.message }];
    } else if (isUniqueViolation(error)) {
      status = 409;
      message = 'Resource Already Exists';
      errors = [{ name: 'base', reason: 'a resource with this identifier already exists' }];
    } else if (isForeignKeyViolation(error)) {
      status = 422;
      message = 'Validation Failed';
      errors = [{ name: 'base', reason: 'a referenced resource does not exist' }];
    }
    if (status >= 500) request.log.error({ err: error, uuid }, 'request failed');
    else request.log.info({ uuid, status, reason: errors[0]?.reason }, 'request rejected');
    void reply.status(status).send({ message, errors, uuid });
  });

  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({
      message: 'Resource Not Found',
      errors: [{ name: 'base', reason: `no route for ${request.method} ${request.url.split('?')[0]}` }],
      uuid: randomUUID(),
    });
  });
}
