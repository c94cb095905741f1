import { badRequest } from './errors.js';

/** The highest `page` a list takes (0-based). */
export const maxPage = 1_000_000;
/** The highest `per_page` a list takes; page × per_page stays far below 2^53 and SQL's limits. */
export const maxPerPage = 1_000_000;
/** Ids of hosts, teams, labels and users are INT columns (signed on MySQL): at most 2^31 - 1. */
export const maxId = 2_147_483_647;

/**
 * A whole number from a query string, path segment or form field: plain decimal digits only (no
 * sign, exponent, fraction, hex or spaces) within [min, max]. Anything else is a 400 naming the
 * parameter. A JSON number is accepted when it is an integer in range.
 */
export function boundedInt(raw: unknown, name: string, min: number, max: number): number {
  const n =
    typeof raw === 'number'
      ? raw
      : typeof raw === 'string' && /^[0-9]+$/.test(raw)
        ? Number(raw)
        : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw badRequest(`${name} must be an integer from ${min} to ${max}`, name);
  }
  return n;
}
