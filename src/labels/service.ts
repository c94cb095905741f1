import type { Kysely } from 'kysely';
import type { Actor, ActivityService } from '../admin/activityService.js';
import type { DB } from '../db/schema.js';
import { alreadyExists, invalid, notFound } from '../http/errors.js';
import type { HostEvents } from '../hosts/events.js';
import type { HostStore } from '../hosts/store.js';
import type { LabelRow, LabelStore } from './store.js';

export interface NewLabelInput {
  name: string;
  description?: string;
  query?: string;
  platform?: string;
  /** Host identifiers (uuid, serial, hostname) of a manual label. */
  hosts?: string[];
}

/** Labels: dynamic ones keep their query for osquery to evaluate; manual ones keep a host list. */
export class LabelService {
  constructor(
    private readonly db: Kysely<DB>,
    private readonly store: LabelStore,
    private readonly hosts: HostStore,
    private readonly activities: ActivityService,
    private readonly events: HostEvents,
  ) {}

  async require(id: number): Promise<LabelRow> {
    const l = await this.store.getById(id);
    if (!l) throw notFound('Label');
    return l;
  }

  private async hostIdsFor(identifiers: string[]): Promise<number[]> {
    const { ids, unknown } = await this.hosts.resolveIdentifiers([...new Set(identifiers)]);
    if (unknown.length) throw invalid(`host "${unknown[0]}" does not exist`, 'hosts');
    return ids;
  }

  async create(actor: Actor, input: NewLabelInput): Promise<LabelRow> {
    const name = input.name.trim();
    if (!name) throw invalid('name must not be empty', 'name');
    const query = input.query?.trim() ?? '';
    if (query && input.hosts !== undefined)
      throw invalid('a label has either a query or a host list, not both', 'hosts');
    const manual = !query;
    if (await this.store.getByName(name)) throw alreadyExists(`a label named "${name}" already exists`);
    const hostIds = manual ? await this.hostIdsFor(input.hosts ?? []) : [];
    const id = await this.db.transaction().execute(async (trx) => {
      const newId = await this.store.create(
        {
          name,
          description: input.description ?? '',
          query,
          platform: input.platform ?? '',
          membershipType: manual ? 1 : 0,
          authorId: actor?.user.id ?? null,
        },
        trx,
      );
      await this.store.setMembership(newId, hostIds, true, trx);
      await this.activities.record(actor, 'created_label', { label_id: newId, label_name: name }, { trx });
      return newId;
    });
    await this.events.emitLabelsCreated([id]);
    await this.events.emitLabelMembershipChanged([id], hostIds);
    return (await this.store.getById(id))!;
  }

  async update(
    actor: Actor,
    id: number,
    patch: { name?: string; description?: string; hosts?: string[]; query?: string },
  ) {
    const label = await this.require(id);
    if (label.label_type === 1) throw invalid('built-in labels cannot be modified', 'label_type');
    if (patch.query !== undefined && patch.query !== label.query)
      throw invalid('the query of a label cannot be changed', 'query');
    if (patch.hosts !== undefined && label.label_membership_type !== 1) {
      throw invalid('only manual labels have a host list', 'hosts');
    }
    const name = patch.name?.trim();
    if (name !== undefined && !name) throw invalid('name must not be empty', 'name');
    if (name !== undefined && name !== label.name && (await this.store.getByName(name))) {
      throw alreadyExists(`a label named "${name}" already exists`);
    }
    const hostIds = patch.hosts !== undefined ? await this.hostIdsFor(patch.hosts) : undefined;
    const changed = await this.db.transaction().execute(async (trx) => {
      await this.store.update(id, { name, description: patch.description }, trx);
      const moved = hostIds ? await this.store.replaceManualMembers(id, hostIds, trx) : [];
      await this.activities.record(
        actor,
        'edited_label',
        { label_id: id, label_name: name ?? label.name },
        { trx },
      );
      return moved;
    });
    await this.events.emitLabelMembershipChanged([id], changed);
    return (await this.store.getById(id))!;
  }

  async delete(actor: Actor, label: LabelRow): Promise<void> {
    if (label.label_type === 1) throw invalid('built-in labels cannot be deleted', 'label_type');
    await this.db.transaction().execute(async (trx) => {
      await this.store.delete(label.id, trx);
      await this.activities.record(
        actor,
        'deleted_label',
        { label_id: label.id, label_name: label.name },
        { trx },
      );
    });
    await this.events.emitLabelsDeleted([label.id]);
  }

  async deleteByName(actor: Actor, name: string): Promise<void> {
    const label = await this.store.getByName(name);
    if (!label) throw notFound('Label');
    await this.delete(actor, label);
  }

  async deleteById(actor: Actor, id: number): Promise<void> {
    await this.delete(actor, await this.require(id));
  }

  /** Adds (or removes) a host to/from manual labels by name. */
  async setHostLabels(actor: Actor, hostId: number, names: string[], add: boolean): Promise<void> {
    const unique = [...new Set(names)];
    const labels = await this.store.getByNames(unique);
    const missing = unique.filter((n) => !labels.some((l) => l.name === n));
    if (missing.length) throw invalid(`label "${missing[0]}" does not exist`, 'labels');
    const notManual = labels.find((l) => l.label_membership_type !== 1 || l.label_type === 1);
    if (notManual) throw invalid(`label "${notManual.name}" is not a manual label`, 'labels');
    const ids = labels.map((l) => l.id);
    await this.db.transaction().execute(async (trx) => {
      for (const id of ids) {
        if (add) await this.store.setMembership(id, [hostId], true, trx);
      }
      if (!add) await this.store.removeMembership(ids, hostId, trx);
      for (const l of labels) {
        await this.activities.record(
          actor,
          'edited_label',
          { label_id: l.id, label_name: l.name },
          { hostIds: [hostId], trx },
        );
      }
    });
    await this.events.emitLabelMembershipChanged(ids, [hostId]);
  }
}
