/**
 * JSON shapes the configuration profiles API builds the same way for Apple and Windows profiles:
 * label targeting lists and a host's `mdm.profiles` entries.
 */
import type { LabelRef } from './labelRows.js';

export interface LabelJson {
  name: string;
  id?: number;
  broken?: boolean;
}

export interface LabelsJson {
  labels_include_all?: LabelJson[];
  labels_include_any?: LabelJson[];
  labels_exclude_any?: LabelJson[];
}

/** Adds the profile's labels to `json` under Fleet's three keys; a deleted label shows as broken. */
export function withLabelsJson<T extends LabelsJson>(json: T, labels: LabelRef[] | undefined): T {
  for (const l of labels ?? []) {
    const key = l.exclude
      ? 'labels_exclude_any'
      : l.require_all
        ? 'labels_include_all'
        : 'labels_include_any';
    const entry: LabelJson =
      l.label_id === null ? { name: l.label_name, broken: true } : { name: l.label_name, id: l.label_id };
    (json[key] ??= []).push(entry);
  }
  return json;
}

/** A host's status row as the host details page needs it (any platform's status table). */
export interface HostProfileStatusRow {
  uuid: string;
  name: string;
  status: string | null;
  operation_type: string;
  detail: string | null;
  scope: string;
}

/** `mdm.profiles` entries of GET /hosts/:id: pending removals hidden, NULL shown as pending. */
export function hostProfilesJson<P extends string>(rows: HostProfileStatusRow[], platform: P) {
  return rows
    .filter((r) => r.operation_type !== 'remove' || r.status === 'failed')
    .map((r) => ({
      profile_uuid: r.uuid,
      name: r.name,
      status: r.status ?? 'pending',
      operation_type: r.operation_type,
      detail: r.detail ?? '',
      platform,
      scope: r.scope,
    }));
}
