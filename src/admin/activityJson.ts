import { toApiTime } from '../db/dialect.js';
import type { ActivityStore } from './activityStore.js';

type ActivityRow = Awaited<ReturnType<ActivityStore['list']>>[number];

/** Fleet's activity object. */
export function activityJson(a: ActivityRow) {
  let details: unknown = {};
  try {
    details = JSON.parse(a.details);
  } catch {
    details = {};
  }
  return {
    id: a.id,
    created_at: toApiTime(a.created_at),
    actor_full_name: a.user_name,
    actor_id: a.user_id,
    actor_gravatar: '',
    actor_email: a.user_email,
    type: a.activity_type,
    fleet_initiated: a.user_id === null,
    details,
  };
}
