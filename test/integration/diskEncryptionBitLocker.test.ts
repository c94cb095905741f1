import { beforeAll, expect, it } from 'vitest';
import { dbNow } from '../../src/db/dialect.js';
import { HttpError } from '../../src/http/errors.js';
import { api, setupAdmin } from '../helpers/api.js';
import {
  activitiesOf,
  diskEncryptionTables,
  keyRow,
  openssl,
  seedWindowsPc,
  snapshot,
  windowsMdmOn,
} from '../helpers/diskEncryption.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const password = '123456-234567-345678-456789-567890-678901-789012-890123';

/**
 * BitLocker: fleetd escrows the recovery password (through the service, as the orbit endpoint calls
 * it), the server envelopes it to the Windows MDM certificate, and the statuses follow Fleet's
 * rules over the key, the disk state osquery reports and the client error.
 */
describeEachDialect(
  'disk encryption: BitLocker',
  (server) => {
    let admin = '';
    let pc: { hostId: number; uuid: string };

    const host = async (id = pc.hostId) => (await server().app.services.hostStore.getById(id))!;
    const setHost = (
      id: number,
      fields: { disk_encryption_enabled?: number | null; detail_updated_at?: string },
    ) => server().app.services.database.db.updateTable('hosts').set(fields).where('id', '=', id).execute();
    const setKeyTime = (id: number, at: string) =>
      server()
        .app.services.database.db.updateTable('host_disk_encryption_keys')
        .set({ updated_at: at })
        .where('host_id', '=', id)
        .execute();
    const status = async (id = pc.hostId) =>
      (await api(server(), 'GET', `/api/latest/fleet/hosts/${id}`, { token: admin })).body.host.mdm
        .os_settings.disk_encryption;
    const setEnabled = async (on: boolean) => {
      const res = await api(server(), 'POST', '/api/latest/fleet/disk_encryption', {
        token: admin,
        body: { enable_disk_encryption: on },
      });
      expect(res.status).toBe(204);
    };
    const escrow = (id: number, key: string | null, error = '') =>
      host(id).then((h) =>
        server().app.services.diskEncryption.escrowBitLockerKey(
          h,
          key === null ? null : Buffer.from(key),
          error,
        ),
      );
    const listIds = async (filter: string) =>
      (
        (await api(server(), 'GET', `/api/latest/fleet/hosts?${filter}`, { token: admin })).body.hosts as {
          id: number;
        }[]
      ).map((h) => h.id);

    beforeAll(async () => {
      admin = await setupAdmin(server());
      await windowsMdmOn(server());
      pc = await seedWindowsPc(server());
    });

    async function wstepOpen(srv: TestServer, base64: string): Promise<string> {
      const a = await srv.app.services.assets.get(['wstep_cert', 'wstep_key']);
      return openssl(
        ['cms', '-decrypt', '-inform', 'DER', '-in', '@bl.der', '-recip', '@w.pem', '-inkey', '@w.key'],
        {
          'bl.der': Buffer.from(base64, 'base64'),
          'w.pem': a.wstep_cert!,
          'w.key': a.wstep_key!,
        },
      ).toString();
    }

    it('refuses a PC that is not in Flotilla’s Windows MDM (or with Windows MDM off), storing nothing', async () => {
      const srv = server();
      const outsider = await seedWindowsPc(srv, { enrolled: false });
      // (The settings document changes below: Windows MDM goes off and on again.)
      const tables = diskEncryptionTables.filter((t) => t !== 'app_config_json');
      const before = await snapshot(srv, tables);
      const refused = async (id: number) => {
        const err = await escrow(id, password).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(HttpError);
        expect(err).toMatchObject({
          statusCode: 400,
          message: 'Bad request',
          errors: [{ name: 'base', reason: 'host is not enrolled with fleet' }],
        });
      };
      await refused(outsider.hostId);
      await srv.app.services.appConfig.patch({ mdm: { windows_enabled_and_configured: false } });
      await refused(pc.hostId);
      await windowsMdmOn(srv);
      expect(await snapshot(srv, tables)).toBe(before);
    });

    it('stores the recovery password enveloped to the Windows MDM certificate, never in clear', async () => {
      const srv = server();
      await escrow(pc.hostId, password);
      const row = (await keyRow(srv, pc.hostId))!;
      expect(Number(row.decryptable)).toBe(1);
      expect(row.client_error).toBe('');
      expect(row.base64_encrypted).not.toContain(password);
      expect(await wstepOpen(srv, row.base64_encrypted)).toBe(password);
      const all = await snapshot(srv, [...diskEncryptionTables, 'hosts']);
      expect(all).not.toContain(password);
      expect(all).not.toContain(Buffer.from(password).toString('base64'));
    });

    it('follows Fleet’s BitLocker statuses, in host detail, summary and list filters', async () => {
      const srv = server();
      const serverPc = await seedWindowsPc(srv, { isServer: true });
      // Off: no status at all.
      await setEnabled(false);
      await escrow(pc.hostId, password);
      expect(await status()).toEqual({ status: null, detail: '' });
      await setEnabled(true);
      // No Apple MDM here: no FileVault profile and no macOS activity, as in Fleet.
      const defs = await srv.app.services.database.db
        .selectFrom('mdm_apple_configuration_profiles')
        .selectAll()
        .execute();
      expect(defs).toEqual([]);

      // Key escrowed, disk state not reported since: still enforcing.
      await setHost(pc.hostId, {
        disk_encryption_enabled: null,
        detail_updated_at: '2000-01-01 00:00:00.000',
      });
      expect(await status()).toEqual({ status: 'enforcing', detail: '' });
      // Reported encrypted after the key arrived: verified.
      await setHost(pc.hostId, { disk_encryption_enabled: 1, detail_updated_at: dbNow(1000) });
      expect(await status()).toEqual({ status: 'verified', detail: '' });
      expect(await listIds('os_settings_disk_encryption=verified')).toEqual([pc.hostId]);
      expect(await listIds('macos_settings_disk_encryption=verified')).toEqual([]);
      const s = (await api(srv, 'GET', '/api/latest/fleet/disk_encryption', { token: admin })).body;
      expect(s.verified).toEqual({ macos: 0, windows: 1, linux: 0 });
      expect(s.enforcing).toEqual({ macos: 0, windows: 0, linux: 0 });
      // Encrypted, but reported before the key arrived: verifying.
      await setHost(pc.hostId, { detail_updated_at: '2001-01-01 00:00:00.000' });
      expect(await status()).toEqual({ status: 'verifying', detail: '' });
      // Reported unencrypted within the hour after the key arrived: verifying; after it, enforcing.
      await setHost(pc.hostId, { disk_encryption_enabled: 0, detail_updated_at: dbNow(1000) });
      expect(await status()).toEqual({ status: 'verifying', detail: '' });
      await setKeyTime(pc.hostId, '2001-01-01 00:00:00.000');
      expect(await status()).toEqual({ status: 'enforcing', detail: '' });
      expect(await listIds('os_settings_disk_encryption=enforcing')).toEqual([pc.hostId]);
      expect(
        (await api(srv, 'GET', '/api/latest/fleet/disk_encryption', { token: admin })).body.enforcing,
      ).toEqual({
        macos: 0,
        windows: 1,
        linux: 0,
      });
      // Servers have no status and are counted nowhere.
      expect(await status(serverPc.hostId)).toEqual({ status: null, detail: '' });
      expect(await listIds('os_settings_disk_encryption=enforcing')).not.toContain(serverPc.hostId);
      // Turned off again: nothing counts.
      await setEnabled(false);
      expect(await listIds('os_settings_disk_encryption=enforcing')).toEqual([]);
      expect(
        (await api(srv, 'GET', '/api/latest/fleet/disk_encryption', { token: admin })).body.enforcing.windows,
      ).toBe(0);
    });

    it('a team’s PCs follow the team’s own setting', async () => {
      const srv = server();
      const team = (
        await api(srv, 'POST', '/api/latest/fleet/teams', { token: admin, body: { name: 'PCs' } })
      ).body.team.id as number;
      const teamPc = await seedWindowsPc(srv, { teamId: team });
      await escrow(teamPc.hostId, password);
      await setHost(teamPc.hostId, { disk_encryption_enabled: 1, detail_updated_at: dbNow(1000) });
      const inTeam = () => listIds(`team_id=${team}&os_settings_disk_encryption=verified`);
      expect(await inTeam()).toEqual([]);
      expect(await status(teamPc.hostId)).toEqual({ status: null, detail: '' });
      const on = await api(srv, 'POST', '/api/latest/fleet/disk_encryption', {
        token: admin,
        body: { team_id: team, enable_disk_encryption: true },
      });
      expect(on.status).toBe(204);
      expect(await inTeam()).toEqual([teamPc.hostId]);
      expect(await status(teamPc.hostId)).toEqual({ status: 'verified', detail: '' });
      const s = await api(srv, 'GET', `/api/latest/fleet/disk_encryption?team_id=${team}`, { token: admin });
      expect(s.body.verified).toEqual({ macos: 0, windows: 1, linux: 0 });
      await api(srv, 'PATCH', `/api/latest/fleet/teams/${team}`, {
        token: admin,
        body: { mdm: { enable_disk_encryption: false } },
      });
      expect(await inTeam()).toEqual([]);
    });

    it('records a client error as failed and keeps the key escrowed before', async () => {
      const srv = server();
      await setEnabled(true);
      await escrow(pc.hostId, password);
      await escrow(pc.hostId, null, 'the TPM is not ready');
      const row = (await keyRow(srv, pc.hostId))!;
      expect(row.client_error).toBe('the TPM is not ready');
      expect(await wstepOpen(srv, row.base64_encrypted)).toBe(password);
      expect(await status()).toEqual({ status: 'failed', detail: 'the TPM is not ready' });
      expect(await listIds('os_settings_disk_encryption=failed')).toEqual([pc.hostId]);
      expect(
        (await api(srv, 'GET', '/api/latest/fleet/disk_encryption', { token: admin })).body.failed.windows,
      ).toBe(1);

      // A first report that is an error: an empty key, not decryptable.
      const other = await seedWindowsPc(srv);
      await escrow(other.hostId, null, 'x'.repeat(400));
      const r2 = (await keyRow(srv, other.hostId))!;
      expect(r2).toMatchObject({ base64_encrypted: '', client_error: 'x'.repeat(255) });
      expect(Number(r2.decryptable)).toBe(0);

      // The next good escrow clears the error.
      await escrow(pc.hostId, password);
      expect((await keyRow(srv, pc.hostId))!.client_error).toBe('');
    });

    it('lets an admin read the recovery password back (audited), and 404 without a key', async () => {
      const srv = server();
      await escrow(pc.hostId, password);
      const res = await api(srv, 'GET', `/api/latest/fleet/hosts/${pc.hostId}/encryption_key`, {
        token: admin,
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ host_id: pc.hostId, encryption_key: { key: password } });
      const [act] = await activitiesOf(srv, 'read_host_disk_encryption_key');
      expect(act.details).toMatchObject({ host_id: pc.hostId });

      const none = await seedWindowsPc(srv);
      const missing = await api(srv, 'GET', `/api/latest/fleet/hosts/${none.hostId}/encryption_key`, {
        token: admin,
      });
      expect(missing.status).toBe(404);
      expect(missing.body).toMatchObject({
        message: 'Resource Not Found',
        errors: [{ name: 'base', reason: expect.any(String) }],
      });
      const list = await api(srv, 'GET', '/api/latest/fleet/hosts', { token: admin });
      const byId = new Map((list.body.hosts as any[]).map((h) => [h.id, h.mdm.encryption_key_available]));
      expect(byId.get(pc.hostId)).toBe(true);
      expect(byId.get(none.hostId)).toBe(false);

      // Windows MDM off: Fleet's 400, nothing recorded.
      const count = (await activitiesOf(srv, 'read_host_disk_encryption_key')).length;
      await srv.app.services.appConfig.patch({ mdm: { windows_enabled_and_configured: false } });
      const off = await api(srv, 'GET', `/api/latest/fleet/hosts/${pc.hostId}/encryption_key`, {
        token: admin,
      });
      expect(off.status).toBe(400);
      expect(off.body.errors[0].reason).toBe("Windows MDM isn't turned on.");
      await windowsMdmOn(srv);
      expect((await activitiesOf(srv, 'read_host_disk_encryption_key')).length).toBe(count);
    });

    it('tells fleetd to enforce BitLocker as Fleet decides', async () => {
      const srv = server();
      await setEnabled(true);
      const de = srv.app.services.diskEncryption;
      const none = new Set<string>();
      await escrow(pc.hostId, password);
      await setHost(pc.hostId, { disk_encryption_enabled: 0 });
      expect(await de.orbitNotifications(await host(), none)).toEqual({ enforce_bitlocker_encryption: true });
      await setHost(pc.hostId, { disk_encryption_enabled: 1 });
      expect(await de.orbitNotifications(await host(), none)).toEqual({});
      await setHost(pc.hostId, { disk_encryption_enabled: null });
      expect(await de.orbitNotifications(await host(), none)).toEqual({});
      // Encrypted without a key we could decrypt.
      const fresh = await seedWindowsPc(srv);
      await setHost(fresh.hostId, { disk_encryption_enabled: 1 });
      expect(await de.orbitNotifications(await host(fresh.hostId), none)).toEqual({
        enforce_bitlocker_encryption: true,
      });
      // Never for servers, PCs outside our MDM, or with disk encryption off.
      const serverPc = await seedWindowsPc(srv, { isServer: true });
      await setHost(serverPc.hostId, { disk_encryption_enabled: 0 });
      expect(await de.orbitNotifications(await host(serverPc.hostId), none)).toEqual({});
      const outsider = await seedWindowsPc(srv, { enrolled: false });
      await setHost(outsider.hostId, { disk_encryption_enabled: 0 });
      expect(await de.orbitNotifications(await host(outsider.hostId), none)).toEqual({});
      await setEnabled(false);
      expect(await de.orbitNotifications(await host(fresh.hostId), none)).toEqual({});
    });

    it('never logs the recovery password', async () => {
      await escrow(pc.hostId, password);
      await api(server(), 'GET', `/api/latest/fleet/hosts/${pc.hostId}/encryption_key`, { token: admin });
      const text = JSON.stringify(server().logLines ?? []);
      expect(text).not.toContain(password);
    });
  },
  { logLevel: 'info' },
);
