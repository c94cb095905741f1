import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DepClient, DepError, type DepCredentials } from '../../src/clients/dep/client.js';
import { FakeDepServer } from '../../src/clients/dep/fakeServer.js';

let dep: FakeDepServer;
beforeAll(async () => {
  dep = await FakeDepServer.start();
});
afterAll(async () => {
  await dep.close();
});

/** A fresh ABM organisation with its own client, so no test sees another's state. */
function org(devices = 0): { creds: DepCredentials; client: DepClient; org: string } {
  const name = `Org ${Math.random().toString(36).slice(2)}`;
  const creds = dep.addAccount(name);
  dep.addDevices(
    creds.consumer_key,
    Array.from({ length: devices }, (_, i) => ({
      serial_number: `C02${String(i).padStart(7, '0')}`,
      model: 'MacBook Air',
      os: 'OSX',
      device_family: 'Mac',
    })),
  );
  return { creds, org: name, client: new DepClient({ baseUrl: dep.url, credentials: creds }) };
}

const sessionCalls = (orgName: string) =>
  dep.requests.filter((r) => r.path === '/session' && r.orgName === orgName).length;

async function refusal(p: Promise<unknown>): Promise<DepError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DepError);
  return err as DepError;
}

describe('DEP client against the local DEP stand-in', () => {
  it('signs /session with OAuth 1.0a once and reuses the session', async () => {
    const o = org();
    const account = await o.client.account();
    expect(account.org_name).toBe(o.org);
    await o.client.account();
    expect(sessionCalls(o.org)).toBe(1);
  });

  it('pages a fetch, reports the exhausted cursor, then syncs changes with op types', async () => {
    const o = org(250);
    const pages = [];
    let cursor: string | undefined;
    for (;;) {
      const page = await o.client.fetchDevices({ cursor, limit: 100 });
      pages.push(page.devices.length);
      cursor = page.cursor;
      if (!page.more_to_follow) break;
    }
    expect(pages).toEqual([100, 100, 50]);
    const exhausted = await refusal(o.client.fetchDevices({ cursor, limit: 100 }));
    expect([exhausted.status, exhausted.code, exhausted.cursorExhausted]).toEqual([
      400,
      'EXHAUSTED_CURSOR',
      true,
    ]);

    const quiet = await o.client.syncDevices({ cursor: cursor! });
    expect(quiet.devices).toEqual([]);
    dep.addDevices(o.creds.consumer_key, [{ serial_number: 'NEW0000001', device_family: 'iPhone' }]);
    dep.modifyDevice(o.creds.consumer_key, 'C020000001', { mdm_migration_deadline: '2027-01-01T00:00:00Z' });
    dep.deleteDevice(o.creds.consumer_key, 'C020000002');
    const changes = await o.client.syncDevices({ cursor: quiet.cursor });
    expect(changes.devices.map((d) => [d.serial_number, d.op_type])).toEqual([
      ['NEW0000001', 'added'],
      ['C020000001', 'modified'],
      ['C020000002', 'deleted'],
    ]);
    expect(changes.devices[1]!.mdm_migration_deadline).toBe('2027-01-01T00:00:00Z');
  });

  it('reports an expired cursor so the caller starts over', async () => {
    const o = org(3);
    const page = await o.client.fetchDevices({});
    dep.expireCursors();
    const err = await refusal(o.client.syncDevices({ cursor: page.cursor }));
    expect([err.status, err.code, err.cursorInvalid]).toEqual([400, 'EXPIRED_CURSOR', true]);
  });

  it('authenticates again and replays once when the session expired', async () => {
    const o = org(2);
    await o.client.account();
    dep.expireSessions();
    const page = await o.client.fetchDevices({});
    expect(page.devices).toHaveLength(2);
    expect(sessionCalls(o.org)).toBe(2);
  });

  it('follows a session Apple rotates in X-ADM-Auth-Session', async () => {
    const o = org(1);
    dep.rotateSessions = true;
    try {
      for (let i = 0; i < 3; i++) await o.client.account();
    } finally {
      dep.rotateSessions = false;
    }
    expect(sessionCalls(o.org)).toBe(1);
  });

  it('surfaces T_C_NOT_SIGNED without replaying', async () => {
    const o = org();
    await o.client.account();
    const before = dep.requests.filter((r) => r.orgName === o.org).length;
    dep.termsNotSigned = true;
    let err: DepError;
    try {
      err = await refusal(o.client.account());
    } finally {
      dep.termsNotSigned = false;
    }
    expect([err.status, err.code, err.termsNotSigned, err.tokenRejected]).toEqual([
      403,
      'T_C_NOT_SIGNED',
      true,
      false,
    ]);
    expect(dep.requests.filter((r) => r.orgName === o.org).length).toBe(before + 1);
  });

  it('reports an expired token and a wrong secret as a rejected token', async () => {
    const o = org();
    dep.expireToken(o.creds.consumer_key);
    const expired = await refusal(o.client.account());
    expect([expired.status, expired.path, expired.tokenRejected]).toEqual([401, '/session', true]);

    const p = org();
    const forged = new DepClient({
      baseUrl: dep.url,
      credentials: { ...p.creds, consumer_secret: 'not-the-secret' },
    });
    const bad = await refusal(forged.account());
    expect([bad.status, bad.code, bad.tokenRejected]).toEqual([403, 'ACCESS_DENIED', true]);
  });

  it('defines and assigns a profile with per-serial results, THROTTLED with its retry time', async () => {
    const o = org(3);
    const defined = await o.client.defineProfile({
      profile_name: 'Flotilla default',
      url: 'https://mdm.example.com/api/mdm/apple/enroll?token=t',
      await_device_configured: true,
    });
    expect(defined.profile_uuid).toMatch(/^[0-9A-F]{32}$/);
    expect((await o.client.getProfile(defined.profile_uuid)).profile_name).toBe('Flotilla default');
    dep.assignResults.set('C020000002', 'THROTTLED');
    try {
      const res = await o.client.assignProfile(defined.profile_uuid, ['C020000000', 'C020000002', 'UNKNOWN']);
      expect(res.devices).toEqual({
        C020000000: 'SUCCESS',
        C020000002: 'THROTTLED',
        UNKNOWN: 'NOT_ACCESSIBLE',
      });
      expect(res.retry_after_seconds).toBe(3600);
    } finally {
      dep.assignResults.delete('C020000002');
    }
    expect(dep.device(o.creds.consumer_key, 'C020000000')?.profile_uuid).toBe(defined.profile_uuid);
  });

  it('turns error pages and garbage into DepErrors', async () => {
    const o = org();
    await o.client.account();
    dep.overrideNext(502, '<html><body>Bad Gateway</body></html>');
    const page = await refusal(o.client.account());
    expect([page.status, page.code]).toEqual([502, '']);
    dep.overrideNext(200, 'not json', 'application/json');
    const garbage = await refusal(o.client.account());
    expect([garbage.status, garbage.code]).toEqual([200, 'MALFORMED_RESPONSE']);
  });
});
