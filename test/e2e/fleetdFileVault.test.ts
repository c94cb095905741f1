import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fileVaultProfileIdentifier } from '../../src/agents/sim/fileVaultProfile.js';
import { createCertificateAuthority } from '../../src/crypto/certificateAuthority.js';
import { api } from '../helpers/api.js';
import { startFakeApns } from '../helpers/apns.js';
import {
  convergeMac,
  macWithFleetd,
  refetchAndCheckIn,
  runCronJob,
  teamWithSecret,
  teamOf,
  agentServer,
} from '../helpers/fleetd.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const { fake, overrides } = await startFakeApns();
afterAll(async () => {
  await fake.close();
});

const keyQuery = 'fleet_detail_query_mdm_disk_encryption_key_file_darwin';

describeEachDialect(
  'simulated fleetd on a Mac: FileVault key escrow, verification and rotation',
  (server) => {
    let srv: TestServer;
    let admin = '';

    beforeAll(async () => {
      srv = server();
      admin = await agentServer(srv, 'apple');
    });

    async function summary(teamId: number) {
      const res = await api(srv, 'GET', `/api/latest/fleet/disk_encryption?team_id=${teamId}`, {
        token: admin,
      });
      expect(res.status, res.text).toBe(200);
      return res.body as Record<string, { macos: number; windows: number }>;
    }

    async function enableDiskEncryption(teamId: number) {
      const res = await api(srv, 'POST', '/api/latest/fleet/disk_encryption', {
        token: admin,
        body: { team_id: teamId, enable_disk_encryption: true },
      });
      expect([200, 204], res.text).toContain(res.status);
    }

    async function escrowedKey(hostId: number) {
      return api(srv, 'GET', `/api/latest/fleet/hosts/${hostId}/encryption_key`, { token: admin });
    }

    /** A Mac + fleetd in a team with disk encryption on, its FileVault profile delivered and acknowledged. */
    async function macWithFileVaultProfile(team: string) {
      const { teamId, secret } = await teamWithSecret(srv, admin, team);
      const pair = await macWithFleetd(srv, secret);
      // The manual enrollment profile carries no team; fleetd's secret put the host in its team.
      expect(await teamOf(srv, pair.hostId)).toBe(teamId);
      await enableDiskEncryption(teamId);
      await convergeMac(srv, pair.mac);
      expect([...pair.mac.profiles.keys()]).toContain(fileVaultProfileIdentifier);
      return { ...pair, teamId };
    }

    it('escrows the PRK through distributed/write; the verify job and the profile check make it verified; the admin reads the same key', async () => {
      const { mac, fleetd, hostId, teamId } = await macWithFileVaultProfile('FileVault escrow');
      // macOS turns FileVault on at the next login, not when the profile arrives.
      expect(fleetd.machine.fileVault.on).toBe(false);

      const round = await refetchAndCheckIn(srv, admin, { hostId, fleetd, mac });
      expect(fleetd.machine.fileVault.on).toBe(true);
      expect(round.sent).toContain(keyQuery);
      expect(round.sent).toContain('fleet_detail_query_mdm_config_profiles_darwin');
      const [reported] = round.written!.queries[keyQuery];
      expect(reported.encrypted).toBe('1');
      // The escrow file is a CMS envelope to the certificate in the installed profile.
      expect(Buffer.from(reported.filevault_key, 'base64').equals(fleetd.machine.fileVault.escrowFile!)).toBe(
        true,
      );

      // Escrowed but not yet checked: not verified, and the key cannot be read yet.
      expect((await summary(teamId)).verified.macos).toBe(0);
      expect((await escrowedKey(hostId)).status).toBe(404);

      await runCronJob(srv, 'verify_disk_encryption_keys');
      const after = await summary(teamId);
      expect(after.verified.macos).toBe(1);
      expect(after.action_required.macos).toBe(0);

      const key = await escrowedKey(hostId);
      expect(key.status, key.text).toBe(200);
      expect(key.body.host_id).toBe(hostId);
      expect(key.body.encryption_key.key).toBe(fleetd.machine.fileVault.recoveryKey);

      const listed = await api(
        srv,
        'GET',
        `/api/latest/fleet/hosts?team_id=${teamId}&os_settings_disk_encryption=verified`,
        { token: admin },
      );
      expect(listed.status, listed.text).toBe(200);
      expect(listed.body.hosts.map((h: { id: number }) => h.id)).toEqual([hostId]);
    });

    it('a key the server cannot decrypt asks for action; orbit is told to rotate; the new key is verified', async () => {
      const { mac, fleetd, hostId, teamId } = await macWithFileVaultProfile('FileVault rotation');
      // The escrow file is encrypted to a certificate that is not the server's (an earlier MDM's).
      const other = createCertificateAuthority('Some Other MDM');
      fleetd.machine.fileVault.escrowCertificateOverride = new X509Certificate(other.certPem).raw;

      await refetchAndCheckIn(srv, admin, { hostId, fleetd, mac });
      const badKey = fleetd.machine.fileVault.recoveryKey;
      expect(fleetd.machine.fileVault.on).toBe(true);

      await runCronJob(srv, 'verify_disk_encryption_keys');
      const needsAction = await summary(teamId);
      expect(needsAction.action_required.macos).toBe(1);
      expect(needsAction.verified.macos).toBe(0);
      expect((await escrowedKey(hostId)).status).toBe(404);

      // orbit advertises escrow_buddy, so the server asks it to rotate the key.
      const poll = await fleetd.pollConfig();
      expect(poll.notifications.rotate_disk_encryption_key).toBe(true);
      expect(poll.actions).toContain('escrow_buddy_generate_new_key');

      // At the next login Escrow Buddy makes a new key; macOS escrows it to the profile's certificate.
      fleetd.machine.fileVault.escrowCertificateOverride = undefined;
      await refetchAndCheckIn(srv, admin, { hostId, fleetd, mac });
      const newKey = fleetd.machine.fileVault.recoveryKey;
      expect(newKey).not.toBe(badKey);

      await runCronJob(srv, 'verify_disk_encryption_keys');
      const verified = await summary(teamId);
      expect(verified.verified.macos).toBe(1);
      expect(verified.action_required.macos).toBe(0);
      const cleared = await fleetd.pollConfig();
      expect(cleared.notifications.rotate_disk_encryption_key).toBeFalsy();

      const key = await escrowedKey(hostId);
      expect(key.status, key.text).toBe(200);
      expect(key.body.encryption_key.key).toBe(newKey);
    });

    it('a disk encrypted before the profile arrived has no escrow file: action required until a rotation escrows one', async () => {
      const { teamId, secret } = await teamWithSecret(srv, admin, 'FileVault before profile');
      const { mac, fleetd, hostId } = await macWithFleetd(srv, secret);
      fleetd.machine.turnOnFileVault(); // no escrow payload installed yet: nothing is written
      expect(fleetd.machine.fileVault.escrowFile).toBeUndefined();
      expect(await teamOf(srv, hostId)).toBe(teamId);
      await enableDiskEncryption(teamId);
      await convergeMac(srv, mac);

      const round = await refetchAndCheckIn(srv, admin, { hostId, fleetd, mac });
      expect(round.written!.queries[keyQuery]).toEqual([{ encrypted: '1', filevault_key: '' }]);
      expect((await summary(teamId)).action_required.macos).toBe(1);

      expect((await fleetd.pollConfig()).notifications.rotate_disk_encryption_key).toBe(true);
      await refetchAndCheckIn(srv, admin, { hostId, fleetd, mac });
      expect(fleetd.machine.fileVault.escrowFile).toBeDefined();
      await runCronJob(srv, 'verify_disk_encryption_keys');
      expect((await summary(teamId)).verified.macos).toBe(1);
      expect((await escrowedKey(hostId)).body.encryption_key.key).toBe(fleetd.machine.fileVault.recoveryKey);
    });
  },
  overrides,
);
