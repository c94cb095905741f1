import type { ActivityService, Actor } from '../../admin/activityService.js';
import type { AppConfigService } from '../../appconfig/service.js';
import { toApiTime } from '../../db/dialect.js';
import { invalid, notFound } from '../../http/errors.js';
import type { TeamStore } from '../../teams/store.js';

/** A team's custom setup assistant as Fleet answers it. */
export interface SetupAssistantJson {
  team_id: number | null;
  name: string;
  enrollment_profile: Record<string, unknown>;
  uploaded_at: string | null;
}

export interface SetupAssistantDeps {
  profiles: {
    getSetupAssistant(
      teamId: number | null,
    ): Promise<{ name: string; profile: Record<string, unknown>; uploadedAt: string } | undefined>;
    setSetupAssistant(teamId: number | null, name: string, profile: Record<string, unknown>): Promise<void>;
    deleteSetupAssistant(teamId: number | null): Promise<void>;
  };
  /** Makes the DEP syncer look at every device again, so each gets its team's new profile. */
  requestResync: () => Promise<void>;
  teams: Pick<TeamStore, 'getById'>;
  appConfig: Pick<AppConfigService, 'get'>;
  activities: Pick<ActivityService, 'record'>;
}

/**
 * Custom setup assistants (`/enrollment_profiles/automatic`): the DEP profile JSON a team's ADE
 * devices get, with Fleet's checks. The DEP syncer defines it with Apple for each ABM token and
 * assigns it to the team's devices.
 */
export class SetupAssistantService {
  constructor(private readonly deps: SetupAssistantDeps) {}

  /** The team's name (null for No team); 404 for an unknown team. */
  private async teamName(teamId: number | null): Promise<string | null> {
    if (teamId === null) return null;
    const t = await this.deps.teams.getById(teamId);
    if (!t) throw notFound('Team');
    return t.name;
  }

  private async endUserAuth(teamId: number | null): Promise<boolean> {
    if (teamId !== null) {
      const t = await this.deps.teams.getById(teamId);
      const mdm = (t?.config.mdm ?? {}) as { macos_setup?: { enable_end_user_authentication?: unknown } };
      return mdm.macos_setup?.enable_end_user_authentication === true;
    }
    return (await this.deps.appConfig.get()).mdm.macos_setup.enable_end_user_authentication === true;
  }

  async set(
    teamId: number | null,
    name: string,
    profile: Record<string, unknown>,
    actor: Actor,
  ): Promise<SetupAssistantJson> {
    const teamName = await this.teamName(teamId);
    if ('configuration_web_url' in profile && (await this.endUserAuth(teamId))) {
      throw invalid(
        "Couldn't edit macos_setup_assistant. First, disable end user authentication before adding an automatic enrollment (DEP) profile with a configuration_web_url.",
        'profile',
      );
    }
    if ('url' in profile) {
      throw invalid(
        "Couldn't edit macos_setup_assistant. The automatic enrollment profile can't include url.",
        'profile',
      );
    }
    if ('await_device_configured' in profile) {
      throw invalid(
        'Couldn\'t edit macos_setup_assistant. The profile can\'t include "await_device_configured" option.',
        'profile',
      );
    }
    const prev = await this.deps.profiles.getSetupAssistant(teamId);
    // The same name and content again changes nothing (uploaded_at stays, no activity), as in Fleet.
    if (prev && prev.name === name && JSON.stringify(prev.profile) === JSON.stringify(profile)) {
      return this.json(teamId, prev);
    }
    await this.deps.profiles.setSetupAssistant(teamId, name, profile);
    await this.deps.requestResync();
    await this.deps.activities.record(actor, 'changed_macos_setup_assistant', {
      team_id: teamId,
      name,
      team_name: teamName,
    });
    return this.json(teamId, (await this.deps.profiles.getSetupAssistant(teamId))!);
  }

  async get(teamId: number | null): Promise<SetupAssistantJson> {
    await this.teamName(teamId);
    const a = await this.deps.profiles.getSetupAssistant(teamId);
    if (!a) throw notFound('MDMAppleSetupAssistant');
    return this.json(teamId, a);
  }

  async delete(teamId: number | null, actor: Actor): Promise<void> {
    const teamName = await this.teamName(teamId);
    const prev = await this.deps.profiles.getSetupAssistant(teamId);
    await this.deps.profiles.deleteSetupAssistant(teamId);
    if (!prev) return;
    await this.deps.requestResync();
    await this.deps.activities.record(actor, 'deleted_macos_setup_assistant', {
      team_id: teamId,
      name: prev.name,
      team_name: teamName,
    });
  }

  private json(
    teamId: number | null,
    a: { name: string; profile: Record<string, unknown>; uploadedAt: string },
  ): SetupAssistantJson {
    return {
      team_id: teamId,
      name: a.name,
      enrollment_profile: a.profile,
      uploaded_at: toApiTime(a.uploadedAt),
    };
  }
}
