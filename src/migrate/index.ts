import type { Kysely } from 'kysely';
import type { ConfigAssetService } from '../configassets/service.js';
import type { DB } from '../db/schema.js';
import { DefinitionStore } from './definitionStore.js';
import { ImportService } from './service.js';
import { ImportStore } from './store.js';

/** The import service over this server's database and assets. */
export function createImporter(deps: {
  db: Kysely<DB>;
  assets: ConfigAssetService;
  serverUrl: () => Promise<string>;
}) {
  return new ImportService(
    new ImportStore(deps.db),
    new DefinitionStore(deps.db),
    deps.assets,
    async () => `${(await deps.serverUrl()).replace(/\/$/, '')}/mdm/apple/mdm`,
  );
}

export { ImportError } from './errors.js';
export { FleetSource } from './fleetSource.js';
export { NanoMdmSource } from './nanomdmSource.js';
export { SourceDb } from './sourceDb.js';
export type { ImportReport } from './service.js';
