import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dbNow } from '../../src/db/dialect.js';
import { api, type ApiResponse } from './api.js';
import type { TestServer } from './testServer.js';

/** The osquery enroll vector (macOS 14 host_details, from Fleet's osquery-perf template). */
export const macEnrollVector = JSON.parse(
  readFileSync(new URL('../vectors/orbit/osquery_enroll_request_macos.json', import.meta.url), 'utf8'),
) as {
  enroll_secret: string;
  host_identifier: string;
  platform_type: string;
  host_details: Record<string, Record<string, string>>;
};

/** POST /api/osquery/<path> with a JSON body. */
export function osquery(srv: TestServer, path: string, body: unknown): Promise<ApiResponse> {
  return api(srv, 'POST', `/api/osquery/${path}`, { body });
}

export interface AgentIdentity {
  uuid?: string;
  serial?: string;
  hostname?: string;
  platform?: 'darwin' | 'windows' | 'ubuntu';
}

/** An enroll body from the vector with this host's identity. */
export function enrollBody(secret: string, id: AgentIdentity = {}) {
  const body = structuredClone(macEnrollVector);
  const uuid = id.uuid ?? randomUUID().toUpperCase();
  body.enroll_secret = secret;
  body.host_identifier = uuid;
  body.host_details.system_info.uuid = uuid;
  body.host_details.osquery_info.uuid = uuid;
  body.host_details.system_info.hardware_serial = id.serial ?? `SN${uuid.slice(0, 8)}`;
  if (id.hostname !== undefined) {
    body.host_details.system_info.hostname = id.hostname;
    body.host_details.system_info.computer_name = id.hostname;
  }
  if (id.platform === 'windows') {
    body.host_details.os_version = {
      name: 'Microsoft Windows 11 Pro',
      platform: 'windows',
      platform_like: 'windows',
      version: '10.0.22631',
      major: '10',
      minor: '0',
      patch: '',
      build: '22631',
    };
  } else if (id.platform === 'ubuntu') {
    body.host_details.os_version = {
      name: 'Ubuntu',
      platform: 'ubuntu',
      platform_like: 'debian',
      version: '22.04.3 LTS (Jammy Jellyfish)',
      major: '22',
      minor: '4',
      patch: '0',
      codename: 'jammy',
    };
  }
  return body;
}

/** Enrolls an agent; returns its node key and host id. */
export async function enrollAgent(
  srv: TestServer,
  secret: string,
  id: AgentIdentity = {},
): Promise<{ nodeKey: string; hostId: number; uuid: string }> {
  const body = enrollBody(secret, id);
  const res = await osquery(srv, 'enroll', body);
  if (res.status !== 200) throw new Error(`enroll failed: ${res.status} ${res.text}`);
  const host = await srv.app.services.database.db
    .selectFrom('hosts')
    .select('id')
    .where('osquery_host_id', '=', body.host_identifier)
    .executeTakeFirstOrThrow();
  return { nodeKey: res.body.node_key as string, hostId: Number(host.id), uuid: body.host_identifier };
}

/** The host's row as stored (buffered last-contact times written first). */
export async function hostRow(srv: TestServer, hostId: number) {
  await srv.app.services.osquery.flush();
  return srv.app.services.database.db
    .selectFrom('hosts')
    .selectAll()
    .where('id', '=', hostId)
    .executeTakeFirstOrThrow();
}

/** Marks the host as fully reported just now: nothing is due until an interval passes. */
export async function markReported(srv: TestServer, hostId: number, fields: Record<string, unknown> = {}) {
  const now = dbNow();
  await srv.app.services.database.db
    .updateTable('hosts')
    .set({ detail_updated_at: now, label_updated_at: now, refetch_requested: 0, ...fields })
    .where('id', '=', hostId)
    .execute();
}

/** A distributed write with these results (status 0 unless given). */
export function writeBody(
  nodeKey: string,
  queries: Record<string, Record<string, string>[] | ''>,
  statuses: Record<string, number> = {},
) {
  return {
    node_key: nodeKey,
    queries,
    statuses: Object.fromEntries(Object.keys(queries).map((k) => [k, statuses[k] ?? 0])),
    messages: {},
  };
}
