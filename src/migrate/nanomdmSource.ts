import { groupDeviceSets, hostFromAuthenticate } from './deviceSets.js';
import { ImportError } from './errors.js';
import type {
  ImportedDefinitions,
  ImportedDeviceSet,
  ImportedServerAssets,
  ImportSource,
  NotCarried,
} from './model.js';
import { nanoSchema, readNanoBatch } from './nanoRows.js';
import type { SourceDb } from './sourceDb.js';

/**
 * A NanoMDM MySQL database (micromdm/nanomdm storage/mysql/schema.sql). NanoMDM keeps no SCEP CA
 * (the operator's SCEP server has it), so the CA comes from the command line; push certificates
 * are in `push_certs`. NanoMDM has no hosts or teams: hosts are made from the Authenticate messages.
 */
export class NanoMdmSource implements ImportSource {
  readonly kind = 'nanomdm' as const;
  readonly key: string;

  constructor(
    private readonly src: SourceDb,
    private readonly scepCa: { certPem: string; keyPem?: string },
  ) {
    this.key = `nanomdm:${src.name}`;
  }

  async checkSchema(): Promise<void> {
    await this.src.requireSchema('NanoMDM', {
      ...nanoSchema(''),
      push_certs: ['topic', 'cert_pem', 'key_pem'],
      commands: ['command_uuid'],
      enrollment_queue: ['id', 'command_uuid'],
    });
  }

  async serverAssets(): Promise<ImportedServerAssets> {
    const certs = await this.src.query<{ topic: string; cert_pem: string; key_pem: string }>(
      'SELECT topic, cert_pem, key_pem FROM push_certs ORDER BY topic',
    );
    if (certs.length > 1) {
      const topics = await this.src.query<{ topic: string }>('SELECT DISTINCT topic FROM enrollments');
      // One push certificate serves this server; several only work when devices use one of them.
      if (topics.length > 1)
        throw new ImportError(
          `the source's devices use ${topics.length} APNs topics; Flotilla serves one push certificate`,
        );
      const used = certs.find((c) => c.topic === topics[0]?.topic);
      if (!used) throw new ImportError("no push certificate in push_certs matches the devices' topic");
      return { apns: { certPem: used.cert_pem, keyPem: used.key_pem }, scepCas: [this.scepCa] };
    }
    const c = certs[0];
    return { apns: c ? { certPem: c.cert_pem, keyPem: c.key_pem } : undefined, scepCas: [this.scepCa] };
  }

  async teamNames(): Promise<string[]> {
    return [];
  }

  /** NanoMDM has no labels or profiles. */
  async definitions(): Promise<ImportedDefinitions> {
    return { labels: [], builtinLabelNames: [], appleProfiles: [], windowsProfiles: [], declarations: [] };
  }

  countDevices(): Promise<number> {
    return this.src.count('devices');
  }

  async devicesAfter(cursor: string, limit: number): Promise<ImportedDeviceSet[]> {
    const b = await readNanoBatch(this.src, '', cursor, limit, { associationExpiry: false });
    return groupDeviceSets(b.devices, b.users, b.enrollments, b.associations, hostFromAuthenticate);
  }

  async notCarried(): Promise<NotCarried[]> {
    const [commands, queued] = await Promise.all([
      this.src.count('commands'),
      this.src.count('enrollment_queue'),
    ]);
    return [
      {
        what: 'commands and their results (command history)',
        count: commands,
        why: 'history stays with NanoMDM',
      },
      {
        what: 'queued command deliveries',
        count: queued,
        why: 'commands pending in NanoMDM are not re-sent; queue them again in Flotilla',
      },
    ];
  }

  close(): Promise<void> {
    return this.src.close();
  }
}
