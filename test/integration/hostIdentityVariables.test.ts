import { beforeAll, expect, it } from 'vitest';
import { dbNow } from '../../src/db/dialect.js';
import { HostIdentityStore } from '../../src/mdm/variables/hostIdentityStore.js';
import { HostIdentityVariables, hostIdentityNames } from '../../src/mdm/variables/hostIdentity.js';
import type { VariableHost } from '../../src/mdm/variables/sources.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

/** Inserts a host, and when given, the identity-provider account it enrolled as. */
async function host(
  srv: TestServer,
  uuid: string,
  serial: string,
  account?: { username: string; fullname: string; email: string },
): Promise<VariableHost> {
  const { db } = srv.app.services.database;
  const now = dbNow();
  const res = await db
    .insertInto('hosts')
    .values({ uuid, hardware_serial: serial, platform: 'darwin', created_at: now, updated_at: now })
    .executeTakeFirstOrThrow();
  if (account) {
    const accountUuid = `acct-${uuid}`;
    await db
      .insertInto('mdm_idp_accounts')
      .values({ uuid: accountUuid, ...account, created_at: now, updated_at: now })
      .execute();
    await db
      .insertInto('host_mdm_idp_accounts')
      .values({ host_uuid: uuid, account_uuid: accountUuid, created_at: now, updated_at: now })
      .execute();
  }
  return { hostUuid: uuid, hostId: Number(res.insertId), platform: 'darwin' };
}

describeEachDialect('host identity variables', (server) => {
  let anna: VariableHost;
  let bare: VariableHost;
  let noName: VariableHost;
  let source: HostIdentityVariables;

  beforeAll(async () => {
    const srv = server();
    anna = await host(srv, 'HOST-ANNA', 'C02ANNA', {
      username: 'anna@example.com',
      fullname: ' Anna Example ',
      email: 'anna.e@example.com',
    });
    bare = await host(srv, 'HOST-BARE', '');
    // An account without a username or full name counts as no IdP user for those variables.
    noName = await host(srv, 'HOST-NONAME', '  ', { username: '', fullname: '', email: 'x@example.com' });
    source = new HostIdentityVariables(new HostIdentityStore(srv.app.services.database.db));
  });

  const resolve = async (name: string) =>
    Object.fromEntries(await source.resolve(name, 'a-profile', [anna, bare, noName]));

  it('handles exactly the host identity variables', () => {
    for (const name of hostIdentityNames) expect(source.handles(name)).toBe(true);
    expect(source.handles('NDES_SCEP_CHALLENGE')).toBe(false);
    expect(source.handles('HOST_UUIDX')).toBe(false);
  });

  it("fills the host's UUID and serial; a blank serial fails with Fleet's text", async () => {
    expect(await resolve('HOST_UUID')).toEqual({
      'HOST-ANNA': { ok: true, value: 'HOST-ANNA' },
      'HOST-BARE': { ok: true, value: 'HOST-BARE' },
      'HOST-NONAME': { ok: true, value: 'HOST-NONAME' },
    });
    const noSerial = {
      ok: false,
      detail:
        "There is no serial number for this host. Fleet couldn't populate $FLEET_VAR_HOST_HARDWARE_SERIAL.",
    };
    expect(await resolve('HOST_HARDWARE_SERIAL')).toEqual({
      'HOST-ANNA': { ok: true, value: 'C02ANNA' },
      'HOST-BARE': noSerial,
      'HOST-NONAME': noSerial,
    });
  });

  it("fills the IdP fields from the account the host enrolled as, else fails with Fleet's texts", async () => {
    expect(await resolve('HOST_END_USER_EMAIL_IDP')).toEqual({
      'HOST-ANNA': { ok: true, value: 'anna.e@example.com' },
      'HOST-BARE': {
        ok: false,
        detail:
          "There is no IdP email for this host. Fleet couldn't populate $FLEET_VAR_HOST_END_USER_EMAIL_IDP. " +
          '[Learn more](https://fleetdm.com/learn-more-about/idp-email)',
      },
      'HOST-NONAME': { ok: true, value: 'x@example.com' },
    });
    const noUsername = (v: string) => ({
      ok: false,
      detail: `There is no IdP username for this host. Fleet couldn't populate $FLEET_VAR_${v}.`,
    });
    expect(await resolve('HOST_END_USER_IDP_USERNAME')).toEqual({
      'HOST-ANNA': { ok: true, value: 'anna@example.com' },
      'HOST-BARE': noUsername('HOST_END_USER_IDP_USERNAME'),
      'HOST-NONAME': noUsername('HOST_END_USER_IDP_USERNAME'),
    });
    expect(await resolve('HOST_END_USER_IDP_USERNAME_LOCAL_PART')).toEqual({
      'HOST-ANNA': { ok: true, value: 'anna' },
      'HOST-BARE': noUsername('HOST_END_USER_IDP_USERNAME_LOCAL_PART'),
      'HOST-NONAME': noUsername('HOST_END_USER_IDP_USERNAME_LOCAL_PART'),
    });
    const noFullName = {
      ok: false,
      detail:
        "There is no IdP full name for this host. Fleet couldn't populate $FLEET_VAR_HOST_END_USER_IDP_FULL_NAME.",
    };
    expect(await resolve('HOST_END_USER_IDP_FULL_NAME')).toEqual({
      'HOST-ANNA': { ok: true, value: 'Anna Example' },
      'HOST-BARE': noFullName,
      'HOST-NONAME': noFullName,
    });
  });

  it('fails IdP groups and department for every host (no SCIM data is kept)', async () => {
    const groups = await resolve('HOST_END_USER_IDP_GROUPS');
    expect(groups['HOST-ANNA']).toEqual({
      ok: false,
      detail:
        "There are no IdP groups for this host. Fleet couldn't populate $FLEET_VAR_HOST_END_USER_IDP_GROUPS.",
    });
    const department = await resolve('HOST_END_USER_IDP_DEPARTMENT');
    expect(department['HOST-BARE']).toEqual({
      ok: false,
      detail:
        "There is no IdP department for this host. Fleet couldn't populate $FLEET_VAR_HOST_END_USER_IDP_DEPARTMENT.",
    });
  });

  it("expands a profile per host through the server's expander, failing only the host without a value", async () => {
    const expander = server().app.services.profileExpander;
    const text =
      '<string>$FLEET_VAR_HOST_HARDWARE_SERIAL/${FLEET_VAR_HOST_END_USER_IDP_USERNAME_LOCAL_PART}</string>';
    const out = await expander.expandForHosts('a-profile', text, [anna, bare], 'xml');
    expect(out.get('HOST-ANNA')).toEqual({ ok: true, text: '<string>C02ANNA/anna</string>' });
    expect(out.get('HOST-BARE')).toEqual({
      ok: false,
      detail:
        "There is no serial number for this host. Fleet couldn't populate $FLEET_VAR_HOST_HARDWARE_SERIAL.",
    });
  });
});
