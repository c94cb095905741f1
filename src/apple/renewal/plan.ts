import { buildEnrollmentProfile } from '../enrollment/profile.js';
import { MigrationProfileError, type MigrationProfile } from './migrationProfile.js';
import type { DueRenewal, RenewKind } from './store.js';

/** What the renewal profiles are built from besides each device's own facts. */
export interface RenewalContext {
  /** The server URL (app config). */
  serverUrl: string;
  /** `mdm.apple_server_url` ('' when unset): the MDM URL ADE profiles were built with. */
  appleServerUrl: string;
  orgName: string;
  /** The operator's migration profile: absent when not configured, or why it cannot be used. */
  migration?: MigrationProfile | MigrationProfileError;
}

/** Devices that get one InstallProfile command together (their renewal profiles are identical). */
export interface RenewalGroup {
  kind: RenewKind;
  targets: DueRenewal[];
  /** The unsigned profile (plist XML) carrying the command's SCEP challenge. */
  build(challenge: string): Buffer;
}

/** A device no profile can be sent to without it refusing it: reported instead. */
export interface RenewalRefusal {
  target: DueRenewal;
  kind: RenewKind;
  reason: string;
}

const mdmPath = '/mdm/apple/mdm';

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

/**
 * The base of the ServerURL the device was enrolled with (it may not change): ADE devices got the
 * MDM URL (`mdm.apple_server_url`) when one is set; otherwise the URL recorded on the host when it
 * enrolled (or reported by its agent); otherwise today's server URL.
 */
export function enrolledServerBase(t: DueRenewal, ctx: RenewalContext): string {
  if (t.installedFromDep && ctx.appleServerUrl) return trimSlash(ctx.appleServerUrl);
  const recorded = trimSlash(t.hostServerUrl);
  if (recorded.endsWith(mdmPath)) return recorded.slice(0, -mdmPath.length);
  return trimSlash(ctx.serverUrl);
}

/**
 * Groups the due identities by the enrollment profile that renews each one without breaking
 * reference 1.6: same identifiers and UUIDs (ours are constants), the ServerURL with its query
 * string, the device's own Topic, no added AccessRights, the user-enrollment keys unchanged. Hosts
 * with an enrollment reference (SSO) or a Managed Apple Account get a command of their own;
 * migrated devices get the operator's migration profile, or are refused when there is none.
 */
export function planRenewals(
  targets: DueRenewal[],
  ctx: RenewalContext,
): { groups: RenewalGroup[]; refusals: RenewalRefusal[] } {
  const groups = new Map<string, RenewalGroup>();
  const refusals: RenewalRefusal[] = [];
  const add = (key: string, kind: RenewKind, t: DueRenewal, build: (challenge: string) => Buffer) => {
    const g = groups.get(key);
    if (g) g.targets.push(t);
    else groups.set(key, { kind, targets: [t], build });
  };

  for (const t of targets) {
    if (t.fromMigration) {
      const m = ctx.migration;
      if (!m) {
        refusals.push({
          target: t,
          kind: 'migration',
          reason:
            'migrated from another MDM: its enrollment profile has the previous vendor identifiers; ' +
            'set FLOTILLA_APPLE_MIGRATION_ENROLLMENT_PROFILE_FILE to renew it',
        });
      } else if (m instanceof MigrationProfileError) {
        refusals.push({
          target: t,
          kind: 'migration',
          reason: `migration enrollment profile unusable: ${m.message}`,
        });
      } else if (m.topic !== t.topic) {
        refusals.push({
          target: t,
          kind: 'migration',
          reason: `migration enrollment profile Topic ${m.topic} is not the device's ${t.topic}`,
        });
      } else {
        add(`migration\n${m.topic}`, 'migration', t, (challenge) => m.withChallenge(challenge));
      }
      continue;
    }

    const userEnrollment = t.enrollmentType === 'User Enrollment (Device)';
    if (userEnrollment && !t.managedAppleId) {
      refusals.push({
        target: t,
        kind: 'user_enrollment',
        reason: 'User Enrollment: the Managed Apple Account of this enrollment is not known',
      });
      continue;
    }
    const input = {
      serverUrl: enrolledServerBase(t, ctx),
      topic: t.topic,
      orgName: ctx.orgName,
      renewal: true,
      enrollReference: t.enrollReference || undefined,
      personal: !userEnrollment && t.personal,
      managedAppleId: userEnrollment ? t.managedAppleId! : undefined,
    };
    const own = input.enrollReference || input.managedAppleId;
    const key = JSON.stringify([input.serverUrl, input.topic, input.personal, own ? t.id : '']);
    add(key, userEnrollment ? 'user_enrollment' : 'enrollment', t, (challenge) =>
      buildEnrollmentProfile({ ...input, scepChallenge: challenge }),
    );
  }
  return { groups: [...groups.values()], refusals };
}
