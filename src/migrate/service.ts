import { createPrivateKey, X509Certificate } from 'node:crypto';
import { AssetName, type ConfigAssetService } from '../configassets/service.js';
import { dbNow } from '../db/dialect.js';
import { ImportError } from './errors.js';
import type { ImportedServerAssets, ImportSource, NotCarried } from './model.js';
import type { DefinitionStore } from './definitionStore.js';
import { planCounts, planDefinitions, type DefinitionPlan } from './definitions.js';
import { addCounts, emptyCounts, type ImportCounts, type ImportStore } from './store.js';

export interface ImportOptions {
  dryRun: boolean;
  batchSize: number;
  /**
   * Test hook standing for a crash: throw after this many batches were committed (the run stays
   * unfinished with its saved position, as after a crash). Not a CLI option.
   */
  failAfterBatches?: number;
}

/** Labels and profile definitions written (or, in a dry run, that would be written). */
export interface DefinitionCounts {
  labels: number;
  appleProfiles: number;
  windowsProfiles: number;
  declarations: number;
  /** Labels and definitions this server already had (left unchanged). */
  alreadyPresent: number;
}

export type AssetOutcome = 'imported' | 'unchanged' | 'not in source';

export interface ImportReport {
  source: string;
  dryRun: boolean;
  /** Where a crashed run was picked up (the last device id written), if it was. */
  resumedAfter?: string;
  /** Written (or, in a dry run, that would be written). */
  counts: ImportCounts;
  teamsCreated: number;
  definitions: DefinitionCounts;
  apns: AssetOutcome;
  /** Imported SCEP CAs newly trusted for device identities. */
  scepCasTrusted: number;
  notCarried: NotCarried[];
}

export type Progress = (done: number, total: number) => void;

function splitPems(bundle: string | undefined, label: string): string[] {
  if (!bundle) return [];
  const re = new RegExp(`-----BEGIN ${label}-----[\\s\\S]+?-----END ${label}-----`, 'g');
  return bundle.match(re) ?? [];
}

/** A certificate and its key, checked to belong together (the message never includes either). */
function checkPair(what: string, certPem: string, keyPem: string | undefined): X509Certificate {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(certPem);
  } catch {
    throw new ImportError(`the source's ${what} certificate does not parse`);
  }
  if (keyPem !== undefined) {
    let ok = false;
    try {
      ok = cert.checkPrivateKey(createPrivateKey(keyPem));
    } catch {
      throw new ImportError(`the source's ${what} private key does not parse`);
    }
    if (!ok) throw new ImportError(`the source's ${what} private key does not match its certificate`);
  }
  return cert;
}

/**
 * Moves devices from another MDM's database into ours without the devices noticing: same identity
 * certificates (their CA becomes trusted), same push certificate and tokens, same UDIDs. Everything
 * the source must satisfy (schema, secrets, consistency with this server) is checked before the
 * first write, so a refused import leaves nothing behind. Batches commit with a cursor, so a crash
 * resumes, and devices the target already knows are left alone, so a re-run changes nothing.
 */
export class ImportService {
  constructor(
    private readonly store: ImportStore,
    private readonly definitionStore: DefinitionStore,
    private readonly assets: ConfigAssetService,
    /** This server's check-in URL (host_mdm.server_url of imported hosts). */
    private readonly mdmServerUrl: () => Promise<string>,
  ) {}

  async run(source: ImportSource, opts: ImportOptions, progress: Progress = () => {}): Promise<ImportReport> {
    await source.checkSchema();
    const incoming = await source.serverAssets();
    const plan = await this.planAssets(incoming);
    const teamNames = await source.teamNames();
    const definitions = await source.definitions();
    const total = await source.countDevices();
    const notCarried = await source.notCarried();
    const have = {
      labels: await this.definitionStore.labels(),
      ...(await this.definitionStore.definitions()),
    };
    const report: ImportReport = {
      source: source.key,
      dryRun: opts.dryRun,
      counts: emptyCounts(),
      teamsCreated: 0,
      definitions: { labels: 0, appleProfiles: 0, windowsProfiles: 0, declarations: 0, alreadyPresent: 0 },
      apns: plan.apns,
      scepCasTrusted: plan.newCas.length,
      notCarried,
    };
    if (opts.dryRun) {
      const known = await this.store.knownTeams(teamNames);
      const defPlan = planDefinitions(definitions, have, known);
      report.teamsCreated = teamNames.length - known.size;
      report.definitions = planCounts(defPlan);
      report.notCarried = [...notCarried, ...defPlan.notCarried];
      report.counts = await this.wouldWrite(source, total, opts.batchSize, defPlan, progress);
      return report;
    }
    await this.writeAssets(incoming, plan);
    const teams = await this.store.ensureTeams(teamNames);
    report.teamsCreated = teams.created;
    const defPlan = planDefinitions(definitions, have, teams.ids);
    report.definitions = planCounts(defPlan);
    report.notCarried = [...notCarried, ...defPlan.notCarried];
    const allLabelIds = await this.definitionStore.write(defPlan.writes, dbNow());
    const labelIds = new Map([...allLabelIds].filter(([name]) => defPlan.labelNames.has(name)));
    const run = await this.store.startRun(source.key, source.kind);
    if (run.cursor) report.resumedAfter = run.cursor;
    let cursor = run.cursor;
    let counts = run.counts;
    let done = run.counts.devices + run.counts.alreadyPresent;
    const url = await this.mdmServerUrl();
    let batches = 0;
    for (;;) {
      const sets = await source.devicesAfter(cursor, opts.batchSize);
      if (sets.length === 0) break;
      cursor = sets[sets.length - 1].device.id;
      const wrote = await this.store.writeBatch(sets, {
        source: source.key,
        cursor,
        teams: teams.ids,
        mdmServerUrl: url,
        labelIds,
        profiles: defPlan.profiles,
        declarations: defPlan.declarations,
      });
      counts = addCounts(counts, wrote);
      done += sets.length;
      progress(Math.min(done, total), total);
      if (++batches === opts.failAfterBatches)
        throw new Error(`import stopped after ${batches} batches (failAfterBatches)`);
    }
    await this.store.finishRun(source.key);
    report.counts = counts;
    return report;
  }

  /** What a run would write: every batch read, nothing written. */
  private async wouldWrite(
    source: ImportSource,
    total: number,
    batchSize: number,
    defPlan: DefinitionPlan,
    progress: Progress,
  ): Promise<ImportCounts> {
    const counts = emptyCounts();
    let cursor = '';
    let done = 0;
    for (;;) {
      const sets = await source.devicesAfter(cursor, batchSize);
      if (sets.length === 0) break;
      cursor = sets[sets.length - 1].device.id;
      const known = await this.store.knownDeviceIds(sets.map((s) => s.device.id));
      const hosts = await this.store.knownHostUuids(sets.filter((s) => s.host).map((s) => s.device.id));
      for (const s of sets) {
        if (known.has(s.device.id)) {
          counts.alreadyPresent++;
          continue;
        }
        counts.devices++;
        counts.users += s.users.length;
        counts.enrollments += s.enrollments.length;
        counts.certificates += s.associations.length;
        if (s.host && !hosts.has(s.device.id)) counts.hosts++;
        if (s.host) {
          counts.labelMemberships += s.host.labels.filter((l) => defPlan.labelNames.has(l.name)).length;
          counts.profileStatuses +=
            s.host.profiles.filter((p) => defPlan.profiles.has(p.profileUuid)).length +
            s.host.declarations.filter((d) => defPlan.declarations.has(d.declarationUuid)).length;
        }
      }
      done += sets.length;
      progress(Math.min(done, total), total);
    }
    return counts;
  }

  /** Checks the source's secrets and decides what changes here; throws before anything is written. */
  private async planAssets(incoming: ImportedServerAssets): Promise<{
    apns: AssetOutcome;
    newCas: { certPem: string; keyPem?: string }[];
  }> {
    const have = await this.assets.get(
      [AssetName.apnsCert, AssetName.appleScepCaCert, AssetName.appleImportedCaCerts],
      { fresh: true },
    );
    let apns: AssetOutcome = 'not in source';
    if (incoming.apns) {
      const cert = checkPair('APNs push', incoming.apns.certPem, incoming.apns.keyPem);
      const current = have[AssetName.apnsCert];
      if (!current) apns = 'imported';
      else if (new X509Certificate(current).fingerprint256 === cert.fingerprint256) apns = 'unchanged';
      else
        throw new ImportError(
          'this server already has a different APNs push certificate; devices of the source would not get pushes. ' +
            'Import into a server without one (or with the same one).',
        );
    }
    const trusted = new Set(
      [
        have[AssetName.appleScepCaCert]?.toString(),
        ...splitPems(have[AssetName.appleImportedCaCerts]?.toString(), 'CERTIFICATE'),
      ]
        .filter((p): p is string => !!p)
        .map((p) => new X509Certificate(p).fingerprint256),
    );
    const newCas: { certPem: string; keyPem?: string }[] = [];
    for (const ca of incoming.scepCas) {
      const cert = checkPair('SCEP CA', ca.certPem, ca.keyPem);
      if (!cert.ca) throw new ImportError('the SCEP CA certificate given is not a CA certificate');
      if (trusted.has(cert.fingerprint256)) continue;
      trusted.add(cert.fingerprint256);
      newCas.push({ certPem: cert.toString(), keyPem: ca.keyPem });
    }
    return { apns, newCas };
  }

  private async writeAssets(
    incoming: ImportedServerAssets,
    plan: { apns: AssetOutcome; newCas: { certPem: string; keyPem?: string }[] },
  ): Promise<void> {
    const values: Partial<Record<AssetName, string>> = {};
    if (plan.apns === 'imported' && incoming.apns) {
      values[AssetName.apnsCert] = incoming.apns.certPem;
      values[AssetName.apnsKey] = incoming.apns.keyPem;
    }
    if (plan.newCas.length) {
      const have = await this.assets.get([AssetName.appleImportedCaCerts, AssetName.appleImportedCaKeys], {
        fresh: true,
      });
      const certs = splitPems(have[AssetName.appleImportedCaCerts]?.toString(), 'CERTIFICATE');
      const keys = have[AssetName.appleImportedCaKeys]?.toString() ?? '';
      values[AssetName.appleImportedCaCerts] =
        [...certs, ...plan.newCas.map((c) => c.certPem.trim())].join('\n') + '\n';
      const newKeys = plan.newCas.flatMap((c) => (c.keyPem ? [c.keyPem.trim()] : []));
      if (newKeys.length)
        values[AssetName.appleImportedCaKeys] = [keys.trim(), ...newKeys].filter(Boolean).join('\n') + '\n';
    }
    if (Object.keys(values).length) await this.assets.set(values);
  }
}
