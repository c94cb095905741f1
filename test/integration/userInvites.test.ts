import { createHash } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startFakeSmtpServer, type FakeSmtpServer } from '../../src/clients/smtp/fakeServer.js';
import { toDbTime } from '../../src/db/dialect.js';
import { apiUser, createTeam } from '../helpers/adminFixtures.js';
import { api, setupAdmin } from '../helpers/api.js';
import { describeEachDialect } from '../helpers/testServer.js';
import {
  dumpAllTables,
  lifecycleSnapshot,
  linkToken,
  logText,
  login,
  smtpOff,
  useFakeSmtp,
} from '../helpers/userLifecycle.js';

const newPassword = 'Invitee-pass-1!';

describeEachDialect(
  'user invites',
  (server) => {
    let smtp: FakeSmtpServer;
    let admin = '';
    let adminId = 0;
    let base = '';
    const tokens: string[] = [];

    beforeAll(async () => {
      smtp = await startFakeSmtpServer();
      admin = await setupAdmin(server());
      adminId = (await api(server(), 'GET', '/api/v1/fleet/me', { token: admin })).body.user.id;
      base = await server().app.services.appConfig.serverUrl();
    });
    afterAll(async () => {
      await smtp?.close();
    });

    /** SMTP on, through the stand-in (setting it again changes nothing): each test that mails says so. */
    const smtpOn = () => useFakeSmtp(server(), smtp);

    /** Invites `email` as the admin (or `as`) and returns the token from the e-mail. */
    async function invite(email: string, body: Record<string, unknown>, as = admin) {
      const res = await api(server(), 'POST', '/api/v1/fleet/invites', {
        token: as,
        body: { email, ...body },
      });
      expect(res.status, res.text).toBe(200);
      const mail = await smtp.waitFor((m) => m.envelopeTo.includes(email.toLowerCase()));
      const token = linkToken(mail, base, '/login/invites/');
      tokens.push(token);
      return { invite: res.body.invite, mail, token };
    }

    it('refuses to invite while SMTP is off, and stores nothing', async () => {
      await smtpOff(server());
      const before = await lifecycleSnapshot(server());
      const mailsBefore = smtp.messages.length;
      const res = await api(server(), 'POST', '/api/v1/fleet/invites', {
        token: admin,
        body: { email: 'nobody@example.com', name: 'Nobody', global_role: 'observer' },
      });
      expect(res.status).toBe(500);
      expect(res.body).toMatchObject({
        message: 'email not configured',
        errors: [{ name: 'base', reason: 'email not configured' }],
      });
      expect(await lifecycleSnapshot(server())).toEqual(before);
      expect(smtp.messages.length).toBe(mailsBefore);
    });

    it('invites, mails the link, verifies the token, creates the user once; the user logs in', async () => {
      await smtpOn();
      const {
        invite: inv,
        mail,
        token,
      } = await invite('New.User@Example.com', {
        name: 'New User',
        position: 'Engineer',
        global_role: 'observer',
        sso_enabled: false,
      });
      expect(inv).toEqual({
        created_at: expect.stringMatching(/Z$/),
        updated_at: expect.stringMatching(/Z$/),
        id: expect.any(Number),
        invited_by: adminId,
        email: 'new.user@example.com',
        name: 'New User',
        position: 'Engineer',
        sso_enabled: false,
        mfa_enabled: false,
        global_role: 'observer',
        teams: [],
      });
      expect(mail.subject).toBe('You have been invited to Fleet!');
      expect(mail.envelopeFrom).toBe('fleet@example.com');
      expect(mail.text).toContain(`${base}/login/invites/${token}`);
      expect(mail.text).toContain('Admin');
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);

      // The token is stored only as its SHA-256.
      const { db } = server().app.services.database;
      const row = await db
        .selectFrom('invites' as any)
        .selectAll()
        .where('id', '=', inv.id)
        .executeTakeFirstOrThrow();
      expect((row as any).token_hash).toBe(createHash('sha256').update(token).digest('hex'));

      // Verify (no authentication), under every version prefix.
      for (const prefix of ['/api/v1/fleet', '/api/2022-04/fleet', '/api/latest/fleet']) {
        const v = await api(server(), 'GET', `${prefix}/invites/${token}`);
        expect(v.status).toBe(200);
        expect(v.body.invite).toEqual(inv);
      }

      const created = await api(server(), 'POST', '/api/v1/fleet/users', {
        body: {
          invite_token: token,
          name: 'Newton User',
          email: 'new.user@example.com',
          password: newPassword,
          password_confirmation: newPassword,
        },
      });
      expect(created.status, created.text).toBe(200);
      expect(created.body.user).toMatchObject({
        name: 'Newton User',
        email: 'new.user@example.com',
        global_role: 'observer',
        teams: [],
        api_only: false,
        force_password_reset: false,
      });
      expect(created.body).not.toHaveProperty('token');

      const t = await login(server(), 'new.user@example.com', newPassword);
      const me = await api(server(), 'GET', '/api/v1/fleet/me', { token: t });
      expect(me.body.user.email).toBe('new.user@example.com');

      // The invite is gone and the creation is in the audit log (the server as actor, as Fleet).
      const list = await api(server(), 'GET', '/api/v1/fleet/invites', { token: admin });
      expect(list.body.invites).toEqual([]);
      const acts = await api(server(), 'GET', '/api/v1/fleet/activities', { token: admin });
      const createdAct = acts.body.activities.find((a: any) => a.type === 'created_user');
      expect(createdAct.details).toMatchObject({ user_email: 'new.user@example.com' });
    });

    it('refuses a used invite with 404 and changes nothing', async () => {
      await smtpOn();
      const { token } = await invite('twice@example.com', { name: 'Twice', global_role: 'maintainer' });
      const body = { invite_token: token, name: 'Twice', email: 'twice@example.com', password: newPassword };
      expect((await api(server(), 'POST', '/api/latest/fleet/users', { body })).status).toBe(200);

      const before = await lifecycleSnapshot(server());
      const again = await api(server(), 'POST', '/api/latest/fleet/users', {
        body: { ...body, password: 'Another-pass-2?' },
      });
      expect(again.status).toBe(404);
      expect(again.body).toEqual({
        message: 'Resource Not Found',
        errors: [{ name: 'base', reason: 'Invite was not found in the datastore' }],
        uuid: expect.any(String),
      });
      const verify = await api(server(), 'GET', `/api/latest/fleet/invites/${token}`);
      expect(verify.status).toBe(404);
      expect(await lifecycleSnapshot(server())).toEqual(before);
      // The first password still works, the second never took.
      await login(server(), 'twice@example.com', newPassword);
    });

    it('refuses an expired invite (5 days) and a wrong e-mail, and changes nothing', async () => {
      await smtpOn();
      const { invite: inv, token } = await invite('late@example.com', {
        name: 'Late',
        global_role: 'observer',
      });
      const mismatch = await api(server(), 'POST', '/api/v1/fleet/users', {
        body: { invite_token: token, name: 'Late', email: 'other@example.com', password: newPassword },
      });
      expect(mismatch.status).toBe(422);
      expect(mismatch.body.errors).toEqual([
        { name: 'invite_token', reason: 'Invite Token does not match Email Address.' },
      ]);

      const { db } = server().app.services.database;
      await db
        .updateTable('invites' as any)
        .set({ created_at: toDbTime(new Date(Date.now() - 5 * 86_400_000 - 60_000)) })
        .where('id', '=', inv.id)
        .execute();
      const before = await lifecycleSnapshot(server());
      const verify = await api(server(), 'GET', `/api/v1/fleet/invites/${token}`);
      expect(verify.status).toBe(422);
      expect(verify.body).toMatchObject({
        message: 'Validation Failed',
        errors: [{ name: 'invite_token', reason: 'Invite token has expired.' }],
      });
      const create = await api(server(), 'POST', '/api/v1/fleet/users', {
        body: { invite_token: token, name: 'Late', email: 'late@example.com', password: newPassword },
      });
      expect(create.status).toBe(422);
      expect(create.body.errors).toEqual([{ name: 'invite_token', reason: 'Invite token has expired.' }]);
      expect(await lifecycleSnapshot(server())).toEqual(before);
    });

    it("checks the invitee's details with Fleet's messages", async () => {
      const res = await api(server(), 'POST', '/api/v1/fleet/users', { body: { email: 'x@example.com' } });
      expect(res.status).toBe(422);
      expect(res.body.errors).toEqual([
        { name: 'name', reason: 'Full name missing required argument' },
        { name: 'password', reason: 'Password missing required argument' },
        { name: 'invite_token', reason: 'Invite token missing required argument' },
      ]);
      const weak = await api(server(), 'POST', '/api/v1/fleet/users', {
        body: { invite_token: 'abc', name: 'X', email: 'x@example.com', password: 'short' },
      });
      expect(weak.status).toBe(422);
      expect(weak.body.errors[0].name).toBe('password');
      const bogus = await api(server(), 'POST', '/api/v1/fleet/users', {
        body: { invite_token: 'not-a-token', name: 'X', email: 'x@example.com', password: newPassword },
      });
      expect(bogus.status).toBe(404);
    });

    it('lets team admins invite into their teams only; a global role needs a global admin', async () => {
      await smtpOn();
      const teamA = await createTeam(server(), admin, 'Invite team A');
      const teamB = await createTeam(server(), admin, 'Invite team B');
      const teamAdmin = await apiUser(server(), admin, 'Team A admin', {
        teams: [{ id: teamA, role: 'admin' }],
      });
      const maintainer = await apiUser(server(), admin, 'Global maintainer', { global_role: 'maintainer' });

      const before = await lifecycleSnapshot(server());
      const mailsBefore = smtp.messages.length;
      const asGlobalAdmin = await api(server(), 'POST', '/api/v1/fleet/invites', {
        token: teamAdmin.token,
        body: { email: 'boss@example.com', name: 'Boss', global_role: 'admin' },
      });
      expect(asGlobalAdmin.status).toBe(403);
      expect(asGlobalAdmin.body).toMatchObject({ message: 'forbidden', errors: [{ name: 'base' }] });
      const otherTeam = await api(server(), 'POST', '/api/v1/fleet/invites', {
        token: teamAdmin.token,
        body: { email: 'b@example.com', name: 'B', teams: [{ id: teamB, role: 'observer' }] },
      });
      expect(otherTeam.status).toBe(403);
      const notAdmin = await api(server(), 'POST', '/api/v1/fleet/invites', {
        token: maintainer.token,
        body: { email: 'm@example.com', name: 'M', teams: [{ id: teamA, role: 'observer' }] },
      });
      expect(notAdmin.status).toBe(403);
      expect((await api(server(), 'GET', '/api/v1/fleet/invites', { token: maintainer.token })).status).toBe(
        403,
      );
      expect(await lifecycleSnapshot(server())).toEqual(before);
      expect(smtp.messages.length).toBe(mailsBefore);

      // Into their own team: allowed (the `fleets` alias too), and the user lands in that team.
      const { invite: inv, token } = await invite(
        'teammate@example.com',
        { name: 'Teammate', fleets: [{ id: teamA, role: 'maintainer' }] },
        teamAdmin.token,
      );
      expect(inv.global_role).toBeNull();
      // Fleet's UserTeam: the whole team object (counts included) with the role.
      expect(inv.teams).toEqual([
        expect.objectContaining({
          id: teamA,
          name: 'Invite team A',
          description: '',
          created_at: expect.stringMatching(/Z$/),
          user_count: 1,
          host_count: 0,
          mdm: expect.any(Object),
          role: 'maintainer',
        }),
      ]);
      expect(inv.teams[0]).not.toHaveProperty('secrets');
      // The team admin sees only invites within their teams; the global admin sees all of them.
      await invite('global-one@example.com', { name: 'Global', global_role: 'observer' });
      const mine = await api(server(), 'GET', '/api/v1/fleet/invites', { token: teamAdmin.token });
      expect(mine.body.invites.map((i: any) => i.email)).toEqual(['teammate@example.com']);
      const all = await api(server(), 'GET', '/api/v1/fleet/invites', { token: admin });
      expect(all.body.invites.map((i: any) => i.email)).toEqual(
        expect.arrayContaining(['teammate@example.com', 'global-one@example.com']),
      );
      const globalInvite = all.body.invites.find((i: any) => i.email === 'global-one@example.com');
      const touch = await api(server(), 'DELETE', `/api/v1/fleet/invites/${globalInvite.id}`, {
        token: teamAdmin.token,
      });
      expect(touch.status).toBe(403);

      const created = await api(server(), 'POST', '/api/v1/fleet/users', {
        body: { invite_token: token, name: 'Teammate', email: 'teammate@example.com', password: newPassword },
      });
      expect(created.status).toBe(200);
      expect(created.body.user).toMatchObject({
        global_role: null,
        teams: [{ id: teamA, name: 'Invite team A', role: 'maintainer' }],
      });
    });

    it('lists with a query and paging, edits and deletes invites; duplicates are refused', async () => {
      await smtpOn();
      const team = await createTeam(server(), admin, 'Invite team C');
      const { invite: inv, token } = await invite('edit-me@example.com', {
        name: 'Edit Me',
        global_role: 'observer',
      });

      const dupInvite = await api(server(), 'POST', '/api/v1/fleet/invites', {
        token: admin,
        body: { email: 'edit-me@example.com', name: 'Again', global_role: 'observer' },
      });
      expect(dupInvite.status).toBe(409);
      expect(dupInvite.body.message).toBe('Resource Already Exists');
      const existingUser = await api(server(), 'POST', '/api/v1/fleet/invites', {
        token: admin,
        body: { email: 'admin@example.com', name: 'Admin', global_role: 'observer' },
      });
      expect(existingUser.status).toBe(422);
      expect(existingUser.body.errors).toEqual([
        { name: 'email', reason: 'a user with this account already exists' },
      ]);
      const both = await api(server(), 'POST', '/api/v1/fleet/invites', {
        token: admin,
        body: { email: 'both@example.com', global_role: 'observer', teams: [{ id: team, role: 'observer' }] },
      });
      expect(both.status).toBe(422);

      const found = await api(server(), 'GET', '/api/v1/fleet/invites?query=edit-me&page=0&per_page=5', {
        token: admin,
      });
      expect(found.body.invites.map((i: any) => i.id)).toEqual([inv.id]);
      const paged = await api(server(), 'GET', '/api/v1/fleet/invites?per_page=1&order_key=email', {
        token: admin,
      });
      expect(paged.body.invites).toHaveLength(1);

      const patched = await api(server(), 'PATCH', `/api/v1/fleet/invites/${inv.id}`, {
        token: admin,
        body: { name: 'Edited', position: 'Lead', global_role: 'maintainer' },
      });
      expect(patched.status).toBe(200);
      expect(patched.body.invite).toMatchObject({
        id: inv.id,
        name: 'Edited',
        position: 'Lead',
        global_role: 'maintainer',
        email: 'edit-me@example.com',
      });
      // Editing keeps the token.
      expect((await api(server(), 'GET', `/api/v1/fleet/invites/${token}`)).body.invite.name).toBe('Edited');

      const missing = await api(server(), 'PATCH', '/api/v1/fleet/invites/999999', {
        token: admin,
        body: { name: 'X' },
      });
      expect(missing.status).toBe(404);

      expect(
        (await api(server(), 'DELETE', `/api/v1/fleet/invites/${inv.id}`, { token: admin })).status,
      ).toBe(200);
      expect((await api(server(), 'GET', `/api/v1/fleet/invites/${token}`)).status).toBe(404);
      expect(
        (await api(server(), 'DELETE', `/api/v1/fleet/invites/${inv.id}`, { token: admin })).status,
      ).toBe(404);
    });

    it('never logs an invite token and never stores one in clear', async () => {
      // Invites of its own (verified, used, edited, left pending), besides whatever the other tests sent.
      await smtpOn();
      const used = await invite('secret-used@example.com', { name: 'Used', global_role: 'observer' });
      expect((await api(server(), 'GET', `/api/v1/fleet/invites/${used.token}`)).status).toBe(200);
      const created = await api(server(), 'POST', '/api/v1/fleet/users', {
        body: {
          invite_token: used.token,
          name: 'Used',
          email: 'secret-used@example.com',
          password: newPassword,
        },
      });
      expect(created.status).toBe(200);
      const edited = await invite('secret-edited@example.com', { name: 'Edited', global_role: 'observer' });
      const patch = await api(server(), 'PATCH', `/api/v1/fleet/invites/${edited.invite.id}`, {
        token: admin,
        body: { name: 'Edited again' },
      });
      expect(patch.status).toBe(200);
      await invite('secret-pending-1@example.com', { name: 'Pending 1', global_role: 'observer' });
      await invite('secret-pending-2@example.com', { name: 'Pending 2', global_role: 'observer' });

      expect(tokens.length).toBeGreaterThan(3);
      const logs = logText(server());
      expect(logs.length).toBeGreaterThan(0);
      // The verify request is logged, with the token cut out of its URL.
      expect(logs).toContain('/api/v1/fleet/invites/:token');
      const dump = await dumpAllTables(server());
      for (const token of tokens) {
        expect(logs).not.toContain(token);
        expect(dump).not.toContain(token);
      }
    });
  },
  { logLevel: 'info', userTokenRequestsPerAddress: 1000 },
);
