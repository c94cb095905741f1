import { expect, it } from 'vitest';
import { DeclarativeManagementService } from '../../src/apple/ddm/service.js';
import { setupAdmin } from '../helpers/api.js';
import { seedEnrollment } from '../helpers/appleSeed.js';
import { describeEachDialect } from '../helpers/testServer.js';

// A passcode settings configuration as Fleet's documentation shows it.
const passcode = Buffer.from(
  JSON.stringify({
    Type: 'com.apple.configuration.passcode.settings',
    Identifier: 'com.fleetdm.config.passcode.settings',
    Payload: { RequireAlphanumericPasscode: true, MinimumLength: 10, MaximumFailedAttempts: 11 },
  }),
);

describeEachDialect('DDM declarations: manager, tokens, items, status', (server) => {
  it('delivers a declaration through the DDM endpoints and verifies it from the status report', async () => {
    const srv = server();
    const s = srv.app.services;
    await setupAdmin(srv);
    const dev = await seedEnrollment(s.database.db, { topic: 'com.apple.mgmt.External.x' });
    const uuid = await s.profiles.create(null, 0, { filename: 'Passcode.json', bytes: passcode }, {});
    expect(uuid).toMatch(/^d/);
    await s.profileManager.tick();
    const row = await s.database.db
      .selectFrom('host_mdm_apple_declarations')
      .selectAll()
      .where('host_uuid', '=', dev.udid)
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({ status: 'pending', operation_type: 'install', declaration_name: 'Passcode' });
    expect(row.token).toMatch(/^[0-9A-F]{32}$/);
    const queued = await s.database.db
      .selectFrom('nano_enrollment_queue as q')
      .innerJoin('nano_commands as c', 'c.command_uuid', 'q.command_uuid')
      .select('c.request_type')
      .where('q.id', '=', dev.udid)
      .execute();
    expect(queued.map((q) => q.request_type)).toContain('DeclarativeManagement');

    const ddm = (endpoint: string, data?: Buffer) =>
      s.declarativeManagement.handle({ enrollmentId: dev.udid, hostUuid: dev.udid, endpoint, data });
    const tokens = JSON.parse(String((await ddm('tokens')).body));
    expect(tokens.SyncTokens.Timestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(tokens.SyncTokens.DeclarationsToken).toBe(
      DeclarativeManagementService.declarationsToken([{ token: row.token }]),
    );
    const items = JSON.parse(String((await ddm('declaration-items')).body));
    expect(items.DeclarationsToken).toBe(tokens.SyncTokens.DeclarationsToken);
    expect(items.Declarations.Configurations).toEqual([
      { Identifier: 'com.fleetdm.config.passcode.settings', ServerToken: row.token },
    ]);
    expect(items.Declarations.Activations).toEqual([
      { Identifier: `${uuid}.activation`, ServerToken: row.token },
    ]);
    const decl = JSON.parse(
      String((await ddm('declaration/configuration/com.fleetdm.config.passcode.settings')).body),
    );
    expect(decl).toMatchObject({ Type: 'com.apple.configuration.passcode.settings', ServerToken: row.token });
    const act = JSON.parse(String((await ddm(`declaration/activation/${uuid}.activation`)).body));
    expect(act.Payload.StandardConfigurations).toEqual(['com.fleetdm.config.passcode.settings']);
    expect((await ddm('declaration/configuration/nope')).status).toBe(404);
    expect((await ddm('bogus')).status).toBe(400);

    const report = (valid: string, active: boolean) =>
      Buffer.from(
        JSON.stringify({
          StatusItems: {
            management: {
              declarations: {
                configurations: [
                  {
                    identifier: 'com.fleetdm.config.passcode.settings',
                    'server-token': row.token,
                    active,
                    valid,
                    reasons:
                      valid === 'invalid'
                        ? [{ code: 'Error.ConfigurationCannotBeApplied', description: 'bad' }]
                        : [],
                  },
                ],
              },
            },
          },
          FullReport: true,
        }),
      );
    expect((await ddm('status', report('invalid', false))).status).toBe(200);
    let r = await s.database.db
      .selectFrom('host_mdm_apple_declarations')
      .selectAll()
      .where('host_uuid', '=', dev.udid)
      .executeTakeFirstOrThrow();
    expect(r.status).toBe('failed');
    expect(r.detail).toContain('ConfigurationCannotBeApplied');
    await ddm('status', report('valid', true));
    r = await s.database.db
      .selectFrom('host_mdm_apple_declarations')
      .selectAll()
      .where('host_uuid', '=', dev.udid)
      .executeTakeFirstOrThrow();
    expect(r.status).toBe('verified');

    // Delete: removal by omission, then the status report without it ends the row.
    await s.profiles.delete(null, uuid);
    await s.profileManager.tick();
    const items2 = JSON.parse(String((await ddm('declaration-items')).body));
    expect(items2.Declarations.Configurations).toEqual([]);
    expect(items2.DeclarationsToken).toBe('');
    await ddm(
      'status',
      Buffer.from(
        JSON.stringify({
          StatusItems: { management: { declarations: { configurations: [] } } },
          FullReport: true,
        }),
      ),
    );
    expect(
      await s.database.db
        .selectFrom('host_mdm_apple_declarations')
        .selectAll()
        .where('host_uuid', '=', dev.udid)
        .execute(),
    ).toEqual([]);
  });
});
