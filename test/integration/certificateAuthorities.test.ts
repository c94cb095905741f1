import { afterAll, beforeAll, expect, it } from 'vitest';
import { startNdesStandIn, type NdesStandIn } from '../../src/certificateAuthorities/ndes/standIn.js';
import { apiUser } from '../helpers/adminFixtures.js';
import { api, setupAdmin } from '../helpers/api.js';
import { startScepUpstream, type ScepUpstream } from '../helpers/scepUpstream.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const v1 = '/api/v1/fleet';
const upstreamChallenge = 'upstream-static-challenge-1';
const ndesPassword = 'ndes-admin-pw-7f3!';

let upstream: ScepUpstream;
let ndes: NdesStandIn;
beforeAll(async () => {
  upstream = await startScepUpstream(upstreamChallenge);
  ndes = await startNdesStandIn({
    username: 'svc_ndes',
    password: ndesPassword,
    nextPassword: () => upstreamChallenge,
  });
}, 60_000);
afterAll(async () => {
  await upstream?.close();
  await ndes?.close();
});

/** What a refused request must leave untouched. */
async function state(srv: TestServer) {
  const { db } = srv.app.services.database;
  return {
    cas: await db.selectFrom('certificate_authorities').selectAll().orderBy('id').execute(),
    activities: await db.selectFrom('activities').select(['id', 'activity_type']).orderBy('id').execute(),
  };
}

const badRequest = (reason: string) => ({ message: 'Bad request', errors: [{ name: 'base', reason }] });
const validation = (name: string, reason: string) => ({
  message: 'Validation Failed',
  errors: [{ name, reason }],
});
const add = "Couldn't add certificate authority. ";
const edit = "Couldn't edit certificate authority. ";

describeEachDialect(
  'certificate authorities API',
  (server) => {
    let admin: string;
    beforeAll(async () => {
      admin = await setupAdmin(server());
    });

    const create = (body: unknown, token = admin) =>
      api(server(), 'POST', `${v1}/certificate_authorities`, { token, body });

    it('creates, lists, shows (secrets masked), edits and deletes a custom SCEP CA, with activities', async () => {
      const srv = server();
      const created = await create({
        custom_scep_proxy: { name: 'WIFI_CERTS', url: ` ${upstream.url} `, challenge: upstreamChallenge },
      });
      expect(created.status).toBe(200);
      expect(created.body).toEqual({ id: expect.any(Number), name: 'WIFI_CERTS', type: 'custom_scep_proxy' });
      const id = created.body.id as number;

      const list = await api(srv, 'GET', `${v1}/certificate_authorities`, { token: admin });
      expect(list.status).toBe(200);
      expect(list.body.certificate_authorities).toContainEqual({
        id,
        name: 'WIFI_CERTS',
        type: 'custom_scep_proxy',
      });

      const got = await api(srv, 'GET', `${v1}/certificate_authorities/${id}`, { token: admin });
      expect(got.status).toBe(200);
      expect(got.body).toEqual({
        id,
        type: 'custom_scep_proxy',
        name: 'WIFI_CERTS',
        url: upstream.url,
        challenge: '********',
        created_at: expect.stringMatching(/Z$/),
        updated_at: expect.stringMatching(/Z$/),
      });
      // Stored sealed: the row never holds the challenge in clear.
      const row = await srv.app.services.database.db
        .selectFrom('certificate_authorities')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      expect(Buffer.from(row.challenge_encrypted!).toString('latin1')).not.toContain(upstreamChallenge);

      const renamed = await api(srv, 'PATCH', `${v1}/certificate_authorities/${id}`, {
        token: admin,
        body: { custom_scep_proxy: { name: 'WIFI_CERTS_2', url: upstream.url, challenge: 'new-challenge' } },
      });
      expect(renamed.status).toBe(200);
      expect(renamed.body).toEqual({});
      const [withSecrets] = (await srv.app.services.certificateAuthorities.service.list()).filter(
        (c) => c.id === id,
      );
      expect(withSecrets.name).toBe('WIFI_CERTS_2');

      const del = await api(srv, 'DELETE', `${v1}/certificate_authorities/${id}`, { token: admin });
      expect(del.status).toBe(204);
      expect(del.text).toBe('');
      const gone = await api(srv, 'GET', `${v1}/certificate_authorities/${id}`, { token: admin });
      expect(gone.status).toBe(404);
      expect(gone.body).toMatchObject({
        message: 'Resource Not Found',
        errors: [{ name: 'base', reason: `CertificateAuthority ${id} was not found in the datastore` }],
      });

      const acts = await api(srv, 'GET', `${v1}/activities?per_page=50`, { token: admin });
      const ours = (acts.body.activities as { type: string; details: { name?: string } }[]).filter((a) =>
        a.type.endsWith('custom_scep_proxy'),
      );
      expect(ours.map((a) => [a.type, a.details.name])).toEqual(
        expect.arrayContaining([
          ['added_custom_scep_proxy', 'WIFI_CERTS'],
          ['edited_custom_scep_proxy', 'WIFI_CERTS_2'],
          ['deleted_custom_scep_proxy', 'WIFI_CERTS_2'],
        ]),
      );
    });

    it('creates an NDES CA after fetching a challenge from its admin page over NTLM, password masked', async () => {
      const srv = server();
      const before = ndes.issued.length;
      const res = await create({
        ndes_scep_proxy: {
          url: upstream.url,
          admin_url: ndes.adminUrl,
          username: 'CORP\\svc_ndes',
          password: ndesPassword,
        },
      });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ id: expect.any(Number), name: 'NDES', type: 'ndes_scep_proxy' });
      expect(ndes.issued.length).toBe(before + 1);
      const got = await api(srv, 'GET', `${v1}/certificate_authorities/${res.body.id}`, { token: admin });
      expect(got.body).toMatchObject({
        type: 'ndes_scep_proxy',
        name: 'NDES',
        admin_url: ndes.adminUrl,
        username: 'CORP\\svc_ndes',
        password: '********',
      });
      expect(JSON.stringify(got.body)).not.toContain(ndesPassword);

      // A second NDES is refused, and so is a change of admin URL whose credentials NDES rejects.
      const again = await state(srv);
      const second = await create({
        ndes_scep_proxy: {
          url: upstream.url,
          admin_url: ndes.adminUrl,
          username: 'svc_ndes',
          password: ndesPassword,
        },
      });
      expect(second.status).toBe(400);
      expect(second.body).toMatchObject(
        badRequest(`${add}Only one NDES SCEP certificate authority can be added.`),
      );
      const wrong = await api(srv, 'PATCH', `${v1}/certificate_authorities/${res.body.id}`, {
        token: admin,
        body: { ndes_scep_proxy: { admin_url: ndes.adminUrl, password: 'not-the-password' } },
      });
      expect(wrong.status).toBe(400);
      expect(wrong.body).toMatchObject(
        badRequest(`${edit}Invalid NDES SCEP admin URL or credentials. Please correct and try again.`),
      );
      const noPassword = await api(srv, 'PATCH', `${v1}/certificate_authorities/${res.body.id}`, {
        token: admin,
        body: { ndes_scep_proxy: { username: 'other' } },
      });
      expect(noPassword.status).toBe(400);
      expect(noPassword.body).toMatchObject(
        badRequest(`${edit}"password" must be set when modifying an existing certificate authority: NDES`),
      );
      expect(await state(srv)).toEqual(again);

      const del = await api(srv, 'DELETE', `${v1}/certificate_authorities/${res.body.id}`, { token: admin });
      expect(del.status).toBe(204);
    });

    it('refuses NDES admin pages that give no password, with Fleet words, storing nothing', async () => {
      const srv = server();
      const before = await state(srv);
      const body = (password = ndesPassword) => ({
        ndes_scep_proxy: { url: upstream.url, admin_url: ndes.adminUrl, username: 'svc_ndes', password },
      });
      const wrong = await create(body('wrong-password'));
      expect(wrong.status).toBe(400);
      expect(wrong.body).toMatchObject(
        badRequest(`${add}Invalid NDES SCEP admin URL or credentials. Please correct and try again.`),
      );
      ndes.mode = 'cacheFull';
      try {
        const full = await create(body());
        expect(full.status).toBe(400);
        expect(full.body).toMatchObject(
          badRequest(
            `${add}The NDES password cache is full. Please increase the number of cached passwords in NDES and try again.`,
          ),
        );
        ndes.mode = 'noPermission';
        const denied = await create(body());
        expect(denied.status).toBe(400);
        expect(denied.body).toMatchObject(
          badRequest(`${add}Insufficient permissions for NDES SCEP admin URL. Please correct and try again.`),
        );
      } finally {
        ndes.mode = 'password';
      }
      expect(await state(srv)).toEqual(before);
    });

    it('answers bad input with a clear 4xx and stores nothing', async () => {
      const srv = server();
      const ok = { name: 'GOOD_NAME', url: upstream.url, challenge: 'c' };
      const existing = await create({ custom_scep_proxy: { ...ok, name: 'TAKEN_NAME' } });
      expect(existing.status).toBe(200);
      const before = await state(srv);
      const cases: [unknown, number, unknown][] = [
        [{}, 400, badRequest(`${add}A certificate authority must be specified`)],
        [
          { custom_scep_proxy: ok, ndes_scep_proxy: { url: upstream.url } },
          400,
          badRequest(`${add}Only one certificate authority can be created at a time`),
        ],
        [
          { digicert: { name: 'D', url: 'https://one.digicert.com' } },
          400,
          badRequest(`${add}DigiCert certificate authorities are not supported by this server.`),
        ],
        [
          { custom_scep_proxy: { ...ok, name: 'has space' } },
          422,
          validation(
            'name',
            `${add}Invalid characters in the "name" field. Only letters, numbers and underscores allowed.`,
          ),
        ],
        [
          { custom_scep_proxy: { ...ok, name: '' } },
          422,
          validation('name', `${add}CA name cannot be empty`),
        ],
        [
          { custom_scep_proxy: { ...ok, url: 'bozo' } },
          422,
          validation('url', `${add}Invalid SCEP URL. Please correct and try again.`),
        ],
        [
          { custom_scep_proxy: { ...ok, url: 'ftp://example.com/scep' } },
          422,
          validation('url', `${add}SCEP URL scheme must be https or http`),
        ],
        [
          { custom_scep_proxy: { ...ok, challenge: '' } },
          422,
          validation('challenge', `${add}Custom SCEP Proxy challenge cannot be empty`),
        ],
        [
          { custom_scep_proxy: { ...ok, challenge: '********' } },
          422,
          validation('challenge', `${add}Custom SCEP Proxy challenge cannot be empty`),
        ],
        [
          { custom_scep_proxy: { ...ok, url: 'http://127.0.0.1:1/scep' } },
          400,
          badRequest(`${add}Invalid SCEP URL. Please correct and try again.`),
        ],
        [
          { custom_scep_proxy: { ...ok, url: `${upstream.url.replace('/scep', '')}/not-scep` } },
          400,
          badRequest(`${add}Invalid SCEP URL. Please correct and try again.`),
        ],
        [
          { custom_scep_proxy: { ...ok, name: 'TAKEN_NAME' } },
          400,
          badRequest(
            `${add}"TAKEN_NAME" name is already used by another custom SCEP certificate authority. Please choose a different name and try again.`,
          ),
        ],
        [
          { custom_scep_proxy: { ...ok, extra: 1 } },
          400,
          {
            message: 'Bad request',
            errors: [{ name: 'extra', reason: 'unsupported key provided: "extra"' }],
          },
        ],
      ];
      for (const [body, status, expected] of cases) {
        const res = await create(body);
        expect([JSON.stringify(body), res.status]).toEqual([JSON.stringify(body), status]);
        expect(res.body).toMatchObject(expected as object);
      }

      const id = existing.body.id as number;
      const patch = (body: unknown, target = id) =>
        api(srv, 'PATCH', `${v1}/certificate_authorities/${target}`, { token: admin, body });
      const patchCases: [unknown, number, number, unknown][] = [
        [{}, id, 400, badRequest(`${edit}A certificate authority must be specified`)],
        [
          { custom_scep_proxy: {} },
          id,
          400,
          badRequest(`${edit}Custom SCEP Proxy CA update payload is empty`),
        ],
        [
          { custom_scep_proxy: { url: upstream.url } },
          id,
          400,
          badRequest(
            `${edit}"challenge" must be set when modifying "url" of an existing certificate authority: TAKEN_NAME`,
          ),
        ],
        [
          { custom_scep_proxy: { name: 'bad name' } },
          id,
          422,
          validation(
            'name',
            `${edit}Invalid characters in the "name" field. Only letters, numbers and underscores allowed.`,
          ),
        ],
        [
          { ndes_scep_proxy: { name: 'X', password: 'p' } },
          id,
          400,
          badRequest(`${edit}The certificate authority types must be the same.`),
        ],
        [
          { custom_scep_proxy: { name: 'OTHER' } },
          999999,
          400,
          badRequest(`${edit}Certificate authority with ID 999999 does not exist.`),
        ],
      ];
      for (const [body, target, status, expected] of patchCases) {
        const res = await patch(body, target);
        expect([JSON.stringify(body), res.status]).toEqual([JSON.stringify(body), status]);
        expect(res.body).toMatchObject(expected as object);
      }
      const del = await api(srv, 'DELETE', `${v1}/certificate_authorities/999999`, { token: admin });
      expect(del.status).toBe(404);
      expect(del.body).toMatchObject({
        errors: [
          { name: 'base', reason: 'certificate authority with id 999999 was not found in the datastore' },
        ],
      });
      const badId = await api(srv, 'GET', `${v1}/certificate_authorities/abc`, { token: admin });
      expect(badId.status).toBe(400);
      expect(await state(srv)).toEqual(before);
    });

    it('lets global admins and GitOps manage CAs; every other role gets 403 and changes nothing', async () => {
      const srv = server();
      const ca = await create({ custom_scep_proxy: { name: 'RBAC_CA', url: upstream.url, challenge: 'c' } });
      expect(ca.status).toBe(200);
      const team = await api(srv, 'POST', `${v1}/teams`, { token: admin, body: { name: 'CA team' } });
      const teamId = team.body.team.id as number;
      const refused = [
        await apiUser(srv, admin, 'ca-maintainer', { global_role: 'maintainer' }),
        await apiUser(srv, admin, 'ca-observer', { global_role: 'observer' }),
        await apiUser(srv, admin, 'ca-observer-plus', { global_role: 'observer_plus' }),
        await apiUser(srv, admin, 'ca-team-admin', { teams: [{ id: teamId, role: 'admin' }] }),
      ];
      const before = await state(srv);
      const id = ca.body.id as number;
      for (const { token } of refused) {
        const calls = [
          await api(srv, 'GET', `${v1}/certificate_authorities`, { token }),
          await api(srv, 'GET', `${v1}/certificate_authorities/${id}`, { token }),
          await create({ custom_scep_proxy: { name: 'NOPE', url: upstream.url, challenge: 'c' } }, token),
          await api(srv, 'PATCH', `${v1}/certificate_authorities/${id}`, {
            token,
            body: { custom_scep_proxy: { name: 'NOPE' } },
          }),
          await api(srv, 'DELETE', `${v1}/certificate_authorities/${id}`, { token }),
        ];
        for (const res of calls) {
          expect(res.status).toBe(403);
          expect(res.body).toMatchObject({
            message: 'forbidden',
            errors: [{ name: 'base', reason: 'forbidden' }],
          });
        }
      }
      expect(await state(srv)).toEqual(before);
      const anonymous = await api(srv, 'GET', `${v1}/certificate_authorities`);
      expect(anonymous.status).toBe(401);

      const gitops = await apiUser(srv, admin, 'ca-gitops', { global_role: 'gitops' });
      const byGitops = await create(
        { custom_scep_proxy: { name: 'GITOPS_CA', url: upstream.url, challenge: 'c' } },
        gitops.token,
      );
      expect(byGitops.status).toBe(200);
      const listed = await api(srv, 'GET', `${v1}/certificate_authorities`, { token: gitops.token });
      expect(listed.status).toBe(200);
      expect(
        await api(srv, 'DELETE', `${v1}/certificate_authorities/${byGitops.body.id}`, {
          token: gitops.token,
        }),
      ).toMatchObject({ status: 204 });
    });

    it('never writes a CA secret to the log', async () => {
      const srv = server();
      const secret = 'log-probe-challenge-93b1';
      const res = await create({
        custom_scep_proxy: { name: 'LOG_PROBE', url: upstream.url, challenge: secret },
      });
      expect(res.status).toBe(200);
      await create({
        custom_scep_proxy: { name: 'LOG_PROBE_BAD', url: 'http://127.0.0.1:1/x', challenge: secret },
      });
      await create({
        ndes_scep_proxy: {
          url: upstream.url,
          admin_url: ndes.adminUrl,
          username: 'svc_ndes',
          password: 'pw-probe-55',
        },
      });
      const logs = JSON.stringify(srv.logLines);
      expect(srv.logLines!.length).toBeGreaterThan(0);
      expect(logs).not.toContain(secret);
      expect(logs).not.toContain('pw-probe-55');
      expect(logs).not.toContain(ndesPassword);
    });
  },
  { logLevel: 'debug', scepProxyTimeoutSeconds: 5 },
);
