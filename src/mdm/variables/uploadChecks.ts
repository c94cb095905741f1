import type { Transaction } from 'kysely';
import type { DB } from '../../db/schema.js';
import { badRequest, invalid } from '../../http/errors.js';
import { findProfileVariables, fleetVariableEntry } from './names.js';
import type { ProfileVariableStore } from './profileVariableStore.js';
import { missingSecretsMessage, type SecretValues } from './secretValues.js';
import type { FleetVariableSource } from './sources.js';

/**
 * How one platform's uploads take variables, by the platform's family (`Platform.family`). The
 * wording and status of the refusal are Fleet's for that platform.
 */
export interface VariableUploadRule {
  /** How the refusal names these documents: `configuration profiles`, `Windows profiles`. */
  documents: string;
  /** Status of the "not supported" refusal (Fleet: 400 for Apple, 422 for Windows). */
  status: 400 | 422;
  /** Variables a source can fill that Fleet still does not take in these documents. */
  unsupported?: (name: string) => boolean;
  /** Set when the platform takes neither variables nor secrets: the 422's text. */
  refusal?: string;
}

/**
 * The upload checks of `$FLEET_VAR_*` and `$FLEET_SECRET_*`, for every platform's profile upload
 * (single and batch): a variable no source fills (or the platform does not take) and a secret that
 * does not exist are refused with Fleet's messages; the variables a profile uses are recorded in
 * the transaction that stores it.
 */
export class ProfileVariableChecker {
  private ids?: Promise<{ name: string; isPrefix: boolean; id: number }[]>;

  constructor(
    private readonly sources: FleetVariableSource[],
    private readonly secrets: SecretValues,
    private readonly store: ProfileVariableStore,
    private readonly rules: Readonly<Record<string, VariableUploadRule>>,
  ) {}

  /**
   * Before the platform validates the file (Fleet expands secrets first): a platform that takes no
   * variables refuses any; every secret named must exist (422 "missing from database").
   */
  async checkSecrets(family: string, bytes: Buffer): Promise<void> {
    const used = findProfileVariables(bytes.toString('utf8'));
    const rule = this.rules[family];
    if (rule?.refusal && (used.fleet.length || used.secrets.length)) throw invalid(rule.refusal, 'profile');
    if (!used.secrets.length) return;
    const found = await this.secrets.values(used.secrets);
    const missing = used.secrets.filter((n) => !found.has(n));
    if (missing.length) throw invalid(missingSecretsMessage(missing), 'profile');
  }

  /**
   * After the platform validated the file: every `$FLEET_VAR_*` must be one a source fills and the
   * platform takes, and its source must be able to fill it now (a CA it names exists). Returns the
   * names used (to record with `record`).
   */
  async checkFleetVariables(family: string, bytes: Buffer): Promise<string[]> {
    const { fleet } = findProfileVariables(bytes.toString('utf8'));
    const rule = this.rules[family];
    const refuse = (reason: string) =>
      (rule?.status ?? 400) === 400 ? badRequest(reason) : invalid(reason, 'profile');
    for (const name of fleet) {
      const source = this.sources.find((s) => s.handles(name));
      if (!source || rule?.unsupported?.(name)) {
        const documents = rule?.documents ?? 'configuration profiles';
        throw refuse(`Fleet variable $FLEET_VAR_${name} is not supported in ${documents}.`);
      }
      const problem = await source.uploadProblem?.(name);
      if (problem) throw refuse(problem);
    }
    return fleet;
  }

  /** Records the variables a newly stored profile uses, inside the transaction that stored it. */
  async record(trx: Transaction<DB>, profileUuid: string, names: string[], now: string): Promise<void> {
    await this.store.replace(trx, profileUuid, await this.variableIds(trx, names), now);
  }

  /** Records every profile of a team again (after a batch replaced the team's set). */
  async recordTeam(trx: Transaction<DB>, teamId: number, now: string): Promise<void> {
    await this.store.deleteOrphans(trx);
    for (const d of await this.store.teamDefinitions(trx, teamId)) {
      const names = findProfileVariables(d.text).fleet;
      await this.store.replace(trx, d.uuid, await this.variableIds(trx, names), now);
    }
  }

  /** A deleted profile's rows go with it. */
  async forget(trx: Transaction<DB>): Promise<void> {
    await this.store.deleteOrphans(trx);
  }

  /** `fleet_variables` ids of the names Fleet defines (others have no row to point at). */
  private async variableIds(trx: Transaction<DB>, names: string[]): Promise<number[]> {
    if (!names.length) return [];
    this.ids ??= this.store.variableIds(trx).catch((err: unknown) => {
      this.ids = undefined;
      throw err;
    });
    const rows = await this.ids;
    return names.flatMap((n) => {
      const entry = fleetVariableEntry(n);
      const row = entry && rows.find((r) => r.name === entry.name && r.isPrefix === entry.isPrefix);
      return row ? [row.id] : [];
    });
  }
}
