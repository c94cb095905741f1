import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { AppConfig, AppConfigService } from '../../appconfig/service.js';
import { BatchWriter } from '../../db/batchWriter.js';
import { dbNow, fromDbTime, isUniqueViolation, toDbTime } from '../../db/dialect.js';
import type { HostEvents } from '../../hosts/events.js';
import type { HostStore } from '../../hosts/store.js';
import type { EnrollSecretService } from '../../teams/enrollSecretService.js';
import type { TeamStore } from '../../teams/store.js';
import { intervalsFromConfig, osqueryConfigFor } from './agentOptions.js';
import {
  alwaysTrue,
  builtPerHost,
  detailQueriesFor,
  detailQuery,
  detailQueryPrefix,
} from './detailQueries.js';
import {
  invalidEnrollSecret,
  invalidNodeKey,
  loggableError,
  missingNodeKey,
  OsqueryError,
} from './errors.js';
import type {
  DetailIngester,
  HostSettings,
  IngestContext,
  WindowsProfileVerifier,
} from './ingest/detailIngest.js';
import type { HostUpdate, Row } from './ingest/hostUpdate.js';
import { macProfilesQuery, windowsReadBackQuery } from './ingest/profiles.js';
import { labelIdOf, labelQueryName, membershipChanges } from './labelQueries.js';
import type { DistributedWriteRequest, EnrollRequest } from './requests.js';
import type { AgentHost, OsqueryStore } from './store.js';
import { whatIsDue, type TimingOptions } from './timing.js';

export interface OsqueryOptions extends TimingOptions {
  /** Fleet's osquery.node_key_size. */
  nodeKeySize: number;
  /** Fleet's osquery.host_identifier. */
  hostIdentifier: 'provided' | 'instance' | 'uuid' | 'hostname';
}

export interface DistributedQueries {
  queries: Record<string, string>;
  discovery: Record<string, string>;
  accelerate?: number;
}

/**
 * A host's last-contact time is written at most this often. Agents call every few seconds
 * (distributed_interval 10 s by default); writing each call would turn every read into a write,
 * while online status only needs minute precision (it allows the interval plus 60 s).
 */
const seenTimeEveryMs = 60_000;

/** Fleet's `accelerate`: a host without hostname or platform yet checks in every 10 s. */
const accelerateSeconds = 10;

/** Fleet's server.GenerateRandomText: `size` characters of base64 over random bytes. */
function randomText(size: number): string {
  return randomBytes(size).toString('base64').slice(0, size);
}

/** Fleet's getHostIdentifier: which value identifies the enrolling host ('' when it is missing). */
function hostIdentifierOf(option: OsqueryOptions['hostIdentifier'], req: EnrollRequest): string {
  const d = req.host_details;
  switch (option) {
    case 'instance':
      return d.osquery_info?.instance_id || req.host_identifier;
    case 'uuid':
      return d.osquery_info?.uuid || req.host_identifier;
    case 'hostname':
      return d.system_info?.hostname || req.host_identifier;
    default:
      return req.host_identifier;
  }
}

/** Fleet ignores serial numbers a machine reports before they are set. */
function usableSerial(serial: string | undefined): string {
  return !serial || serial === '-1' || /default|serial|string/i.test(serial) ? '' : serial;
}

export interface OsqueryDeps {
  store: OsqueryStore;
  hosts: HostStore;
  teams: Pick<TeamStore, 'getById'>;
  secrets: Pick<EnrollSecretService, 'teamForSecret'>;
  appConfig: Pick<AppConfigService, 'get' | 'serverUrl'>;
  hostEvents: HostEvents;
  ingester: DetailIngester;
  windowsProfiles: Pick<WindowsProfileVerifier, 'readBackLocUris'>;
  options: OsqueryOptions;
  logger?: Logger;
}

/**
 * osquery's TLS endpoints: enrollment, configuration, distributed queries (detail queries, dynamic
 * labels, MDM checks) and their results. When nothing is due, a distributed read costs one indexed
 * query (the host by node key) and no write.
 */
export class OsqueryService {
  private readonly seen: BatchWriter<number>;

  constructor(private readonly d: OsqueryDeps) {
    // Last-contact times go out in batches: one UPDATE per second for every host that needs one.
    this.seen = new BatchWriter((ids) => d.store.touchSeen(ids, dbNow()), {
      intervalMs: 1000,
      maxItems: 1000,
      logger: d.logger,
      name: 'osquery_seen_time',
    });
  }

  /** Writes buffered last-contact times now (shutdown, tests). */
  flush(): Promise<void> {
    return this.seen.flush();
  }

  /** The host holding this node key; 401 `node_invalid` (osquery then enrolls again) otherwise. */
  async authenticate(nodeKey: string | undefined): Promise<AgentHost> {
    if (!nodeKey) throw missingNodeKey();
    const host = await this.d.store.hostByNodeKey(nodeKey);
    if (!host) throw invalidNodeKey(nodeKey);
    const seen = fromDbTime(host.seen_time)?.getTime() ?? 0;
    if (Date.now() - seen >= seenTimeEveryMs) this.seen.add(String(host.id), host.id);
    return host;
  }

  /**
   * Enrolls an agent: the secret picks the team; an existing host (same osquery identifier, same
   * hardware UUID, or an ADE placeholder with its serial) is reused, never duplicated; the host
   * gets a fresh node key and the vitals the agent sent along.
   */
  async enroll(req: EnrollRequest, clientIp: string): Promise<{ node_key: string }> {
    const team = await this.d.secrets.teamForSecret(req.enroll_secret);
    if (!team) throw invalidEnrollSecret();
    const systemInfo = req.host_details.system_info ?? {};
    const identifier = hostIdentifierOf(this.d.options.hostIdentifier, req) || systemInfo.uuid || '';
    if (!identifier)
      throw new OsqueryError('enroll failed: missing host identifier', true, 'missing host identifier');
    // fleetd's identifier is the hardware UUID; system_info's is the one to trust when present.
    const uuid = systemInfo.uuid || identifier;
    const serial = usableSerial(systemInfo.hardware_serial);
    const nodeKey = randomText(this.d.options.nodeKeySize);
    const enrollment = { osquery_host_id: identifier, node_key: nodeKey, team_id: team.teamId, uuid };

    let existing = await this.d.store.enrollMatch(identifier, uuid, serial);
    let hostId: number;
    if (existing) {
      hostId = existing.id;
    } else {
      try {
        hostId = await this.d.store.insertEnrolledHost({ ...enrollment, hardware_serial: serial });
      } catch (err) {
        // The same agent enrolling twice at once: the other request created the host.
        if (!isUniqueViolation(err)) throw err;
        existing = await this.d.store.enrollMatch(identifier, uuid, serial);
        if (!existing) throw err;
        hostId = existing.id;
      }
    }
    if (existing) await this.d.store.reenroll(hostId, { ...enrollment, hardware_serial: serial });

    const host = (await this.d.store.hostById(hostId)) as AgentHost;
    const now = Date.now();
    const ctx: IngestContext = { host, clientIp, now, settings: this.settingsFor(host) };
    const update: HostUpdate = {};
    for (const table of ['os_version', 'osquery_info', 'system_info']) {
      const row = req.host_details[table];
      if (row) Object.assign(update, await this.d.ingester.ingest(table, [row], ctx));
    }
    // A host that never ran osquery before (orbit or MDM created it) reports everything at once.
    if (existing && !existing.osquery_host_id) update.refetch_requested = true;
    await this.applyHostUpdate(host, update);
    if (existing && existing.team_id !== team.teamId)
      await this.d.hostEvents.emitHostsTransferred([hostId], team.teamId);
    return { node_key: nodeKey };
  }

  /**
   * osquery's configuration for the host: its team's agent options, else the global ones, for its
   * platform. The intervals it sets are recorded when they differ from the host's.
   */
  async config(host: AgentHost): Promise<Record<string, unknown>> {
    const team = host.team_id !== null ? await this.d.teams.getById(host.team_id) : undefined;
    const teamOptions = team?.config.agent_options;
    const globalOptions = teamOptions ? undefined : (await this.d.appConfig.get()).agent_options;
    const config = osqueryConfigFor(teamOptions, globalOptions, host.platform);
    const changed: HostUpdate = {};
    for (const [k, v] of Object.entries(intervalsFromConfig(config)) as [keyof AgentHost, number][]) {
      if (host[k] !== v) Object.assign(changed, { [k]: v });
    }
    await this.d.store.updateHost(host.id, changed);
    return config;
  }

  /** The queries due for the host (see whatIsDue); nothing is read beyond the host when none are. */
  async distributedRead(host: AgentHost): Promise<DistributedQueries> {
    const due = whatIsDue(host, Date.now(), this.d.options);
    const queries: Record<string, string> = {};
    const discovery: Record<string, string> = {};
    if (due.details !== 'none') {
      const app = await this.d.appConfig.get();
      const list = detailQueriesFor({
        platform: host.platform,
        appleMdm: app.mdm.enabled_and_configured,
        windowsMdm: app.mdm.windows_enabled_and_configured,
        criticalOnly: due.details === 'critical',
      });
      for (const q of list) {
        const sql = builtPerHost.has(q.name) ? await this.buildQuery(q.name, host) : q.sql;
        if (!sql) continue; // nothing to ask this host (Fleet drops empty queries)
        queries[detailQueryPrefix + q.name] = sql;
        discovery[detailQueryPrefix + q.name] = q.discovery ?? alwaysTrue;
      }
    }
    if (due.labels) {
      for (const label of await this.d.store.dynamicLabelQueries(host.platform)) {
        queries[labelQueryName(label.id)] = label.query;
        discovery[labelQueryName(label.id)] = alwaysTrue;
      }
    }
    const accelerate = !host.hostname || !host.platform;
    return { queries, discovery, ...(accelerate ? { accelerate: accelerateSeconds } : {}) };
  }

  private async buildQuery(name: string, host: AgentHost): Promise<string | undefined> {
    if (!host.uuid) return undefined;
    if (name === 'mdm_config_profiles_darwin_with_user')
      return macProfilesQuery(await this.d.store.appleUserChannelName(host.uuid));
    if (name === 'mdm_config_profiles_windows')
      return windowsReadBackQuery(await this.d.windowsProfiles.readBackLocUris(host.uuid));
    return undefined;
  }

  /**
   * Ingests a distributed write. A query with a non-zero status is ignored (its previous data
   * stays; an errored label stays as it was). Detail results update the host, with the detail
   * time when a vitals query succeeded; label answers are written in one statement, and a label
   * whose membership changed tells the profile scoping at once. Other results are ignored.
   */
  async distributedWrite(host: AgentHost, req: DistributedWriteRequest, clientIp: string): Promise<void> {
    const now = Date.now();
    const ctx: IngestContext = { host, clientIp, now, settings: this.settingsFor(host) };
    const update: HostUpdate = {};
    const labelAnswers = new Map<number, boolean | null>();
    let details = false;
    let vitals = false;
    for (const [name, result] of Object.entries(req.queries)) {
      const rows: Row[] = result === '' ? [] : result;
      const status = req.statuses[name];
      const failed = status !== undefined && status !== 0;
      if (failed && req.messages[name])
        this.d.logger?.debug({ host_id: host.id, query: name, status }, 'osquery query failed on the host');
      const labelId = labelIdOf(name);
      if (labelId !== undefined) {
        labelAnswers.set(labelId, failed ? null : rows.length > 0);
        continue;
      }
      if (!name.startsWith(detailQueryPrefix)) continue; // policies, live queries: not built
      details = true;
      if (failed) continue;
      const short = name.slice(detailQueryPrefix.length);
      try {
        Object.assign(update, await this.d.ingester.ingest(short, rows, ctx));
        if (detailQuery(short)?.hostColumns) vitals = true;
      } catch (err) {
        this.d.logger?.error(
          { err: loggableError(err), host_id: host.id, query: short },
          'osquery result ingestion failed',
        );
      }
    }
    if (!details && labelAnswers.size === 0) return;
    if (vitals) update.detail_updated_at = toDbTime(new Date(now));
    if (host.refetch_requested) update.refetch_requested = false;
    const changes: { labelId: number; isMember: boolean }[] = [];
    if (labelAnswers.size > 0) {
      update.label_updated_at = toDbTime(new Date(now));
      const current = await this.d.store.dynamicLabelStates(host.id, [...labelAnswers.keys()]);
      changes.push(...membershipChanges(labelAnswers, current));
    }
    await this.applyHostUpdate(host, update, changes);
    if (changes.length > 0)
      await this.d.hostEvents.emitLabelMembershipChanged(
        changes.map((c) => c.labelId),
        [host.id],
      );
  }

  /**
   * Writes the host's changed columns (and label memberships) in one transaction. The UUID is only
   * filled in, never replaced (MDM enrollments point at it); a platform change goes through
   * HostStore so the built-in labels follow.
   */
  private async applyHostUpdate(
    host: AgentHost,
    update: HostUpdate,
    labelChanges: { labelId: number; isMember: boolean }[] = [],
  ): Promise<void> {
    const { platform, uuid, ...rest } = update;
    const columns: HostUpdate = uuid && !host.uuid ? { ...rest, uuid } : rest;
    if (labelChanges.length > 0) await this.d.store.recordLabelResults(host.id, labelChanges, columns);
    else await this.d.store.updateHost(host.id, columns);
    if (platform && platform !== host.platform) await this.d.hosts.updateVitals(host.id, { platform });
  }

  /** Settings a write may need, each read at most once per request and only when asked for. */
  private settingsFor(host: AgentHost): HostSettings {
    let app: Promise<AppConfig> | undefined;
    const appConfig = () => (app ??= this.d.appConfig.get());
    return {
      appConfig,
      serverUrl: () => this.d.appConfig.serverUrl(),
      diskEncryptionEnforced: async () => {
        if (host.team_id === null) return (await appConfig()).mdm.enable_disk_encryption;
        const team = await this.d.teams.getById(host.team_id);
        const mdm = team?.config.mdm as { enable_disk_encryption?: unknown } | undefined;
        return mdm?.enable_disk_encryption === true;
      },
    };
  }
}
