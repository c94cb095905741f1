import type { Generated, Kysely, Transaction } from 'kysely';
import type { Bool, DB } from '../db/schema.js';

/** `invites` (migration 0013). The token mailed to the invitee is kept only as its SHA-256. */
export interface InvitesTable {
  id: Generated<number>;
  invited_by: number;
  email: string;
  name: Generated<string>;
  position: Generated<string>;
  sso_enabled: Generated<Bool>;
  mfa_enabled: Generated<Bool>;
  global_role: string | null;
  token_hash: string;
  created_at: string;
  updated_at: string;
}

/** `invite_teams`: the team roles an invite grants. */
export interface InviteTeamsTable {
  invite_id: number;
  team_id: number;
  role: string;
}

/** `password_reset_requests`: one per forgot-password e-mail; the token is kept only as its SHA-256. */
export interface PasswordResetRequestsTable {
  id: Generated<number>;
  user_id: number;
  token_hash: string;
  expires_at: string;
  created_at: string;
}

/** The user-lifecycle tables, kept beside their stores (only src/admin reads them). */
export interface UserLifecycleTables {
  invites: InvitesTable;
  invite_teams: InviteTeamsTable;
  password_reset_requests: PasswordResetRequestsTable;
}

export type AdminDB = DB & UserLifecycleTables;

/** The shared database handle seen with the user-lifecycle tables added. */
export function withLifecycleTables(db: Kysely<DB>): Kysely<AdminDB>;
export function withLifecycleTables(db: Kysely<DB> | Transaction<DB>): Kysely<AdminDB> | Transaction<AdminDB>;
export function withLifecycleTables(db: Kysely<DB> | Transaction<DB>) {
  return db as unknown as Kysely<AdminDB> | Transaction<AdminDB>;
}
