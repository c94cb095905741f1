import { randomUUID, type KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import type { Actor, ActivityService } from '../admin/activityService.js';
import type { AppConfigService } from '../appconfig/service.js';
import { deepMerge } from '../appconfig/service.js';
import type { ProfileManager } from '../apple/profiles/manager.js';
import { appleMdmNotConfigured } from '../apple/push/certificates.js';
import type { ProfileStore } from '../apple/profiles/store.js';
import { CmsError } from '../crypto/cms.js';
import { isReadableKeyText, maxEscrowBase64Length, openBase64Envelope } from '../crypto/escrowEnvelope.js';
import { pairsForEnvelope } from './escrowRecipient.js';
import { dbNow, isUniqueViolation, toApiTime } from '../db/dialect.js';
import type { HostRow } from '../hosts/store.js';
import { badRequest, invalid, notFound } from '../http/errors.js';
import type { TeamRow, TeamStore } from '../teams/store.js';
import { defaultTeamConfig } from '../teams/teamJson.js';
import type { BitLockerKeys } from './bitlocker.js';
import { fileVaultProfileDefinition } from './fileVaultProfile.js';
import type { DiskEncryptionForAgents } from './forAgents.js';
import { emptyCounts, type DiskEncryptionStore, type HostStatusRow } from './keyStore.js';
import type { DiskEncryptionStatus } from '../hosts/store.js';
import { graceStartAt } from './statusSql.js';

/** Fleet's messages for the BitLocker PIN rule. */
export const cantDisableWithPinMessage =
  "Couldn't disable disk encryption, you need to disable the BitLocker PIN requirement first.";
export const cantRequirePinMessage =
  "Couldn't enable BitLocker PIN requirement, you must enable disk encryption first.";
/** What fleetd gets when its PC is not in Flotilla's Windows MDM (or Windows MDM is off). */
export const notEnrolledMessage = 'host is not enrolled with fleet';

/** fleetd's capability that makes Escrow Buddy rotate an undecryptable FileVault key. */
export const escrowBuddyCapability = 'escrow_buddy';

/** The longest client error kept (the column's size); longer ones are cut. */
const maxClientErrorLength = 255;

/** Keys the verification job checks per batch. */
const verifyBatch = 500;

export interface DiskEncryptionSummary {
  verified: PlatformsCounts;
  verifying: PlatformsCounts;
  action_required: PlatformsCounts;
  enforcing: PlatformsCounts;
  failed: PlatformsCounts;
  removing_enforcement: PlatformsCounts;
}
export interface PlatformsCounts {
  macos: number;
  windows: number;
  linux: number;
}

export interface OrbitDiskEncryptionNotifications {
  rotate_disk_encryption_key?: boolean;
  enforce_bitlocker_encryption?: boolean;
}

/** The disk-encryption fields of a host's `mdm` object (GET /hosts/:id). */
export interface HostDiskEncryptionDetail {
  fields: {
    encryption_key_available: boolean;
    macos_settings?: { disk_encryption: DiskEncryptionStatus | null; action_required: string | null };
    os_settings?: { disk_encryption: { status: DiskEncryptionStatus | null; detail: string } };
  };
  /** The status Fleet shows for the FileVault profile in the host's profile list, by profile UUID. */
  fileVaultProfile?: { profileUuid: string; status: string };
}

export interface DiskEncryptionDeps {
  store: DiskEncryptionStore;
  /** Apple configuration profile definitions (the FileVault profile is one of them). */
  profiles: Pick<ProfileStore, 'insertAppleProfile' | 'updateAppleProfile' | 'deleteAppleProfile'>;
  profileManager: Pick<ProfileManager, 'markPending'>;
  /** The Apple MDM CA: embedded in the FileVault profile; its key opens the escrowed PRK. */
  appleCa: () => Promise<{ certDer: Buffer; key: KeyObject }>;
  /** Apple MDM CAs retired by rotations, newest first: FileVault keys escrowed to them still open. */
  retiredAppleCas?: () => Promise<{ certDer: Buffer; key: KeyObject }[]>;
  bitLocker: BitLockerKeys;
  appConfig: Pick<AppConfigService, 'get' | 'patch'>;
  teams: Pick<TeamStore, 'getById' | 'update' | 'list'>;
  activities: Pick<ActivityService, 'record'>;
  logger: Logger;
}

const teamMdm = (t: TeamRow) => deepMerge(defaultTeamConfig(), t.config).mdm;

/** FileVault and BitLocker: enforcement settings, key escrow, verification and status. */
export class DiskEncryptionService implements DiskEncryptionForAgents {
  private readonly log: Logger;

  constructor(private readonly deps: DiskEncryptionDeps) {
    this.log = deps.logger.child({ area: 'disk-encryption' });
  }

  // ---- settings ----

  /** The team's setting (or the global one for hosts in no team). */
  async enabledFor(teamId: number | null): Promise<boolean> {
    if (teamId === null) return (await this.deps.appConfig.get()).mdm.enable_disk_encryption;
    const team = await this.deps.teams.getById(teamId);
    return team ? teamMdm(team).enable_disk_encryption : false;
  }

  /** The team, or a 404 as Fleet answers for an unknown team. */
  async requireTeam(teamId: number): Promise<TeamRow> {
    const team = await this.deps.teams.getById(teamId);
    if (!team) throw notFound('Team');
    return team;
  }

  /**
   * `POST /disk_encryption` (and the older `PATCH /mdm/apple/settings`): turns disk encryption on or
   * off for a team or for hosts in no team. `enable` undefined changes nothing (the older endpoint).
   * The BitLocker PIN may only be required while disk encryption is on.
   */
  async updateSettings(
    actor: Actor,
    teamId: number | null,
    input: { enable?: boolean; requireBitLockerPin?: boolean | null },
  ): Promise<void> {
    const team = teamId === null ? undefined : await this.requireTeam(teamId);
    const mdm = team ? teamMdm(team) : (await this.deps.appConfig.get()).mdm;
    const before = Boolean(mdm.enable_disk_encryption);
    const after = input.enable ?? before;
    const pinBefore = mdm.windows_require_bitlocker_pin ?? null;
    const pinAfter = input.requireBitLockerPin === undefined ? pinBefore : input.requireBitLockerPin;
    checkBitLockerPinRule(before, after, Boolean(pinAfter));
    if (before === after && pinBefore === pinAfter) return;
    const patch = {
      mdm: {
        enable_disk_encryption: after,
        ...(input.requireBitLockerPin !== undefined ? { windows_require_bitlocker_pin: pinAfter } : {}),
      },
    };
    if (team) await this.deps.teams.update(team.id, { config: deepMerge(team.config, patch) });
    else await this.deps.appConfig.patch(patch);
    await this.settingChanged(actor, team ?? null, before, after);
  }

  /**
   * What follows a change of the setting, however it was made (this endpoint, `PATCH /teams/:id`,
   * `PATCH /config`): with Apple MDM on, the team's Macs get the FileVault profile (or lose it) and
   * the change is recorded as Fleet records it.
   */
  async settingChanged(actor: Actor, team: TeamRow | null, before: boolean, after: boolean): Promise<void> {
    if (before === after) return;
    if (!(await this.deps.appConfig.get()).mdm.enabled_and_configured) return;
    const teamKey = team?.id ?? 0;
    if (after) await this.ensureFileVaultProfile(teamKey);
    else await this.removeFileVaultProfile(teamKey);
    await this.deps.activities.record(
      actor,
      after ? 'enabled_macos_disk_encryption' : 'disabled_macos_disk_encryption',
      { team_id: team?.id ?? null, team_name: team?.name ?? null },
    );
  }

  /**
   * `PATCH /teams/:id` with disk-encryption settings, before anything is stored: the BitLocker PIN
   * may only be required while disk encryption is on (422 otherwise).
   */
  checkTeamPatch(
    team: TeamRow,
    mdm: { enable_disk_encryption?: boolean; windows_require_bitlocker_pin?: boolean | null },
  ): void {
    const cur = teamMdm(team);
    const before = Boolean(cur.enable_disk_encryption);
    const after = mdm.enable_disk_encryption ?? before;
    const pin =
      mdm.windows_require_bitlocker_pin === undefined
        ? cur.windows_require_bitlocker_pin
        : mdm.windows_require_bitlocker_pin;
    checkBitLockerPinRule(before, after, Boolean(pin));
  }

  /** After `PATCH /teams/:id` stored new settings: the FileVault profile and activity follow. */
  async teamPatched(actor: Actor, before: TeamRow, after: TeamRow): Promise<void> {
    await this.settingChanged(
      actor,
      after,
      Boolean(teamMdm(before).enable_disk_encryption),
      Boolean(teamMdm(after).enable_disk_encryption),
    );
  }

  /**
   * The team's FileVault profile definition (team 0 = no team), created or brought up to date (a
   * new CA certificate changes it), then queued for the team's Macs by the Apple profile manager.
   */
  async ensureFileVaultProfile(teamKey: number): Promise<void> {
    const { certDer } = await this.deps.appleCa();
    const def = fileVaultProfileDefinition(certDer);
    const now = dbNow();
    const existing = await this.deps.store.fileVaultDefinition(teamKey);
    if (existing) {
      if (existing.checksum === def.checksum) return;
      await this.deps.profiles.updateAppleProfile(existing.profile_uuid, {
        mobileconfig: def.mobileconfig,
        checksum: def.checksum,
        uploaded_at: now,
      });
      await this.deps.profileManager.markPending({ profileUuids: [existing.profile_uuid] });
      return;
    }
    const uuid = `a${randomUUID()}`;
    try {
      await this.deps.profiles.insertAppleProfile({
        profile_uuid: uuid,
        team_id: teamKey,
        ...def,
        created_at: now,
        uploaded_at: now,
        secrets_updated_at: null,
      });
    } catch (err) {
      // Another process created it first.
      if (isUniqueViolation(err)) return;
      throw err;
    }
    await this.deps.profileManager.markPending({ profileUuids: [uuid], newDefinitions: true });
  }

  /** Deletes the team's FileVault profile: Macs that have it get a RemoveProfile. */
  async removeFileVaultProfile(teamKey: number): Promise<void> {
    const existing = await this.deps.store.fileVaultDefinition(teamKey);
    if (!existing) return;
    await this.deps.store.db
      .transaction()
      .execute((trx) => this.deps.profiles.deleteAppleProfile(existing.profile_uuid, dbNow(), trx));
  }

  /**
   * Brings every team's FileVault profile in line with its setting (the verification job runs it
   * first): a team turned on while Apple MDM was off gets its profile once MDM is on, a new CA
   * certificate reaches the profiles, and the profiles of deleted teams go.
   */
  async syncFileVaultProfiles(): Promise<void> {
    const app = await this.deps.appConfig.get();
    if (!app.mdm.enabled_and_configured) return;
    const teams = await this.deps.teams.list({});
    const wanted = new Map<number, boolean>([[0, app.mdm.enable_disk_encryption]]);
    for (const t of teams) wanted.set(t.id, Boolean(teamMdm(t).enable_disk_encryption));
    for (const [teamKey, enabled] of wanted) if (enabled) await this.ensureFileVaultProfile(teamKey);
    for (const teamKey of await this.deps.store.teamsWithFileVaultDefinition()) {
      if (!wanted.get(teamKey)) await this.removeFileVaultProfile(teamKey);
    }
  }

  // ---- escrow (agents) ----

  async escrowFileVaultKey(host: Pick<HostRow, 'id' | 'hardware_serial'>, base64Cms: string): Promise<void> {
    if (base64Cms.length > maxEscrowBase64Length) {
      this.log.warn({ host_id: host.id, length: base64Cms.length }, 'FileVault key blob too long; ignored');
      return;
    }
    // Encrypted but nothing escrowed: Fleet stores "not decryptable", which asks for a rotation.
    await this.deps.store.setOrUpdate(
      host,
      base64Cms === ''
        ? { base64: '', clientError: '', decryptable: 0 }
        : { base64: base64Cms, clientError: '', decryptable: null },
    );
  }

  async escrowBitLockerKey(host: HostRow, recoveryKey: Buffer | null, clientError: string): Promise<void> {
    const app = await this.deps.appConfig.get();
    if (!app.mdm.windows_enabled_and_configured || !(await this.deps.store.windowsConnected(host))) {
      throw badRequest(notEnrolledMessage);
    }
    const error = clientError.slice(0, maxClientErrorLength);
    if (error === '' && recoveryKey && recoveryKey.length > 0) {
      const sealed = await this.deps.bitLocker.seal(recoveryKey);
      await this.deps.store.setOrUpdate(host, { base64: sealed, clientError: '', decryptable: 1 });
      return;
    }
    if (error !== '') {
      // A failure report carries no key: the error is recorded, a key escrowed earlier is kept.
      await this.deps.store.setOrUpdate(
        host,
        { base64: '', clientError: error, decryptable: 0 },
        { keepKeyOnClientError: true },
      );
      return;
    }
    await this.deps.store.setOrUpdate(host, { base64: '', clientError: '', decryptable: null });
  }

  /**
   * Fleet's disk-encryption notifications for fleetd. Both need the platform's MDM on, the host
   * connected to it and enrolled in osquery, and disk encryption on for its team:
   * - macOS: `rotate_disk_encryption_key` when fleetd has Escrow Buddy and the escrowed key could
   *   not be decrypted (decryptable = 0, which includes "encrypted, nothing escrowed");
   * - Windows (not a server): `enforce_bitlocker_encryption` when the disk is reported unencrypted,
   *   or encrypted without a key we could decrypt.
   */
  async orbitNotifications(
    host: HostRow,
    capabilities: ReadonlySet<string>,
  ): Promise<OrbitDiskEncryptionNotifications> {
    if (host.platform !== 'darwin' && host.platform !== 'windows') return {};
    if (!host.osquery_host_id) return {};
    const app = await this.deps.appConfig.get();
    if (host.platform === 'darwin') {
      if (!app.mdm.enabled_and_configured || !capabilities.has(escrowBuddyCapability)) return {};
      if (!(await this.enabledFor(host.team_id)) || !(await this.deps.store.appleConnected(host))) return {};
      const key = await this.deps.store.getKey(host.id);
      return key?.decryptable === 0 ? { rotate_disk_encryption_key: true } : {};
    }
    if (!app.mdm.windows_enabled_and_configured) return {};
    if (!host.mdm || host.mdm.is_server) return {};
    if (!(await this.enabledFor(host.team_id)) || !(await this.deps.store.windowsConnected(host))) return {};
    const key = await this.deps.store.getKey(host.id);
    const keyDecrypted = key?.decryptable === 1;
    const needsEncryption = host.disk_encryption_enabled === false;
    const encryptedWithoutKey = host.disk_encryption_enabled === true && !keyDecrypted;
    return needsEncryption || encryptedWithoutKey ? { enforce_bitlocker_encryption: true } : {};
  }

  // ---- verification (cron) ----

  /**
   * `verify_disk_encryption_keys`: tries to decrypt every FileVault key not checked yet with the
   * Apple MDM CA key and records 1 or 0, only on rows unchanged since the run started.
   */
  async verifyKeys(): Promise<{ decryptable: number; undecryptable: number }> {
    await this.syncFileVaultProfiles();
    const threshold = dbNow();
    const totals = { decryptable: 0, undecryptable: 0 };
    let ca: { certDer: Buffer; key: KeyObject }[] | undefined;
    for (;;) {
      const rows = await this.deps.store.unverified(verifyBatch, threshold);
      if (rows.length === 0) break;
      ca ??= await this.appleCas();
      const ok: number[] = [];
      const bad: number[] = [];
      for (const r of rows)
        (this.decryptFileVault(r.base64_encrypted, ca) !== undefined ? ok : bad).push(r.host_id);
      totals.decryptable += await this.deps.store.setDecryptable(ok, 1, threshold);
      totals.undecryptable += await this.deps.store.setDecryptable(bad, 0, threshold);
      // Rows changed during the run keep NULL and are not returned again (updated_at > threshold).
      if (rows.length < verifyBatch) break;
    }
    if (totals.decryptable || totals.undecryptable) this.log.info(totals, 'disk encryption keys verified');
    return totals;
  }

  /** The current Apple MDM CA, then those retired by rotations (Macs may have escrowed to any). */
  private async appleCas(): Promise<{ certDer: Buffer; key: KeyObject }[]> {
    return [await this.deps.appleCa(), ...((await this.deps.retiredAppleCas?.()) ?? [])];
  }

  /** The recovery key in a FileVault blob, or undefined when none of our CA keys opens it. */
  private decryptFileVault(base64: string, cas: { certDer: Buffer; key: KeyObject }[]): string | undefined {
    const pairs = cas.map((ca) => ({ cert: ca.certDer, key: ca.key }));
    for (const pair of pairsForEnvelope(base64, pairs)) {
      try {
        const plain = openBase64Envelope(base64, pair);
        if (isReadableKeyText(plain)) return plain.toString('utf8');
      } catch (err) {
        if (!(err instanceof CmsError)) throw err;
      }
    }
    return undefined;
  }

  // ---- admin reads ----

  /**
   * `GET /hosts/:id/encryption_key`: the host's key, decrypted now; undefined when there is no
   * decryptable key (or it no longer opens). Records `read_host_disk_encryption_key`.
   */
  async readKey(actor: Actor, host: HostRow): Promise<{ key: string; updated_at: string } | undefined> {
    const app = await this.deps.appConfig.get();
    if (
      host.platform === 'windows' ? !app.mdm.windows_enabled_and_configured : !app.mdm.enabled_and_configured
    )
      throw mdmOffError(host.platform);
    const row = await this.deps.store.getKey(host.id);
    if (!row || row.decryptable !== 1 || row.base64_encrypted === '') return undefined;
    const key =
      host.platform === 'windows'
        ? await this.deps.bitLocker.open(row.base64_encrypted)
        : this.decryptFileVault(row.base64_encrypted, await this.appleCas());
    if (key === undefined) {
      this.log.warn({ host_id: host.id }, 'escrowed disk encryption key marked decryptable does not open');
      return undefined;
    }
    await this.deps.activities.record(
      actor,
      'read_host_disk_encryption_key',
      { host_id: host.id, host_display_name: displayName(host) },
      { hostIds: [host.id] },
    );
    return { key, updated_at: toApiTime(row.updated_at) ?? '' };
  }

  /** `GET /disk_encryption`: hosts per status and platform, for a team or for no team (null). */
  async summary(teamId: number | null): Promise<DiskEncryptionSummary> {
    if (teamId !== null) await this.requireTeam(teamId);
    const app = await this.deps.appConfig.get();
    const windowsEnabled = app.mdm.windows_enabled_and_configured && (await this.enabledFor(teamId));
    const { macos, windows } = await this.deps.store.summary(teamId, {
      windowsEnabled,
      graceStart: graceStartAt(new Date()),
    });
    const linux = emptyCounts();
    const per = (s: DiskEncryptionStatus) => ({ macos: macos[s], windows: windows[s], linux: linux[s] });
    return {
      verified: per('verified'),
      verifying: per('verifying'),
      action_required: per('action_required'),
      enforcing: per('enforcing'),
      failed: per('failed'),
      removing_enforcement: per('removing_enforcement'),
    };
  }

  /**
   * The disk-encryption part of a host's `mdm` object, as Fleet fills it: for a Mac (Apple MDM on)
   * `macos_settings` and `os_settings.disk_encryption` from its FileVault profile and key; for a
   * PC (Windows MDM on) `os_settings.disk_encryption` from BitLocker; `encryption_key_available`.
   */
  async hostDetail(host: HostRow): Promise<HostDiskEncryptionDetail> {
    const key = await this.deps.store.getKey(host.id);
    const fields: HostDiskEncryptionDetail['fields'] = { encryption_key_available: key?.decryptable === 1 };
    const app = await this.deps.appConfig.get();
    if (host.platform === 'darwin' && app.mdm.enabled_and_configured) {
      const row = await this.deps.store.fileVaultStatusOf(host.id);
      fields.macos_settings = {
        disk_encryption: row?.status ?? null,
        action_required: row?.action_required ?? null,
      };
      fields.os_settings = { disk_encryption: { status: row?.status ?? null, detail: row?.detail ?? '' } };
      const status = row?.status ? profileStatusFor(row.status) : undefined;
      return status && row?.profile_uuid
        ? { fields, fileVaultProfile: { profileUuid: row.profile_uuid, status } }
        : { fields };
    }
    if (host.platform === 'windows' && app.mdm.windows_enabled_and_configured) {
      let row: HostStatusRow | undefined;
      if (await this.enabledFor(host.team_id))
        row = await this.deps.store.bitLockerStatusOf(host.id, graceStartAt(new Date()));
      fields.os_settings = { disk_encryption: { status: row?.status ?? null, detail: row?.detail ?? '' } };
    }
    return { fields };
  }
}

/** Fleet's BitLocker PIN rule: no PIN requirement without disk encryption. Throws a 422. */
export function checkBitLockerPinRule(before: boolean, after: boolean, pinRequired: boolean): void {
  if (after || !pinRequired) return;
  if (before) throw invalid(cantDisableWithPinMessage, 'enable_disk_encryption');
  throw invalid(cantRequirePinMessage, 'windows_require_bitlocker_pin');
}

/** The FileVault profile's status in a host's profile list, from its disk-encryption status (Fleet). */
function profileStatusFor(s: DiskEncryptionStatus): string {
  switch (s) {
    case 'failed':
      return 'failed';
    case 'verifying':
      return 'verifying';
    case 'verified':
      return 'verified';
    default:
      return 'pending';
  }
}

function mdmOffError(platform: string) {
  return platform === 'windows' ? badRequest("Windows MDM isn't turned on.") : appleMdmNotConfigured();
}

function displayName(h: Pick<HostRow, 'computer_name' | 'hostname' | 'hardware_serial' | 'uuid'>): string {
  return h.computer_name || h.hostname || h.hardware_serial || h.uuid;
}
