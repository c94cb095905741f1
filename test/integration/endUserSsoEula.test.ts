import { afterAll, beforeAll, expect, it } from 'vitest';
import { FakeIdp } from '../../src/clients/saml/fakeIdp.js';
import { apiUser } from '../helpers/adminFixtures.js';
import { api, setupAdmin } from '../helpers/api.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';
import { configureIdp, followToIdp, postToAcs, startLogin } from './endUserSsoHelpers.js';

const pdf = Buffer.concat([Buffer.from('%PDF-1.4\n'), Buffer.alloc(2048, 0x41), Buffer.from('\n%%EOF\n')]);

let idp: FakeIdp;
beforeAll(async () => {
  idp = await new FakeIdp().start();
});
afterAll(async () => {
  await idp.close();
});

async function upload(
  srv: TestServer,
  token: string,
  file: { bytes: Buffer; name: string; field?: string } | undefined,
  path = '/api/latest/fleet/setup_experience/eula',
) {
  const form = new FormData();
  if (file)
    form.append(
      file.field ?? 'eula',
      new Blob([new Uint8Array(file.bytes)], { type: 'application/pdf' }),
      file.name,
    );
  else form.append('other', 'value');
  const res = await fetch(srv.url + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: form,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function eulaRows(srv: TestServer) {
  return srv.app.services.database.db.selectFrom('eulas').select(['id', 'name', 'token', 'sha256']).execute();
}

/** Runs `body` with no EULA stored, and leaves none behind. */
async function clean<T>(srv: TestServer, body: () => Promise<T>): Promise<T> {
  await srv.app.services.database.db.deleteFrom('eulas').execute();
  try {
    return await body();
  } finally {
    await srv.app.services.database.db.deleteFrom('eulas').execute();
  }
}

describeEachDialect(
  'EULA for end-user authentication',
  (server) => {
    let admin: string;
    beforeAll(async () => {
      const srv = server();
      admin = await setupAdmin(srv);
      // Apple MDM on (what an uploaded APNs certificate sets).
      await srv.app.services.appConfig.patch({ mdm: { enabled_and_configured: true } });
    });

    it('uploads, describes, serves and deletes the EULA', async () => {
      const srv = server();
      await clean(srv, async () => {
        const up = await upload(srv, admin, { bytes: pdf, name: 'Terms of use.pdf' });
        expect(up).toEqual({ status: 200, body: {} });

        const meta = await api(srv, 'GET', '/api/latest/fleet/setup_experience/eula/metadata', {
          token: admin,
        });
        expect(meta.status).toBe(200);
        expect(Object.keys(meta.body).sort()).toEqual(['created_at', 'name', 'token']);
        expect(meta.body.name).toBe('Terms of use.pdf');
        expect(meta.body.token).toMatch(/^[0-9a-f-]{36}$/);
        expect(meta.body.created_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$/);

        // The download needs no login: the token is the credential.
        const dl = await fetch(`${srv.url}/api/v1/fleet/setup_experience/eula/${meta.body.token}`);
        expect(dl.status).toBe(200);
        expect(dl.headers.get('content-type')).toBe('application/pdf');
        expect(dl.headers.get('x-content-type-options')).toBe('nosniff');
        expect(Buffer.from(await dl.arrayBuffer()).equals(pdf)).toBe(true);
        // The token does not reach the request log.
        expect(JSON.stringify(srv.logLines)).not.toContain(meta.body.token);

        // Older paths answer the same.
        const old = await api(srv, 'GET', '/api/v1/fleet/mdm/setup/eula/metadata', { token: admin });
        expect(old.body).toEqual(meta.body);

        const [row] = await eulaRows(srv);
        expect(row).toMatchObject({ id: 1, token: meta.body.token });
        expect(row.sha256).toMatch(/^[0-9a-f]{64}$/);

        const del = await api(srv, 'DELETE', `/api/latest/fleet/setup_experience/eula/${meta.body.token}`, {
          token: admin,
        });
        expect(del.status).toBe(200);
        expect(await eulaRows(srv)).toEqual([]);
        const gone = await api(srv, 'GET', '/api/latest/fleet/setup_experience/eula/metadata', {
          token: admin,
        });
        expect(gone.status).toBe(404);
        expect(gone.body.errors[0].reason).toBe('MDMEULA was not found in the datastore');
      });
    });

    it('keeps one EULA: a second upload is refused with 409', async () => {
      const srv = server();
      await clean(srv, async () => {
        expect((await upload(srv, admin, { bytes: pdf, name: 'a.pdf' })).status).toBe(200);
        const second = await upload(
          srv,
          admin,
          { bytes: pdf, name: 'b.pdf' },
          '/api/v1/fleet/mdm/apple/setup/eula',
        );
        expect(second.status).toBe(409);
        expect(second.body.message).toBe('Resource Already Exists');
        expect((await eulaRows(srv)).map((r) => r.name)).toEqual(['a.pdf']);
      });
    });

    it('refuses bad uploads with Fleet’s errors and stores nothing', async () => {
      const srv = server();
      await clean(srv, async () => {
        const notPdf = await upload(srv, admin, { bytes: Buffer.from('<html>hello</html>'), name: 'x.pdf' });
        expect(notPdf.status).toBe(400);
        expect(notPdf.body.errors[0].reason).toBe('invalid file type');
        const empty = await upload(srv, admin, { bytes: Buffer.alloc(0), name: 'x.pdf' });
        expect(empty.status).toBe(400);
        const noField = await upload(srv, admin, undefined);
        expect(noField.status).toBe(400);
        expect(noField.body.errors[0].reason).toBe('eula multipart field is required');
        const wrongField = await upload(srv, admin, { bytes: pdf, name: 'x.pdf', field: 'file' });
        expect(wrongField.body.errors[0].reason).toBe('eula multipart field is required');
        const tooBig = await upload(srv, admin, {
          bytes: Buffer.concat([Buffer.from('%PDF-1.7\n'), Buffer.alloc(70 * 1024)]),
          name: 'big.pdf',
        });
        expect(tooBig.status).toBe(413);
        const notMultipart = await api(srv, 'POST', '/api/latest/fleet/setup_experience/eula', {
          token: admin,
          body: { eula: 'x' },
        });
        expect(notMultipart.status).toBe(400);
        const dry = await upload(
          srv,
          admin,
          { bytes: pdf, name: 'x.pdf' },
          '/api/latest/fleet/setup_experience/eula?dry_run=true',
        );
        expect(dry.status).toBe(200);
        expect(await eulaRows(srv)).toEqual([]);
      });
    });

    it('answers 404 for unknown tokens and keeps the EULA', async () => {
      const srv = server();
      await clean(srv, async () => {
        await upload(srv, admin, { bytes: pdf, name: 'a.pdf' });
        const wrong = '00000000-0000-0000-0000-000000000000';
        expect((await fetch(`${srv.url}/api/v1/fleet/setup_experience/eula/${wrong}`)).status).toBe(404);
        const del = await api(srv, 'DELETE', `/api/latest/fleet/setup_experience/eula/${wrong}`, {
          token: admin,
        });
        expect(del.status).toBe(404);
        expect(await eulaRows(srv)).toHaveLength(1);
      });
    });

    it('is for global admins only, except the download', async () => {
      const srv = server();
      await clean(srv, async () => {
        const observer = await apiUser(srv, admin, `observer-${srv.dialect}`, { global_role: 'observer' });
        expect((await upload(srv, observer.token, { bytes: pdf, name: 'a.pdf' })).status).toBe(403);
        await upload(srv, admin, { bytes: pdf, name: 'a.pdf' });
        const meta = await api(srv, 'GET', '/api/latest/fleet/setup_experience/eula/metadata', {
          token: observer.token,
        });
        expect(meta.status).toBe(403);
        const anonymous = await api(srv, 'GET', '/api/latest/fleet/setup_experience/eula/metadata');
        expect(anonymous.status).toBe(401);
        const [row] = await eulaRows(srv);
        const del = await api(srv, 'DELETE', `/api/latest/fleet/setup_experience/eula/${row.token}`, {
          token: observer.token,
        });
        expect(del.status).toBe(403);
      });
    });

    it('needs Apple MDM turned on', async () => {
      const srv = server();
      await clean(srv, async () => {
        await srv.app.services.appConfig.patch({ mdm: { enabled_and_configured: false } });
        try {
          const res = await upload(srv, admin, { bytes: pdf, name: 'a.pdf' });
          expect(res.status).toBe(400);
          expect(res.body.errors[0].reason).toMatch(/^MDM features aren't turned on/);
        } finally {
          await srv.app.services.appConfig.patch({ mdm: { enabled_and_configured: true } });
        }
      });
    });

    it('is offered after SSO: the callback carries eula_token and its page links the EULA', async () => {
      const srv = server();
      await clean(srv, async () => {
        await configureIdp(srv, admin, idp);
        await upload(srv, admin, { bytes: pdf, name: 'Terms.pdf' });
        const [row] = await eulaRows(srv);
        const login = await startLogin(srv);
        const answer = await followToIdp(login);
        const acs = await postToAcs(answer.acsUrl, {
          sessionId: login.sessionId,
          samlResponse: answer.samlResponse,
        });
        const done = new URL(acs.location, srv.url);
        expect([...done.searchParams.keys()]).toEqual([
          'enrollment_reference',
          'eula_token',
          'profile_token',
        ]);
        expect(done.searchParams.get('eula_token')).toBe(row.token);
        const html = await (await fetch(done)).text();
        expect(html).toContain(`/api/v1/fleet/setup_experience/eula/${row.token}`);
        expect(html).toContain('Agree and continue');
        expect(html).toContain(`enrollment_reference=${done.searchParams.get('enrollment_reference')}`);
      });
    });
  },
  { logLevel: 'info', eulaMaxUploadBytes: 64 * 1024, mdmSsoRequestsPerAddress: 10_000 },
);
