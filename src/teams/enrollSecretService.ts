import { randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { Actor, ActivityService } from '../admin/activityService.js';
import type { DB } from '../db/schema.js';
import { alreadyExists, invalid, notFound } from '../http/errors.js';
import type { EnrollSecretRow, EnrollSecretStore } from './enrollSecretStore.js';
import type { TeamStore } from './store.js';

/**
 * A new random enroll secret, as Fleet makes the ones it creates itself (the global one at setup,
 * a new team's default): 24 random bytes, base64.
 */
export function newEnrollSecret(): string {
  return randomBytes(24).toString('base64');
}

/** Global and per-team enroll secrets. A secret belongs to exactly one scope. */
export class EnrollSecretService {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly store: EnrollSecretStore,
    private readonly teams: TeamStore,
    private readonly activities: ActivityService,
  ) {}

  /** The team an agent or device enrolls into with this secret (null = No team); undefined if unknown. */
  async teamForSecret(secret: string): Promise<{ teamId: number | null } | undefined> {
    if (!secret) return undefined;
    const row = await this.store.find(secret);
    return row ? { teamId: row.team_id } : undefined;
  }

  list(teamId: number | null): Promise<EnrollSecretRow[]> {
    return this.store.list(teamId);
  }

  listForTeams(teamIds: number[]): Promise<EnrollSecretRow[]> {
    return this.store.listForTeams(teamIds);
  }

  /** Replaces the whole set of a scope (team id, or null for global). */
  async replace(actor: Actor, teamId: number | null, secrets: string[]): Promise<EnrollSecretRow[]> {
    const team = teamId === null ? undefined : await this.teams.getById(teamId);
    if (teamId !== null && !team) throw notFound('Team');
    if (new Set(secrets).size !== secrets.length)
      throw invalid('the same secret appears more than once', 'secrets');
    if (secrets.some((s) => s.trim() === '')) throw invalid('a secret must not be empty', 'secret');
    await this.db.transaction().execute(async (trx) => {
      const taken = await this.store.takenElsewhere(secrets, teamId, trx);
      if (taken.length) throw alreadyExists('an enroll secret with this value is already in use');
      await this.store.replace(teamId, secrets, trx);
      await this.activities.record(
        actor,
        'edited_enroll_secrets',
        { team_id: teamId, team_name: team?.name ?? null },
        { trx },
      );
    });
    return this.store.list(teamId);
  }
}
