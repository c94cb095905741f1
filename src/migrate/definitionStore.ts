import type { Kysely, Transaction } from 'kysely';
import { insertIgnore } from '../db/dialect.js';
import type { DB } from '../db/schema.js';
import type { AppleDeclarationsTable, AppleProfilesTable } from '../apple/profiles/tables.js';
import type { WindowsProfilesTable } from '../windows/profiles/tables.js';
import type { Insertable } from 'kysely';

/** A definition this server already has: what an imported one could collide with. */
export interface ExistingDefinition {
  uuid: string;
  teamId: number;
  identifier: string;
  name: string;
  /** Checksum (profiles) or token (declarations). */
  content: string;
}

export interface ExistingLabel {
  id: number;
  name: string;
  labelType: number;
  membershipType: number;
  query: string;
}

/** A label reference to write: label ids are looked up by name in the same transaction. */
export interface LabelRefByName {
  labelName: string;
  broken: boolean;
  exclude: boolean;
  requireAll: boolean;
}

export interface DefinitionWrites {
  labels: {
    name: string;
    description: string;
    query: string;
    platform: string;
    membershipType: number;
    createdAt: string;
  }[];
  apple: { row: Insertable<AppleProfilesTable>; labels: LabelRefByName[] }[];
  windows: { row: Insertable<WindowsProfilesTable>; labels: LabelRefByName[] }[];
  declarations: { row: Insertable<AppleDeclarationsTable>; labels: LabelRefByName[] }[];
}

/** Labels and profile definitions an import reads and writes (definitions are few: read whole). */
export class DefinitionStore {
  constructor(private readonly db: Kysely<DB>) {}

  async labels(): Promise<ExistingLabel[]> {
    const rows = await this.db
      .selectFrom('labels')
      .select(['id', 'name', 'label_type', 'label_membership_type', 'query'])
      .execute();
    return rows.map((r) => ({
      id: Number(r.id),
      name: r.name,
      labelType: Number(r.label_type),
      membershipType: Number(r.label_membership_type),
      query: r.query,
    }));
  }

  async definitions(): Promise<{
    apple: ExistingDefinition[];
    windows: ExistingDefinition[];
    declarations: ExistingDefinition[];
  }> {
    const apple = await this.db
      .selectFrom('mdm_apple_configuration_profiles')
      .select(['profile_uuid as uuid', 'team_id', 'identifier', 'name', 'checksum as content'])
      .execute();
    const windows = await this.db
      .selectFrom('mdm_windows_configuration_profiles')
      .select(['profile_uuid as uuid', 'team_id', 'name', 'checksum as content'])
      .execute();
    const declarations = await this.db
      .selectFrom('mdm_apple_declarations')
      .select(['declaration_uuid as uuid', 'team_id', 'identifier', 'name', 'token as content'])
      .execute();
    const norm = (r: {
      uuid: string;
      team_id: number;
      name: string;
      content: string;
      identifier?: string;
    }) => ({
      uuid: r.uuid,
      teamId: Number(r.team_id),
      identifier: r.identifier ?? r.name,
      name: r.name,
      content: r.content,
    });
    return { apple: apple.map(norm), windows: windows.map(norm), declarations: declarations.map(norm) };
  }

  /**
   * Writes labels and definitions the target lacks, with their label rows, in one transaction.
   * Rows already there are left as they are (a re-run writes nothing). Returns every label id by name.
   */
  async write(w: DefinitionWrites, now: string): Promise<Map<string, number>> {
    return this.db.transaction().execute(async (trx) => {
      await insertIgnore(
        trx,
        'labels',
        w.labels.map((l) => ({
          name: l.name,
          description: l.description,
          query: l.query,
          platform: l.platform,
          label_type: 0,
          label_membership_type: l.membershipType,
          author_id: null,
          created_at: l.createdAt,
          updated_at: now,
        })),
      );
      const ids = new Map(
        (await trx.selectFrom('labels').select(['id', 'name']).execute()).map((r) => [r.name, Number(r.id)]),
      );
      const labelRows = (refs: LabelRefByName[]) =>
        refs.map((l) => ({
          label_name: l.labelName,
          label_id: l.broken ? null : (ids.get(l.labelName) ?? null),
          exclude: l.exclude ? 1 : 0,
          require_all: l.requireAll ? 1 : 0,
          created_at: now,
        }));
      if (w.apple.length)
        await insertIgnore(
          trx,
          'mdm_apple_configuration_profiles',
          w.apple.map((p) => p.row),
        );
      if (w.windows.length)
        await insertIgnore(
          trx,
          'mdm_windows_configuration_profiles',
          w.windows.map((p) => p.row),
        );
      if (w.declarations.length)
        await insertIgnore(
          trx,
          'mdm_apple_declarations',
          w.declarations.map((p) => p.row),
        );
      await this.insertLabelRows(trx, 'mdm_configuration_profile_labels', [
        ...w.apple.flatMap((p) =>
          labelRows(p.labels).map((r) => ({
            ...r,
            apple_profile_uuid: p.row.profile_uuid,
            windows_profile_uuid: null,
          })),
        ),
        ...w.windows.flatMap((p) =>
          labelRows(p.labels).map((r) => ({
            ...r,
            apple_profile_uuid: null,
            windows_profile_uuid: p.row.profile_uuid,
          })),
        ),
      ]);
      await this.insertLabelRows(
        trx,
        'mdm_declaration_labels',
        w.declarations.flatMap((p) =>
          labelRows(p.labels).map((r) => ({ ...r, apple_declaration_uuid: p.row.declaration_uuid })),
        ),
      );
      return ids;
    });
  }

  private async insertLabelRows(
    trx: Transaction<DB>,
    table: 'mdm_configuration_profile_labels' | 'mdm_declaration_labels',
    rows: Record<string, unknown>[],
  ): Promise<void> {
    if (rows.length) await insertIgnore(trx, table, rows);
  }
}
