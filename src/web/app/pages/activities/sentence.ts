import type { Activity } from '../../api/admin.js';
import { roleLabel } from '../users/roleText.js';

/** An activity's details: a JSON object whose fields depend on its type. */
type Details = Record<string, unknown>;

const str = (v: unknown): string | undefined =>
  typeof v === 'string' && v ? v : typeof v === 'number' ? String(v) : undefined;

function team(d: Details): string {
  if (d.team_id === null || d.team_id === undefined) return str(d.team_name) ?? 'No team';
  return str(d.team_name) ?? `team ${str(d.team_id)}`;
}
function host(d: Details): string {
  return str(d.host_display_name) ?? str(d.host_serial) ?? `host ${str(d.host_id) ?? ''}`.trim();
}
function who(d: Details): string {
  return str(d.user_name) ?? str(d.user_email) ?? `user ${str(d.user_id) ?? ''}`.trim();
}
function count(n: unknown, one: string, many: string): string {
  const k = Array.isArray(n) ? n.length : typeof n === 'number' ? n : 0;
  return `${k} ${k === 1 ? one : many}`;
}

/** What happened, after the actor's name ("locked host X"). Undefined for types not known here. */
const phrases: Record<string, (d: Details) => string> = {
  created_team: (d) => `created team ${team(d)}`,
  edited_team: (d) => `edited team ${team(d)}`,
  deleted_team: (d) => `deleted team ${team(d)}`,
  edited_enroll_secrets: (d) =>
    d.team_id === null || d.team_id === undefined
      ? 'edited the global enroll secrets'
      : `edited the enroll secrets of ${team(d)}`,
  created_label: (d) => `created label ${str(d.label_name) ?? ''}`.trim(),
  edited_label: (d) => `edited label ${str(d.label_name) ?? ''}`.trim(),
  deleted_label: (d) => `deleted label ${str(d.label_name) ?? ''}`.trim(),
  created_user: (d) => `created user ${who(d)}`,
  edited_user: (d) => `edited user ${who(d)}`,
  deleted_user: (d) => `deleted user ${who(d)}`,
  deleted_user_sessions: (d) => `logged out ${who(d)} everywhere`,
  changed_user_global_role: (d) => `made ${who(d)} a global ${roleLabel(str(d.role))}`,
  deleted_user_global_role: (d) => `removed the global ${roleLabel(str(d.role))} role of ${who(d)}`,
  changed_user_team_role: (d) => `made ${who(d)} ${roleLabel(str(d.role))} on ${team(d)}`,
  deleted_user_team_role: (d) => `removed ${who(d)} from ${team(d)}`,
  user_logged_in: (d) => `logged in${str(d.public_ip) ? ` from ${str(d.public_ip)}` : ''}`,
  edited_app_config: () => 'edited the organization settings',
  locked_host: (d) => `locked host ${host(d)}`,
  unlocked_host: (d) => `unlocked host ${host(d)}`,
  wiped_host: (d) => `wiped host ${host(d)}`,
  deleted_host: (d) => `deleted host ${host(d)}`,
  read_host_disk_encryption_key: (d) => `viewed the disk encryption key of ${host(d)}`,
  transferred_hosts: (d) => `moved ${count(d.host_ids, 'host', 'hosts')} to ${team(d)}`,
  ran_mdm_command: (d) =>
    `ran ${str(d.command_type) ?? 'an MDM command'} on ${count(d.host_ids, 'host', 'hosts')}`,
  mdm_enrolled: (d) => `enrolled ${host(d)} in MDM${d.installed_from_dep ? ' (automatic enrollment)' : ''}`,
  mdm_unenrolled: (d) => `unenrolled ${host(d)} from MDM`,
  fleet_enrolled: (d) => `enrolled ${host(d)}`,
  uploaded_apns_certificate: () => 'uploaded an APNs certificate',
  deleted_apns_certificate: () => 'deleted the APNs certificate',
  enabled_android_mdm: () => 'turned on Android MDM',
  disabled_android_mdm: () => 'turned off Android MDM',
  added_bootstrap_package: (d) => `added a bootstrap package for ${team(d)}`,
  deleted_bootstrap_package: (d) => `deleted the bootstrap package of ${team(d)}`,
  changed_macos_setup_assistant: (d) => `changed the macOS Setup Assistant of ${team(d)}`,
  deleted_macos_setup_assistant: (d) => `deleted the macOS Setup Assistant of ${team(d)}`,
  created_custom_variable: (d) =>
    `created custom variable ${str(d.custom_variable_name) ?? str(d.name) ?? ''}`.trim(),
  deleted_custom_variable: (d) =>
    `deleted custom variable ${str(d.custom_variable_name) ?? str(d.name) ?? ''}`.trim(),
  resent_configuration_profile: (d) => `resent profile ${str(d.profile_name) ?? ''} to ${host(d)}`,
  resent_configuration_profile_batch: (d) =>
    `resent profile ${str(d.profile_name) ?? ''} to ${count(d.host_count, 'host', 'hosts')}`,
  created_macos_profile: (d) => `added macOS profile ${str(d.profile_name) ?? ''} to ${team(d)}`,
  deleted_macos_profile: (d) => `deleted macOS profile ${str(d.profile_name) ?? ''} from ${team(d)}`,
  created_windows_profile: (d) => `added Windows profile ${str(d.profile_name) ?? ''} to ${team(d)}`,
  deleted_windows_profile: (d) => `deleted Windows profile ${str(d.profile_name) ?? ''} from ${team(d)}`,
  created_declaration_profile: (d) => `added declaration ${str(d.profile_name) ?? ''} to ${team(d)}`,
  deleted_declaration_profile: (d) => `deleted declaration ${str(d.profile_name) ?? ''} from ${team(d)}`,
};

/**
 * An activity as a sentence: "Ada Admin locked host X". Unknown types fall back to the type in words;
 * the page always offers the raw details too.
 */
export function activitySentence(a: Activity, teamNames: ReadonlyMap<number, string> = new Map()): string {
  const actor = a.actor_full_name || a.actor_email || (a.fleet_initiated ? 'Flotilla' : 'Someone');
  const raw = a.details && typeof a.details === 'object' ? (a.details as Details) : {};
  // Some activities (user role changes) name their team by id only: the caller's team list names it.
  const teamName =
    raw.team_name ?? (typeof raw.team_id === 'number' ? teamNames.get(raw.team_id) : undefined);
  const details = teamName === undefined ? raw : { ...raw, team_name: teamName };
  const phrase = phrases[a.type]?.(details) ?? a.type.replace(/_/g, ' ');
  return `${actor} ${phrase}`.replace(/\s+/g, ' ').trim() + '.';
}

/** Whether the page has a sentence for this type (else it says the raw type beside it). */
export function isKnownActivity(type: string): boolean {
  return type in phrases;
}
