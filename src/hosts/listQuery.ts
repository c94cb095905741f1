import { z } from 'zod';
import {
  adminQuery,
  listQueryFields,
  ordering,
  paging,
  queryNumberField,
  teamIdFrom,
  type QueryParser,
} from '../http/adminApi.js';
import { badRequest } from '../http/errors.js';
import { boundedInt, maxId } from '../http/numbers.js';
import type { HostListFilter } from './service.js';
import {
  bootstrapPackageStatuses,
  diskEncryptionStatuses,
  hostOrderKeys,
  hostStatusFilters,
  mdmEnrollmentStatuses,
  osSettingsStatuses,
} from './store.js';

/** Query parameters of the host lists (`/hosts`, `/hosts/count`, `/labels/:id/hosts`). */
export const hostListQuery = adminQuery({
  ...listQueryFields,
  query: z.string().optional(),
  team_id: queryNumberField,
  fleet_id: queryNumberField,
  label_id: queryNumberField,
  platform: z.string().optional(),
  mdm_enrollment_status: z.string().optional(),
  mdm_id: z.string().optional(),
  mdm_name: z.string().optional(),
  connected_to_fleet: z.string().optional(),
  status: z.string().optional(),
  os_settings: z.string().optional(),
  macos_settings: z.string().optional(),
  os_settings_disk_encryption: z.string().optional(),
  macos_settings_disk_encryption: z.string().optional(),
  bootstrap_package: z.string().optional(),
  profile_uuid: z.string().optional(),
  profile_status: z.string().optional(),
  low_disk_space: z.string().optional(),
  // Accepted for compatibility with Fleet's UI; these only shape the answer there.
  populate_labels: z.string().optional(),
  populate_software: z.string().optional(),
  populate_policies: z.string().optional(),
  populate_users: z.string().optional(),
  device_mapping: z.string().optional(),
  disable_failing_policies: z.string().optional(),
  exclude_software: z.string().optional(),
});

export type HostListQuery = typeof hostListQuery extends QueryParser<infer Q> ? Q : never;

export function hostFilterFrom(q: HostListQuery): HostListFilter {
  const f: HostListFilter = {};
  const teamId = teamIdFrom(q, { zeroIsNoTeam: true });
  if (teamId !== undefined) f.teamId = teamId;
  if (q.label_id !== undefined) f.labelId = boundedInt(q.label_id, 'label_id', 1, maxId);
  if (q.platform) f.platform = q.platform;
  if (q.query?.trim()) f.query = q.query.trim();
  // Like Fleet, an empty value is no filter and anything else outside the list is a 400.
  const oneOf = <T extends string>(name: keyof HostListQuery, values: readonly T[]): T | undefined => {
    const v = q[name] as string | undefined;
    if (v === undefined || v === '') return undefined;
    if (!values.includes(v as T)) throw badRequest(`Invalid ${name}: ${v}`, name);
    return v as T;
  };
  f.mdmEnrollmentStatus = oneOf('mdm_enrollment_status', mdmEnrollmentStatuses);
  f.status = oneOf('status', hostStatusFilters);
  f.osSettings = oneOf('os_settings', osSettingsStatuses);
  f.macosSettings = oneOf('macos_settings', osSettingsStatuses);
  f.osSettingsDiskEncryption = oneOf('os_settings_disk_encryption', diskEncryptionStatuses);
  f.macosSettingsDiskEncryption = oneOf('macos_settings_disk_encryption', diskEncryptionStatuses);
  f.bootstrapPackage = oneOf('bootstrap_package', bootstrapPackageStatuses);
  if (q.mdm_id) {
    if (!/^[0-9]+$/.test(q.mdm_id) || Number(q.mdm_id) > maxId) {
      throw badRequest(`Invalid mdm_id: ${q.mdm_id}`, 'mdm_id');
    }
    f.mdmId = Number(q.mdm_id);
  }
  if (q.mdm_name) f.mdmName = q.mdm_name;
  // Fleet: the parameter's presence is the filter, whatever its value.
  if (q.connected_to_fleet !== undefined) f.connectedToFleet = true;
  const profileUuid = q.profile_uuid ?? '';
  const profileStatus = q.profile_status ?? '';
  if (profileUuid && !profileStatus) {
    throw badRequest(
      'Missing profile_status (it must be present when profile_uuid is specified)',
      'profile_status',
    );
  }
  if (!profileUuid && profileStatus) {
    throw badRequest(
      'Missing profile_uuid (it must be present when profile_status is specified)',
      'profile_uuid',
    );
  }
  if (profileUuid) {
    const status = oneOf('profile_status', osSettingsStatuses)!;
    f.profile = { uuid: profileUuid, status };
  }
  if (q.low_disk_space) {
    const v = q.low_disk_space;
    if (!/^[+-]?[0-9]+$/.test(v)) throw badRequest(`Invalid low_disk_space: ${v}`, 'low_disk_space');
    const n = Number(v);
    if (n < 1 || n > 100) {
      throw badRequest(`Invalid low_disk_space, must be between 1 and 100: ${v}`, 'low_disk_space');
    }
    f.lowDiskSpace = n;
  }
  for (const k of Object.keys(f) as (keyof HostListFilter)[]) if (f[k] === undefined) delete f[k];
  return f;
}

export function hostPageFrom(q: HostListQuery) {
  const page = paging(q);
  const order = ordering(q, [...hostOrderKeys], 'id');
  return { limit: page.limit, offset: page.offset, orderKey: order.key, desc: order.desc };
}

/**
 * The `filters` of `POST /hosts/delete`, read as Fleet reads them: `query` (a non-empty string),
 * `status` (a host status), `label_id` and `team_id` (numbers; team 0 is No team). Any other key,
 * or a value of the wrong type, is a 400. `{}` is no filter at all (every host the caller sees).
 */
export function hostFilterFromDeleteFilters(filters: Record<string, unknown>): HostListFilter {
  const f: HostListFilter = {};
  for (const [key, v] of Object.entries(filters)) {
    switch (key) {
      case 'label_id':
        if (typeof v !== 'number') throw badRequest('label_id must be a number', key);
        f.labelId = boundedInt(v, key, 1, maxId);
        break;
      case 'team_id': {
        if (typeof v !== 'number') throw badRequest('team_id must be a number', key);
        const teamId = boundedInt(v, key, 0, maxId);
        f.teamId = teamId === 0 ? null : teamId;
        break;
      }
      case 'status':
        if (typeof v !== 'string') throw badRequest('status must be a string', key);
        if (!(hostStatusFilters as readonly string[]).includes(v)) {
          throw badRequest('status must be one of: new, online, offline, missing', key);
        }
        f.status = v as HostListFilter['status'];
        break;
      case 'query':
        if (typeof v !== 'string') throw badRequest('query must be a string', key);
        if (!v.trim()) throw badRequest('query must not be empty', key);
        f.query = v.trim();
        break;
      default:
        throw badRequest(`unknown filter key: ${key}`, key);
    }
  }
  return f;
}
