import type { Kysely, RawBuilder, SelectQueryBuilder, Transaction } from 'kysely';
import type { z } from 'zod';
import type { DB } from '../db/schema.js';
import type { LabelsJson } from './profiles/profileJson.js';
import type { LabelRef } from './profiles/labelRows.js';
import type { StatusCounts } from './profiles/hostStatusSql.js';

export type { StatusCounts };

/**
 * The adapter each MDM platform (Apple, Windows, next Android) gives the platform-neutral core in
 * `src/mdm/`. The core owns the admin API, permissions, activities, the shared list and the
 * lock/wipe state machine; an adapter only knows its own protocol and its own tables.
 */
export interface Platform {
  /** The family as Fleet names it in request bodies (`apple`, `windows`), e.g. the wipe body's key. */
  readonly family: string;
  /** How error messages name the family ("Apple", "Windows"). */
  readonly label: string;
  /** Host platforms (`hosts.platform`) this adapter manages. */
  readonly hostPlatforms: readonly string[];
  readonly commands: PlatformCommands;
  readonly hostActions: PlatformHostActions;
  readonly profiles: PlatformProfiles;
  /**
   * Fields this platform adds to the `mdm` object of `GET /hosts/:id`, for every host whatever its
   * platform (so the object has one shape), e.g. Apple's `enrollment_conflict`.
   */
  hostDetail?(host: MdmHost): Promise<Record<string, unknown>>;
}

/** A host as the core hands it to an adapter (already found and permission-checked). */
export interface MdmHost {
  id: number;
  uuid: string;
  platform: string;
  team_id: number | null;
  hostname: string;
  computer_name: string;
}

// ---- commands: run, list, results ----

/** What `POST /commands/run` answers. */
export interface RunCommandResult {
  command_uuid: string;
  request_type: string;
  platform: string;
}

/** Fleet's command statuses, which `command_status` filters map to (see `statusFilter.ts`). */
export type CommandStatus = 'Pending' | 'Acknowledged' | 'Error' | 'NotNow' | 'CommandFormatError';

/** `GET /commands` filters, as an adapter applies them to its own rows. */
export interface CommandRowFilter {
  /** Conditions on the host (alias `h`), built once by the core: team scope, host identifier. */
  hostConditions: RawBuilder<boolean>[];
  requestType?: string;
  /** Absent: every status. */
  statuses?: CommandStatus[];
}

/** The columns of every adapter's `GET /commands` rows, in this order (they are UNIONed). */
export interface CommandListRow {
  host_uuid: string;
  command_uuid: string;
  status: string;
  updated_at: string;
  request_type: string;
  hostname: string;
  team_id: number | null;
  platform: string;
}

/** One host's row of `GET /commands/results`. */
export interface CommandResultRow {
  host_uuid: string;
  team_id: number | null;
  /** The row as the API shows it; secrets (PINs, passwords) replaced unless `showSecrets`. */
  json(showSecrets: boolean): Record<string, unknown>;
}

export interface PlatformCommands {
  /**
   * Checks and queues a raw admin command (`command` as posted, base64) for hosts of this
   * platform, and wakes them. Throws the 4xx for a bad command or a host not enrolled.
   */
  run(hosts: MdmHost[], command: string): Promise<RunCommandResult>;
  /** SELECTs of this platform's command rows; the core UNIONs them, then orders and pages once. */
  listRows(f: CommandRowFilter): SelectQueryBuilder<DB, any, CommandListRow>[];
  /** Every host's row of one command; undefined when the command is not this platform's. */
  results(commandUuid: string): Promise<CommandResultRow[] | undefined>;
}

// ---- host actions: refetch, lock, unlock, wipe ----

/** What the device made of a lock or wipe command: done, refused, or not answered (yet). */
export type ActionOutcome = 'done' | 'failed' | 'pending';

/** A host's row of `host_mdm_actions`: which lock, unlock and wipe requests are in force. */
export interface HostActionRow {
  host_id: number;
  lock_ref: string | null;
  wipe_ref: string | null;
  unlock_ref: string | null;
  unlock_pin: string | null;
  fleet_platform: string;
}

/** A command an adapter built for a host action; the core queues it with the action's state. */
export interface ActionCommand {
  /** The command's UUID: recorded as `lock_ref`, `unlock_ref` or `wipe_ref`. */
  ref: string;
  /** Queues the command inside the core's transaction (the `host_mdm_actions` write commits with it). */
  enqueue(trx: Transaction<DB>): Promise<void>;
  /** Wakes the device after the commit (a push); failures are the adapter's to swallow. */
  wake(): Promise<void>;
}

/** How an adapter locks a host: a command to queue, and the PIN to keep for unlocking (if any). */
export interface LockPlan {
  command: ActionCommand;
  unlockPin: string | null;
}

/**
 * How an adapter unlocks a host: a command to queue, or none (the user types the PIN on the device
 * and `unlockRef` records when it was asked); `unlockPin` is shown to the admin.
 */
export type UnlockPlan =
  | { command: ActionCommand; unlockPin: null }
  | { command: null; unlockRef: string; unlockPin: string | null };

/** What turning a host's MDM off recorded: the `mdm_unenrolled` activity's details. */
export interface TurnOffMdmResult {
  activityDetails: Record<string, unknown>;
}

export interface PlatformHostActions {
  /** Extra work of a refetch beyond the host's refetch flag (Apple: DeviceInformation). */
  refetch?(host: MdmHost): Promise<void>;
  /**
   * Checks that the host can take lock/unlock/wipe at all (platform MDM configured, host enrolled,
   * action supported); throws the 4xx. Runs before the core's state checks.
   */
  checkReady(host: MdmHost, action: 'lock' | 'unlock' | 'wipe'): Promise<void>;
  lock(host: MdmHost): Promise<LockPlan>;
  unlock(host: MdmHost, current: HostActionRow | undefined): Promise<UnlockPlan>;
  /** `options`: this family's part of the wipe body (`{"windows": {...}}`), validated by `wipeOptions`. */
  wipe(host: MdmHost, options: unknown): Promise<ActionCommand>;
  /** The zod schema of this family's part of the wipe request body, when it takes one. */
  readonly wipeOptions?: z.ZodType;
  /**
   * Turns MDM off for the host (`DELETE /hosts/:id/mdm`), when this platform can: checks the host
   * (throws the 4xx: platform not supported, host not enrolled), queues and wakes the command that
   * makes the device leave MDM, and answers the details of the `mdm_unenrolled` activity. The
   * device's own check-out then turns MDM off through the platform's lifecycle. Absent: the core
   * refuses with 400.
   */
  turnOffMdm?: {
    /** Throws the 4xx when the host cannot be turned off at all (before permissions, as Fleet). */
    check(host: MdmHost): void;
    run(host: MdmHost): Promise<TurnOffMdmResult>;
  };
  /** The device's answers to the host's action commands (UUIDs from its `host_mdm_actions` row). */
  outcomes(host: Pick<MdmHost, 'id' | 'uuid'>, commandUuids: string[]): Promise<Map<string, ActionOutcome>>;
}

// ---- configuration profiles: upload, scope, status, the manager loop ----

/**
 * How an upload is validated: `batch` for a GitOps batch item; `assumeEnabled` when the same
 * GitOps run turns the platform's MDM on (the "MDM is off" check is skipped).
 */
export interface ParseOptions {
  batch: boolean;
  assumeEnabled?: boolean;
}

/** A validated upload: its name (unique in the team across every platform) and the adapter's own facts. */
export interface ParsedProfile {
  name: string;
  /**
   * What must also be unique within one batch, e.g. `apple:<PayloadIdentifier>`, with the part
   * shown in the error; absent when only the name must be unique.
   */
  batchKey?: { key: string; shown: string };
}

/** A profile as `GET /configuration_profiles` shows it (the `platform` is the adapter's). */
export interface ProfileJson extends LabelsJson {
  profile_uuid: string;
  team_id: number;
  name: string;
  platform: string;
  identifier: string;
  created_at: string | null;
  updated_at: string | null;
  checksum: string;
  scope: string;
}

/** One stored profile: its JSON, team and the file `?alt=media` downloads. */
export interface ProfileDetail {
  json: ProfileJson;
  teamId: number;
  download: { bytes: Buffer; filename: string; contentType: string };
}

/** A host's entry of `mdm.profiles` in `GET /hosts/:id`. */
export interface HostProfileJson {
  profile_uuid: string;
  name: string;
  status: string;
  operation_type: string;
  detail: string;
  platform: string;
  scope: string;
}

/** An activity an adapter asks the core to record (the core adds the team). */
export interface ProfileActivity {
  type: string;
  details: Record<string, unknown>;
}

/** Hosts or profiles whose status rows a change affects (marked pending at once). */
export interface PendingScope {
  hostIds?: number[];
  profileUuids?: string[];
  /** The profiles are new: no host has a row for them yet. */
  newDefinitions?: boolean;
}

export interface PlatformProfiles {
  /** File extensions (no dot) of this platform's uploads; the core refuses any other extension. */
  readonly fileExtensions: readonly string[];
  /** First letters of this platform's profile UUIDs (`a`, `d`; `w`): how a UUID finds its adapter. */
  readonly uuidPrefixes: readonly string[];
  /** Whether an upload is this platform's: by its extension (`ext`, lower case), else by its content. */
  claims(ext: string | undefined, bytes: Buffer): boolean;
  /**
   * Validates an upload and names it (throws the 4xx). In a batch `filename` is the item's name,
   * which names the profile where the file does not.
   */
  parse(filename: string, bytes: Buffer, opts: ParseOptions): Promise<ParsedProfile>;
  /** Is `name` taken in the team by one of this platform's profiles? */
  nameInUse(db: Kysely<DB>, teamId: number, name: string): Promise<boolean>;
  /** Stores a new profile with its labels inside the core's transaction; returns its UUID. */
  insert(
    trx: Transaction<DB>,
    teamId: number,
    parsed: ParsedProfile,
    labels: LabelRef[],
    now: string,
  ): Promise<string>;
  createdActivity(parsed: ParsedProfile): ProfileActivity;
  /** The team's profiles with their labels. */
  list(teamId: number): Promise<ProfileJson[]>;
  get(uuid: string): Promise<ProfileDetail | undefined>;
  /** Deletes a profile inside the core's transaction (hosts then get it removed). */
  delete(trx: Transaction<DB>, uuid: string, now: string): Promise<void>;
  deletedActivity(profile: ProfileJson): ProfileActivity;
  /**
   * Replaces the team's whole set of this platform's profiles inside the core's batch transaction.
   * Returns the UUIDs to mark pending after the commit, and the activity types of the kinds that
   * changed (e.g. `edited_macos_profile`).
   */
  replaceTeamSet(
    trx: Transaction<DB>,
    teamId: number,
    items: { parsed: ParsedProfile; labels: LabelRef[] }[],
    now: string,
  ): Promise<{ pending: string[]; edited: string[] }>;
  markPending(scope: PendingScope): Promise<void>;
  /** Deleted hosts: their status rows go. */
  forgetHosts(hostUuids: string[]): Promise<void>;
  summary(teamId: number | null): Promise<StatusCounts>;
  profileStatus(uuid: string): Promise<StatusCounts>;
  hostProfiles(hostUuid: string): Promise<HostProfileJson[]>;
  /** Back to "decided, not yet sent" for one host; undefined when the host has no such profile. */
  resend(hostUuid: string, profileUuid: string): Promise<{ name: string | null } | undefined>;
  /** Every host whose row of the profile has `status` gets it again (absent: not offered). */
  resendByStatus?(profileUuid: string, status: string): Promise<{ name: string; hosts: number } | undefined>;
  /**
   * Fleet's `GET /hosts/:id/configuration_profiles` for this platform's hosts: the team's profiles
   * that can apply, and how its error names the hosts it is for (absent: not offered).
   */
  readonly teamProfilesForHost?: { hostsLabel: string; list(teamId: number): Promise<ProfileJson[]> };
  /** The manager loop for this platform: its cron job's name and one bounded tick. */
  readonly manager: { job: string; tick(): Promise<unknown> };
}
