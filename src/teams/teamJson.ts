import { deepMerge } from '../appconfig/service.js';
import { toApiTime } from '../db/dialect.js';
import type { TeamWithCounts } from '../admin/userStore.js';
import type { EnrollSecretRow } from './enrollSecretStore.js';
import type { TeamRow } from './store.js';

/** The settings a team has before anyone edits them (Fleet's team config defaults). */
export function defaultTeamConfig() {
  return {
    mdm: {
      enable_disk_encryption: false,
      windows_require_bitlocker_pin: null as boolean | null,
      macos_updates: { minimum_version: null as string | null, deadline: null as string | null },
      ios_updates: { minimum_version: null as string | null, deadline: null as string | null },
      ipados_updates: { minimum_version: null as string | null, deadline: null as string | null },
      windows_updates: { deadline_days: null as number | null, grace_period_days: null as number | null },
      macos_settings: { custom_settings: [] as unknown[] },
      windows_settings: { custom_settings: [] as unknown[] },
      macos_setup: {
        bootstrap_package: null as string | null,
        enable_end_user_authentication: false,
        macos_setup_assistant: null as string | null,
        enable_release_device_manually: false,
        script: null as string | null,
        software: null as unknown,
        manual_agent_install: null as boolean | null,
      },
    },
    host_expiry_settings: { host_expiry_enabled: false, host_expiry_window: 0 },
    webhook_settings: {},
    integrations: {},
  };
}

/** Fleet's enroll secret: `team_id` is omitempty there, so a global secret has none. */
export function secretJson(s: EnrollSecretRow) {
  return {
    secret: s.secret,
    created_at: toApiTime(s.created_at),
    ...(s.team_id !== null ? { team_id: s.team_id } : {}),
  };
}

export type TeamJson = ReturnType<typeof teamJson>;

/** Fleet's team object. */
export function teamJson(
  t: TeamRow,
  extra: { hostCount: number; userCount: number; secrets: EnrollSecretRow[] },
) {
  const cfg = deepMerge(defaultTeamConfig(), t.config);
  return {
    id: t.id,
    name: t.name,
    description: t.description,
    created_at: toApiTime(t.created_at),
    host_count: extra.hostCount,
    user_count: extra.userCount,
    secrets: extra.secrets.map(secretJson),
    ...cfg,
  };
}

/** A team as a user's or an invite's `teams` entries show it: the team object without its secrets. */
export type TeamObject = Omit<TeamJson, 'secrets'>;

/** Team objects by id (Fleet's UserTeam sends the whole team, secrets left out: they are not loaded). */
export function teamObjects(rows: TeamWithCounts[]): Map<number, TeamObject> {
  return new Map(
    rows.map((r) => {
      const { secrets: _secrets, ...t } = teamJson(r.team, {
        hostCount: r.hostCount,
        userCount: r.userCount,
        secrets: [],
      });
      return [t.id, t];
    }),
  );
}
