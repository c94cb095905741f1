import { beforeAll, expect, it } from 'vitest';
import { api, setupAdmin } from '../helpers/api.js';
import { apiUser, createTeam } from '../helpers/adminFixtures.js';
import { mobileconfig, uploadProfile } from '../helpers/profiles.js';
import { describeEachDialect, testServerKey, type TestServer } from '../helpers/testServer.js';
import { SecretBox } from '../../src/crypto/secretbox.js';
import { SecretVariableStore } from '../../src/mdm/variables/secretStore.js';

/** Reads values back the way delivery does (opening what is sealed with the server key). */
const sealedStore = (srv: TestServer) =>
  new SecretVariableStore(srv.app.services.database.db, new SecretBox(testServerKey));

/** Every value this suite stores: none may appear in an answer, a log line or an activity. */
const values = {
  apiToken: 'tok-3f9a1c7e-never-shown',
  wifi: 'wifi-pass-8b2d-never-shown',
  wifi2: 'wifi-pass-changed-c41e',
  gitops: 'gitops-value-55aa-never-shown',
  maintainer: 'maint-value-77bb-never-shown',
};

/** The secret API's tables and the audit log, to show a refused request changed nothing. */
async function state(srv: TestServer) {
  const { db } = srv.app.services.database;
  return {
    secrets: await db.selectFrom('secret_variables').selectAll().orderBy('id').execute(),
    activities: await db.selectFrom('activities').selectAll().orderBy('id').execute(),
  };
}

const error = (status: number, message: string, name: string, reason: string) => ({
  status,
  body: { message, errors: [{ name, reason }], uuid: expect.any(String) },
});

describeEachDialect(
  'secret variables API',
  (server) => {
    let srv: TestServer;
    let admin = '';
    let maintainer = '';
    let gitops = '';
    let observer = '';
    let teamAdmin = '';
    let apiTokenId = 0;
    const answers: string[] = [];

    /** An API call whose answer is kept, to check later that no value ever left the server. */
    async function call(method: string, path: string, token: string, body?: unknown) {
      const res = await api(srv, method, `/api/latest/fleet${path}`, { token, body });
      answers.push(res.text);
      return { status: res.status, body: res.body };
    }

    beforeAll(async () => {
      srv = server();
      admin = await setupAdmin(srv);
      const teamId = await createTeam(srv, admin, 'Secrets team');
      maintainer = (await apiUser(srv, admin, 'Maint', { global_role: 'maintainer' })).token;
      gitops = (await apiUser(srv, admin, 'GitOps', { global_role: 'gitops' })).token;
      observer = (await apiUser(srv, admin, 'Observer', { global_role: 'observer' })).token;
      teamAdmin = (await apiUser(srv, admin, 'TeamAdmin', { teams: [{ id: teamId, role: 'admin' }] })).token;
    });

    it('creates a secret: id and name back, the value sealed at rest, an activity without it', async () => {
      const res = await call('POST', '/custom_variables', admin, {
        name: 'API_TOKEN',
        value: values.apiToken,
      });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ id: expect.any(Number), name: 'API_TOKEN' });
      apiTokenId = res.body.id;
      const { secrets, activities } = await state(srv);
      const row = secrets.find((s) => s.name === 'API_TOKEN')!;
      expect(Buffer.from(row.value).toString('latin1')).not.toContain(values.apiToken);
      expect((await sealedStore(srv).values(['API_TOKEN'])).get('API_TOKEN')).toBe(values.apiToken);
      const created = activities.filter((a) => a.activity_type === 'created_custom_variable');
      expect(created.map((a) => JSON.parse(a.details))).toEqual([
        { custom_variable_id: apiTokenId, custom_variable_name: 'API_TOKEN' },
      ]);
    });

    it("refuses bad creates with Fleet's status and body, storing nothing", async () => {
      const before = await state(srv);
      const cases: [unknown, { status: number; body: unknown }][] = [
        [
          { name: 'API_TOKEN', value: 'other-value' },
          error(
            409,
            'Resource Already Exists',
            'name',
            'A secret variable named "API_TOKEN" already exists.',
          ),
        ],
        [
          { name: 'lower_case', value: 'v' },
          error(422, 'Validation Failed', 'name', 'secret variable with invalid format: lower_case'),
        ],
        [
          { name: 'FLEET_SECRET-X', value: 'v' },
          error(422, 'Validation Failed', 'name', 'secret variable with invalid format: FLEET_SECRET-X'),
        ],
        [
          { name: '', value: 'v' },
          error(422, 'Validation Failed', 'name', 'secret variable name cannot be empty'),
        ],
        [
          { name: 'A'.repeat(256), value: 'v' },
          error(422, 'Validation Failed', 'name', `secret variable name is too long: ${'A'.repeat(256)}`),
        ],
        [
          { name: 'EMPTY', value: '' },
          error(422, 'Validation Failed', 'name', 'secret variable value cannot be empty'),
        ],
        [{ name: 'TYPED', value: 12345 }, error(400, 'Bad request', 'value', 'invalid value for value')],
        [{ name: 'NO_VALUE' }, error(400, 'Bad request', 'value', 'invalid value for value')],
      ];
      for (const [body, want] of cases) {
        expect(await call('POST', '/custom_variables', admin, body)).toEqual(want);
      }
      expect(await state(srv)).toEqual(before);
    });

    it('lets only global admins, maintainers and GitOps use the API; others get 403 and change nothing', async () => {
      const before = await state(srv);
      const denied = error(403, 'forbidden', 'base', 'forbidden');
      for (const token of [observer, teamAdmin]) {
        expect(await call('POST', '/custom_variables', token, { name: 'NOPE', value: 'x' })).toEqual(denied);
        expect(
          await call('PUT', '/spec/secret_variables', token, { secrets: [{ name: 'NOPE', value: 'x' }] }),
        ).toEqual(denied);
        expect(await call('GET', '/custom_variables', token)).toEqual(denied);
        expect(await call('DELETE', `/custom_variables/${apiTokenId}`, token)).toEqual(denied);
      }
      const none = await api(srv, 'GET', '/api/latest/fleet/custom_variables');
      expect(none.status).toBe(401);
      expect(await state(srv)).toEqual(before);

      const g = await call('POST', '/custom_variables', gitops, { name: 'GITOPS_ONE', value: values.gitops });
      expect(g.status).toBe(200);
      const m = await call('POST', '/custom_variables', maintainer, {
        name: 'MAINT_ONE',
        value: values.maintainer,
      });
      expect(m.status).toBe(200);
      expect((await call('GET', '/custom_variables', gitops)).status).toBe(200);
      expect((await call('GET', '/custom_variables', maintainer)).status).toBe(200);
    });

    it('lists ids and names by name, paged like Fleet, never values', async () => {
      const all = await call('GET', '/custom_variables', admin);
      expect(all.status).toBe(200);
      expect(all.body).toEqual({
        custom_variables: ['API_TOKEN', 'GITOPS_ONE', 'MAINT_ONE'].map((name) => ({
          id: expect.any(Number),
          name,
          created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
          updated_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/),
        })),
        meta: { has_next_results: false, has_previous_results: false },
        count: 3,
      });
      const page1 = await call('GET', '/custom_variables?page=1&per_page=1', admin);
      expect(page1.body.custom_variables.map((v: { name: string }) => v.name)).toEqual(['GITOPS_ONE']);
      expect(page1.body.meta).toEqual({ has_next_results: true, has_previous_results: true });
      expect(page1.body.count).toBe(3);
      const past = await call('GET', '/custom_variables?page=5&per_page=1', admin);
      expect(past.body).toEqual({
        custom_variables: null,
        meta: { has_next_results: false, has_previous_results: true },
        count: 3,
      });
      expect((await call('GET', '/custom_variables?per_page=0', admin)).status).toBe(400);
    });

    it('applies the GitOps spec: prefix dropped, dry run stores nothing, one bad name refuses all', async () => {
      const before = await state(srv);
      const dry = await call('PUT', '/spec/secret_variables', gitops, {
        secrets: [{ name: 'FLEET_SECRET_WIFI_PASSWORD', value: values.wifi }],
        dry_run: true,
      });
      expect(dry).toEqual({ status: 200, body: {} });
      expect(await state(srv)).toEqual(before);
      const bad = await call('PUT', '/spec/secret_variables', gitops, {
        secrets: [
          { name: 'FLEET_SECRET_WIFI_PASSWORD', value: values.wifi },
          { name: 'FLEET_SECRET_bad', value: 'x' },
        ],
      });
      expect(bad).toEqual(
        error(422, 'Validation Failed', 'name', 'secret variable with invalid format: bad'),
      );
      expect(await call('PUT', '/spec/secret_variables', gitops, { secrets: 'nope' })).toEqual(
        error(400, 'Bad request', 'secrets', 'invalid value for secrets'),
      );
      expect(await state(srv)).toEqual(before);

      const applied = await call('PUT', '/spec/secret_variables', gitops, {
        secrets: [{ name: 'FLEET_SECRET_WIFI_PASSWORD', value: values.wifi }],
      });
      expect(applied).toEqual({ status: 200, body: {} });
      const names = (await state(srv)).secrets.map((s) => s.name);
      expect(names).toContain('WIFI_PASSWORD');
      // The spec records no activity (as Fleet's does not).
      expect((await state(srv)).activities).toEqual(before.activities);
    });

    it('refuses to delete a secret a profile uses (409), deletes an unused one with an activity', async () => {
      const up = await uploadProfile(srv, admin, {
        name: 'wifi.mobileconfig',
        bytes: mobileconfig('com.example.wifi', 'Wi-Fi', 'com.apple.wifi.managed')
          .toString()
          .replace(
            '<key>orientation</key><string>v1</string>',
            '<key>Password</key><string>$FLEET_SECRET_WIFI_PASSWORD</string>',
          ),
      });
      expect(up.status).toBe(200);
      const wifiId = (await call('GET', '/custom_variables', admin)).body.custom_variables.find(
        (v: { name: string }) => v.name === 'WIFI_PASSWORD',
      ).id;
      const before = await state(srv);
      expect(await call('DELETE', `/custom_variables/${wifiId}`, admin)).toEqual(
        error(
          409,
          'Conflict',
          'base',
          'Couldn\'t delete. Secret variable "WIFI_PASSWORD" is used by configuration profile "Wi-Fi" in "No team".',
        ),
      );
      expect(await call('DELETE', '/custom_variables/999999', admin)).toEqual(
        error(404, 'Resource Not Found', 'base', 'SecretVariable 999999 was not found in the datastore'),
      );
      expect((await call('DELETE', '/custom_variables/abc', admin)).status).toBe(400);
      expect(await state(srv)).toEqual(before);

      expect(await call('DELETE', `/custom_variables/${apiTokenId}`, admin)).toEqual({
        status: 200,
        body: {},
      });
      const after = await state(srv);
      expect(after.secrets.map((s) => s.name)).not.toContain('API_TOKEN');
      const deleted = after.activities.filter((a) => a.activity_type === 'deleted_custom_variable');
      expect(deleted.map((a) => JSON.parse(a.details))).toEqual([
        { custom_variable_id: apiTokenId, custom_variable_name: 'API_TOKEN' },
      ]);
    });

    it('changing a value through the spec updates it (sealed again); the same value changes nothing', async () => {
      const row = async () => (await state(srv)).secrets.find((s) => s.name === 'WIFI_PASSWORD')!;
      const first = await row();
      await call('PUT', '/spec/secret_variables', admin, {
        secrets: [{ name: 'WIFI_PASSWORD', value: values.wifi }],
      });
      expect(await row()).toEqual(first);
      await call('PUT', '/spec/secret_variables', admin, {
        secrets: [{ name: 'WIFI_PASSWORD', value: values.wifi2 }],
      });
      const changed = await row();
      expect(changed.updated_at >= first.updated_at).toBe(true);
      expect(Buffer.from(changed.value).equals(Buffer.from(first.value))).toBe(false);
      expect((await sealedStore(srv).values(['WIFI_PASSWORD'])).get('WIFI_PASSWORD')).toBe(values.wifi2);
    });

    it('never returns, logs or records a value', async () => {
      const { activities } = await state(srv);
      const logs = JSON.stringify(srv.logLines);
      for (const v of Object.values(values)) {
        for (const a of answers) expect(a).not.toContain(v);
        expect(logs).not.toContain(v);
        expect(JSON.stringify(activities)).not.toContain(v);
      }
      // The log was written at all (the check above is not vacuous).
      expect(srv.logLines?.some((l) => l.msg === 'request')).toBe(true);
    });
  },
  { logLevel: 'info' },
);
