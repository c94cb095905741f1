import { groupDeviceSets, hostFromAuthenticate } from './deviceSets.js';
import { ImportError } from './errors.js';
import { decryptFleetAsset } from './fleetAssets.js';
import {
  fleetDefinitionSchema,
  fleetOptionalSchema,
  readFleetDefinitions,
  readFleetHostExtras,
} from './fleetDefinitions.js';
import type {
  ImportedDefinitions,
  ImportedDevice,
  ImportedDeviceSet,
  ImportedHost,
  ImportedServerAssets,
  ImportSource,
  NotCarried,
} from './model.js';
import { nanoSchema, readNanoBatch } from './nanoRows.js';
import type { SourceDb } from './sourceDb.js';

/** Fleet tables the import leaves behind, counted for the report when the source has them. */
const leftBehind: { table: string; what: string }[] = [
  { table: 'nano_commands', what: 'MDM commands and results (command history)' },
  { table: 'software_titles', what: 'software titles and installers' },
  { table: 'policies', what: 'policies' },
  { table: 'scripts', what: 'scripts' },
  { table: 'queries', what: 'queries' },
  { table: 'host_disk_encryption_keys', what: 'escrowed disk encryption keys' },
  { table: 'abm_tokens', what: 'ABM tokens (upload a new token for this server)' },
];

/**
 * A Fleet MySQL database: NanoMDM's tables with the `nano_` prefix, Fleet's hosts, host_mdm and
 * teams, and `mdm_config_assets` (SCEP CA, APNs certificate) decrypted with the server private key.
 */
export class FleetSource implements ImportSource {
  readonly kind = 'fleet' as const;
  readonly key: string;
  private tables = new Map<string, Set<string>>();

  constructor(
    private readonly src: SourceDb,
    private readonly privateKey: string,
  ) {
    this.key = `fleet:${src.name}`;
  }

  async checkSchema(): Promise<void> {
    this.tables = await this.src.requireSchema('Fleet', {
      ...nanoSchema('nano_'),
      nano_cert_auth_associations: ['id', 'sha256', 'cert_not_valid_after'],
      hosts: [
        'id',
        'uuid',
        'hardware_serial',
        'platform',
        'team_id',
        'hostname',
        'computer_name',
        'hardware_model',
        'os_version',
        'label_updated_at',
      ],
      host_mdm: ['host_id', 'enrolled', 'installed_from_dep', 'is_personal_enrollment'],
      teams: ['id', 'name'],
      mdm_config_assets: ['name', 'value', 'deletion_uuid'],
      ...fleetDefinitionSchema,
    });
    const optional = Object.fromEntries(
      Object.entries(fleetOptionalSchema).filter(([table]) => this.tables.has(table)),
    );
    if (Object.keys(optional).length) await this.src.requireSchema('Fleet', optional);
  }

  definitions(): Promise<ImportedDefinitions> {
    return readFleetDefinitions(this.src, this.tables);
  }

  private async asset(name: string): Promise<string | undefined> {
    const rows = await this.src.query<{ value: Buffer | string }>(
      "SELECT value FROM mdm_config_assets WHERE name = ? AND deletion_uuid = ''",
      [name],
    );
    if (!rows[0]) return undefined;
    const v = rows[0].value;
    return decryptFleetAsset(name, Buffer.isBuffer(v) ? v : Buffer.from(v), this.privateKey).toString('utf8');
  }

  async serverAssets(): Promise<ImportedServerAssets> {
    const [caCert, caKey, apnsCert, apnsKey] = [
      await this.asset('ca_cert'),
      await this.asset('ca_key'),
      await this.asset('apns_cert'),
      await this.asset('apns_key'),
    ];
    if (!caCert)
      throw new ImportError(
        'the Fleet database has no SCEP CA (mdm_config_assets ca_cert): MDM was never set up',
      );
    if (!!apnsCert !== !!apnsKey)
      throw new ImportError('the Fleet database has an APNs certificate without its key');
    return {
      apns: apnsCert && apnsKey ? { certPem: apnsCert, keyPem: apnsKey } : undefined,
      scepCas: [{ certPem: caCert, keyPem: caKey }],
    };
  }

  async teamNames(): Promise<string[]> {
    const rows = await this.src.query<{ name: string }>('SELECT name FROM teams ORDER BY id');
    return rows.map((r) => r.name);
  }

  countDevices(): Promise<number> {
    return this.src.count('nano_devices');
  }

  async devicesAfter(cursor: string, limit: number): Promise<ImportedDeviceSet[]> {
    const b = await readNanoBatch(this.src, 'nano_', cursor, limit, { associationExpiry: true });
    const hosts = new Map<string, Record<string, unknown>>();
    if (b.devices.length) {
      const ids = b.devices.map((d) => d.id);
      const rows = await this.src.query(
        `SELECT h.id, h.uuid, h.label_updated_at, h.hardware_serial, h.platform, h.hostname, h.computer_name, h.hardware_model, h.os_version,
                t.name AS team_name, m.installed_from_dep, m.is_personal_enrollment
           FROM hosts h LEFT JOIN teams t ON t.id = h.team_id LEFT JOIN host_mdm m ON m.host_id = h.id
          WHERE h.uuid IN (${ids.map(() => '?').join(',')}) ORDER BY h.id`,
        ids,
      );
      for (const r of rows) if (!hosts.has(String(r.uuid))) hosts.set(String(r.uuid), r);
    }
    const extras = await readFleetHostExtras(
      this.src,
      this.tables,
      [...hosts.values()].map((r) => ({
        id: Number(r.id),
        uuid: String(r.uuid),
        labelUpdatedAt: r.label_updated_at === null ? null : String(r.label_updated_at),
      })),
    );
    const host = (d: ImportedDevice, personal: boolean): ImportedHost => {
      const r = hosts.get(d.id);
      if (!r) return hostFromAuthenticate(d, personal);
      const x = extras.get(d.id)!;
      return {
        hardwareSerial: String(r.hardware_serial ?? ''),
        platform: String(r.platform ?? ''),
        hostname: String(r.hostname ?? ''),
        computerName: String(r.computer_name ?? ''),
        hardwareModel: String(r.hardware_model ?? ''),
        osVersion: String(r.os_version ?? ''),
        teamName: r.team_name === null || r.team_name === undefined ? null : String(r.team_name),
        installedFromDep: Boolean(Number(r.installed_from_dep ?? 0)),
        personal: Boolean(Number(r.is_personal_enrollment ?? 0)) || personal,
        labels: x.labels,
        profiles: x.profiles,
        declarations: x.declarations,
      };
    };
    return groupDeviceSets(b.devices, b.users, b.enrollments, b.associations, host);
  }

  async notCarried(): Promise<NotCarried[]> {
    const out: NotCarried[] = [];
    for (const t of leftBehind) {
      if (!this.tables.has(t.table)) continue;
      const count = await this.src.count(t.table);
      if (count) out.push({ what: t.what, count, why: 'not imported' });
    }
    const [orphans] = await this.src.query<{ n: number }>(
      `SELECT COUNT(*) AS n FROM host_mdm_apple_profiles hp
         LEFT JOIN mdm_apple_configuration_profiles p ON p.profile_uuid = hp.profile_uuid
        WHERE p.profile_uuid IS NULL`,
    );
    if (Number(orphans?.n))
      out.push({
        what: 'host statuses of Apple profiles deleted in Fleet',
        count: Number(orphans.n),
        why: 'removals still in flight in Fleet are not sent again',
      });
    const [others] = await this.src.query<{ n: number }>(
      "SELECT COUNT(*) AS n FROM hosts WHERE platform NOT IN ('darwin','ios','ipados')",
    );
    if (Number(others?.n))
      out.push({
        what: 'non-Apple hosts (Windows, Linux, Android)',
        count: Number(others.n),
        why: 'they re-enroll with Flotilla',
      });
    return out;
  }

  close(): Promise<void> {
    return this.src.close();
  }
}
