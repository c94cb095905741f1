import { toApiTime } from '../../db/dialect.js';
import type { AbmTokenRow } from './tokenStore.js';

/** Fleet's name for the bucket of hosts in no team. */
export const noTeamName = 'No team';

function team(id: number | null, name: string | null) {
  return id === null ? { name: noTeamName, team_id: 0 } : { name: name ?? noTeamName, team_id: id };
}

/**
 * Fleet's `abm_token` object. `mdm_server_url` is where ABM's "MDM server" points devices (the
 * MDM URL + /mdm/apple/mdm); `token_invalid` is set while Apple refuses the token itself.
 */
export function abmTokenJson(t: AbmTokenRow, mdmServerUrl: string) {
  return {
    id: t.id,
    apple_id: t.apple_id,
    org_name: t.organization_name,
    mdm_server_url: mdmServerUrl,
    renew_date: toApiTime(t.renew_at),
    terms_expired: t.terms_expired,
    token_invalid: t.token_invalid,
    macos_team: team(t.macos_default_team_id, t.macos_team_name),
    ios_team: team(t.ios_default_team_id, t.ios_team_name),
    ipados_team: team(t.ipados_default_team_id, t.ipados_team_name),
  };
}

export type AbmTokenJson = ReturnType<typeof abmTokenJson>;
