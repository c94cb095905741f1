import { sql, type RawBuilder } from 'kysely';

/**
 * What differs between the kinds of profile-like entities the manager reconciles (Apple profiles,
 * DDM declarations; Windows plugs in its own): the definition, label and per-host status tables and
 * the column whose change means "content changed". The SQL in reconcileStore.ts is written once
 * against these names.
 */
export interface EntityTables {
  /** Definition table, e.g. mdm_apple_configuration_profiles. */
  defTable: string;
  /** Key column of the definition table (also the key column in the host status table). */
  defKey: string;
  /** Label targeting table and its column pointing at the definition. */
  labelTable: string;
  labelKey: string;
  /** Per-host status table; `hostKey` names the definition key there. */
  hostTable: string;
  hostKey: string;
  /** Definition column copied to the host row at queue time; a difference means "edited". */
  contentCol: string;
  /** Identifier / name columns of the definition and their copies on host rows. */
  defIdentifierCol: string;
  hostIdentifierCol: string;
  hostNameCol: string;
  /** Platforms (hosts.platform) that take this entity, and the SQL join proving MDM enrollment. */
  platforms: string[];
  enrollmentJoin: RawBuilder<unknown>;
  /** False when host rows carry no per-row command (the entity travels another way, e.g. DDM). */
  commandColumns?: boolean;
  /** Primary key order of the host status table: (definition, host) or (host, definition, the default). */
  statusKeyOrder?: 'definition_host' | 'host_definition';
  /**
   * A further condition every desired (host `h`, definition `p`) pair must meet, e.g. a profile
   * meant for one of the entity's platforms only.
   */
  pairFilter?: RawBuilder<unknown>;
}

/**
 * Does definition `p` apply to host `h`? (`cur` is the host's current status row, possibly absent.)
 *
 * - No label rows: applies to every host of the team.
 * - include-all: every label holds; include-any: at least one holds; exclude-any: none holds.
 * - A label whose membership is not yet known for the host (dynamic label, no membership row)
 *   preserves the current state: it counts as "holds" for an include only if the profile is already
 *   installed, and blocks through an exclude only if it is not. So it never causes a removal and
 *   never lets an excluded profile through to a new host.
 * - A broken label (deleted, label_id NULL) freezes the profile: it stays where it is installed
 *   and goes nowhere new.
 */
export function appliesToHost(t: EntityTables): RawBuilder<unknown> {
  const lt = sql.table(t.labelTable);
  const lk = sql.ref(`l.${t.labelKey}`);
  const bk = sql.ref(`bl.${t.labelKey}`);
  const pk = sql.ref(`p.${t.defKey}`);
  const exclude = sql.ref('l.exclude');
  const onHost = sql`COALESCE(cur.operation_type, '') = 'install'`;
  const member = sql`COALESCE(lm.is_member, 0) = 1`;
  const unknown = sql`(lm.host_id IS NULL AND lb.label_membership_type = 0)`;
  const labelRows = sql`FROM ${lt} l JOIN labels lb ON lb.id = l.label_id
      LEFT JOIN label_membership lm ON lm.label_id = l.label_id AND lm.host_id = h.id
      WHERE ${lk} = ${pk}`;
  const broken = sql`EXISTS (SELECT 1 FROM ${lt} bl WHERE ${bk} = ${pk} AND bl.label_id IS NULL)`;
  return sql`(
    (${broken} AND ${onHost})
    OR (NOT ${broken}
      AND NOT EXISTS (SELECT 1 ${labelRows} AND ${exclude} = 0 AND l.require_all = 1
        AND NOT (${member} OR (${unknown} AND ${onHost})))
      AND (NOT EXISTS (SELECT 1 FROM ${lt} l WHERE ${lk} = ${pk} AND ${exclude} = 0 AND l.require_all = 0)
        OR EXISTS (SELECT 1 ${labelRows} AND ${exclude} = 0 AND l.require_all = 0
          AND (${member} OR (${unknown} AND ${onHost}))))
      AND NOT EXISTS (SELECT 1 ${labelRows} AND ${exclude} = 1
        AND (${member} OR (${unknown} AND NOT ${onHost})))
    )
  )`;
}

/** Host and team gate: the team's profiles (team_id 0 = hosts without a team). */
export const sameTeam = sql`p.team_id = COALESCE(h.team_id, 0)`;
