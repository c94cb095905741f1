import type { Kysely } from 'kysely';
import type { DB } from '../../db/schema.js';

/** IN lists stay well under every dialect's parameter limit. */
const batchSize = 1000;

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += batchSize) out.push(items.slice(i, i + batchSize));
  return out;
}

/** A host's end user as the identity provider knows them (the account the host enrolled as). */
export interface HostIdpUser {
  username: string;
  fullname: string;
  email: string;
}

/** What the host identity variables read: hosts' serials and their identity-provider accounts. */
export class HostIdentityStore {
  constructor(private readonly db: Kysely<DB>) {}

  /** Hardware serial by host id, for the hosts that exist. */
  async serials(hostIds: number[]): Promise<Map<number, string>> {
    const out = new Map<number, string>();
    for (const ids of chunks([...new Set(hostIds)])) {
      const rows = await this.db
        .selectFrom('hosts')
        .select(['id', 'hardware_serial'])
        .where('id', 'in', ids)
        .execute();
      for (const r of rows) out.set(Number(r.id), r.hardware_serial);
    }
    return out;
  }

  /** The identity-provider account each host enrolled as, by host UUID (hosts without one absent). */
  async idpUsers(hostUuids: string[]): Promise<Map<string, HostIdpUser>> {
    const out = new Map<string, HostIdpUser>();
    for (const uuids of chunks([...new Set(hostUuids)])) {
      const rows = await this.db
        .selectFrom('host_mdm_idp_accounts as l')
        .innerJoin('mdm_idp_accounts as a', 'a.uuid', 'l.account_uuid')
        .select(['l.host_uuid', 'a.username', 'a.fullname', 'a.email'])
        .where('l.host_uuid', 'in', uuids)
        .execute();
      for (const r of rows)
        out.set(r.host_uuid, { username: r.username, fullname: r.fullname, email: r.email });
    }
    return out;
  }
}
