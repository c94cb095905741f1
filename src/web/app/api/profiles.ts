/**
 * Configuration profiles as the OS settings page uses them: the server's own profile JSON and
 * status counts (type-only imports), Fleet's multipart upload, and downloads with the server's
 * file name.
 */
import type { ProfileJson, StatusCounts } from '../../../mdm/platform.js';
import type { LabelJson } from '../../../mdm/profiles/profileJson.js';
import { api } from './client.js';
import type { Json, PageMeta } from './shapes.js';

/** A profile as `GET /configuration_profiles` lists it. */
export type ConfigurationProfile = Json<ProfileJson>;
export type ProfileLabel = Json<LabelJson>;
/** Hosts per status (`GET /configuration_profiles/:uuid/status` and `/summary`). */
export type ProfileStatusCounts = Json<StatusCounts>;
export type ProfileStatus = keyof ProfileStatusCounts;

/** The statuses in the order the console shows them. */
export const profileStatuses: readonly ProfileStatus[] = ['verified', 'verifying', 'pending', 'failed'];

export interface ProfileListResponse {
  profiles: ConfigurationProfile[] | null;
  meta: PageMeta;
}

/** How an upload targets hosts by label: Fleet's three multipart fields, or none (all hosts). */
export type TargetingMode = 'all_hosts' | 'labels_include_all' | 'labels_include_any' | 'labels_exclude_any';

export const targetingModes: { mode: TargetingMode; title: string; short: string }[] = [
  { mode: 'all_hosts', title: 'All hosts (no label targeting)', short: 'All hosts' },
  { mode: 'labels_include_all', title: 'Hosts with all of the labels', short: 'Include all' },
  { mode: 'labels_include_any', title: 'Hosts with any of the labels', short: 'Include any' },
  { mode: 'labels_exclude_any', title: 'Hosts with none of the labels', short: 'Exclude any' },
];

/** File types the server takes (the file input's `accept`). */
export const profileFileTypes = '.mobileconfig,.xml,.json';

/** The team's query value: Fleet's `team_id`, absent for No team (team 0). */
export function teamQuery(teamId: number): { team_id?: number } {
  return teamId ? { team_id: teamId } : {};
}

/** The profile's targeting in words, e.g. "Include any: Laptops, Desks"; a deleted label is marked. */
export function targetingText(p: ConfigurationProfile): string {
  const parts: string[] = [];
  for (const { mode, short } of targetingModes) {
    if (mode === 'all_hosts') continue;
    const labels = p[mode];
    if (labels?.length) {
      parts.push(`${short}: ${labels.map((l) => (l.broken ? `${l.name} (deleted)` : l.name)).join(', ')}`);
    }
  }
  return parts.length ? parts.join('; ') : 'All hosts';
}

/**
 * Which hosts a profile is for. Apple's profiles and declarations (UUID prefix a / d) install on
 * macOS, iOS and iPadOS alike; the others are one platform's.
 */
export function platformText(p: ConfigurationProfile): string {
  if (p.platform === 'darwin') {
    return p.profile_uuid.startsWith('d') ? 'macOS, iOS, iPadOS (declaration)' : 'macOS, iOS, iPadOS';
  }
  if (p.platform === 'windows') return 'Windows';
  if (p.platform === 'android') return 'Android';
  return p.platform;
}

/** `POST /configuration_profiles`: one file, with the team and label fields Fleet's clients send. */
export function uploadProfile(
  file: File,
  teamId: number,
  targeting: { mode: TargetingMode; labels: string[] },
): Promise<{ profile_uuid: string }> {
  const form = new FormData();
  if (teamId) form.append('team_id', String(teamId));
  if (targeting.mode !== 'all_hosts') for (const l of targeting.labels) form.append(targeting.mode, l);
  form.append('profile', file, file.name);
  return api.post<{ profile_uuid: string }>('/configuration_profiles', form);
}

/** The file name of an `attachment` Content-Disposition: the UTF-8 `filename*` when given. */
export function dispositionFilename(header: string | null, fallback: string): string {
  if (!header) return fallback;
  const extended = /filename\*=UTF-8''([^;]+)/i.exec(header);
  if (extended) {
    try {
      return decodeURIComponent(extended[1]);
    } catch {
      // A malformed escape: use the plain name below.
    }
  }
  return /filename="([^"]*)"/i.exec(header)?.[1] || fallback;
}

/** `GET /configuration_profiles/:uuid?alt=media`: the stored file and the name the server gives it. */
export async function downloadProfile(p: ConfigurationProfile): Promise<{ blob: Blob; filename: string }> {
  const res = await api.download(`/configuration_profiles/${encodeURIComponent(p.profile_uuid)}`, {
    alt: 'media',
  });
  return {
    blob: await res.blob(),
    filename: dispositionFilename(res.headers.get('content-disposition'), p.name),
  };
}
