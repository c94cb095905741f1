import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AgentBadRequest, jsonDecoderError } from './errors.js';

/**
 * Reading agent request bodies the way Fleet's Go decoder does: the body is JSON whatever its
 * content type, unknown keys are ignored, a JSON `null` is the zero value, and a value of the wrong
 * type fails the whole request with 400 "json decoder error" before anything is looked up.
 */

/** A string field: absent and null read as ''. */
export const goString = z
  .string()
  .nullish()
  .transform((v) => v ?? '');

/** Fleet stores these in VARCHAR(255) columns; a longer value is refused rather than cut. */
export const maxFieldLength = 255;

/** Parses `body` against `schema`; any mismatch is Fleet's decoder error. */
export function decodeBody<T extends z.ZodType>(schema: T, body: unknown): z.output<T> {
  if (body === undefined) throw new AgentBadRequest('Expected JSON Body');
  const parsed = schema.safeParse(body === null ? {} : body);
  if (!parsed.success) throw jsonDecoderError();
  return parsed.data;
}

/** Refuses fields longer than the column they go to. */
export function checkLengths(values: Record<string, string>): void {
  for (const [name, v] of Object.entries(values)) {
    if (v.length > maxFieldLength) throw new AgentBadRequest(`${name} exceeds ${maxFieldLength} characters`);
  }
}

/**
 * Makes every content type in this plugin scope parse as JSON (application/json keeps Fastify's own
 * parser), as Fleet decodes agent bodies without looking at Content-Type.
 */
export function acceptAnyContentTypeAsJson(scope: FastifyInstance): void {
  scope.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body);
    if (!text.trim()) return done(null, undefined);
    try {
      done(null, JSON.parse(text));
    } catch {
      done(jsonDecoderError(), undefined);
    }
  });
}
