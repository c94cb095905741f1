import type { FastifyRequest } from 'fastify';
import { badRequest } from '../http/errors.js';
import { boundedInt, maxId } from '../http/numbers.js';

/** An id path parameter (default `:id`): decimal digits, 1 to `maxId`; anything else is a 400. */
export function idParam(req: FastifyRequest, name = 'id'): number {
  return boundedInt((req.params as Record<string, string | undefined>)[name], name, 1, maxId);
}

/** A boolean query flag as Fleet sends them ("true"/"false"/"1"/"0"). */
export function queryFlag(value: unknown, name: string): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw badRequest(`${name} must be true or false`, name);
}
