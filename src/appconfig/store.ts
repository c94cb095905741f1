import type { Kysely } from 'kysely';
import { dbNow, upsert } from '../db/dialect.js';
import type { SecretBox } from '../crypto/secretbox.js';
import type { DB } from '../db/schema.js';
import { openSecrets, sealSecrets } from './secretsAtRest.js';

/** The single app_config_json row (id 1); its secrets are sealed under the server key. */
export class AppConfigStore {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly box: SecretBox,
  ) {}

  async read(): Promise<Record<string, unknown> | undefined> {
    const row = await this.db
      .selectFrom('app_config_json')
      .select('json_value')
      .where('id', '=', 1)
      .executeTakeFirst();
    return row ? openSecrets(JSON.parse(row.json_value) as Record<string, unknown>, this.box) : undefined;
  }

  async write(value: Record<string, unknown>): Promise<void> {
    const now = dbNow();
    await upsert(
      this.db,
      'app_config_json',
      { id: 1, json_value: JSON.stringify(sealSecrets(value, this.box)), created_at: now, updated_at: now },
      ['id'],
      ['json_value', 'updated_at'],
    );
  }
}
