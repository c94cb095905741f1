import { api, ApiError } from '../../api/client.js';
import {
  platformValues,
  type AbmToken,
  type ApnsStatus,
  type CertificateExpiry,
  type CountResponse,
  type DiskEncryptionCounts,
  type MdmSummary,
  type ProfileSummary,
} from '../../api/hosts.js';
import type { Session } from '../../session.js';

/** A figure the dashboard shows, or why it cannot: the server's words, or no permission. */
export type Figure<T> = { kind: 'ok'; value: T } | { kind: 'error'; error: Error } | { kind: 'hidden' };

export interface DashboardData {
  total: number;
  byPlatform: { platform: string; name: string; count: number }[];
  mdm: Figure<MdmSummary>;
  profiles: Figure<ProfileSummary>;
  diskEncryption: Figure<DiskEncryptionCounts>;
  /** null: Apple MDM has no APNs certificate. */
  apns: Figure<ApnsStatus | null>;
  abmTokens: Figure<AbmToken[]>;
  /** The server's other certificates (its CAs, device certificates); null when unreadable. */
  certificates: Figure<CertificateExpiry[] | null>;
}

async function figure<T>(allowed: boolean, load: () => Promise<T>): Promise<Figure<T>> {
  if (!allowed) return { kind: 'hidden' };
  try {
    return { kind: 'ok', value: await load() };
  } catch (error) {
    return { kind: 'error', error: error as Error };
  }
}

/**
 * Everything the dashboard shows for one team (undefined: every team the user sees), fetched in
 * parallel. Host counts are required (their failure fails the page, which also brings back the
 * login page on a lost session); the other cards fail on their own.
 */
export async function loadDashboard(session: Session, teamId: number | undefined): Promise<DashboardData> {
  const team = teamId === undefined ? {} : { team_id: teamId };
  // The OS-settings and disk-encryption summaries have no "all teams": without a team they count
  // the hosts in No team (as Fleet's), so they are asked for that scope.
  const settingsTeam = teamId ?? null;
  // The first call goes alone (see sessionFirst in ../hosts/hostQuery.ts).
  const total = await api.get<CountResponse>('/hosts/count', team);
  const [platformCounts, mdm, profiles, diskEncryption, apns, abmTokens, certificates] = await Promise.all([
    Promise.all(
      platformValues.map(([platform]) => api.get<CountResponse>('/hosts/count', { ...team, platform })),
    ),
    figure(true, () => api.get<MdmSummary>('/hosts/summary/mdm', team)),
    figure(session.can('profile', 'read', settingsTeam), () =>
      api.get<ProfileSummary>('/configuration_profiles/summary', team),
    ),
    figure(session.can('profile', 'read', settingsTeam), () =>
      api.get<DiskEncryptionCounts>('/mdm/disk_encryption/summary', team),
    ),
    figure(session.can('mdm_apple_setup', 'read'), async () => {
      try {
        return await api.get<ApnsStatus>('/mdm/apple');
      } catch (e) {
        // The server answers 400 "MDM features aren't turned on" while there is no certificate.
        if (e instanceof ApiError && e.status === 400) return null;
        throw e;
      }
    }),
    figure(
      session.can('mdm_apple_setup', 'read'),
      async () => (await api.get<{ abm_tokens: AbmToken[] }>('/abm_tokens')).abm_tokens,
    ),
    figure(session.can('app_config', 'read'), async () => {
      const { certificates } = await api.get<{ certificates?: CertificateExpiry[] | null }>('/config');
      // APNs and ABM tokens have their own cards.
      return (
        certificates?.filter((c) => c.certificate !== 'apns' && !c.certificate.startsWith('abm_token:')) ??
        null
      );
    }),
  ]);
  return {
    total: total.count,
    byPlatform: platformValues
      .map(([platform, name], i) => ({ platform, name, count: platformCounts[i].count }))
      .filter((p) => p.count > 0),
    mdm,
    profiles,
    diskEncryption,
    apns,
    abmTokens,
    certificates,
  };
}

/** Whole days from now until `iso` (negative once past). */
export function daysUntil(iso: string, now = Date.now()): number {
  return Math.floor((new Date(iso).getTime() - now) / 86_400_000);
}
