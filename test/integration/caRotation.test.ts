import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { buildCommandPlist } from '../../src/apple/commands/build.js';
import { certsCommand } from '../../src/certs/cli.js';
import { loadConfig } from '../../src/config.js';
import { AssetName } from '../../src/configassets/service.js';
import { api, setupAdmin } from '../helpers/api.js';
import { installPushCertificate, startFakeApns } from '../helpers/apns.js';
import { enrolledDevice, testTopic } from '../helpers/appleDevice.js';
import {
  activitiesOf,
  appleMdmOn,
  fileVaultBlob,
  keyRow,
  seedWindowsPc,
  snapshot,
  windowsMdmOn,
} from '../helpers/diskEncryption.js';
import {
  createTestDatabase,
  describeEachDialect,
  dialects,
  mysqlAvailable,
  testServerKey,
  type TestServer,
} from '../helpers/testServer.js';
import { enableWindowsMdm, enrolledWindowsPc } from '../helpers/windowsDevice.js';

const { fake, overrides } = await startFakeApns();
afterAll(() => fake.close());

const secret = 'ca-rotation-secret';
const dir = mkdtempSync(join(tmpdir(), 'flotilla-ca-rotation-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs `flotilla certs ...` against the server's database, as an operator would; its exit status and output. */
async function cli(srv: { config: TestServer['config'] }, args: string[]) {
  let text = '';
  const code = await certsCommand(srv.config, args, { write: (s: string) => (text += s) });
  return { code, text };
}

/** `openssl verify` of a certificate against one CA file; the tool's output, or its error. */
function opensslVerify(caPem: string, certPem: string): string {
  const name = `${Math.random().toString(36).slice(2)}`;
  writeFileSync(join(dir, `${name}-ca.pem`), caPem);
  writeFileSync(join(dir, `${name}.pem`), certPem);
  try {
    return execFileSync(
      'openssl',
      ['verify', '-purpose', 'sslclient', '-CAfile', join(dir, `${name}-ca.pem`), join(dir, `${name}.pem`)],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    ).trim();
  } catch (err) {
    return `failed: ${(err as { stderr?: string }).stderr ?? ''}`;
  }
}

/** Running servers re-read the CA assets once a minute: move the clock past that (Date only). */
function aMinuteLater(): void {
  vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 61_000 });
}
afterEach(() => {
  vi.useRealTimers();
});

const certOf = async (srv: TestServer, name: AssetName) =>
  (await srv.app.services.assets.getOne(name, { fresh: true }))!.toString();

/** The stored assets (sealed values and their checksums) and activities: what a refusal must leave alone. */
const stored = (srv: TestServer) => snapshot(srv, ['mdm_config_assets', 'activities']);

describeEachDialect(
  'rotating the built-in CAs (flotilla certs rotate-ca)',
  (server) => {
    let admin = '';
    beforeAll(async () => {
      const srv = server();
      admin = await setupAdmin(srv);
      await srv.app.services.appConfig.patch({ server_settings: { server_url: srv.url } });
      await installPushCertificate(srv.app.services, { topic: testTopic });
      await enableWindowsMdm(srv, secret);
      await appleMdmOn(srv);
    });

    it('Apple: an old-CA device keeps checking in and gets its command; new devices get the new CA', async () => {
      const srv = server();
      const s = srv.app.services;
      const ca1 = await certOf(srv, AssetName.appleScepCaCert);
      const old = await enrolledDevice(srv);
      expect(opensslVerify(ca1, old.identity!.certPem)).toMatch(/: OK$/);

      const run = await cli(srv, ['rotate-ca', 'apple']);
      expect(run.code).toBe(0);
      expect(run.text).toMatch(
        /^Rotated the Apple SCEP CA\.\nRetired \(still trusted\): Flotilla Apple MDM CA/,
      );
      // Within the minute the running server still hands out the CA it had; then the new one.
      const getCaCert = async () =>
        new X509Certificate(
          Buffer.from(await (await fetch(`${srv.url}/mdm/apple/scep?operation=GetCACert`)).arrayBuffer()),
        ).fingerprint256;
      expect(await getCaCert()).toBe(new X509Certificate(ca1).fingerprint256);
      const [act] = await activitiesOf(srv, 'rotated_certificate_authority');
      aMinuteLater();
      const served = (await getCaCert()).replace(/:/g, '').toLowerCase();
      expect(served).toBe((act.details.new_ca as { sha256: string }).sha256);
      const ca2 = await certOf(srv, AssetName.appleScepCaCert);
      expect(new X509Certificate(ca2).fingerprint256.replace(/:/g, '').toLowerCase()).toBe(served);
      expect(new X509Certificate(ca2).subject).toMatch(/^CN=Flotilla Apple MDM CA \d+$/m);
      // The retired CA (certificate and key) is kept, sealed, and the rotation is recorded.
      expect(await certOf(srv, AssetName.applePreviousCaCerts)).toContain(ca1.trim());
      expect(act.user_id).toBeNull();
      expect(act.details).toMatchObject({
        platform: 'apple',
        retired_ca: { sha256: new X509Certificate(ca1).fingerprint256.replace(/:/g, '').toLowerCase() },
        previous_cas: 1,
      });
      expect(JSON.stringify(act)).not.toContain('PRIVATE KEY');
      expect(run.text).not.toContain('PRIVATE KEY');

      // The device enrolled under the old CA still checks in and gets a command.
      const c = buildCommandPlist('DeviceInformation', { Queries: ['UDID'] });
      await s.appleQueue.enqueue([old.udid], {
        commandUuid: c.commandUuid,
        requestType: 'DeviceInformation',
        plist: c.plist,
      });
      const handled = await old.connect();
      expect(handled.map((h) => h.commandUuid)).toEqual([c.commandUuid]);
      expect((await s.appleQueue.commandResults(c.commandUuid))[0].status).toBe('Acknowledged');

      // A new device enrolls over SCEP and its identity chains to the new CA only.
      const fresh = new SimulatedAppleDevice({ serverUrl: srv.url, topic: testTopic });
      await fresh.enroll(await s.appleEnrollment.manualProfile());
      expect(opensslVerify(ca2, fresh.identity!.certPem)).toMatch(/: OK$/);
      expect(opensslVerify(ca1, fresh.identity!.certPem)).toMatch(/^failed:/);
      expect((await s.hostStore.findByUuid(fresh.udid))?.uuid).toBe(fresh.udid);

      // The old device renews with a RenewalReq signed by its old-CA identity; it gets a new-CA one.
      old.scepRenewalMode = 'renewalReq';
      const renewal = await s.appleEnrollment.manualProfile({ deviceId: old.udid, renewal: true });
      const cmd = buildCommandPlist('InstallProfile', { Payload: renewal });
      await s.appleQueue.enqueue([old.udid], {
        commandUuid: cmd.commandUuid,
        requestType: 'InstallProfile',
        plist: cmd.plist,
      });
      await old.connect();
      expect(old.replacedIdentities).toHaveLength(1);
      expect(opensslVerify(ca2, old.identity!.certPem)).toMatch(/: OK$/);

      // The expiry listing shows the retired CA next to the current one.
      const list = await s.certificates.list();
      const retired = list.find((x) => x.certificate.startsWith('apple_scep_ca_previous:'));
      expect(retired).toMatchObject({
        description: 'Apple MDM (SCEP) certificate authority, retired by a rotation (still trusted)',
        subject: /^CN=(.*)$/m.exec(new X509Certificate(ca1).subject)![1],
      });
      expect(list.find((x) => x.certificate === 'apple_scep_ca')?.subject).toMatch(
        /^Flotilla Apple MDM CA \d+$/,
      );
    });

    it('Windows: an old-CA PC keeps its management session and renews to a new-CA certificate with the new root', async () => {
      const srv = server();
      const s = srv.app.services;
      const ca1 = await certOf(srv, AssetName.windowsWstepCert);
      const pc = await enrolledWindowsPc(srv, secret);
      expect(opensslVerify(ca1, pc.certificate!.toString())).toMatch(/: OK$/);

      const run = await cli(srv, ['rotate-ca', 'windows', '--json']);
      expect(run.code).toBe(0);
      const summary = JSON.parse(run.text);
      const ca2 = await certOf(srv, AssetName.windowsWstepCert);
      expect(summary).toMatchObject({
        platform: 'windows',
        dry_run: false,
        retired_ca: { sha256: new X509Certificate(ca1).fingerprint256.replace(/:/g, '').toLowerCase() },
        new_ca: { sha256: new X509Certificate(ca2).fingerprint256.replace(/:/g, '').toLowerCase() },
      });
      expect(summary.previous_cas[0].sha256).toBe(summary.retired_ca.sha256);
      aMinuteLater();

      // Management still authenticates and delivers a queued command.
      const uri = './Device/Vendor/MSFT/Policy/Config/Experience/AllowCortana';
      const cmd = await s.windowsCommands.enqueueRaw(
        [pc.hardwareUuid],
        `<Replace><Item><Target><LocURI>${uri}</LocURI></Target><Meta><Format xmlns="syncml:metinf">int</Format></Meta><Data>0</Data></Item></Replace>`,
      );
      const session = await pc.runSession();
      expect(session.commandsExecuted).toBe(1);
      expect((await s.windowsCommands.results(cmd.command_uuid))[0].status).toBe('200');

      // Renewal signed by the old-CA certificate: a new-CA certificate, and the PC installs the new root.
      const renewed = await pc.renew();
      expect(opensslVerify(ca2, renewed.toString())).toMatch(/: OK$/);
      expect(opensslVerify(ca1, renewed.toString())).toMatch(/^failed:/);
      expect(pc.caCertificate!.fingerprint256).toBe(new X509Certificate(ca2).fingerprint256);
      expect((await pc.runSession()).commandsExecuted).toBe(0);
    });

    it('escrowed BitLocker and FileVault keys stay readable by an admin after rotations', async () => {
      const srv = server();
      const s = srv.app.services;
      await windowsMdmOn(srv);
      // BitLocker: the server seals the password to the WSTEP CA at escrow.
      const pc = await seedWindowsPc(srv);
      const password = '111111-222222-333333-444444-555555-666666-777777-888888';
      await s.diskEncryption.escrowBitLockerKey(
        (await s.hostStore.getById(pc.hostId))!,
        Buffer.from(password),
        '',
      );
      // FileVault: the Mac envelopes its key to the Apple CA certificate in its profile.
      const mac = await enrolledDevice(srv);
      const macId = (await s.hostStore.findByUuid(mac.udid))!.id;
      const prk = 'ABCD-EFGH-IJKL-MNOP-QRST-UVWX';
      const oldCaBlob = await fileVaultBlob(srv, prk);
      await s.diskEncryption.escrowFileVaultKey((await s.hostStore.getById(macId))!, oldCaBlob);
      await s.diskEncryption.verifyKeys();
      expect(Number((await keyRow(srv, macId))!.decryptable)).toBe(1);

      for (const platform of ['windows', 'apple']) {
        const run = await cli(srv, ['rotate-ca', platform]);
        expect(run.code).toBe(0);
        expect(run.text).toMatch(/Escrowed (BitLocker|FileVault) keys kept readable: [1-9]\d*\n/);
      }
      aMinuteLater();
      const read = async (hostId: number) =>
        api(srv, 'GET', `/api/latest/fleet/hosts/${hostId}/encryption_key`, { token: admin });
      const bl = await read(pc.hostId);
      expect(bl.status).toBe(200);
      expect(bl.body.encryption_key.key).toBe(password);
      const fv = await read(macId);
      expect(fv.status).toBe(200);
      expect(fv.body.encryption_key.key).toBe(prk);

      // A Mac that has not yet received the new profile escrows to the old CA: still verified.
      const oldCa = (await s.appleScep.previousCas())[0];
      expect(oldCa.certPem).not.toBe((await s.appleScep.caCertificate()).certPem);
      const prk2 = 'WXYZ-EFGH-IJKL-MNOP-QRST-AAAA';
      const ca = s.appleScep.caCertificate.bind(s.appleScep);
      // fileVaultBlob envelopes to the server's current CA; point it at the retired one for this blob.
      s.appleScep.caCertificate = async () => oldCa;
      let staleBlob: string;
      try {
        staleBlob = await fileVaultBlob(srv, prk2);
      } finally {
        s.appleScep.caCertificate = ca;
      }
      await s.diskEncryption.escrowFileVaultKey((await s.hostStore.getById(macId))!, staleBlob);
      await s.diskEncryption.verifyKeys();
      expect(Number((await keyRow(srv, macId))!.decryptable)).toBe(1);
      expect((await read(macId)).body.encryption_key.key).toBe(prk2);
      // A key escrowed now is sealed to the new Windows CA and reads back too.
      await s.diskEncryption.escrowBitLockerKey(
        (await s.hostStore.getById(pc.hostId))!,
        Buffer.from(password.replace(/1/g, '9')),
        '',
      );
      expect((await read(pc.hostId)).body.encryption_key.key).toBe(password.replace(/1/g, '9'));
    });

    it('--dry-run reports what would change and changes nothing', async () => {
      const srv = server();
      const before = await stored(srv);
      const ca = new X509Certificate(await certOf(srv, AssetName.appleScepCaCert));
      const run = await cli(srv, ['rotate-ca', 'apple', '--dry-run']);
      expect(run.code).toBe(0);
      const cn = /^CN=(.*)$/m.exec(ca.subject)![1];
      expect(run.text.split('\n').slice(0, 3)).toEqual([
        'Dry run: nothing was changed.',
        `Would retire the Apple SCEP CA: ${cn} (serial ${ca.serialNumber.toLowerCase()}, expires ${new Date(ca.validTo).toISOString().replace(/\.\d{3}Z$/, 'Z')}, sha256 ${ca.fingerprint256.replace(/:/g, '').toLowerCase()})`,
        expect.stringMatching(/^Would create: Flotilla Apple MDM CA \d+$/),
      ]);
      const json = JSON.parse((await cli(srv, ['rotate-ca', 'windows', '--dry-run', '--json'])).text);
      expect(json).toMatchObject({ platform: 'windows', dry_run: true, new_ca: null });
      expect(await stored(srv)).toBe(before);
    });

    it('refuses bad arguments with the usage and changes nothing', async () => {
      const srv = server();
      const before = await stored(srv);
      for (const args of [['rotate-ca'], ['rotate-ca', 'android'], ['rotate-ca', 'apple', '--force']]) {
        const run = await cli(srv, args);
        expect(run.code).toBe(2);
        expect(run.text).toContain('Usage: flotilla certs');
      }
      expect((await cli(srv, ['rotate-ca'])).text.split('\n')[0]).toBe(
        'rotate-ca needs the platform: apple or windows',
      );
      expect((await cli(srv, ['rotate-ca', 'apple', '--force'])).text.split('\n')[0]).toBe(
        'unknown argument: --force',
      );
      expect(await stored(srv)).toBe(before);
    });
  },
  overrides,
);

describe('rotating against a database with no CA yet', () => {
  for (const dialect of dialects) {
    const d = dialect === 'mysql' && !mysqlAvailable ? it.skip : it;
    d(`gives a clear error and creates nothing [${dialect}]`, async () => {
      const testDb = await createTestDatabase(dialect);
      try {
        const config = loadConfig(
          {},
          {
            databaseUrl: testDb.url,
            dataDir: testDb.dataDir,
            serverPrivateKey: testServerKey,
            cronEnabled: false,
          },
        );
        for (const [platform, name] of [
          ['apple', 'the Apple SCEP CA'],
          ['windows', 'the Windows WSTEP CA'],
        ]) {
          const run = await cli({ config }, ['rotate-ca', platform]);
          expect(run).toEqual({
            code: 1,
            text: `error: ${name} has not been created yet: start the server once (it creates the built-in CAs), then rotate\n`,
          });
        }
        const rows = await testDb.database.db.selectFrom('mdm_config_assets').select('name').execute();
        expect(rows).toEqual([]);
      } finally {
        await testDb.drop();
      }
    });
  }
});
