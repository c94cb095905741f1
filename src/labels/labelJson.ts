import { toApiTime } from '../db/dialect.js';
import type { LabelRow } from './store.js';

const membershipTypes = ['dynamic', 'manual', 'host_vitals'];

const labelType = (l: LabelRow) => (l.label_type === 1 ? 'builtin' : 'regular');

/** A label as `GET /hosts/:id` lists it under `labels`. */
export function hostLabelJson(l: LabelRow) {
  return {
    id: l.id,
    name: l.name,
    description: l.description,
    query: l.query,
    platform: l.platform,
    label_type: labelType(l),
    label_membership_type: membershipTypes[l.label_membership_type] ?? 'dynamic',
  };
}

/** Fleet's label object. */
export function labelJson(l: LabelRow, extra: { hostCount?: number; hostIds?: number[] | null } = {}) {
  return {
    ...hostLabelJson(l),
    host_count: extra.hostCount ?? 0,
    display_text: l.name,
    author_id: l.author_id,
    created_at: toApiTime(l.created_at),
    updated_at: toApiTime(l.updated_at),
    host_ids: l.label_membership_type === 1 ? (extra.hostIds ?? []) : null,
  };
}

export function labelSummaryJson(l: LabelRow) {
  return { id: l.id, name: l.name, description: l.description, label_type: labelType(l) };
}
