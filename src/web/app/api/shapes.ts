/**
 * The admin API's response shapes, taken from the server's own JSON builders (type-only imports:
 * nothing of the server reaches the bundle). When the server changes a shape, the console's type
 * check fails instead of a page quietly showing nothing. JSON turns Dates into strings, hence Json<T>.
 */
import type { hostJson, hostListMdmJson } from '../../../hosts/hostJson.js';
import type { HostService } from '../../../hosts/service.js';
import type { userJson, availableTeamsJson } from '../../../admin/userJson.js';
import type { TeamJson } from '../../../teams/teamJson.js';
import type { labelJson } from '../../../labels/labelJson.js';

/** What a value looks like after JSON.stringify and JSON.parse. */
export type Json<T> = T extends Date
  ? string
  : T extends (infer U)[]
    ? Json<U>[]
    : T extends object
      ? { [K in keyof T]: Json<T[K]> }
      : T;

export type User = Json<ReturnType<typeof userJson>>;
export type AvailableTeam = Json<ReturnType<typeof availableTeamsJson>>[number];
export type Team = Json<TeamJson>;
export type Label = Json<ReturnType<typeof labelJson>>;

/** A host as `GET /hosts` lists it. */
export type HostListItem = Json<ReturnType<typeof hostJson>> & {
  mdm?: Json<ReturnType<typeof hostListMdmJson>>;
};

/** A host as `GET /hosts/:id` shows it. */
export type HostDetail = Json<Awaited<ReturnType<HostService['detail']>>>;

export interface LoginResponse {
  user: User;
  available_teams: AvailableTeam[];
  token: string;
}

export interface MeResponse {
  user: User;
  available_teams: AvailableTeam[];
}

/** Fleet's paging meta on lists that have it. */
export interface PageMeta {
  has_next_results: boolean;
  has_previous_results: boolean;
}
