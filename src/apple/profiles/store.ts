import { sql, type Kysely, type Selectable, type Transaction } from 'kysely';
import type { DB } from '../../db/schema.js';
import {
  labelRefsByProfile,
  labelRowValues,
  replaceProfileLabelRows,
  selectProfileLabelRows,
  type LabelRef,
} from '../../mdm/profiles/labelRows.js';
import type { AppleDeclarationsTable, AppleProfilesTable } from './tables.js';

export type { LabelRef } from '../../mdm/profiles/labelRows.js';

import {
  deleteUnsentInstallRows,
  installCommandsOf,
  markInstallRowsForRemoval,
} from '../../mdm/profiles/retireHostRows.js';

type Db = Kysely<DB> | Transaction<DB>;

export type AppleProfileRow = Selectable<AppleProfilesTable>;
export type DeclarationRow = Selectable<AppleDeclarationsTable>;

/** Definitions of Apple profiles and declarations, and their label targeting. */
export class ProfileStore {
  constructor(readonly db: Kysely<DB>) {}

  /** Is `name` taken in the team by an Apple profile or declaration? (The core asks every platform.) */
  async nameInUse(teamId: number, name: string, db: Db = this.db): Promise<boolean> {
    const res = await sql<{ n: number }>`
      SELECT COUNT(*) AS n FROM (
        SELECT profile_uuid AS u FROM mdm_apple_configuration_profiles WHERE team_id = ${teamId} AND name = ${name}
        UNION ALL SELECT declaration_uuid AS u FROM mdm_apple_declarations WHERE team_id = ${teamId} AND name = ${name}
      ) t`.execute(db);
    return Number(res.rows[0]?.n ?? 0) > 0;
  }

  async appleIdentifierInUse(teamId: number, identifier: string, db: Db = this.db): Promise<boolean> {
    const row = await db
      .selectFrom('mdm_apple_configuration_profiles')
      .select('profile_uuid')
      .where('team_id', '=', teamId)
      .where('identifier', '=', identifier)
      .executeTakeFirst();
    return !!row;
  }

  async declarationIdentifierInUse(teamId: number, identifier: string, db: Db = this.db): Promise<boolean> {
    const row = await db
      .selectFrom('mdm_apple_declarations')
      .select('declaration_uuid')
      .where('team_id', '=', teamId)
      .where('identifier', '=', identifier)
      .executeTakeFirst();
    return !!row;
  }

  async insertAppleProfile(row: AppleProfileRow, db: Db = this.db): Promise<void> {
    await db.insertInto('mdm_apple_configuration_profiles').values(row).execute();
  }

  async updateAppleProfile(uuid: string, fields: Partial<AppleProfileRow>, db: Db = this.db): Promise<void> {
    await db
      .updateTable('mdm_apple_configuration_profiles')
      .set(fields)
      .where('profile_uuid', '=', uuid)
      .execute();
  }

  async insertDeclaration(row: DeclarationRow, db: Db = this.db): Promise<void> {
    await db.insertInto('mdm_apple_declarations').values(row).execute();
  }

  async updateDeclaration(uuid: string, fields: Partial<DeclarationRow>, db: Db = this.db): Promise<void> {
    await db.updateTable('mdm_apple_declarations').set(fields).where('declaration_uuid', '=', uuid).execute();
  }

  async replaceAppleProfileLabels(
    uuid: string,
    labels: LabelRef[],
    now: string,
    db: Db = this.db,
  ): Promise<void> {
    await replaceProfileLabelRows(db, 'apple_profile_uuid', uuid, labels, now);
  }

  async replaceDeclarationLabels(
    uuid: string,
    labels: LabelRef[],
    now: string,
    db: Db = this.db,
  ): Promise<void> {
    await db.deleteFrom('mdm_declaration_labels').where('apple_declaration_uuid', '=', uuid).execute();
    if (labels.length === 0) return;
    await db
      .insertInto('mdm_declaration_labels')
      .values(labelRowValues(labels, now).map((v) => ({ apple_declaration_uuid: uuid, ...v })))
      .execute();
  }

  async getAppleProfile(uuid: string, db: Db = this.db): Promise<AppleProfileRow | undefined> {
    return db
      .selectFrom('mdm_apple_configuration_profiles')
      .selectAll()
      .where('profile_uuid', '=', uuid)
      .executeTakeFirst();
  }

  async getDeclaration(uuid: string, db: Db = this.db): Promise<DeclarationRow | undefined> {
    return db
      .selectFrom('mdm_apple_declarations')
      .selectAll()
      .where('declaration_uuid', '=', uuid)
      .executeTakeFirst();
  }

  async appleProfilesOfTeam(teamId: number, db: Db = this.db): Promise<AppleProfileRow[]> {
    return db
      .selectFrom('mdm_apple_configuration_profiles')
      .selectAll()
      .where('team_id', '=', teamId)
      .orderBy('name')
      .execute();
  }

  async declarationsOfTeam(teamId: number, db: Db = this.db): Promise<DeclarationRow[]> {
    return db
      .selectFrom('mdm_apple_declarations')
      .selectAll()
      .where('team_id', '=', teamId)
      .orderBy('name')
      .execute();
  }

  /** Label rows per profile uuid (Apple profiles and declarations alike). */
  async labelsFor(uuids: string[], db: Db = this.db): Promise<Map<string, LabelRef[]>> {
    if (uuids.length === 0) return new Map();
    const a = await selectProfileLabelRows(db, 'apple_profile_uuid', uuids);
    const d = await db
      .selectFrom('mdm_declaration_labels')
      .select(['apple_declaration_uuid as uuid', 'label_name', 'label_id', 'exclude', 'require_all'])
      .where('apple_declaration_uuid', 'in', uuids)
      .orderBy('label_name')
      .execute();
    return labelRefsByProfile([...a, ...d]);
  }

  /**
   * Deletes an Apple profile: rows never sent go away, queued Install commands are deactivated,
   * and every other host row becomes a pending removal (ignoring "not found" where the profile may
   * never have arrived). Runs inside the caller's transaction.
   */
  async deleteAppleProfile(uuid: string, now: string, db: Db): Promise<void> {
    await deleteUnsentInstallRows(db, 'host_mdm_apple_profiles', uuid);
    await db
      .updateTable('nano_enrollment_queue')
      .set({ active: 0 })
      .where('command_uuid', 'in', installCommandsOf(db, 'host_mdm_apple_profiles', uuid))
      .where('active', '=', 1)
      .execute();
    await markInstallRowsForRemoval(db, 'host_mdm_apple_profiles', uuid, now);
    await db.deleteFrom('mdm_apple_configuration_profiles').where('profile_uuid', '=', uuid).execute();
  }

  /** Deletes a declaration: unsent rows go away, the rest become pending removals (removal by omission). */
  async deleteDeclaration(uuid: string, now: string, db: Db): Promise<void> {
    await db
      .deleteFrom('host_mdm_apple_declarations')
      .where('declaration_uuid', '=', uuid)
      .where('operation_type', '=', 'install')
      .where('status', 'is', null)
      .execute();
    await db
      .updateTable('host_mdm_apple_declarations')
      .set({ operation_type: 'remove', status: null, updated_at: now })
      .where('declaration_uuid', '=', uuid)
      .where('operation_type', '=', 'install')
      .execute();
    await db.deleteFrom('mdm_apple_declarations').where('declaration_uuid', '=', uuid).execute();
  }
}
