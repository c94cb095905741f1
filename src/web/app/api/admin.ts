/**
 * Shapes of the admin endpoints the teams, labels, users and activities pages call, taken from the
 * server's JSON builders (type-only imports: nothing of the server reaches the bundle).
 */
import type { activityJson } from '../../../admin/activityJson.js';
import type { teamUserJson } from '../../../admin/userJson.js';
import type { secretJson } from '../../../teams/teamJson.js';
import type { Json, Label, PageMeta, Team, User } from './shapes.js';

export type EnrollSecret = Json<ReturnType<typeof secretJson>>;
/** A user as a team's `users` lists it, with the role in that team. */
export type TeamMember = Json<ReturnType<typeof teamUserJson>>;
export type Activity = Json<ReturnType<typeof activityJson>>;

export interface TeamsResponse {
  teams: Team[];
}
/** `GET /teams/:id` and the member endpoints: the team with its users (left out when none). */
export interface TeamResponse {
  team: Team & { users?: TeamMember[] };
}
export interface SecretsResponse {
  secrets: EnrollSecret[];
}
export interface LabelsResponse {
  labels: Label[];
}
export interface LabelResponse {
  label: Label;
}
export interface UsersResponse {
  users: User[];
}
export interface UserResponse {
  user: User;
}
export interface ActivitiesResponse {
  activities: Activity[];
  meta: PageMeta;
}
