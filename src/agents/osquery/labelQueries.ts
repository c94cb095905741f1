/**
 * Dynamic labels: each label with a query goes to the hosts of its platform as
 * `fleet_label_query_<id>`. A result with rows makes the host a member, one without rows a
 * non-member; an error leaves its standing as it was (still unknown when never answered), so an
 * unanswered label never gets a label_membership row.
 */
export const labelQueryPrefix = 'fleet_label_query_';

export function labelQueryName(labelId: number): string {
  return `${labelQueryPrefix}${labelId}`;
}

/** The label id of a `fleet_label_query_<id>` result name; undefined for anything else. */
export function labelIdOf(queryName: string): number | undefined {
  if (!queryName.startsWith(labelQueryPrefix)) return undefined;
  const rest = queryName.slice(labelQueryPrefix.length);
  if (!/^\d{1,10}$/.test(rest)) return undefined;
  const id = Number(rest);
  return id > 0 && id <= 2 ** 31 - 1 ? id : undefined;
}

/**
 * The memberships to write: answers (true / false) for labels the host may be evaluated for
 * (`current` has them) whose standing differs from what is stored. Errors (null) write nothing.
 */
export function membershipChanges(
  answers: ReadonlyMap<number, boolean | null>,
  current: ReadonlyMap<number, boolean | null>,
): { labelId: number; isMember: boolean }[] {
  const out: { labelId: number; isMember: boolean }[] = [];
  for (const [labelId, isMember] of answers) {
    if (isMember === null || !current.has(labelId)) continue;
    if (current.get(labelId) !== isMember) out.push({ labelId, isMember });
  }
  return out.sort((a, b) => a.labelId - b.labelId);
}
