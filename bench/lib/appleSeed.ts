import { createHash, randomUUID } from 'node:crypto';
import type { Kysely, Transaction } from 'kysely';
import { microNow } from '../../src/apple/commands/store.js';
import { AssetName, ConfigAssetService } from '../../src/configassets/service.js';
import { ConfigAssetStore } from '../../src/configassets/store.js';
import { SecretBox } from '../../src/crypto/secretbox.js';
import { dbNow } from '../../src/db/dialect.js';
import type { DB } from '../../src/db/schema.js';
import { benchServerKey } from './server.js';

/** A simulated Mac as the benches seed it: its UDID and the identity certificate it signs with. */
export interface SeededAppleDevice {
  udid: string;
  certDer: Buffer;
}

/** Stores the CA the bench server trusts for device identities (the built-in Apple SCEP CA). */
export async function storeAppleIdentityCa(db: Kysely<DB>, ca: { certPem: string; keyPem: string }) {
  const assets = new ConfigAssetService(new ConfigAssetStore(db), new SecretBox(benchServerKey));
  await assets.set({ [AssetName.appleScepCaCert]: ca.certPem, [AssetName.appleScepCaKey]: ca.keyPem });
}

/** Writes devices as enrolled, as Authenticate + TokenUpdate would have, bound to their certificates. */
export async function insertAppleEnrollments(
  trx: Transaction<DB>,
  batch: SeededAppleDevice[],
  topic: string,
  now: string,
): Promise<void> {
  await trx
    .insertInto('nano_devices')
    .values(
      batch.map((d) => ({
        id: d.udid,
        authenticate: '<plist/>',
        authenticate_at: now,
        platform: 'darwin',
        created_at: now,
        updated_at: now,
      })),
    )
    .execute();
  await trx
    .insertInto('nano_enrollments')
    .values(
      batch.map((d) => ({
        id: d.udid,
        device_id: d.udid,
        type: 'Device',
        topic,
        push_magic: randomUUID(),
        token_hex: createHash('sha256').update(d.udid).digest('hex'),
        last_seen_at: now,
        created_at: now,
        updated_at: now,
      })),
    )
    .execute();
  await trx
    .insertInto('nano_cert_auth_associations')
    .values(
      batch.map((d) => ({
        id: d.udid,
        sha256: createHash('sha256').update(d.certDer).digest('hex'),
        created_at: now,
        updated_at: now,
      })),
    )
    .execute();
}

/**
 * Enrolled devices with the same commands queued for each, in list order (each command queued with
 * a later timestamp, so the queue hands them out in that order). 500 devices per transaction.
 */
export async function seedQueuedAppleDevices(
  db: Kysely<DB>,
  ca: { certPem: string; keyPem: string },
  devices: SeededAppleDevice[],
  commands: { commandUuid: string; plist: Buffer; requestType: string }[],
): Promise<void> {
  await storeAppleIdentityCa(db, ca);
  const now = dbNow();
  for (const c of commands) {
    await db
      .insertInto('nano_commands')
      .values({
        command_uuid: c.commandUuid,
        request_type: c.requestType,
        command: c.plist,
        created_at: microNow(),
        updated_at: now,
      })
      .execute();
  }
  for (let i = 0; i < devices.length; i += 500) {
    const batch = devices.slice(i, i + 500);
    await db.transaction().execute(async (trx) => {
      await insertAppleEnrollments(trx, batch, 'com.apple.mgmt.External.bench', now);
      for (const c of commands) {
        const at = microNow();
        await trx
          .insertInto('nano_enrollment_queue')
          .values(
            batch.map((d) => ({ id: d.udid, command_uuid: c.commandUuid, created_at: at, updated_at: at })),
          )
          .execute();
      }
    });
  }
}

/** A small Dock profile with fresh payload UUIDs, as the benches upload by the thousand. */
export function benchMobileconfig(identifier: string, name: string): Buffer {
  return Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>PayloadContent</key><array><dict>
<key>PayloadType</key><string>com.apple.dock</string>
<key>PayloadIdentifier</key><string>${identifier}.p</string>
<key>PayloadUUID</key><string>${randomUUID()}</string>
<key>PayloadVersion</key><integer>1</integer>
<key>orientation</key><string>bottom</string>
</dict></array>
<key>PayloadDisplayName</key><string>${name}</string>
<key>PayloadIdentifier</key><string>${identifier}</string>
<key>PayloadType</key><string>Configuration</string>
<key>PayloadUUID</key><string>${randomUUID()}</string>
<key>PayloadVersion</key><integer>1</integer>
</dict></plist>`);
}
