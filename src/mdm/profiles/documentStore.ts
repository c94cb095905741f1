import type { Kysely, Transaction } from 'kysely';
import type { DB } from '../../db/schema.js';
import {
  labelRefsByProfile,
  replaceProfileLabelRows,
  selectProfileLabelRows,
  type LabelRef,
  type ProfileLabelKey,
} from './labelRows.js';
import type { TablesWithColumns } from './tables.js';

type Db = Kysely<DB> | Transaction<DB>;
const CHUNK = 500;

/** The columns every one-document-per-profile definition table has (Windows, Android). */
export interface DocumentProfileColumns {
  profile_uuid: string;
  team_id: number;
  name: string;
  checksum: string;
  created_at: string;
  uploaded_at: string;
}

/** Definition tables that hold one document per profile row. */
export type DocumentProfileTable = TablesWithColumns<keyof DocumentProfileColumns>;

/**
 * The definition SQL that platforms keeping one document per profile share (name checks, insert,
 * update, reads, labels, the definition's own rows on delete); only the table and the label key
 * column differ. A platform's store extends it with its per-host status SQL.
 */
export abstract class DocumentProfileStore<Row extends DocumentProfileColumns> {
  constructor(
    readonly db: Kysely<DB>,
    private readonly table: DocumentProfileTable,
    private readonly labelKey: ProfileLabelKey,
  ) {}

  /**
   * The database seen as holding this store's rows: Kysely cannot follow a table chosen at run
   * time, and every statement here touches only the definition table.
   */
  private defs(db: Db): Kysely<Record<string, DocumentProfileColumns>> {
    return db as unknown as Kysely<Record<string, DocumentProfileColumns>>;
  }

  /** Is `name` taken in the team by one of these profiles? (The core asks every platform.) */
  async nameInUse(teamId: number, name: string, db: Db = this.db): Promise<boolean> {
    const row = await this.defs(db)
      .selectFrom(this.table)
      .select('profile_uuid')
      .where('team_id', '=', teamId)
      .where('name', '=', name)
      .executeTakeFirst();
    return row !== undefined;
  }

  async insert(row: Row, db: Db = this.db): Promise<void> {
    await this.defs(db).insertInto(this.table).values(row).execute();
  }

  async update(uuid: string, fields: Partial<Row>, db: Db = this.db): Promise<void> {
    await this.defs(db)
      .updateTable(this.table)
      .set(fields as Partial<DocumentProfileColumns>)
      .where('profile_uuid', '=', uuid)
      .execute();
  }

  async get(uuid: string, db: Db = this.db): Promise<Row | undefined> {
    return (await this.defs(db)
      .selectFrom(this.table)
      .selectAll()
      .where('profile_uuid', '=', uuid)
      .executeTakeFirst()) as Row | undefined;
  }

  async getMany(uuids: string[], db: Db = this.db): Promise<Row[]> {
    const out: Row[] = [];
    for (let i = 0; i < uuids.length; i += CHUNK) {
      const rows = await this.defs(db)
        .selectFrom(this.table)
        .selectAll()
        .where('profile_uuid', 'in', uuids.slice(i, i + CHUNK))
        .execute();
      out.push(...(rows as Row[]));
    }
    return out;
  }

  async ofTeam(teamId: number, db: Db = this.db): Promise<Row[]> {
    return (await this.defs(db)
      .selectFrom(this.table)
      .selectAll()
      .where('team_id', '=', teamId)
      .orderBy('name')
      .execute()) as Row[];
  }

  async replaceLabels(uuid: string, labels: LabelRef[], now: string, db: Db = this.db): Promise<void> {
    await replaceProfileLabelRows(db, this.labelKey, uuid, labels, now);
  }

  async labelsFor(uuids: string[], db: Db = this.db): Promise<Map<string, LabelRef[]>> {
    return labelRefsByProfile(await selectProfileLabelRows(db, this.labelKey, uuids));
  }

  /** The last step of deleting a definition (after its host rows): its labels, then its row. */
  protected async deleteDefinitionRows(uuid: string, db: Db): Promise<void> {
    await db.deleteFrom('mdm_configuration_profile_labels').where(this.labelKey, '=', uuid).execute();
    await this.defs(db).deleteFrom(this.table).where('profile_uuid', '=', uuid).execute();
  }
}
