import { z } from 'zod';
import { listQueryFields, ordering, paging, queryNumberField, teamIdFrom } from '../http/adminApi.js';
import { badRequest } from '../http/errors.js';
import { boundedInt, maxId } from '../http/numbers.js';
import type { HostListFilter } from './service.js';
import { hostOrderKeys, mdmEnrollmentStatuses, type MdmEnrollmentFilter } from './store.js';

/** Query parameters of the host lists (`/hosts`, `/hosts/count`, `/labels/:id/hosts`). */
export const hostListQuery = z
  .object({
    ...listQueryFields,
    query: z.string().optional(),
    team_id: queryNumberField,
    fleet_id: queryNumberField,
    label_id: queryNumberField,
    platform: z.string().optional(),
    mdm_enrollment_status: z.string().optional(),
    // Accepted for compatibility with Fleet's UI; these only shape the answer there.
    populate_labels: z.string().optional(),
    populate_software: z.string().optional(),
    populate_policies: z.string().optional(),
    populate_users: z.string().optional(),
    device_mapping: z.string().optional(),
    disable_failing_policies: z.string().optional(),
    exclude_software: z.string().optional(),
  })
  .strict();

export type HostListQuery = z.infer<typeof hostListQuery>;

export function hostFilterFrom(q: HostListQuery): HostListFilter {
  const f: HostListFilter = {};
  const teamId = teamIdFrom(q, { zeroIsNoTeam: true });
  if (teamId !== undefined) f.teamId = teamId;
  if (q.label_id !== undefined) f.labelId = boundedInt(q.label_id, 'label_id', 1, maxId);
  if (q.platform) f.platform = q.platform;
  if (q.query?.trim()) f.query = q.query.trim();
  if (q.mdm_enrollment_status !== undefined) {
    if (!mdmEnrollmentStatuses.includes(q.mdm_enrollment_status as MdmEnrollmentFilter)) {
      throw badRequest(
        `mdm_enrollment_status must be one of ${mdmEnrollmentStatuses.join(', ')}`,
        'mdm_enrollment_status',
      );
    }
    f.mdmEnrollmentStatus = q.mdm_enrollment_status as MdmEnrollmentFilter;
  }
  return f;
}

export function hostPageFrom(q: HostListQuery) {
  const page = paging(q);
  const order = ordering(q, [...hostOrderKeys], 'id');
  return { limit: page.limit, offset: page.offset, orderKey: order.key, desc: order.desc };
}
