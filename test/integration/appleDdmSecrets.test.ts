import { expect, it } from 'vitest';
import { api, setupAdmin } from '../helpers/api.js';
import { seedEnrollment } from '../helpers/appleSeed.js';
import { describeEachDialect } from '../helpers/testServer.js';

// A test configuration whose payload carries a secret, as Fleet allows in declarations.
const echo = Buffer.from(
  JSON.stringify({
    Type: 'com.apple.configuration.management.test',
    Identifier: 'com.example.echo',
    Payload: { Echo: 'banner: $FLEET_SECRET_BANNER' },
  }),
);

describeEachDialect('DDM declarations with secrets', (server) => {
  it('fills secrets when the device fetches the declaration; a changed secret changes the ServerToken; a gone one fails the row', async () => {
    const srv = server();
    const s = srv.app.services;
    const { db } = s.database;
    const token = await setupAdmin(srv);
    const putSecret = (value: string) =>
      api(srv, 'PUT', '/api/latest/fleet/spec/secret_variables', {
        token,
        body: { secrets: [{ name: 'BANNER', value }] },
      });
    // A value that needs JSON escaping.
    const first = 'He said "hi"\\ now';
    expect((await putSecret(first)).status).toBe(200);
    const dev = await seedEnrollment(db, { topic: 'com.apple.mgmt.External.ddm' });
    const uuid = await s.profiles.create(null, 0, { filename: 'Echo.json', bytes: echo }, {});
    await s.profileManager.tick();
    const ddm = (endpoint: string) =>
      s.declarativeManagement.handle({
        enrollmentId: dev.udid,
        hostUuid: dev.udid,
        endpoint,
        data: undefined,
      });
    const row = () =>
      db
        .selectFrom('host_mdm_apple_declarations')
        .selectAll()
        .where('host_uuid', '=', dev.udid)
        .where('declaration_uuid', '=', uuid)
        .executeTakeFirstOrThrow();

    const r1 = await row();
    let got = await ddm('declaration/configuration/com.example.echo');
    expect(got.status).toBe(200);
    expect(JSON.parse(String(got.body))).toEqual({
      Type: 'com.apple.configuration.management.test',
      Identifier: 'com.example.echo',
      Payload: { Echo: `banner: ${first}` },
      ServerToken: r1.token,
    });
    const stored = await db
      .selectFrom('mdm_apple_declarations')
      .select('raw_json')
      .where('declaration_uuid', '=', uuid)
      .executeTakeFirstOrThrow();
    expect(stored.raw_json).toContain('$FLEET_SECRET_BANNER');
    expect(stored.raw_json).not.toContain('hi');

    // A new value: new ServerToken (the device fetches it again), new value served.
    const second = 'second banner';
    expect((await putSecret(second)).status).toBe(200);
    await s.profileManager.tick();
    const r2 = await row();
    expect(r2.token).not.toBe(r1.token);
    expect(r2.status).toBe('pending');
    got = await ddm('declaration/configuration/com.example.echo');
    expect(JSON.parse(String(got.body))).toMatchObject({
      Payload: { Echo: `banner: ${second}` },
      ServerToken: r2.token,
    });

    // The secret is gone when the device asks: not served, the host's row fails with the text.
    await db.deleteFrom('secret_variables').where('name', '=', 'BANNER').execute();
    got = await ddm('declaration/configuration/com.example.echo');
    expect(got.status).toBe(404);
    expect(String(got.body)).not.toContain(second);
    expect(await row()).toMatchObject({
      status: 'failed',
      detail: 'Couldn\'t add. Secret variable "$FLEET_SECRET_BANNER" missing from database',
    });
  });
});
