import type { Insertable, Kysely, Transaction } from 'kysely';
import type { ProfileLabelsTable } from './tables.js';
import type { Bool, DB } from '../../db/schema.js';

type Db = Kysely<DB> | Transaction<DB>;

/** One label reference of a profile: its name, id (null = deleted label) and mode flags. */
export interface LabelRef {
  label_name: string;
  label_id: number | null;
  exclude: boolean;
  require_all: boolean;
}

/** A label targeting row as read from any label table, keyed by its profile's uuid. */
export interface StoredLabelRow {
  uuid: string | null;
  label_name: string;
  label_id: number | null;
  exclude: Bool;
  require_all: Bool;
}

/**
 * Label rows of every platform's label table (Apple profiles, declarations, Windows profiles) as
 * the same columns, so one piece writes and reads them; only the table and key column differ.
 */
export function labelRowValues(labels: LabelRef[], now: string) {
  return labels.map((l) => ({
    label_name: l.label_name,
    label_id: l.label_id,
    exclude: l.exclude ? 1 : 0,
    require_all: l.require_all ? 1 : 0,
    created_at: now,
  }));
}

/** Groups stored label rows per profile uuid (booleans come back as 0/1, ids maybe as strings). */
export function labelRefsByProfile(rows: StoredLabelRow[]): Map<string, LabelRef[]> {
  const out = new Map<string, LabelRef[]>();
  for (const r of rows) {
    const list = out.get(r.uuid!) ?? [];
    list.push({
      label_name: r.label_name,
      label_id: r.label_id === null ? null : Number(r.label_id),
      exclude: Number(r.exclude) === 1,
      require_all: Number(r.require_all) === 1,
    });
    out.set(r.uuid!, list);
  }
  return out;
}

/**
 * The shared label table mdm_configuration_profile_labels holds Apple and Windows profiles' labels;
 * `keyColumn` says which platform's profile a row targets (the other key column stays NULL).
 */
export type ProfileLabelKey = Exclude<
  keyof ProfileLabelsTable,
  'id' | 'label_name' | 'label_id' | 'exclude' | 'require_all' | 'created_at'
>;

/** Replaces a profile's rows in mdm_configuration_profile_labels. */
export async function replaceProfileLabelRows(
  db: Db,
  keyColumn: ProfileLabelKey,
  uuid: string,
  labels: LabelRef[],
  now: string,
): Promise<void> {
  await db.deleteFrom('mdm_configuration_profile_labels').where(keyColumn, '=', uuid).execute();
  if (labels.length === 0) return;
  await db
    .insertInto('mdm_configuration_profile_labels')
    .values(
      labelRowValues(labels, now).map((v) => ({ ...v, [keyColumn]: uuid }) as Insertable<ProfileLabelsTable>),
    )
    .execute();
}

/** Label rows of these profiles in mdm_configuration_profile_labels, by label name. */
export async function selectProfileLabelRows(
  db: Db,
  keyColumn: ProfileLabelKey,
  uuids: string[],
): Promise<StoredLabelRow[]> {
  if (uuids.length === 0) return [];
  return db
    .selectFrom('mdm_configuration_profile_labels')
    .select([`${keyColumn} as uuid`, 'label_name', 'label_id', 'exclude', 'require_all'])
    .where(keyColumn, 'in', uuids)
    .orderBy('label_name')
    .execute();
}

/** Do two label lists target the same way (same labels, same modes), whatever their order? */
export function sameLabels(a: LabelRef[], b: LabelRef[]): boolean {
  const key = (l: LabelRef) => `${l.label_name}\u0000${l.label_id}\u0000${l.exclude}\u0000${l.require_all}`;
  const as = a.map(key).sort();
  const bs = b.map(key).sort();
  return as.length === bs.length && as.every((k, i) => k === bs[i]);
}
