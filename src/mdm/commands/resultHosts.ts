import type { Kysely, Transaction } from 'kysely';
import type { DB } from '../../db/schema.js';

/** A host's name and team as a row of `GET /commands/results` shows them. */
export interface ResultHost {
  hostname: string;
  team_id: number | null;
}

/**
 * Name and team of hosts by UUID, for the rows of `GET /commands/results`: the same lookup for
 * every platform whose command rows name hosts by UUID.
 */
export async function resultHostsByUuid(
  db: Kysely<DB> | Transaction<DB>,
  uuids: string[],
): Promise<Map<string, ResultHost>> {
  if (uuids.length === 0) return new Map();
  const rows = await db
    .selectFrom('hosts')
    .select(['uuid', 'hostname', 'team_id'])
    .where('uuid', 'in', uuids)
    .execute();
  return new Map(
    rows.map((r) => [
      r.uuid,
      { hostname: r.hostname, team_id: r.team_id === null ? null : Number(r.team_id) },
    ]),
  );
}
