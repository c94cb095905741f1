import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createConnection, type Connection } from 'mysql2/promise';
import { mysqlRootUrl } from './testServer.js';

/** A scratch MySQL database standing for another MDM's database; `drop` removes it. */
export async function createSourceDatabase(
  prefix: string,
): Promise<{ url: string; conn: Connection; drop(): Promise<void> }> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const root = await createConnection({ uri: mysqlRootUrl });
  await root.query(`CREATE DATABASE \`${name}\``);
  await root.end();
  const url = `${mysqlRootUrl}/${name}`;
  const conn = await createConnection({ uri: url, multipleStatements: true, timezone: 'Z' });
  return {
    url,
    conn,
    async drop() {
      await conn.end();
      const r = await createConnection({ uri: mysqlRootUrl });
      await r.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await r.end();
    },
  };
}

/** NanoMDM's own MySQL schema (test/vectors/nanomdm/schema.sql). */
export function nanomdmSchemaSql(): string {
  return readFileSync(new URL('../vectors/nanomdm/schema.sql', import.meta.url), 'utf8');
}
