import { createHash } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startFakeSmtpServer, type FakeSmtpServer } from '../../src/clients/smtp/fakeServer.js';
import { apiUser } from '../helpers/adminFixtures.js';
import { adminPassword, api, setupAdmin, type ApiResponse } from '../helpers/api.js';
import { describeEachDialect } from '../helpers/testServer.js';
import {
  dumpAllTables,
  lifecycleSnapshot,
  linkToken,
  logText,
  login,
  passwordUser,
  smtpOff,
  useFakeSmtp,
} from '../helpers/userLifecycle.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
/** An error answer without its `uuid` (which differs on every answer). */
const withoutUuid = (body: Record<string, unknown>) => ({ ...body, uuid: undefined });

describeEachDialect(
  'passwords: forgot, reset, change, required reset',
  (server) => {
    let smtp: FakeSmtpServer;
    let admin = '';
    let base = '';
    /** Every reset token mailed in this suite, and the SMTP password: none may be logged. */
    const secrets: string[] = ['smtp-secret-1'];
    /** Every e-mail address forgot_password was asked for: none may be logged. */
    const asked = new Set<string>();
    let users = 0;

    beforeAll(async () => {
      // This stand-in wants SMTP AUTH, so the client's LOGIN authentication is exercised too.
      smtp = await startFakeSmtpServer({ users: { mailer: 'smtp-secret-1' } });
      admin = await setupAdmin(server());
      base = await server().app.services.appConfig.serverUrl();
    });
    afterAll(async () => {
      await smtp?.close();
    });

    const forgot = (email: string) => {
      asked.add(email);
      return api(server(), 'POST', '/api/v1/fleet/forgot_password', { body: { email } });
    };

    /** SMTP on, through the stand-in with LOGIN authentication (setting it again changes nothing). */
    const smtpOn = () =>
      useFakeSmtp(server(), smtp, {
        authentication_type: 'authtype_username_password',
        authentication_method: 'authmethod_login',
        user_name: 'mailer',
        password: 'smtp-secret-1',
      });

    /** A new observer with `password`, of the calling test alone (so no test sees another's changes). */
    async function freshUser(label: string, password: string) {
      const email = `riley-${label}-${++users}@example.com`;
      const id = await passwordUser(server(), admin, {
        name: `Riley ${label}`,
        email,
        password,
        global_role: 'observer',
      });
      return { id, email };
    }

    /** Asks for a reset link for `email`; the answer and the token of the mail that request sent. */
    async function mailedResetToken(email: string): Promise<{ res: ApiResponse; token: string }> {
      const start = smtp.messages.length;
      const res = await forgot(email);
      expect(res.status).toBe(202);
      expect(res.body).toEqual({});
      const mail = await smtp.waitFor(
        (m) => smtp.messages.indexOf(m) >= start && m.envelopeTo.includes(email),
      );
      expect(mail.authUser).toBe('mailer');
      expect(mail.subject).toBe('Reset Your Fleet Password');
      const token = linkToken(mail, base, '/login/reset?token=');
      secrets.push(token);
      return { res, token };
    }

    it('answers forgot_password with an error while SMTP is off, whatever the e-mail', async () => {
      await smtpOff(server());
      const user = await freshUser('off', 'Riley-pass-1!');
      const before = await lifecycleSnapshot(server());
      const mailsBefore = smtp.messages.length;
      const logStart = (server().logLines ?? []).length;
      const known = await forgot(user.email);
      const unknown = await forgot('nobody@example.com');
      for (const res of [known, unknown]) {
        expect(res.status).toBe(500);
        expect(res.body).toMatchObject({
          message: 'email not configured',
          errors: [{ name: 'base', reason: 'email not configured' }],
        });
      }
      // The same answer whether or not the account exists, no mail, nothing stored.
      expect(withoutUuid(known.body)).toEqual(withoutUuid(unknown.body));
      expect(smtp.messages.length).toBe(mailsBefore);
      expect(await lifecycleSnapshot(server())).toEqual(before);
      const lines = (server().logLines ?? []).slice(logStart);
      expect(lines.filter((l) => l.event === 'password_reset_not_sent')).toHaveLength(2);
    });

    it('answers 202 for an unknown e-mail and sends nothing', async () => {
      await smtpOn();
      const user = await freshUser('known', 'Riley-pass-1!');
      const start = smtp.messages.length;
      const before = await lifecycleSnapshot(server());
      const unknown = await forgot('nobody@example.com');
      expect(unknown.status).toBe(202);
      expect(unknown.body).toEqual({});
      expect(await lifecycleSnapshot(server())).toEqual(before);
      // A known e-mail gets the very same answer; its mail is the only one sent since.
      const known = await mailedResetToken(user.email);
      expect(known.res.status).toBe(unknown.status);
      expect(known.res.body).toEqual(unknown.body);
      expect(smtp.messages.slice(start).map((m) => m.envelopeTo)).toEqual([[user.email]]);
    });

    it('mails a one-time reset link; reset_password works once and ends every session', async () => {
      await smtpOn();
      const user = await freshUser('reset', 'Riley-pass-1!');
      const s1 = await login(server(), user.email, 'Riley-pass-1!');
      const s2 = await login(server(), user.email, 'Riley-pass-1!');
      const { token } = await mailedResetToken(user.email);

      // Stored only as its SHA-256.
      const { db } = server().app.services.database;
      const rows = await db
        .selectFrom('password_reset_requests' as any)
        .selectAll()
        .where('user_id', '=', user.id)
        .execute();
      expect(rows.map((r: any) => r.token_hash)).toEqual([sha256(token)]);

      // Bad input is refused and does not use the token up.
      const weak = await api(server(), 'POST', '/api/v1/fleet/reset_password', {
        body: { password_reset_token: token, new_password: 'weak' },
      });
      expect(weak.status).toBe(422);
      expect(weak.body.errors[0].name).toBe('new_password');
      const same = await api(server(), 'POST', '/api/v1/fleet/reset_password', {
        body: { password_reset_token: token, new_password: 'Riley-pass-1!' },
      });
      expect(same.status).toBe(422);
      expect(same.body.errors).toEqual([{ name: 'new_password', reason: 'Cannot reuse old password' }]);
      const empty = await api(server(), 'POST', '/api/v1/fleet/reset_password', {
        body: { password_reset_token: '', new_password: 'Riley-new-2?' },
      });
      expect(empty.status).toBe(422);
      expect(empty.body.errors).toEqual([{ name: 'token', reason: 'Token cannot be empty field' }]);

      const ok = await api(server(), 'POST', '/api/latest/fleet/reset_password', {
        body: {
          password_reset_token: token,
          new_password: 'Riley-new-2?',
          new_password_confirmation: 'Riley-new-2?',
        },
      });
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({});
      for (const t of [s1, s2])
        expect((await api(server(), 'GET', '/api/v1/fleet/me', { token: t })).status).toBe(401);
      const old = await api(server(), 'POST', '/api/v1/fleet/login', {
        body: { email: user.email, password: 'Riley-pass-1!' },
      });
      expect(old.status).toBe(401);
      await login(server(), user.email, 'Riley-new-2?');

      // Once only.
      const before = await lifecycleSnapshot(server());
      const again = await api(server(), 'POST', '/api/v1/fleet/reset_password', {
        body: { password_reset_token: token, new_password: 'Riley-third-3#' },
      });
      expect(again.status).toBe(401);
      expect(again.body).toEqual({
        message: 'Authentication failed',
        errors: [{ name: 'base', reason: 'Authentication failed' }],
        uuid: expect.any(String),
      });
      expect(await lifecycleSnapshot(server())).toEqual(before);
      const bogus = await api(server(), 'POST', '/api/v1/fleet/reset_password', {
        body: { password_reset_token: 'bogus', new_password: 'Riley-third-3#' },
      });
      expect(bogus.status).toBe(401);
    });

    it('refuses a reset link once it has expired', async () => {
      await smtpOn();
      const user = await freshUser('expired', 'Riley-new-2?');
      const { token } = await mailedResetToken(user.email);
      const { db } = server().app.services.database;
      await db
        .updateTable('password_reset_requests' as any)
        .set({ expires_at: '2020-01-01 00:00:00.000' })
        .where('user_id', '=', user.id)
        .execute();
      const late = await api(server(), 'POST', '/api/v1/fleet/reset_password', {
        body: { password_reset_token: token, new_password: 'Riley-late-4$' },
      });
      expect(late.status).toBe(401);
      await login(server(), user.email, 'Riley-new-2?');
    });

    it("change_password checks the old password with Fleet's answers and ends every session", async () => {
      const user = await freshUser('change', 'Riley-new-2?');
      const t = await login(server(), user.email, 'Riley-new-2?');
      const other = await login(server(), user.email, 'Riley-new-2?');
      const before = await lifecycleSnapshot(server());
      const wrong = await api(server(), 'POST', '/api/v1/fleet/change_password', {
        token: t,
        body: { old_password: 'Not-the-pass-9!', new_password: 'Riley-changed-5%' },
      });
      expect(wrong.status).toBe(422);
      expect(wrong.body).toEqual({
        message: 'Validation Failed',
        errors: [{ name: 'old_password', reason: 'old password does not match' }],
        uuid: expect.any(String),
      });
      const reuse = await api(server(), 'POST', '/api/v1/fleet/change_password', {
        token: t,
        body: { old_password: 'Riley-new-2?', new_password: 'Riley-new-2?' },
      });
      expect(reuse.body.errors).toEqual([{ name: 'new_password', reason: 'Cannot reuse old password' }]);
      const weak = await api(server(), 'POST', '/api/v1/fleet/change_password', {
        token: t,
        body: { old_password: 'Riley-new-2?', new_password: 'short' },
      });
      expect(weak.status).toBe(422);
      expect(weak.body.errors[0].name).toBe('new_password');
      const missing = await api(server(), 'POST', '/api/v1/fleet/change_password', {
        token: t,
        body: { new_password: 'Riley-changed-5%' },
      });
      expect(missing.body.errors).toEqual([{ name: 'old_password', reason: 'Old password cannot be empty' }]);
      expect(await lifecycleSnapshot(server())).toEqual(before);

      const ok = await api(server(), 'POST', '/api/v1/fleet/change_password', {
        token: t,
        body: { old_password: 'Riley-new-2?', new_password: 'Riley-changed-5%' },
      });
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({});
      for (const s of [t, other])
        expect((await api(server(), 'GET', '/api/v1/fleet/me', { token: s })).status).toBe(401);
      await login(server(), user.email, 'Riley-changed-5%');
      const noAuth = await api(server(), 'POST', '/api/v1/fleet/change_password', {
        body: { old_password: 'a', new_password: 'b' },
      });
      expect(noAuth.status).toBe(401);
    });

    it('require_password_reset logs the user out and blocks everything but me until the reset', async () => {
      const { id: userId, email } = await freshUser('required', 'Riley-changed-5%');
      const t = await login(server(), email, 'Riley-changed-5%');
      const req = await api(server(), 'POST', `/api/v1/fleet/users/${userId}/require_password_reset`, {
        token: admin,
        body: { require: true },
      });
      expect(req.status).toBe(200);
      expect(req.body.user).toMatchObject({ id: userId, force_password_reset: true });
      expect((await api(server(), 'GET', '/api/v1/fleet/me', { token: t })).status).toBe(401);

      const forced = await login(server(), email, 'Riley-changed-5%');
      const me = await api(server(), 'GET', '/api/v1/fleet/me', { token: forced });
      expect(me.status).toBe(200);
      expect(me.body.user.force_password_reset).toBe(true);
      for (const [method, path] of [
        ['GET', '/api/v1/fleet/users'],
        ['GET', '/api/latest/fleet/hosts'],
        ['GET', '/api/v1/fleet/config'],
        ['GET', `/api/v1/fleet/users/${userId}/sessions`],
        ['POST', '/api/v1/fleet/change_password'],
      ]) {
        const res = await api(server(), method, path, {
          token: forced,
          body: method === 'POST' ? {} : undefined,
        });
        expect(res.status, `${method} ${path}`).toBe(401);
        expect(res.body).toMatchObject({
          message: 'password reset required',
          errors: [{ name: 'base', reason: 'password reset required' }],
        });
      }

      const reuse = await api(server(), 'POST', '/api/v1/fleet/perform_required_password_reset', {
        token: forced,
        body: { new_password: 'Riley-changed-5%' },
      });
      expect(reuse.status).toBe(422);
      expect(reuse.body.errors).toEqual([{ name: 'new_password', reason: 'Cannot reuse old password' }]);
      const otherSession = await login(server(), email, 'Riley-changed-5%');
      const done = await api(server(), 'POST', '/api/v1/fleet/perform_required_password_reset', {
        token: forced,
        body: { new_password: 'Riley-reset-6&' },
      });
      expect(done.status).toBe(200);
      expect(done.body.user).toMatchObject({ id: userId, force_password_reset: false });
      // This session goes on and is no longer blocked; the other one ended.
      expect((await api(server(), 'GET', '/api/v1/fleet/users', { token: forced })).status).toBe(200);
      expect((await api(server(), 'GET', '/api/v1/fleet/me', { token: otherSession })).status).toBe(401);
      const notRequired = await api(server(), 'POST', '/api/v1/fleet/perform_required_password_reset', {
        token: forced,
        body: { new_password: 'Riley-again-7*' },
      });
      expect(notRequired.status).toBe(403);
      expect(notRequired.body).toMatchObject({
        message: 'Permission Denied',
        errors: [{ name: 'base', reason: 'cannot reset password' }],
      });

      // PATCH /users/:id with force_password_reset does the same.
      const patched = await api(server(), 'PATCH', `/api/v1/fleet/users/${userId}`, {
        token: admin,
        body: { force_password_reset: true },
      });
      expect(patched.status).toBe(200);
      expect(patched.body.user.force_password_reset).toBe(true);
      expect((await api(server(), 'GET', '/api/v1/fleet/me', { token: forced })).status).toBe(401);
      const again = await login(server(), email, 'Riley-reset-6&');
      expect((await api(server(), 'GET', '/api/v1/fleet/users', { token: again })).status).toBe(401);
      const cleared = await api(server(), 'POST', `/api/v1/fleet/users/${userId}/require_password_reset`, {
        token: admin,
        body: { require: false },
      });
      expect(cleared.body.user.force_password_reset).toBe(false);
      expect((await api(server(), 'GET', '/api/v1/fleet/users', { token: again })).status).toBe(200);

      // Only the user themselves or whoever may edit them.
      const observer = await apiUser(server(), admin, 'Observer', { global_role: 'observer' });
      const denied = await api(server(), 'POST', `/api/v1/fleet/users/${userId}/require_password_reset`, {
        token: observer.token,
        body: { require: true },
      });
      expect(denied.status).toBe(403);
      const unknown = await api(server(), 'POST', '/api/v1/fleet/users/999999/require_password_reset', {
        token: admin,
        body: { require: true },
      });
      expect(unknown.status).toBe(404);
    });

    it('POST /users/admin with admin_forced_password_reset makes the new user reset first', async () => {
      const res = await api(server(), 'POST', '/api/v1/fleet/users/admin', {
        token: admin,
        body: {
          name: 'Forced',
          email: 'forced@example.com',
          password: 'Forced-pass-1!',
          global_role: 'observer',
          admin_forced_password_reset: true,
        },
      });
      expect(res.status).toBe(200);
      expect(res.body.user.force_password_reset).toBe(true);
      const t = await login(server(), 'forced@example.com', 'Forced-pass-1!');
      expect((await api(server(), 'GET', '/api/v1/fleet/labels', { token: t })).status).toBe(401);
      const done = await api(server(), 'POST', '/api/v1/fleet/perform_required_password_reset', {
        token: t,
        body: { new_password: 'Forced-pass-2!' },
      });
      expect(done.status).toBe(200);
      expect((await api(server(), 'GET', '/api/v1/fleet/labels', { token: t })).status).toBe(200);
    });

    it('shows and ends sessions for their owner and global admins, never with a token', async () => {
      const { id: userId, email } = await freshUser('sessions', 'Riley-reset-6&');
      const mine = await login(server(), email, 'Riley-reset-6&');
      const list = await api(server(), 'GET', `/api/v1/fleet/users/${userId}/sessions`, { token: mine });
      expect(list.status).toBe(200);
      expect(list.body.sessions).toHaveLength(1);
      for (const s of list.body.sessions) {
        expect(Object.keys(s).sort()).toEqual(['created_at', 'session_id', 'user_id']);
        expect(s.user_id).toBe(userId);
      }
      expect(list.text).not.toContain(mine);
      expect(list.text).not.toContain(sha256(mine));
      const id = list.body.sessions.at(-1).session_id as number;

      const one = await api(server(), 'GET', `/api/v1/fleet/sessions/${id}`, { token: mine });
      expect(one.status).toBe(200);
      expect(one.body).toEqual({ session_id: id, user_id: userId, created_at: expect.stringMatching(/Z$/) });
      const asAdmin = await api(server(), 'GET', `/api/2022-04/fleet/sessions/${id}`, { token: admin });
      expect(asAdmin.status).toBe(200);
      const observer = await apiUser(server(), admin, 'Observer 2', { global_role: 'observer' });
      expect(
        (await api(server(), 'GET', `/api/v1/fleet/sessions/${id}`, { token: observer.token })).status,
      ).toBe(403);
      expect(
        (await api(server(), 'GET', `/api/v1/fleet/users/${userId}/sessions`, { token: observer.token }))
          .status,
      ).toBe(403);
      expect(
        (await api(server(), 'DELETE', `/api/v1/fleet/sessions/${id}`, { token: observer.token })).status,
      ).toBe(403);

      const del = await api(server(), 'DELETE', `/api/v1/fleet/sessions/${id}`, { token: admin });
      expect(del.status).toBe(200);
      expect((await api(server(), 'GET', '/api/v1/fleet/me', { token: mine })).status).toBe(401);
      expect((await api(server(), 'GET', `/api/v1/fleet/sessions/${id}`, { token: admin })).status).toBe(404);
    });

    it('never logs a reset token or the SMTP password, and stores no token in clear', async () => {
      // Its own reset (a used token and one left unused), besides whatever the other tests mailed.
      await smtpOn();
      const user = await freshUser('secrets', 'Riley-pass-1!');
      const { token } = await mailedResetToken(user.email);
      const ok = await api(server(), 'POST', '/api/v1/fleet/reset_password', {
        body: { password_reset_token: token, new_password: 'Riley-new-2?' },
      });
      expect(ok.status).toBe(200);
      await mailedResetToken(user.email);

      expect(secrets.length).toBeGreaterThanOrEqual(3);
      const logs = logText(server());
      expect(logs).toContain('password_reset_requested');
      const dump = await dumpAllTables(server());
      for (const s of secrets) expect(logs).not.toContain(s);
      for (const s of secrets.filter((x) => x !== 'smtp-secret-1')) expect(dump).not.toContain(s);
      // Nor the e-mail address of whoever asked.
      for (const email of asked) expect(logs).not.toContain(email);
      expect(logs).not.toContain(adminPassword);
    });
  },
  // These tests log in often; the login limit has its own tests.
  { logLevel: 'info', userTokenRequestsPerAddress: 1000, loginAttemptsPerAddress: 1000 },
);

describeEachDialect(
  'rate limit on the unauthenticated user-token endpoints',
  (server) => {
    it('answers 429 with Retry-After past the per-address limit, across those endpoints', async () => {
      await setupAdmin(server());
      const first = await api(server(), 'GET', '/api/v1/fleet/invites/no-such-token');
      expect(first.status).toBe(404);
      const second = await api(server(), 'POST', '/api/v1/fleet/users', { body: { invite_token: 'x' } });
      expect(second.status).toBe(422);
      const third = await api(server(), 'POST', '/api/v1/fleet/reset_password', {
        body: { password_reset_token: 'x', new_password: 'Valid-pass-1!' },
      });
      expect(third.status).toBe(401);
      const limited = await api(server(), 'POST', '/api/v1/fleet/forgot_password', {
        body: { email: 'admin@example.com' },
      });
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(limited.body).toMatchObject({
        message: expect.stringMatching(/^limit exceeded, retry after: \d+s$/),
        errors: [{ name: 'base' }],
      });
      // Login has its own limit.
      const loginOk = await api(server(), 'POST', '/api/v1/fleet/login', {
        body: { email: 'admin@example.com', password: adminPassword },
      });
      expect(loginOk.status).toBe(200);
    });
  },
  { userTokenRequestsPerAddress: 3, userTokenAddressWindowSeconds: 600 },
);
