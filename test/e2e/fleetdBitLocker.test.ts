import { beforeAll, expect, it } from 'vitest';
import { isBitLockerRecoveryPassword } from '../../src/agents/sim/recoveryKeys.js';
import { api } from '../helpers/api.js';
import { pcWithFleetd, requestRefetch, teamWithSecret, agentServer } from '../helpers/fleetd.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

describeEachDialect('simulated fleetd on a PC: BitLocker enforcement and key escrow', (server) => {
  let srv: TestServer;
  let admin = '';

  beforeAll(async () => {
    srv = server();
    admin = await agentServer(srv, 'windows');
  });

  async function summary(teamId: number) {
    const res = await api(srv, 'GET', `/api/latest/fleet/disk_encryption?team_id=${teamId}`, {
      token: admin,
    });
    expect(res.status, res.text).toBe(200);
    return res.body as Record<string, { macos: number; windows: number }>;
  }

  async function enableDiskEncryption(teamId: number) {
    const res = await api(srv, 'PATCH', `/api/latest/fleet/teams/${teamId}`, {
      token: admin,
      body: { mdm: { enable_disk_encryption: true } },
    });
    expect(res.status, res.text).toBe(200);
  }

  it('orbit is told to enforce BitLocker, escrows the recovery password; verified once osquery reports the disk encrypted; the admin reads the same key', async () => {
    const { teamId, secret } = await teamWithSecret(srv, admin, 'BitLocker');
    const { fleetd, hostId } = await pcWithFleetd(srv, secret);
    expect(fleetd.machine.windowsMdmEnrolled()).toBe(true);

    // Nothing to enforce before disk encryption is on for the team.
    expect((await fleetd.pollConfig()).notifications.enforce_bitlocker_encryption).toBeFalsy();
    await enableDiskEncryption(teamId);

    const poll = await fleetd.pollConfig();
    expect(poll.notifications.enforce_bitlocker_encryption).toBe(true);
    expect(poll.actions).toContain('bitlocker_key_escrowed');
    const password = fleetd.machine.bitLocker.recoveryPassword!;
    expect(isBitLockerRecoveryPassword(password)).toBe(true);

    // The key is escrowed, but the server has not yet seen the disk encrypted.
    expect((await summary(teamId)).verified.windows).toBe(0);

    await requestRefetch(srv, admin, hostId);
    const round = await fleetd.distributedRound();
    expect(round.written!.queries.fleet_detail_query_disk_encryption_windows).toEqual([{ '1': '1' }]);
    const after = await summary(teamId);
    expect(after.verified.windows).toBe(1);
    expect(after.failed.windows).toBe(0);

    const key = await api(srv, 'GET', `/api/latest/fleet/hosts/${hostId}/encryption_key`, { token: admin });
    expect(key.status, key.text).toBe(200);
    expect(key.body.encryption_key.key).toBe(password);
    // Verified and escrowed: the server stops asking.
    expect((await fleetd.pollConfig()).notifications.enforce_bitlocker_encryption).toBeFalsy();
  });

  it('a BitLocker failure is reported as client_error: the host shows failed and no key can be read', async () => {
    const { teamId, secret } = await teamWithSecret(srv, admin, 'BitLocker failing');
    const { fleetd, hostId } = await pcWithFleetd(srv, secret);
    fleetd.machine.bitLocker.failWith = 'The TPM is not ready (0x80284008)';
    await enableDiskEncryption(teamId);

    const poll = await fleetd.pollConfig();
    expect(poll.notifications.enforce_bitlocker_encryption).toBe(true);
    expect(poll.actions).toContain('bitlocker_failed');
    expect(fleetd.machine.bitLocker.on).toBe(false);

    const s = await summary(teamId);
    expect(s.failed.windows).toBe(1);
    expect(s.verified.windows).toBe(0);
    const key = await api(srv, 'GET', `/api/latest/fleet/hosts/${hostId}/encryption_key`, { token: admin });
    expect(key.status).toBe(404);

    // Once the TPM is fixed, the next notification escrows a key.
    fleetd.machine.bitLocker.failWith = undefined;
    expect((await fleetd.pollConfig()).actions).toContain('bitlocker_key_escrowed');
    expect((await summary(teamId)).failed.windows).toBe(0);
  });
});
