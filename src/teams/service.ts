import type { Kysely } from 'kysely';
import type { Actor, ActivityService } from '../admin/activityService.js';
import { roles, type Principal, type Role } from '../admin/roles.js';
import type { UserRow, UserStore } from '../admin/userStore.js';
import { deepMerge } from '../appconfig/service.js';
import type { DB } from '../db/schema.js';
import { alreadyExists, forbidden, invalid, notFound } from '../http/errors.js';
import type { HostEvents } from '../hosts/events.js';
import type { HostStore } from '../hosts/store.js';
import { newEnrollSecret } from './enrollSecretService.js';
import type { EnrollSecretStore } from './enrollSecretStore.js';
import type { TeamRow, TeamStore } from './store.js';
import { teamJson } from './teamJson.js';

export interface TeamPatch {
  name?: string;
  description?: string;
  /** Partial team settings (mdm, host_expiry_settings, ...), deep-merged into the stored ones. */
  settings?: Record<string, unknown>;
}

/** Teams (Fleet's "fleets"): CRUD, their users and what happens to hosts when a team goes. */
export class TeamService {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly store: TeamStore,
    private readonly secrets: EnrollSecretStore,
    private readonly hosts: HostStore,
    private readonly users: UserStore,
    private readonly activities: ActivityService,
    private readonly events: HostEvents,
  ) {}

  getById(id: number): Promise<TeamRow | undefined> {
    return this.store.getById(id);
  }

  async require(id: number): Promise<TeamRow> {
    const t = await this.store.getById(id);
    if (!t) throw notFound('Team');
    return t;
  }

  /** Team objects with host/user counts and secrets, in one query per kind. */
  async toJson(teams: TeamRow[], opts: { withSecrets: boolean }) {
    const ids = teams.map((t) => t.id);
    const [hostCounts, userCounts, secrets] = await Promise.all([
      this.hosts.countsByTeam(ids),
      this.store.userCounts(ids),
      opts.withSecrets ? this.secrets.listForTeams(ids) : Promise.resolve([]),
    ]);
    return teams.map((t) =>
      teamJson(t, {
        hostCount: hostCounts.get(t.id) ?? 0,
        userCount: userCounts.get(t.id) ?? 0,
        secrets: secrets.filter((s) => s.team_id === t.id),
      }),
    );
  }

  /** The users with a role in the team, each with their roles (Fleet's team `users`). */
  members(id: number): Promise<UserRow[]> {
    return this.users.list({ teamId: id });
  }

  list(opts: {
    visible: 'all' | number[];
    query?: string;
    limit?: number;
    offset?: number;
    orderKey?: string;
    desc?: boolean;
  }) {
    return this.store.list({ ...opts, ids: opts.visible === 'all' ? undefined : opts.visible });
  }

  async create(
    actor: Actor,
    input: { name: string; description?: string; secrets?: string[] },
  ): Promise<TeamRow> {
    const name = input.name.trim();
    if (!name) throw invalid('name must not be empty', 'name');
    if (await this.store.getByName(name)) throw alreadyExists(`a team named "${name}" already exists`);
    const id = await this.db.transaction().execute(async (trx) => {
      const newId = await this.store.create({ name, description: input.description ?? '', config: {} }, trx);
      // As Fleet's NewTeam: without `secrets` a new team gets one random enroll secret.
      const secrets = input.secrets ?? [newEnrollSecret()];
      if (secrets.length) {
        const taken = await this.secrets.takenElsewhere(secrets, newId, trx);
        if (taken.length) throw alreadyExists('an enroll secret with this value is already in use');
        await this.secrets.replace(newId, secrets, trx);
      }
      await this.activities.record(actor, 'created_team', { team_id: newId, team_name: name }, { trx });
      return newId;
    });
    return (await this.store.getById(id))!;
  }

  async update(actor: Actor, id: number, patch: TeamPatch): Promise<TeamRow> {
    const team = await this.require(id);
    const name = patch.name?.trim();
    if (name !== undefined && !name) throw invalid('name must not be empty', 'name');
    if (name !== undefined && name !== team.name) {
      const other = await this.store.getByName(name);
      if (other && other.id !== id) throw alreadyExists(`a team named "${name}" already exists`);
    }
    await this.db.transaction().execute(async (trx) => {
      await this.store.update(
        id,
        {
          name,
          description: patch.description,
          config: patch.settings ? deepMerge(team.config, patch.settings) : undefined,
        },
        trx,
      );
      await this.activities.record(
        actor,
        'edited_team',
        { team_id: id, team_name: name ?? team.name },
        { trx },
      );
    });
    return (await this.store.getById(id))!;
  }

  /** Deletes a team: its hosts move to No team, its enroll secrets and user roles go. */
  async delete(actor: Actor, id: number): Promise<void> {
    const team = await this.require(id);
    const movedHostIds = await this.db.transaction().execute(async (trx) => {
      const hostIds = await this.hosts.idsInTeam(id, trx);
      await this.secrets.deleteForTeam(id, trx);
      await this.store.delete(id, trx);
      await this.activities.record(actor, 'deleted_team', { team_id: id, team_name: team.name }, { trx });
      return hostIds;
    });
    await this.events.emitHostsTransferred(movedHostIds, null);
  }

  /**
   * Gives users a role in the team (PATCH /teams/:id/users). Users with a global role cannot
   * also have team roles; team admins may grant roles only in their own team.
   */
  async addUsers(
    actor: Actor,
    caller: Principal,
    id: number,
    users: { id: number; role: string }[],
  ): Promise<TeamRow> {
    const team = await this.require(id);
    for (const u of users) {
      if (!roles.includes(u.role as Role)) throw invalid(`unknown role "${u.role}"`, 'role');
    }
    const targets = await Promise.all(users.map((u) => this.users.getById(u.id)));
    const missing = users.filter((_, i) => !targets[i]);
    if (missing.length) throw notFound(`User ${missing[0].id}`);
    if (targets.some((t) => t!.global_role))
      throw invalid('a user with a global role cannot also have team roles', 'users');
    if (!caller.globalRole && targets.some((t) => t!.id === caller.userId))
      throw forbidden('you cannot change your own role');
    await this.db.transaction().execute(async (trx) => {
      await this.store.setTeamUsers(
        id,
        users.map((u) => ({ userId: u.id, role: u.role })),
        trx,
      );
      for (const [i, u] of users.entries()) {
        const t = targets[i]!;
        await this.activities.record(
          actor,
          'changed_user_team_role',
          {
            user_id: t.id,
            user_name: t.name,
            user_email: t.email,
            role: u.role,
            team_id: id,
            team_name: team.name,
          },
          { trx },
        );
      }
    });
    return team;
  }

  async removeUsers(actor: Actor, id: number, userIds: number[]): Promise<TeamRow> {
    const team = await this.require(id);
    const targets = await Promise.all(userIds.map((u) => this.users.getById(u)));
    const missing = userIds.filter((_, i) => !targets[i]);
    if (missing.length) throw notFound(`User ${missing[0]}`);
    await this.db.transaction().execute(async (trx) => {
      await this.store.removeTeamUsers(id, userIds, trx);
      for (const t of targets) {
        if (!t!.teams.some((r) => r.teamId === id)) continue;
        await this.activities.record(
          actor,
          'deleted_user_team_role',
          { user_id: t!.id, user_name: t!.name, user_email: t!.email, team_id: id, team_name: team.name },
          { trx },
        );
      }
    });
    return team;
  }
}
