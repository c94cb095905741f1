import { toApiTime } from '../db/dialect.js';
import type { LabelRow } from './store.js';

const membershipTypes = ['dynamic', 'manual', 'host_vitals'];

const labelType = (l: LabelRow) => (l.label_type === 1 ? 'builtin' : 'regular');

/** A label as `GET /hosts/:id` lists it under `labels` (Fleet's whole fleet.Label). */
export function hostLabelJson(l: LabelRow) {
  return {
    created_at: toApiTime(l.created_at),
    updated_at: toApiTime(l.updated_at),
    id: l.id,
    author_id: l.author_id,
    name: l.name,
    description: l.description,
    query: l.query,
    platform: l.platform,
    label_type: labelType(l),
    label_membership_type: membershipTypes[l.label_membership_type] ?? 'dynamic',
  };
}

/**
 * Fleet's label object (labelResponse): `count` is the host count, always sent; fleet.Label's own
 * `host_count` is omitempty, so it is left out when 0.
 */
export function labelJson(l: LabelRow, extra: { hostCount?: number; hostIds?: number[] | null } = {}) {
  const hostCount = extra.hostCount ?? 0;
  return {
    ...hostLabelJson(l),
    ...(hostCount ? { host_count: hostCount } : {}),
    display_text: l.name,
    count: hostCount,
    host_ids: l.label_membership_type === 1 ? (extra.hostIds ?? []) : null,
  };
}

export function labelSummaryJson(l: LabelRow) {
  return { id: l.id, name: l.name, description: l.description, label_type: labelType(l) };
}
