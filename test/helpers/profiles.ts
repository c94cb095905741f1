import type { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { dbNow } from '../../src/db/dialect.js';
import type { TestServer } from './testServer.js';

/** A minimal .mobileconfig with one payload of the given type; `version` changes its content. */
export function mobileconfig(
  identifier: string,
  name: string,
  payloadType = 'com.apple.dock',
  version = 1,
): Buffer {
  return Buffer.from(`<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict>
<key>PayloadContent</key><array><dict>
<key>PayloadType</key><string>${payloadType}</string>
<key>PayloadIdentifier</key><string>${identifier}.p</string>
<key>PayloadUUID</key><string>${identifier}-inner-${version}</string>
<key>PayloadVersion</key><integer>1</integer>
<key>orientation</key><string>v${version}</string>
</dict></array>
<key>PayloadDisplayName</key><string>${name}</string>
<key>PayloadIdentifier</key><string>${identifier}</string>
<key>PayloadType</key><string>Configuration</string>
<key>PayloadUUID</key><string>${identifier}-uuid-${version}</string>
<key>PayloadVersion</key><integer>1</integer>
</dict></plist>`);
}

/** POST /configuration_profiles as multipart (the only way Fleet takes a profile file). */
export async function uploadProfile(
  srv: TestServer,
  token: string,
  file: { name: string; bytes: Buffer | string },
  fields: Record<string, string | string[]> = {},
) {
  const form = new FormData();
  for (const [k, v] of Object.entries(fields)) for (const x of Array.isArray(v) ? v : [v]) form.append(k, x);
  form.append('profile', new Blob([new Uint8Array(Buffer.from(file.bytes))]), file.name);
  const res = await fetch(`${srv.url}/api/latest/fleet/configuration_profiles`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: form,
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** A host's Apple profile status rows, by identifier. */
export function appleHostRows(srv: TestServer, uuid: string) {
  return srv.app.services.database.db
    .selectFrom('host_mdm_apple_profiles')
    .selectAll()
    .where('host_uuid', '=', uuid)
    .orderBy('profile_identifier')
    .execute();
}

/** Manager tick, then the device handles everything queued; repeated until nothing moves. */
export async function converge(srv: TestServer, devices: SimulatedAppleDevice[], rounds = 4) {
  for (let i = 0; i < rounds; i++) {
    await srv.app.services.profileManager.tick();
    for (const d of devices) await d.connect();
  }
}

/** A new team holding the given devices' hosts (so a test's profiles reach only its devices). */
export async function teamOfDevices(
  srv: TestServer,
  name: string,
  devices: SimulatedAppleDevice[],
): Promise<number> {
  const { db } = srv.app.services.database;
  const now = dbNow();
  const t = await db
    .insertInto('teams')
    .values({ name, config: '{}', created_at: now, updated_at: now })
    .executeTakeFirstOrThrow();
  const teamId = Number(t.insertId);
  const uuids = devices.map((d) => d.udid);
  await db.updateTable('hosts').set({ team_id: teamId }).where('uuid', 'in', uuids).execute();
  const hosts = await db.selectFrom('hosts').select('id').where('uuid', 'in', uuids).execute();
  await srv.app.services.hostEvents.emitHostsTransferred(
    hosts.map((h) => Number(h.id)),
    teamId,
  );
  return teamId;
}
