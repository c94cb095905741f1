import type { FastifyRequest } from 'fastify';
import { badRequest } from '../http/errors.js';

/** A positive integer path parameter (default `:id`); anything else is a 400. */
export function idParam(req: FastifyRequest, name = 'id'): number {
  const raw = (req.params as Record<string, string | undefined>)[name];
  const n = Number(raw);
  if (!raw || !/^\d+$/.test(raw) || !Number.isSafeInteger(n) || n < 1)
    throw badRequest(`${name} must be a positive integer`, name);
  return n;
}

/** A boolean query flag as Fleet sends them ("true"/"false"/"1"/"0"). */
export function queryFlag(value: unknown, name: string): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw badRequest(`${name} must be true or false`, name);
}
