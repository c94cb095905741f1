import type { FakeSmtpServer, ReceivedMail } from '../../src/clients/smtp/fakeServer.js';
import { api } from './api.js';
import type { TestServer } from './testServer.js';

/** Points the app config's Fleet `smtp_settings` at the local SMTP stand-in (plain SMTP, no TLS). */
export async function useFakeSmtp(
  srv: TestServer,
  smtp: FakeSmtpServer,
  extra: Record<string, unknown> = {},
): Promise<void> {
  await srv.app.services.appConfig.patch({
    smtp_settings: {
      enable_smtp: true,
      sender_address: 'fleet@example.com',
      server: smtp.host,
      port: smtp.port,
      authentication_type: 'authtype_none',
      enable_ssl_tls: false,
      enable_start_tls: false,
      verify_ssl_certs: false,
      ...extra,
    },
  });
}

export async function smtpOff(srv: TestServer): Promise<void> {
  await srv.app.services.appConfig.patch({ smtp_settings: { enable_smtp: false } });
}

/** The token of the first `<base><path>` link in a mail, checked to appear in both bodies. */
export function linkToken(mail: ReceivedMail, base: string, path: string): string {
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const m = new RegExp(`${escape(base.replace(/\/+$/, '') + path)}([A-Za-z0-9_-]+)`).exec(mail.text);
  if (!m) throw new Error(`no ${path} link in mail: ${mail.text}`);
  if (!mail.html.includes(m[1])) throw new Error('the HTML body lacks the link');
  return m[1];
}

/** Every row of every table, as one string (to prove a token is stored nowhere in clear). */
export async function dumpAllTables(srv: TestServer): Promise<string> {
  const { db } = srv.app.services.database;
  const out: unknown[] = [];
  for (const table of await db.introspection.getTables()) {
    out.push(
      await db
        .selectFrom(table.name as any)
        .selectAll()
        .execute(),
    );
  }
  return JSON.stringify(out);
}

/** Row contents of the tables a user-lifecycle request may change. */
export async function lifecycleSnapshot(srv: TestServer): Promise<Record<string, unknown>> {
  const { db } = srv.app.services.database;
  const out: Record<string, unknown> = {};
  for (const t of [
    'users',
    'user_teams',
    'sessions',
    'activities',
    'invites',
    'invite_teams',
    'password_reset_requests',
  ]) {
    out[t] = await db
      .selectFrom(t as any)
      .selectAll()
      .execute();
  }
  return out;
}

/** Creates a user with a password through `POST /users/admin` and returns its id. */
export async function passwordUser(
  srv: TestServer,
  adminToken: string,
  user: { name: string; email: string; password: string; global_role?: string; teams?: unknown[] },
): Promise<number> {
  const res = await api(srv, 'POST', '/api/latest/fleet/users/admin', { token: adminToken, body: user });
  if (res.status !== 200) throw new Error(`creating ${user.email} failed: ${res.status} ${res.text}`);
  return res.body.user.id;
}

export async function login(srv: TestServer, email: string, password: string): Promise<string> {
  const res = await api(srv, 'POST', '/api/v1/fleet/login', { body: { email, password } });
  if (res.status !== 200) throw new Error(`login ${email} failed: ${res.status} ${res.text}`);
  return res.body.token;
}

/** The log lines as text, to search for secrets. */
export function logText(srv: TestServer): string {
  return (srv.logLines ?? []).map((l) => JSON.stringify(l)).join('\n');
}
