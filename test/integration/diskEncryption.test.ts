import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parsePlist } from 'plist';
import { beforeAll, describe, expect, it } from 'vitest';
import type { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { createCertificateAuthority } from '../../src/crypto/certificateAuthority.js';
import { cmsVerifyAttached } from '../../src/crypto/cms.js';
import { sealBase64Envelope } from '../../src/crypto/escrowEnvelope.js';
import { dbNow } from '../../src/db/dialect.js';
import { api, setupAdmin } from '../helpers/api.js';
import { enrolledDevice } from '../helpers/appleDevice.js';
import { tokenForRole } from '../helpers/appleSeed.js';
import { activitiesOf, appleMdmOn, fileVaultBlob, keyRow } from '../helpers/diskEncryption.js';
import { appleHostRows, converge } from '../helpers/profiles.js';
import { describeEachDialect } from '../helpers/testServer.js';

const fvIdentifier = 'com.fleetdm.fleet.mdm.filevault';
const prk = 'ABCD-EFGH-IJKL-MNOP-QRST-UVWX';

/**
 * FileVault end to end on real simulated Macs: the setting, the profile the Macs install, key
 * escrow (through the service, as the osquery ingestion calls it), the hourly verification, the
 * statuses (host detail, summary, list filters), reading the key back, and turning it off.
 */
describeEachDialect(
  'disk encryption: FileVault',
  (server) => {
    let admin = '';
    let teamId = 0;
    let mac: SimulatedAppleDevice;
    let macId = 0;

    const hostDetail = async (id: number) =>
      (await api(server(), 'GET', `/api/latest/fleet/hosts/${id}`, { token: admin })).body.host;
    const fvRow = async (udid: string) =>
      (await appleHostRows(server(), udid)).find((r) => r.profile_identifier === fvIdentifier);
    const summary = async (team: number | null) =>
      (
        await api(server(), 'GET', `/api/latest/fleet/disk_encryption${team ? `?team_id=${team}` : ''}`, {
          token: admin,
        })
      ).body;
    const listIds = async (filter: string) => {
      const res = await api(server(), 'GET', `/api/latest/fleet/hosts?team_id=${teamId}&${filter}`, {
        token: admin,
      });
      expect(res.status).toBe(200);
      return (res.body.hosts as { id: number }[]).map((h) => h.id);
    };
    const host = async () => (await server().app.services.hostStore.getById(macId))!;
    /** Disk encryption on for the team and the profile installed (each test can start from it). */
    const enabled = async () => {
      const res = await api(server(), 'POST', '/api/latest/fleet/disk_encryption', {
        token: admin,
        body: { team_id: teamId, enable_disk_encryption: true },
      });
      expect(res.status).toBe(204);
      await converge(server(), [mac]);
    };
    /** ... and a good key escrowed and verified. */
    const escrowed = async () => {
      await enabled();
      await server().app.services.diskEncryption.escrowFileVaultKey(
        await host(),
        await fileVaultBlob(server(), prk),
      );
      await server().app.services.diskEncryption.verifyKeys();
      await converge(server(), [mac]);
    };

    // An admin, a team with one enrolled Mac in it, Apple MDM on.
    beforeAll(async () => {
      const srv = server();
      admin = await setupAdmin(srv);
      await appleMdmOn(srv);
      const t = await api(srv, 'POST', '/api/latest/fleet/teams', {
        token: admin,
        body: { name: 'Laptops' },
      });
      teamId = t.body.team.id;
      mac = await enrolledDevice(srv);
      const h = await srv.app.services.hostStore.findByUuid(mac.udid);
      macId = h!.id;
      const moved = await api(srv, 'POST', '/api/latest/fleet/hosts/transfer', {
        token: admin,
        body: { team_id: teamId, hosts: [macId] },
      });
      expect(moved.status).toBe(200);
      // osquery has enrolled (orbit notifications need it).
      await srv.app.services.database.db
        .updateTable('hosts')
        .set({ osquery_host_id: mac.udid })
        .where('id', '=', macId)
        .execute();
      await converge(srv, [mac]);
    });

    it('enabling it on a team queues the FileVault profile for the team’s Macs, which install it', async () => {
      const srv = server();
      const res = await api(srv, 'POST', '/api/latest/fleet/disk_encryption', {
        token: admin,
        body: { team_id: teamId, enable_disk_encryption: true },
      });
      expect(res.status).toBe(204);
      expect(res.text).toBe('');
      const team = await api(srv, 'GET', `/api/latest/fleet/teams/${teamId}`, { token: admin });
      expect(team.body.team.mdm.enable_disk_encryption).toBe(true);
      const [act] = await activitiesOf(srv, 'enabled_macos_disk_encryption');
      expect(act.details).toEqual({ team_id: teamId, team_name: 'Laptops' });

      const defs = await srv.app.services.database.db
        .selectFrom('mdm_apple_configuration_profiles')
        .selectAll()
        .where('identifier', '=', fvIdentifier)
        .execute();
      expect(defs).toHaveLength(1);
      expect(defs[0]).toMatchObject({ team_id: teamId, name: 'Disk encryption' });
      // Queued for the Mac at once, before any cron run.
      expect(await fvRow(mac.udid)).toMatchObject({ operation_type: 'install', status: null });
      let d = await hostDetail(macId);
      expect(d.mdm.macos_settings).toEqual({ disk_encryption: 'enforcing', action_required: null });
      expect(d.mdm.os_settings.disk_encryption).toEqual({ status: 'enforcing', detail: '' });

      await converge(srv, [mac]);
      expect(mac.profiles.has(fvIdentifier)).toBe(true);
      expect(['verifying', 'verified']).toContain((await fvRow(mac.udid))!.status);
      // Installed, but no key escrowed yet: the user must act (Escrow Buddy rotates the key).
      d = await hostDetail(macId);
      expect(d.mdm.macos_settings).toEqual({
        disk_encryption: 'action_required',
        action_required: 'rotate_key',
      });
      expect(d.mdm.encryption_key_available).toBe(false);
      // Fleet shows the profile in the host's list with a status derived from disk encryption.
      expect(d.mdm.profiles).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            profile_uuid: defs[0].profile_uuid,
            name: 'Disk encryption',
            status: 'pending',
          }),
        ]),
      );

      // Fleet's own profile is not a custom profile: not listed, not deletable through that API.
      const list = await api(srv, 'GET', `/api/latest/fleet/configuration_profiles?team_id=${teamId}`, {
        token: admin,
      });
      expect(list.status).toBe(200);
      expect(list.body.profiles ?? []).toEqual([]);
      const del = await api(
        srv,
        'DELETE',
        `/api/latest/fleet/configuration_profiles/${defs[0].profile_uuid}`,
        {
          token: admin,
        },
      );
      expect(del.status).toBe(400);
      expect(del.body.errors[0].reason).toBe(
        "profiles managed by Fleet can't be deleted using this endpoint.",
      );
      expect(await fvRow(mac.udid)).toBeDefined();
    });

    it('the profile is Fleet’s FileVault profile with the Apple MDM CA certificate embedded', async () => {
      const srv = server();
      await enabled();
      const installed = mac.profiles.get(fvIdentifier);
      expect(installed).toBeDefined();
      const dir = mkdtempSync(join(tmpdir(), 'fv-profile-'));
      // Sent signed by the server's SCEP CA (as Fleet signs every InstallProfile payload).
      const signed = cmsVerifyAttached(installed!.payload);
      writeFileSync(join(dir, 'fv.mobileconfig'), signed.content);
      const xml = execFileSync('plistutil', ['-i', join(dir, 'fv.mobileconfig'), '-f', 'xml']).toString();
      const p = parsePlist(xml) as Record<string, any>;
      expect(p).toMatchObject({
        PayloadIdentifier: fvIdentifier,
        PayloadDisplayName: 'Disk encryption',
        PayloadType: 'Configuration',
      });
      const byType = new Map((p.PayloadContent as Record<string, any>[]).map((x) => [x.PayloadType, x]));
      expect(byType.get('com.apple.MCX.FileVault2')).toMatchObject({
        Enable: 'On',
        Defer: true,
        ShowRecoveryKey: false,
        ForceEnableInSetupAssistant: true,
        DeferForceAtUserLoginMaxBypassAttempts: 0,
      });
      const escrow = byType.get('com.apple.security.FDERecoveryKeyEscrow')!;
      const cert = byType.get('com.apple.security.pkcs1')!;
      expect(escrow.Location).toBe('Fleet');
      expect(escrow.EncryptCertPayloadUUID).toBe(cert.PayloadUUID);
      expect(byType.get('com.apple.MCX')!.dontAllowFDEDisable).toBe(true);
      const ca = await srv.app.services.appleScep.caCertificate();
      expect(Buffer.from(cert.PayloadContent).equals(ca.certDer)).toBe(true);
      expect(signed.signerCertDer.equals(ca.certDer)).toBe(true);
    });

    it('escrows a key, verifies it, and lets an admin read it back (audited)', async () => {
      const srv = server();
      await enabled();
      const blob = await fileVaultBlob(srv, prk);
      await srv.app.services.diskEncryption.escrowFileVaultKey(await host(), blob);
      const row = await keyRow(srv, macId);
      expect(row).toMatchObject({ base64_encrypted: blob, decryptable: null, client_error: '' });
      const archived = await srv.app.services.database.db
        .selectFrom('host_disk_encryption_keys_archive')
        .selectAll()
        .where('host_id', '=', macId)
        .execute();
      expect(archived.map((a) => a.base64_encrypted)).toContain(blob);
      let d = await hostDetail(macId);
      expect(d.mdm.macos_settings.disk_encryption).toBe('verifying');

      const got = await srv.app.services.diskEncryption.verifyKeys();
      expect(got).toEqual({ decryptable: 1, undecryptable: 0 });
      expect(Number((await keyRow(srv, macId))!.decryptable)).toBe(1);
      await converge(srv, [mac]);
      expect((await fvRow(mac.udid))!.status).toBe('verified');
      d = await hostDetail(macId);
      expect(d.mdm.macos_settings).toEqual({ disk_encryption: 'verified', action_required: null });
      expect(d.mdm.os_settings.disk_encryption).toEqual({ status: 'verified', detail: '' });
      expect(d.mdm.encryption_key_available).toBe(true);

      const s = await summary(teamId);
      expect(s).toEqual({
        verified: { macos: 1, windows: 0, linux: 0 },
        verifying: { macos: 0, windows: 0, linux: 0 },
        action_required: { macos: 0, windows: 0, linux: 0 },
        enforcing: { macos: 0, windows: 0, linux: 0 },
        failed: { macos: 0, windows: 0, linux: 0 },
        removing_enforcement: { macos: 0, windows: 0, linux: 0 },
      });
      expect(await listIds('os_settings_disk_encryption=verified')).toEqual([macId]);
      expect(await listIds('macos_settings_disk_encryption=verified')).toEqual([macId]);
      expect(await listIds('os_settings_disk_encryption=action_required')).toEqual([]);
      const list = await api(srv, 'GET', `/api/latest/fleet/hosts?team_id=${teamId}`, { token: admin });
      expect(list.body.hosts[0].mdm.encryption_key_available).toBe(true);

      const res = await api(srv, 'GET', `/api/latest/fleet/hosts/${macId}/encryption_key`, { token: admin });
      expect(res.status).toBe(200);
      expect(res.body).toEqual({
        host_id: macId,
        encryption_key: { key: prk, updated_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/) },
      });
      const [act] = await activitiesOf(srv, 'read_host_disk_encryption_key');
      expect(act.details).toEqual({ host_id: macId, host_display_name: (await host()).hostname });
      const linked = await srv.app.services.database.db
        .selectFrom('host_activities')
        .selectAll()
        .where('activity_id', '=', act.id)
        .execute();
      expect(linked.map((l) => l.host_id)).toEqual([macId]);
      // Fleet's older path answers the same.
      const old = await api(srv, 'GET', `/api/v1/fleet/mdm/hosts/${macId}/encryption_key`, { token: admin });
      expect(old.body.encryption_key.key).toBe(prk);
    });

    it('only admins and maintainers of the host’s team (or global) may read the key', async () => {
      const srv = server();
      await escrowed();
      const s = srv.app.services;
      const other = (
        await api(srv, 'POST', '/api/latest/fleet/teams', { token: admin, body: { name: 'Other' } })
      ).body.team.id;
      const cases: [string, number][] = [
        [await tokenForRole(s, 'maintainer'), 200],
        [await tokenForRole(s, null, [{ teamId, role: 'maintainer' }]), 200],
        [await tokenForRole(s, null, [{ teamId, role: 'admin' }]), 200],
        [await tokenForRole(s, 'observer'), 403],
        [await tokenForRole(s, 'observer_plus'), 403],
        [await tokenForRole(s, 'gitops'), 403],
        [await tokenForRole(s, null, [{ teamId, role: 'observer' }]), 403],
        [await tokenForRole(s, null, [{ teamId: other, role: 'admin' }]), 403],
      ];
      const before = (await activitiesOf(srv, 'read_host_disk_encryption_key')).length;
      for (const [token, status] of cases) {
        const res = await api(srv, 'GET', `/api/latest/fleet/hosts/${macId}/encryption_key`, { token });
        expect(res.status).toBe(status);
        if (status === 403) expect(res.body).toMatchObject({ message: 'forbidden' });
        else expect(res.body.encryption_key.key).toBe(prk);
      }
      // Refused reads are not recorded; each allowed one is.
      expect((await activitiesOf(srv, 'read_host_disk_encryption_key')).length).toBe(before + 3);
      const anon = await api(srv, 'GET', `/api/latest/fleet/hosts/${macId}/encryption_key`);
      expect(anon.status).toBe(401);
    });

    it('verification marks only keys that did not change during the run', async () => {
      const srv = server();
      const store = srv.app.services.diskEncryption;
      const blob = await fileVaultBlob(srv, 'WXYZ-WXYZ-WXYZ-WXYZ-WXYZ-WXYZ', '-aes256');
      const threshold = '2001-01-01 00:00:00.000';
      await store.escrowFileVaultKey(await host(), blob);
      // A run that started before this key arrived leaves it for the next run.
      await srv.app.services.database.db
        .updateTable('host_disk_encryption_keys')
        .set({ updated_at: '2999-01-01 00:00:00.000' })
        .where('host_id', '=', macId)
        .execute();
      expect(await store.verifyKeys()).toEqual({ decryptable: 0, undecryptable: 0 });
      expect((await keyRow(srv, macId))!.decryptable).toBeNull();
      await srv.app.services.database.db
        .updateTable('host_disk_encryption_keys')
        .set({ updated_at: dbNow() })
        .where('host_id', '=', macId)
        .execute();
      const { DiskEncryptionStore } = await import('../../src/diskencryption/keyStore.js');
      const keys = new DiskEncryptionStore(srv.app.services.database.db);
      expect(await keys.setDecryptable([macId], 1, threshold)).toBe(0);
      expect((await keyRow(srv, macId))!.decryptable).toBeNull();
      expect(await store.verifyKeys()).toEqual({ decryptable: 1, undecryptable: 0 });
      // The same key again keeps its verified state.
      await store.escrowFileVaultKey(await host(), blob);
      expect(Number((await keyRow(srv, macId))!.decryptable)).toBe(1);
    });

    it('a key we cannot decrypt is action_required (rotate key), never a 5xx, and asks fleetd to rotate', async () => {
      const srv = server();
      await enabled();
      const s = srv.app.services;
      const foreign = sealBase64Envelope(
        Buffer.from(prk),
        createCertificateAuthority('Some other MDM').certPem,
      );
      for (const blob of [foreign, 'bm90IGEgQ01TIGJsb2I=', 'not base64 at all']) {
        await s.diskEncryption.escrowFileVaultKey(await host(), blob);
        expect(await s.diskEncryption.verifyKeys()).toEqual({ decryptable: 0, undecryptable: 1 });
        const d = await hostDetail(macId);
        expect(d.mdm.macos_settings).toEqual({
          disk_encryption: 'action_required',
          action_required: 'rotate_key',
        });
        expect(d.mdm.encryption_key_available).toBe(false);
        const res = await api(srv, 'GET', `/api/latest/fleet/hosts/${macId}/encryption_key`, {
          token: admin,
        });
        expect(res.status).toBe(404);
        expect(res.body.message).toBe('Resource Not Found');
      }
      expect((await summary(teamId)).action_required).toEqual({ macos: 1, windows: 0, linux: 0 });
      expect(await listIds('os_settings_disk_encryption=action_required')).toEqual([macId]);
      expect(await listIds('macos_settings_disk_encryption=action_required')).toEqual([macId]);
      expect(await listIds('os_settings_disk_encryption=verified')).toEqual([]);

      // fleetd with Escrow Buddy is told to rotate the key; without it, nothing.
      const h = await host();
      expect(await s.diskEncryption.orbitNotifications(h, new Set(['escrow_buddy']))).toEqual({
        rotate_disk_encryption_key: true,
      });
      expect(await s.diskEncryption.orbitNotifications(h, new Set())).toEqual({});

      // Encrypted with nothing escrowed: stored as not decryptable, the same action.
      await s.diskEncryption.escrowFileVaultKey(h, '');
      expect(await keyRow(srv, macId)).toMatchObject({ base64_encrypted: '' });
      expect(Number((await keyRow(srv, macId))!.decryptable)).toBe(0);
      expect(await s.diskEncryption.orbitNotifications(h, new Set(['escrow_buddy']))).toEqual({
        rotate_disk_encryption_key: true,
      });

      // A good key again: verified, and no more rotation.
      await s.diskEncryption.escrowFileVaultKey(h, await fileVaultBlob(srv, prk));
      await s.diskEncryption.verifyKeys();
      expect((await hostDetail(macId)).mdm.macos_settings.disk_encryption).toBe('verified');
      expect(await s.diskEncryption.orbitNotifications(h, new Set(['escrow_buddy']))).toEqual({});
    });

    it('the recovery key never reaches the logs', async () => {
      await escrowed();
      await api(server(), 'GET', `/api/latest/fleet/hosts/${macId}/encryption_key`, { token: admin });
      const lines = server().logLines ?? [];
      expect(lines.length).toBeGreaterThan(0);
      expect(JSON.stringify(lines)).not.toContain(prk);
    });

    it('disabling it removes the profile from the team’s Macs', async () => {
      const srv = server();
      await escrowed();
      const res = await api(srv, 'POST', '/api/latest/fleet/disk_encryption', {
        token: admin,
        body: { team_id: teamId, enable_disk_encryption: false },
      });
      expect(res.status).toBe(204);
      const [act] = await activitiesOf(srv, 'disabled_macos_disk_encryption');
      expect(act.details).toEqual({ team_id: teamId, team_name: 'Laptops' });
      const defs = await srv.app.services.database.db
        .selectFrom('mdm_apple_configuration_profiles')
        .select('profile_uuid')
        .where('identifier', '=', fvIdentifier)
        .execute();
      expect(defs).toEqual([]);
      expect(await fvRow(mac.udid)).toMatchObject({ operation_type: 'remove' });
      expect((await hostDetail(macId)).mdm.macos_settings.disk_encryption).toBe('removing_enforcement');
      expect(await listIds('os_settings_disk_encryption=removing_enforcement')).toEqual([macId]);
      expect((await summary(teamId)).removing_enforcement.macos).toBe(1);

      await converge(srv, [mac]);
      expect(mac.profiles.has(fvIdentifier)).toBe(false);
      expect(await fvRow(mac.udid)).toBeUndefined();
      const d = await hostDetail(macId);
      expect(d.mdm.macos_settings).toEqual({ disk_encryption: null, action_required: null });
      expect(d.mdm.os_settings.disk_encryption).toEqual({ status: null, detail: '' });
      // The escrowed key stays (Fleet keeps it); fleetd is no longer asked to rotate anything.
      expect(await keyRow(srv, macId)).toBeDefined();
      expect(
        await srv.app.services.diskEncryption.orbitNotifications(await host(), new Set(['escrow_buddy'])),
      ).toEqual({});
    });
  },
  { logLevel: 'info' },
);

describe('disk encryption: FileVault profile content', () => {
  it('is valid XML that plistutil reads', async () => {
    const { fileVaultProfile } = await import('../../src/diskencryption/fileVaultProfile.js');
    const ca = createCertificateAuthority('Profile CA');
    const dir = mkdtempSync(join(tmpdir(), 'fv-unit-'));
    writeFileSync(
      join(dir, 'p.mobileconfig'),
      fileVaultProfile(Buffer.from(ca.certPem.split('\n').slice(1, -2).join(''), 'base64')),
    );
    const out = execFileSync('plistutil', ['-i', join(dir, 'p.mobileconfig'), '-f', 'xml']).toString();
    expect(out).toContain('com.fleetdm.fleet.mdm.filevault');
  });
});
