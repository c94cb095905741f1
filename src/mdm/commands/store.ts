import { sql, type Kysely, type RawBuilder, type SelectQueryBuilder } from 'kysely';
import type { DB } from '../../db/schema.js';
import type { CommandListRow, MdmHost } from '../platform.js';

export type CommandOrderKey =
  'updated_at' | 'request_type' | 'hostname' | 'status' | 'command_uuid' | 'host_uuid';

export interface CommandListOrder {
  orderKey: CommandOrderKey;
  desc: boolean;
  limit?: number;
  offset?: number;
}

/** SQL of the platform-neutral commands API: the hosts a request names, and the one list. */
export class CommandStore {
  constructor(private readonly db: Kysely<DB>) {}

  /** Hosts by UUID (those that do not exist are absent). */
  async hostsByUuid(uuids: string[]): Promise<MdmHost[]> {
    if (uuids.length === 0) return [];
    const rows = await this.db
      .selectFrom('hosts')
      .select(['id', 'uuid', 'platform', 'team_id', 'hostname', 'computer_name'])
      .where('uuid', 'in', uuids)
      .execute();
    return rows.map((r) => ({
      ...r,
      id: Number(r.id),
      team_id: r.team_id === null ? null : Number(r.team_id),
    }));
  }

  /**
   * Conditions on the host (alias `h`) every platform's rows share: team scope and the host
   * identifier (UUID, serial, hostname or computer name).
   */
  hostConditions(f: { visibleTeams: 'all' | number[]; hostIdentifier?: string }): RawBuilder<boolean>[] {
    const out: RawBuilder<boolean>[] = [];
    if (f.visibleTeams !== 'all') {
      const teams = f.visibleTeams;
      out.push(teams.length === 0 ? sql<boolean>`1 = 0` : sql<boolean>`h.team_id in (${sql.join(teams)})`);
    }
    if (f.hostIdentifier) {
      const id = f.hostIdentifier;
      out.push(
        sql<boolean>`(h.uuid = ${id} or h.hardware_serial = ${id} or h.hostname = ${id} or h.computer_name = ${id})`,
      );
    }
    return out;
  }

  /**
   * Every platform's rows in one list: a UNION ALL, sorted and paged as one so pages are stable
   * across platforms (ties broken by command UUID, then host UUID).
   */
  /** How many rows the whole list has (every page): `count` of `GET /commands`. */
  async count(parts: SelectQueryBuilder<DB, any, CommandListRow>[]): Promise<number> {
    if (parts.length === 0) return 0;
    let all = parts[0];
    for (const p of parts.slice(1)) all = all.unionAll(p);
    const r = await this.db
      .selectFrom(all.as('u'))
      .select((eb) => eb.fn.countAll().as('n'))
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  async list(
    parts: SelectQueryBuilder<DB, any, CommandListRow>[],
    o: CommandListOrder,
  ): Promise<CommandListRow[]> {
    if (parts.length === 0) return [];
    let all = parts[0];
    for (const p of parts.slice(1)) all = all.unionAll(p);
    let q = this.db
      .selectFrom(all.as('u'))
      .selectAll()
      .orderBy(o.orderKey, o.desc ? 'desc' : 'asc')
      .orderBy('command_uuid')
      .orderBy('host_uuid');
    if (o.limit !== undefined) q = q.limit(o.limit).offset(o.offset ?? 0);
    const rows = await q.execute();
    return rows.map((r) => ({ ...r, team_id: r.team_id === null ? null : Number(r.team_id) }));
  }
}
