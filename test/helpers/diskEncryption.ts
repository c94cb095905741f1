import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dbNow } from '../../src/db/dialect.js';
import type { TestServer } from './testServer.js';

const dir = mkdtempSync(join(tmpdir(), 'flotilla-disk-'));

/** Runs openssl with files in a scratch folder; returns stdout. */
export function openssl(args: string[], files: Record<string, string | Buffer> = {}): Buffer {
  for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), data);
  return execFileSync(
    'openssl',
    args.map((a) => (a.startsWith('@') ? join(dir, a.slice(1)) : a)),
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
}

/**
 * A FileVault PRK blob as a Mac escrows it: the recovery key in a BER (streamed) CMS EnvelopedData
 * to the Apple MDM CA certificate, 3DES by default; base64.
 */
export async function fileVaultBlob(srv: TestServer, prk: string, cipher = '-des3'): Promise<string> {
  const ca = await srv.app.services.appleScep.caCertificate();
  const name = randomUUID();
  openssl(
    [
      'cms',
      '-encrypt',
      '-binary',
      '-stream',
      '-outform',
      'DER',
      cipher,
      '-in',
      `@${name}.txt`,
      '-out',
      `@${name}.der`,
      `@${name}.pem`,
    ],
    { [`${name}.txt`]: prk, [`${name}.pem`]: ca.certPem },
  );
  return readFileSync(join(dir, `${name}.der`)).toString('base64');
}

/** Apple MDM "on" (what the APNs certificate upload sets). */
export async function appleMdmOn(srv: TestServer): Promise<void> {
  await srv.app.services.appConfig.patch({ mdm: { enabled_and_configured: true } });
}

/** Windows MDM "on". */
export async function windowsMdmOn(srv: TestServer): Promise<void> {
  await srv.app.services.appConfig.patch({ mdm: { windows_enabled_and_configured: true } });
  srv.app.services.windows.invalidateEnabled();
}

/**
 * A PC as Windows enrollment and osquery leave it: the host (osquery-enrolled), its host_mdm row
 * (enrolled in Flotilla's MDM, or a server) and a live Windows MDM enrollment.
 */
export async function seedWindowsPc(
  srv: TestServer,
  opts: { teamId?: number | null; isServer?: boolean; enrolled?: boolean } = {},
): Promise<{ hostId: number; uuid: string }> {
  const { db } = srv.app.services.database;
  const uuid = randomUUID().toUpperCase();
  const now = dbNow();
  const res = await db
    .insertInto('hosts')
    .values({
      uuid,
      platform: 'windows',
      hostname: `pc-${uuid.slice(0, 6)}`,
      osquery_host_id: uuid,
      team_id: opts.teamId ?? null,
      created_at: now,
      updated_at: now,
    })
    .executeTakeFirstOrThrow();
  const hostId = Number(res.insertId);
  await db
    .insertInto('host_mdm')
    .values({
      host_id: hostId,
      enrolled: opts.enrolled === false ? 0 : 1,
      server_url: 'https://flotilla.example/api/mdm/microsoft/management',
      mdm_name: 'Fleet',
      is_server: opts.isServer ? 1 : 0,
    })
    .execute();
  if (opts.enrolled !== false) {
    await db
      .insertInto('mdm_windows_enrollments')
      .values({
        mdm_device_id: randomUUID(),
        mdm_hardware_id: randomUUID(),
        device_state: 'MDMDeviceEnrolledEnrolled',
        device_type: 'CIMClient_Windows',
        device_name: 'PC',
        enroll_type: 'ProgrammaticEnrollment',
        enroll_user_id: '',
        enroll_proto_version: '5.0',
        enroll_client_version: '10.0',
        host_uuid: uuid,
        created_at: now,
        updated_at: now,
      })
      .execute();
  }
  return { hostId, uuid };
}

/** Every row of the given tables, to show that a refused request changed nothing. */
export async function snapshot(srv: TestServer, tables: string[]): Promise<string> {
  const { db } = srv.app.services.database;
  const out: Record<string, unknown> = {};
  for (const t of tables)
    out[t] = await db
      .selectFrom(t as 'hosts')
      .selectAll()
      .execute();
  return JSON.stringify(out, (_k, v) =>
    v && v.type === 'Buffer' ? Buffer.from(v.data).toString('base64') : v,
  );
}

/** The tables disk-encryption requests may change. */
export const diskEncryptionTables = [
  'teams',
  'app_config_json',
  'activities',
  'mdm_apple_configuration_profiles',
  'host_mdm_apple_profiles',
  'host_disk_encryption_keys',
  'host_disk_encryption_keys_archive',
];

/** The key row of a host. */
export function keyRow(srv: TestServer, hostId: number) {
  return srv.app.services.database.db
    .selectFrom('host_disk_encryption_keys')
    .selectAll()
    .where('host_id', '=', hostId)
    .executeTakeFirst();
}

/** Activities of a type, newest first, details parsed. */
export async function activitiesOf(srv: TestServer, type: string) {
  const rows = await srv.app.services.database.db
    .selectFrom('activities')
    .selectAll()
    .where('activity_type', '=', type)
    .orderBy('id', 'desc')
    .execute();
  return rows.map((r) => ({ ...r, details: JSON.parse(r.details) as Record<string, unknown> }));
}
