import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AssetName } from '../../src/configassets/service.js';
import { loadConfig } from '../../src/config.js';
import { toDbTime } from '../../src/db/dialect.js';
import { createLogger } from '../../src/logger.js';
import { createServices, type Services } from '../../src/services.js';
import {
  createTestDatabase,
  dialects,
  mysqlAvailable,
  testServerKey,
  type TestDatabase,
} from '../helpers/testServer.js';

const day = 86_400_000;

/** Runs `flotilla certs …` as its own process against the test database; returns status and output. */
function runCli(
  db: TestDatabase,
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', 'certs', ...args], {
      env: {
        PATH: process.env.PATH,
        FLOTILLA_DATABASE_URL: db.url,
        FLOTILLA_DATA_DIR: db.dataDir,
        FLOTILLA_SERVER_PRIVATE_KEY: testServerKey,
        FLOTILLA_LOG_LEVEL: 'silent',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

for (const dialect of dialects) {
  const d = dialect === 'mysql' && !mysqlAvailable ? describe.skip : describe;
  d(`flotilla certs [${dialect}]`, () => {
    let db: TestDatabase;
    let services: Services;
    let scep: X509Certificate;
    let wstep: X509Certificate;
    beforeAll(async () => {
      db = await createTestDatabase(dialect);
      const config = loadConfig({}, { databaseUrl: db.url, dataDir: db.dataDir, logLevel: 'silent' });
      services = createServices(config, db.database, testServerKey, createLogger('silent'));
      await services.assets.ensureBuiltinCertificateAuthorities();
      const cas = await services.assets.get([AssetName.appleScepCaCert, AssetName.windowsWstepCert]);
      scep = new X509Certificate(cas[AssetName.appleScepCaCert]!);
      wstep = new X509Certificate(cas[AssetName.windowsWstepCert]!);
    });
    afterAll(async () => {
      await db?.drop();
    });

    // An ABM token that lapsed nearly two days ago (its row written as a token upload leaves it):
    // days left, rounded down, is -2.
    const lapsed = new Date(Date.now() - 2 * day + 3_600_000);
    const iso = (d: string) => new Date(d).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const daysLeft = (d: string) => String(Math.floor((new Date(d).getTime() - Date.now()) / day));

    it('prints a table of every certificate with days left, exit 0 while nothing has expired', async () => {
      const out = await runCli(db, []);
      expect(out.stderr).toBe('');
      expect(out.code).toBe(0);
      const lines = out.stdout.trimEnd().split('\n');
      const cells = (l: string) => l.split(/ {2,}/);
      expect(cells(lines[0])).toEqual(['CERTIFICATE', 'SUBJECT', 'NOT AFTER', 'DAYS LEFT', 'STATUS']);
      expect(lines.slice(1).map(cells)).toEqual([
        ['apple_scep_ca', 'Flotilla Apple MDM CA', iso(scep.validTo), daysLeft(scep.validTo), 'OK'],
        ['windows_wstep_ca', 'Flotilla Windows MDM CA', iso(wstep.validTo), daysLeft(wstep.validTo), 'OK'],
        ['apple_device_certificates', '0 devices (0 within 30 days, 0 expired)', '-', '-', '-'],
        ['windows_device_certificates', '0 devices (0 within 30 days, 0 expired)', '-', '-', '-'],
      ]);
      // Nothing secret: no key material in the output.
      expect(out.stdout).not.toContain('PRIVATE KEY');
    });

    it('exits 1 when a certificate has expired, and --json gives the same listing as GET /config', async () => {
      const now = toDbTime(new Date());
      await db.database.db
        .insertInto('abm_tokens')
        .values({
          organization_name: `Lapsed Org ${dialect}`,
          apple_id: 'admin@lapsed.example',
          renew_at: toDbTime(lapsed),
          token: services.box.seal('{}'),
          created_at: now,
          updated_at: now,
        } as never)
        .execute();
      try {
        await expiredListing();
      } finally {
        await db.database.db.deleteFrom('abm_tokens').execute();
      }
    });

    async function expiredListing() {
      const table = await runCli(db, []);
      expect(table.code).toBe(1);
      const row = table.stdout.split('\n').find((l) => l.startsWith('abm_token:'))!;
      expect(row.split(/ {2,}/).slice(1)).toEqual([
        `Lapsed Org ${dialect}`,
        iso(lapsed.toISOString()),
        '-2',
        'EXPIRED',
      ]);

      const json = await runCli(db, ['--json']);
      expect(json.code).toBe(1);
      const listed = JSON.parse(json.stdout).certificates as Record<string, unknown>[];
      expect(listed.find((c) => String(c.certificate).startsWith('abm_token:'))).toMatchObject({
        description: 'Apple Business Manager server token',
        subject: `Lapsed Org ${dialect}`,
        days_left: -2,
        expired: true,
        expiring_soon: false,
      });
      expect(listed.map((c) => c.certificate)).toEqual([
        expect.stringMatching(/^abm_token:\d+$/),
        'apple_scep_ca',
        'windows_wstep_ca',
        'apple_device_certificates',
        'windows_device_certificates',
      ]);
    }

    it('refuses unknown arguments with exit 2 and the usage', async () => {
      const out = await runCli(db, ['--bogus']);
      expect(out.code).toBe(2);
      expect(out.stdout).toContain('unknown argument: --bogus');
      expect(out.stdout).toContain('Usage: flotilla certs');
    });
  });
}
