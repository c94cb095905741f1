import { z } from 'zod';

/**
 * The osquery TLS request bodies, as Fleet decodes them. Fields Fleet does not read (platform_type,
 * stats, ...) are ignored; a field of the wrong JSON type is a bad request. The node key is
 * optional here so that a missing one gets osquery's 401 `node_invalid` answer, not a 400.
 */
const nodeKey = z.string().max(1024).optional();

/** osquery reports every column as a string (NULL as ''). */
const row = z.record(z.string(), z.string());

export const enrollBody = z.object({
  enroll_secret: z.string().max(1024).default(''),
  host_identifier: z.string().max(255).default(''),
  // Fleet decodes host_details as map[string]map[string]string: table name → one row.
  host_details: z.record(z.string(), row).default({}),
});
export type EnrollRequest = z.infer<typeof enrollBody>;

export const nodeKeyBody = z.object({ node_key: nodeKey });

/**
 * A distributed write. osquery (< 3.0 and for empty results) may send "" instead of a row list,
 * and statuses as numeric strings; both are accepted as Fleet accepts them.
 */
export const distributedWriteBody = z.object({
  node_key: nodeKey,
  queries: z.record(z.string().max(255), z.union([z.array(row), z.literal('')])).default({}),
  statuses: z
    .record(
      z.string(),
      z.union([
        z.number().int(),
        z
          .string()
          .regex(/^-?\d{1,9}$/)
          .transform(Number),
      ]),
    )
    .default({}),
  messages: z.record(z.string(), z.string()).default({}),
});
export type DistributedWriteRequest = z.infer<typeof distributedWriteBody>;

export const logBody = z.object({
  node_key: nodeKey,
  log_type: z.enum(['result', 'status']),
  data: z.array(z.unknown()),
});
