import { api } from './api.js';
import type { TestServer } from './testServer.js';

/** Creates an API-only user with the given roles through the admin API and returns its id and token. */
export async function apiUser(
  srv: TestServer,
  adminToken: string,
  name: string,
  roles: { global_role?: string; teams?: { id: number; role: string }[] },
): Promise<{ id: number; token: string }> {
  const res = await api(srv, 'POST', '/api/latest/fleet/users/api_only', {
    token: adminToken,
    body: { name, ...roles },
  });
  if (res.status !== 200) throw new Error(`creating ${name} failed: ${res.status} ${res.text}`);
  return { id: res.body.user.id, token: res.body.token };
}

export async function createTeam(srv: TestServer, adminToken: string, name: string): Promise<number> {
  const res = await api(srv, 'POST', '/api/latest/fleet/teams', { token: adminToken, body: { name } });
  if (res.status !== 200) throw new Error(`creating team ${name} failed: ${res.status} ${res.text}`);
  return res.body.team.id;
}

/** Row counts of the tables admin requests change, to prove a rejected request changed nothing. */
export async function snapshot(srv: TestServer) {
  const { db } = srv.app.services.database;
  const tables = [
    'users',
    'user_teams',
    'teams',
    'hosts',
    'labels',
    'label_membership',
    'enroll_secrets',
    'activities',
    'app_config_json',
  ] as const;
  const out: Record<string, unknown> = {};
  for (const t of tables) {
    out[t] = await db.selectFrom(t).selectAll().execute();
  }
  return out;
}
