import { createHash, timingSafeEqual } from 'node:crypto';
import type { Transaction } from 'kysely';
import type { Actor, ActivityService } from '../../admin/activityService.js';
import { dbNow, isUniqueViolation } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import { HttpError, conflict, invalid } from '../../http/errors.js';
import type { SecretBearingDefinition, SecretDefinitionStore } from './definitionStore.js';
import { secretVariablePrefix, usesSecret } from './names.js';
import type { SecretIdentifier, SecretVariableStore } from './secretStore.js';

export type { SecretValues } from './secretValues.js';

/** A secret as an admin or GitOps sends it. */
export interface SecretInput {
  name: string;
  value: string;
}

/** What this service needs of the profiles core: hosts of the given definitions get them again. */
export interface DefinitionsPending {
  markDefinitionsPending(profileUuids: string[]): Promise<void>;
}

/** Fleet's rule: upper-case letters, digits and underscores, 1 to 255 characters. */
const secretNameFormat = /^[A-Z0-9_]+$/;

/** Fleet's name checks and texts (422 on `name`). */
function checkName(name: string): void {
  if (name.length === 0) throw invalid('secret variable name cannot be empty', 'name');
  if (name.length > 255) throw invalid(`secret variable name is too long: ${name}`, 'name');
  if (!secretNameFormat.test(name)) throw invalid(`secret variable with invalid format: ${name}`, 'name');
}

/** Compares two secret values without leaking where they differ (digests have one length). */
function sameValue(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  return timingSafeEqual(digest(a), digest(b));
}

/** How Fleet names a definition that uses a secret in its "in use" refusal. */
const usageNoun: Record<SecretBearingDefinition['kind'], string> = {
  apple_profile: 'configuration profile',
  apple_declaration: 'declaration (DDM) profile',
  windows_profile: 'configuration profile',
};

/**
 * Secrets for `$FLEET_SECRET_*` (Fleet's "custom variables"): the GitOps spec, create, list and
 * delete. Values are sealed at rest and never leave through an answer, a log line or an activity.
 * A changed value moves `secrets_updated_at` on every definition that uses it, in the same
 * transaction, and those definitions are marked pending so hosts get them again.
 */
export class SecretVariableService {
  constructor(
    private readonly store: SecretVariableStore,
    private readonly definitions: SecretDefinitionStore,
    private readonly profiles: DefinitionsPending,
    private readonly activities: ActivityService,
  ) {}

  /**
   * `PUT /spec/secret_variables`: creates or updates each secret (the `FLEET_SECRET_` prefix on a
   * name is dropped, as Fleet does). A value that did not change changes nothing.
   */
  async saveSpec(secrets: SecretInput[], dryRun: boolean): Promise<void> {
    const wanted = new Map<string, string>();
    for (const s of secrets) {
      const name = s.name.startsWith(secretVariablePrefix)
        ? s.name.slice(secretVariablePrefix.length)
        : s.name;
      // Fleet's Preprocess: surrounding spaces off, Unicode NFC.
      const bare = name.trim().normalize('NFC');
      checkName(bare);
      wanted.set(bare, s.value);
    }
    if (dryRun || wanted.size === 0) return;
    const now = dbNow();
    const touched = await this.store.db.transaction().execute(async (trx) => {
      const current = await this.store.values([...wanted.keys()], trx);
      const changed: string[] = [];
      for (const [name, value] of wanted) {
        const old = current.get(name);
        if (old === undefined) await this.store.insert(trx, name, value, now);
        else if (!sameValue(old, value)) {
          await this.store.update(trx, name, value, now);
          changed.push(name);
        }
      }
      return this.bumpDefinitionsUsing(trx, changed, now);
    });
    if (touched.length) await this.profiles.markDefinitionsPending(touched);
  }

  /** `POST /custom_variables`: a new secret (409 when the name is taken, as Fleet). */
  async create(actor: Actor, name: string, value: string): Promise<{ id: number; name: string }> {
    checkName(name);
    if (value === '') throw invalid('secret variable value cannot be empty', 'name');
    let id: number;
    try {
      id = await this.store.db.transaction().execute((trx) => this.store.insert(trx, name, value, dbNow()));
    } catch (err) {
      if (isUniqueViolation(err)) {
        throw new HttpError(409, 'Resource Already Exists', [
          { name: 'name', reason: `A secret variable named "${name}" already exists.` },
        ]);
      }
      throw err;
    }
    await this.activities.record(actor, 'created_custom_variable', {
      custom_variable_id: id,
      custom_variable_name: name,
    });
    return { id, name };
  }

  /** `GET /custom_variables`: names and ids by name, never values. */
  list(page: { limit?: number; offset?: number }): Promise<{ rows: SecretIdentifier[]; count: number }> {
    return this.store.list(page);
  }

  /** `DELETE /custom_variables/:id`: refused (409) while a profile uses the secret. */
  async delete(actor: Actor, id: number): Promise<void> {
    const name = await this.store.db.transaction().execute(async (trx) => {
      const found = await this.store.nameOf(id, trx);
      if (found === undefined) {
        throw new HttpError(404, 'Resource Not Found', [
          { name: 'base', reason: `SecretVariable ${id} was not found in the datastore` },
        ]);
      }
      const user = (await this.definitions.all(trx)).find((d) => usesSecret(d.text, found));
      if (user) {
        throw conflict(
          `Couldn't delete. Secret variable "${found}" is used by ${usageNoun[user.kind]} "${user.name}" ` +
            `in "${user.teamName}".`,
        );
      }
      await this.store.delete(trx, id);
      return found;
    });
    await this.activities.record(actor, 'deleted_custom_variable', {
      custom_variable_id: id,
      custom_variable_name: name,
    });
  }

  /** Definitions naming any of the changed secrets get a newer `secrets_updated_at`; their UUIDs. */
  private async bumpDefinitionsUsing(
    trx: Transaction<DB>,
    changed: string[],
    now: string,
  ): Promise<string[]> {
    if (!changed.length) return [];
    const using = (await this.definitions.all(trx)).filter((d) => changed.some((n) => usesSecret(d.text, n)));
    await this.definitions.bumpSecretsUpdatedAt(trx, using, now);
    return using.map((d) => d.uuid);
  }
}
