import { createHash } from 'node:crypto';
import { declarationToken, parseAppleProfile, parseDeclaration } from '../apple/profiles/validate.js';
import { HttpError } from '../http/errors.js';
import { reservedNames } from '../mdm/profiles/reservedNames.js';
import { parseWindowsProfile } from '../windows/profiles/validate.js';
import type { DefinitionWrites, ExistingDefinition, ExistingLabel } from './definitionStore.js';
import type { ImportedDefinitions, NotCarried } from './model.js';

/** Where a source definition lands here: our uuid and content hash, and the source's hash. */
export interface MappedDefinition {
  uuid: string;
  content: string;
  sourceContent: string;
}

export interface DefinitionPlan {
  writes: DefinitionWrites;
  /** Source profile / declaration uuid → ours (new or already here). Unmapped ones are skipped. */
  profiles: Map<string, MappedDefinition>;
  declarations: Map<string, MappedDefinition>;
  /** Source label names whose memberships come over (new labels and matching ones already here). */
  labelNames: Set<string>;
  /** Labels and definitions already here (a re-run, or the same thing made by hand). */
  alreadyPresent: number;
  notCarried: NotCarried[];
}

/**
 * Our uuid for a source definition: the source's own when it has our prefix, otherwise one derived
 * from it (stable, so a re-run maps it to the same row).
 */
function ourUuid(prefix: string, sourceUuid: string): string {
  if (sourceUuid.startsWith(prefix) && sourceUuid.length === 37) return sourceUuid;
  const h = createHash('sha256').update(`${prefix}:${sourceUuid}`).digest('hex');
  return `${prefix}${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

const reasonOf = (err: unknown): string =>
  err instanceof HttpError ? (err.errors[0]?.reason ?? err.message) : (err as Error).message;

function tally(out: NotCarried[], what: string, why: string): void {
  const found = out.find((n) => n.what === what && n.why === why);
  if (found) found.count++;
  else out.push({ what, count: 1, why });
}

/**
 * Decides which of the source's labels and profiles are written here. Profiles go through the same
 * checks as an upload; the profiles Fleet installs itself (fleetd settings, FileVault, its CA) are
 * left behind because this server installs its own. A definition already here under the same uuid,
 * or under the same team and identifier or name with the same content, is reused; one that
 * collides with different content is reported, never overwritten.
 */
export function planDefinitions(
  defs: ImportedDefinitions,
  have: {
    labels: ExistingLabel[];
    apple: ExistingDefinition[];
    windows: ExistingDefinition[];
    declarations: ExistingDefinition[];
  },
  /** Target team ids by source team name; a name missing here is a team the import creates. */
  teamIds: Map<string, number>,
): DefinitionPlan {
  const plan: DefinitionPlan = {
    writes: { labels: [], apple: [], windows: [], declarations: [] },
    profiles: new Map(),
    declarations: new Map(),
    labelNames: new Set(),
    alreadyPresent: 0,
    notCarried: [],
  };
  const labels = new Map(have.labels.map((l) => [l.name, l]));
  for (const name of defs.builtinLabelNames)
    if (labels.get(name)?.labelType !== 1)
      tally(
        plan.notCarried,
        'built-in labels this server does not have',
        'profiles scoped to them stay unapplied',
      );
  for (const l of defs.labels) {
    if (l.membershipType !== 0 && l.membershipType !== 1) {
      tally(plan.notCarried, 'host-vitals labels', 're-create them here');
      continue;
    }
    const cur = labels.get(l.name);
    if (!cur) {
      plan.writes.labels.push(l);
      plan.labelNames.add(l.name);
    } else if (
      cur.labelType === 0 &&
      cur.membershipType === l.membershipType &&
      (l.membershipType === 1 || cur.query === l.query)
    ) {
      plan.alreadyPresent++;
      plan.labelNames.add(l.name);
    } else
      tally(
        plan.notCarried,
        'labels whose name is taken here by a different label',
        'rename one, then import again',
      );
  }

  const teamId = (name: string | null): number | null => (name === null ? 0 : (teamIds.get(name) ?? null));
  // Names are unique within a team across every kind of profile.
  const namesTaken = new Set(
    [...have.apple, ...have.windows, ...have.declarations].map((d) => `${d.teamId}\u0000${d.name}`),
  );
  const place = (
    kind: string,
    uuid: string,
    team: number | null,
    identifier: string,
    name: string,
    content: string,
    existing: ExistingDefinition[],
  ): { uuid: string; present: boolean } | undefined => {
    const same = existing.find((d) => d.uuid === uuid);
    if (same) return { uuid, present: true };
    if (team === null) return { uuid, present: false };
    const clash = existing.find((d) => d.teamId === team && (d.identifier === identifier || d.name === name));
    if (clash?.content === content && clash.identifier === identifier && clash.name === name)
      return { uuid: clash.uuid, present: true };
    if (clash || namesTaken.has(`${team}\u0000${name}`)) {
      tally(
        plan.notCarried,
        `${kind} whose name or identifier is taken here by different content`,
        'left as they are here',
      );
      return undefined;
    }
    namesTaken.add(`${team}\u0000${name}`);
    return { uuid, present: false };
  };

  for (const p of defs.appleProfiles) {
    let parsed;
    try {
      parsed = parseAppleProfile(p.mobileconfig);
    } catch (err) {
      const why = reasonOf(err);
      if (/identifier .* is not allowed|display name .* is not allowed/.test(why))
        tally(plan.notCarried, 'Apple profiles Fleet manages itself', 'Flotilla installs its own');
      else tally(plan.notCarried, `Apple profile "${p.name}"`, why);
      continue;
    }
    const team = teamId(p.teamName);
    const at = place(
      'Apple profiles',
      ourUuid('a', p.uuid),
      team,
      parsed.identifier,
      parsed.name,
      parsed.checksum,
      have.apple,
    );
    if (!at) continue;
    plan.profiles.set(p.uuid, { uuid: at.uuid, content: parsed.checksum, sourceContent: p.sourceChecksum });
    if (at.present) {
      plan.alreadyPresent++;
      continue;
    }
    plan.writes.apple.push({
      row: {
        profile_uuid: at.uuid,
        team_id: team ?? -1,
        identifier: parsed.identifier,
        name: parsed.name,
        scope: parsed.scope,
        mobileconfig: parsed.bytes,
        checksum: parsed.checksum,
        payload_uuid: parsed.payloadUuid,
        created_at: p.createdAt,
        uploaded_at: p.uploadedAt,
        secrets_updated_at: null,
      },
      labels: p.labels,
    });
  }

  for (const p of defs.windowsProfiles) {
    if (reservedNames.has(p.name)) {
      tally(plan.notCarried, 'Windows profiles Fleet manages itself', 'Flotilla installs its own');
      continue;
    }
    let parsed;
    try {
      parsed = parseWindowsProfile(p.name, Buffer.from(p.syncml, 'utf8'));
    } catch (err) {
      tally(plan.notCarried, `Windows profile "${p.name}"`, reasonOf(err));
      continue;
    }
    const team = teamId(p.teamName);
    const at = place(
      'Windows profiles',
      ourUuid('w', p.uuid),
      team,
      parsed.name,
      parsed.name,
      parsed.checksum,
      have.windows,
    );
    if (!at) continue;
    if (at.present) {
      plan.alreadyPresent++;
      continue;
    }
    plan.writes.windows.push({
      row: {
        profile_uuid: at.uuid,
        team_id: team ?? -1,
        name: parsed.name,
        scope: parsed.scope,
        syncml: parsed.syncml,
        checksum: parsed.checksum,
        created_at: p.createdAt,
        uploaded_at: p.uploadedAt,
        secrets_updated_at: null,
      },
      labels: p.labels,
    });
  }

  for (const d of defs.declarations) {
    if (reservedNames.has(d.name)) {
      tally(plan.notCarried, 'declarations Fleet manages itself (OS updates)', 'set OS updates in Flotilla');
      continue;
    }
    let parsed;
    try {
      parsed = parseDeclaration(Buffer.from(d.rawJson, 'utf8'), `${d.name}.json`);
    } catch (err) {
      tally(plan.notCarried, `declaration "${d.name}"`, reasonOf(err));
      continue;
    }
    const token = declarationToken(parsed.rawJson, null);
    const team = teamId(d.teamName);
    const at = place(
      'declarations',
      ourUuid('d', d.uuid),
      team,
      parsed.identifier,
      parsed.name,
      token,
      have.declarations,
    );
    if (!at) continue;
    plan.declarations.set(d.uuid, {
      uuid: at.uuid,
      content: token,
      sourceContent: d.sourceToken.toUpperCase(),
    });
    if (at.present) {
      plan.alreadyPresent++;
      continue;
    }
    plan.writes.declarations.push({
      row: {
        declaration_uuid: at.uuid,
        team_id: team ?? -1,
        identifier: parsed.identifier,
        name: parsed.name,
        raw_json: parsed.rawJson,
        scope: parsed.scope,
        token,
        created_at: d.createdAt,
        uploaded_at: d.uploadedAt,
        secrets_updated_at: null,
      },
      labels: d.labels,
    });
  }
  return plan;
}

/** Counts of what a plan writes, for the report. */
export function planCounts(plan: DefinitionPlan) {
  return {
    labels: plan.writes.labels.length,
    appleProfiles: plan.writes.apple.length,
    windowsProfiles: plan.writes.windows.length,
    declarations: plan.writes.declarations.length,
    alreadyPresent: plan.alreadyPresent,
  };
}
