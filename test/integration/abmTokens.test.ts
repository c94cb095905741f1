import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FakeDepServer } from '../../src/clients/dep/fakeServer.js';
import { api, setupAdmin } from '../helpers/api.js';
import { apiUser, createTeam } from '../helpers/adminFixtures.js';
import {
  abmPublicKey,
  makeServerToken,
  otherCertificate,
  sendToken,
  serverTokenPlaintext,
} from '../helpers/dep.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const fake = await FakeDepServer.start();
afterAll(() => fake.close());

const v1 = '/api/v1/fleet';
const invalidToken = 'Invalid token. Please provide a valid token from Apple Business Manager.';

/** Every row ABM token requests touch, to show a refused one changed nothing. */
async function snapshot(srv: TestServer) {
  const { db } = srv.app.services.database;
  return {
    tokens: await db.selectFrom('abm_tokens').selectAll().execute(),
    names: await db.selectFrom('nano_dep_names').selectAll().execute(),
    config: await db.selectFrom('app_config_json').selectAll().execute(),
  };
}

describeEachDialect(
  'ABM tokens',
  (server) => {
    let admin: string;
    let observer: string;
    let maintainer: string;
    let teamAdmin: string;
    let teamId: number;

    beforeAll(async () => {
      admin = await setupAdmin(server());
      teamId = await createTeam(server(), admin, 'Macs');
      observer = (await apiUser(server(), admin, 'obs', { global_role: 'observer' })).token;
      maintainer = (await apiUser(server(), admin, 'maint', { global_role: 'maintainer' })).token;
      teamAdmin = (await apiUser(server(), admin, 'tadmin', { teams: [{ id: teamId, role: 'admin' }] }))
        .token;
    });

    async function upload(orgName: string, expiry = '2030-06-01T00:00:00Z') {
      const creds = fake.addAccount(orgName, expiry);
      const cert = await abmPublicKey(server(), admin);
      const res = await sendToken(
        server(),
        admin,
        'POST',
        `${v1}/abm_tokens`,
        makeServerToken(cert, serverTokenPlaintext(creds)),
      );
      return { res, creds };
    }

    it('hands out one ABM public key (a PEM certificate, base64), created once, for admins only', async () => {
      const a = await api(server(), 'GET', `${v1}/mdm/apple/abm_public_key`, { token: admin });
      expect(a.status).toBe(200);
      const pem = Buffer.from(a.body.public_key, 'base64').toString();
      expect(pem).toMatch(/^-----BEGIN CERTIFICATE-----/);
      expect(new X509Certificate(pem).publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
      const b = await api(server(), 'GET', `${v1}/mdm/apple/ab_public_key`, { token: admin });
      expect(b.body.public_key).toBe(a.body.public_key);
      // Two processes asking at once still end with one key pair.
      const both = await Promise.all([
        server().app.services.appleDep.tokens.publicKeyPem(),
        server().app.services.appleDep.tokens.publicKeyPem(),
      ]);
      expect(both[0]).toBe(pem);
      expect(both[1]).toBe(pem);
      const rows = await server()
        .app.services.database.db.selectFrom('mdm_config_assets')
        .select(['name', 'value'])
        .where('name', 'in', ['abm_cert', 'abm_key'])
        .where('deletion_uuid', '=', '')
        .execute();
      expect(rows.map((r) => r.name).sort()).toEqual(['abm_cert', 'abm_key']);
      // The private key is sealed at rest.
      const key = rows.find((r) => r.name === 'abm_key')!;
      expect(Buffer.from(key.value).toString()).not.toContain('PRIVATE KEY');
      for (const t of [observer, maintainer, teamAdmin]) {
        expect((await api(server(), 'GET', `${v1}/mdm/apple/abm_public_key`, { token: t })).status).toBe(403);
      }
    });

    it('uploads a token: Fleet’s abm_token, credentials sealed, ABM on in the app config', async () => {
      const { res, creds } = await upload('Acme Upload');
      expect(res.status).toBe(200);
      const t = res.body.abm_token;
      expect(t).toEqual({
        id: expect.any(Number),
        apple_id: 'admin@acmeupload.example',
        org_name: 'Acme Upload',
        mdm_server_url: `${server().config.serverUrl}/mdm/apple/mdm`,
        renew_date: '2030-06-01T00:00:00Z',
        terms_expired: false,
        token_invalid: false,
        macos_team: { name: 'No team', team_id: 0 },
        ios_team: { name: 'No team', team_id: 0 },
        ipados_team: { name: 'No team', team_id: 0 },
      });
      const { db } = server().app.services.database;
      const row = await db
        .selectFrom('abm_tokens')
        .selectAll()
        .where('id', '=', t.id)
        .executeTakeFirstOrThrow();
      const stored = Buffer.from(row.token).toString('latin1');
      for (const secret of [
        creds.consumer_secret,
        creds.access_secret,
        creds.access_token,
        creds.consumer_key,
      ]) {
        expect(stored).not.toContain(secret);
      }
      const name = await db
        .selectFrom('nano_dep_names')
        .selectAll()
        .where('name', '=', 'Acme Upload')
        .executeTakeFirst();
      expect(name).toMatchObject({ name: 'Acme Upload', syncer_cursor: null });
      const cfg = await api(server(), 'GET', `${v1}/config`, { token: admin });
      expect(cfg.body.mdm.apple_bm_enabled_and_configured).toBe(true);

      const list = await api(server(), 'GET', `${v1}/abm_tokens`, { token: admin });
      expect(list.status).toBe(200);
      expect(list.body.abm_tokens).toContainEqual(t);
      const alias = await api(server(), 'GET', `${v1}/ab_tokens`, { token: admin });
      expect(alias.body.abm_tokens).toEqual(list.body.abm_tokens);
      const count = await api(server(), 'GET', `${v1}/abm_tokens/count`, { token: observer });
      expect(count.status).toBe(200);
      expect(count.body.count).toBe(list.body.abm_tokens.length);
    });

    it('refuses a second token of the same organisation with 409, storing nothing', async () => {
      expect((await upload('Acme Twice')).res.status).toBe(200);
      const before = await snapshot(server());
      const { res } = await upload('Acme Twice');
      expect(res.status).toBe(409);
      expect(res.body.errors[0].reason).toContain('Acme Twice');
      expect(await snapshot(server())).toEqual(before);
    });

    it('refuses tokens that do not decrypt with our key (Fleet’s 400), storing nothing', async () => {
      await abmPublicKey(server(), admin);
      const before = await snapshot(server());
      const creds = fake.addAccount('Acme Foreign');
      const foreign = makeServerToken(otherCertificate(), serverTokenPlaintext(creds));
      const vector = readFileSync(new URL('../vectors/dep/abm_server_token_test1.p7m', import.meta.url));
      for (const file of [foreign, vector, Buffer.from('not a token at all'), Buffer.alloc(100 * 1024, 65)]) {
        const res = await sendToken(server(), admin, 'POST', `${v1}/abm_tokens`, file);
        expect(res.status).toBe(400);
        expect(res.body.message).toBe('Bad request');
        if (file.length < 64 * 1024)
          expect(res.body.errors).toEqual([{ name: 'base', reason: invalidToken }]);
      }
      // A token for our key whose content is not the credentials JSON.
      const cert = await abmPublicKey(server(), admin);
      const garbage = makeServerToken(
        cert,
        'Content-Type: text/plain\r\n\r\n-----BEGIN MESSAGE-----\n{"x":1}\n-----END MESSAGE-----',
      );
      const g = await sendToken(server(), admin, 'POST', `${v1}/abm_tokens`, garbage);
      expect(g.status).toBe(400);
      expect(g.body.errors[0].reason).toBe(invalidToken);
      // No file, another field, not multipart at all.
      expect((await sendToken(server(), admin, 'POST', `${v1}/abm_tokens`, undefined)).status).toBe(400);
      expect((await sendToken(server(), admin, 'POST', `${v1}/abm_tokens`, foreign, 'file')).status).toBe(
        400,
      );
      const json = await api(server(), 'POST', `${v1}/abm_tokens`, { token: admin, body: { token: 'x' } });
      expect(json.status).toBe(400);
      expect(await snapshot(server())).toEqual(before);
    });

    it('refuses a token Apple rejects (expired) with Fleet’s 400, storing nothing', async () => {
      await abmPublicKey(server(), admin);
      const before = await snapshot(server());
      const { res } = await upload('Acme Expired', '2001-01-01T00:00:00Z');
      expect(res.status).toBe(400);
      expect(res.body.errors[0].reason).toMatch(/certificate or server token is invalid/);
      expect(await snapshot(server())).toEqual(before);
    });

    it('sets default teams per platform (teams and fleets spellings); unknown teams are a 400', async () => {
      const { res } = await upload('Acme Teams');
      const id = res.body.abm_token.id;
      const set = await api(server(), 'PATCH', `${v1}/abm_tokens/${id}/teams`, {
        token: admin,
        body: { macos_team_id: teamId, ios_team_id: 0, ipados_team_id: null },
      });
      expect(set.status).toBe(200);
      expect(set.body.abm_token.macos_team).toEqual({ name: 'Macs', team_id: teamId });
      expect(set.body.abm_token.ios_team).toEqual({ name: 'No team', team_id: 0 });
      const fleets = await api(server(), 'PATCH', `${v1}/ab_tokens/${id}/fleets`, {
        token: admin,
        body: { ipados_fleet_id: teamId },
      });
      expect(fleets.status).toBe(200);
      // Fleet resets what is not given to No team.
      expect(fleets.body.abm_token.macos_team).toEqual({ name: 'No team', team_id: 0 });
      expect(fleets.body.abm_token.ipados_team).toEqual({ name: 'Macs', team_id: teamId });

      const before = await snapshot(server());
      const bad = await api(server(), 'PATCH', `${v1}/abm_tokens/${id}/teams`, {
        token: admin,
        body: { macos_team_id: 999999 },
      });
      expect(bad.status).toBe(400);
      expect(bad.body.errors[0].reason).toBe('team with ID 999999 not found');
      const typed = await api(server(), 'PATCH', `${v1}/abm_tokens/${id}/teams`, {
        token: admin,
        body: { macos_team_id: 'one' },
      });
      expect(typed.status).toBe(400);
      expect(
        (await api(server(), 'PATCH', `${v1}/abm_tokens/999999/teams`, { token: admin, body: {} })).status,
      ).toBe(404);
      expect(await snapshot(server())).toEqual(before);

      // Deleting the team leaves the token with No team.
      const tmp = await createTeam(server(), admin, 'Temporary');
      await api(server(), 'PATCH', `${v1}/abm_tokens/${id}/teams`, {
        token: admin,
        body: { ios_team_id: tmp },
      });
      expect((await api(server(), 'DELETE', `${v1}/teams/${tmp}`, { token: admin })).status).toBe(200);
      const list = await api(server(), 'GET', `${v1}/abm_tokens`, { token: admin });
      const mine = list.body.abm_tokens.find((t: { id: number }) => t.id === id);
      expect(mine.ios_team).toEqual({ name: 'No team', team_id: 0 });
    });

    it('renews a token with one of the same organisation only', async () => {
      const { res } = await upload('Acme Renew', '2030-01-01T00:00:00Z');
      const id = res.body.abm_token.id;
      const cert = await abmPublicKey(server(), admin);
      const fresh = fake.addAccount('Acme Renew', '2031-02-03T04:05:06Z');
      const ok = await sendToken(
        server(),
        admin,
        'PATCH',
        `${v1}/abm_tokens/${id}/renew`,
        makeServerToken(cert, serverTokenPlaintext(fresh)),
      );
      expect(ok.status).toBe(200);
      expect(ok.body.abm_token).toMatchObject({
        id,
        org_name: 'Acme Renew',
        renew_date: '2031-02-03T04:05:06Z',
      });

      const before = await snapshot(server());
      const other = fake.addAccount('Somebody Else');
      const wrong = await sendToken(
        server(),
        admin,
        'PATCH',
        `${v1}/abm_tokens/${id}/renew`,
        makeServerToken(cert, serverTokenPlaintext(other)),
      );
      expect(wrong.status).toBe(400);
      expect(wrong.body.errors[0].reason).toContain('Somebody Else');
      const foreign = await sendToken(
        server(),
        admin,
        'PATCH',
        `${v1}/abm_tokens/${id}/renew`,
        makeServerToken(otherCertificate(), serverTokenPlaintext(fresh)),
      );
      expect(foreign.status).toBe(400);
      const missing = await sendToken(
        server(),
        admin,
        'PATCH',
        `${v1}/abm_tokens/999999/renew`,
        makeServerToken(cert, serverTokenPlaintext(fresh)),
      );
      expect(missing.status).toBe(404);
      expect(await snapshot(server())).toEqual(before);
    });

    it('deletes tokens (204); without tokens ABM is off again', async () => {
      const { res } = await upload('Acme Delete');
      const id = res.body.abm_token.id;
      const del = await api(server(), 'DELETE', `${v1}/abm_tokens/${id}`, { token: admin });
      expect(del.status).toBe(204);
      expect(del.text).toBe('');
      expect((await api(server(), 'DELETE', `${v1}/abm_tokens/${id}`, { token: admin })).status).toBe(404);
      const { db } = server().app.services.database;
      expect(
        await db.selectFrom('nano_dep_names').selectAll().where('name', '=', 'Acme Delete').execute(),
      ).toEqual([]);
      // Remove every token: the app-config flag follows.
      const list = await api(server(), 'GET', `${v1}/abm_tokens`, { token: admin });
      for (const t of list.body.abm_tokens) {
        expect((await api(server(), 'DELETE', `${v1}/ab_tokens/${t.id}`, { token: admin })).status).toBe(204);
      }
      const cfg = await api(server(), 'GET', `${v1}/config`, { token: admin });
      expect(cfg.body.mdm.apple_bm_enabled_and_configured).toBe(false);
      expect((await api(server(), 'GET', `${v1}/abm_tokens/count`, { token: admin })).body.count).toBe(0);
    });

    it('lets only global admins manage tokens (count: anyone who reads the config)', async () => {
      const { res } = await upload('Acme Rbac');
      const id = res.body.abm_token.id;
      const before = await snapshot(server());
      for (const t of [observer, maintainer, teamAdmin]) {
        expect((await api(server(), 'GET', `${v1}/abm_tokens`, { token: t })).status).toBe(403);
        expect((await sendToken(server(), t, 'POST', `${v1}/abm_tokens`, Buffer.from('x'))).status).toBe(403);
        expect((await api(server(), 'DELETE', `${v1}/abm_tokens/${id}`, { token: t })).status).toBe(403);
        expect(
          (await api(server(), 'PATCH', `${v1}/abm_tokens/${id}/teams`, { token: t, body: {} })).status,
        ).toBe(403);
        expect((await api(server(), 'GET', `${v1}/abm_tokens/count`, { token: t })).status).toBe(200);
      }
      expect((await api(server(), 'GET', `${v1}/abm_tokens`)).status).toBe(401);
      expect(await snapshot(server())).toEqual(before);
    });
  },
  { appleDepBaseUrl: fake.url },
);
