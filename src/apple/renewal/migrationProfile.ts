import { build as buildPlist, type PlistValue as BuildValue } from 'plist';
import { cmsVerifyAttached } from '../../crypto/cms.js';
import { parsePlistDict, type PlistValue } from '../plist/parse.js';

type Dict = Record<string, PlistValue>;

/** The operator's migration enrollment profile is unusable (the reason is safe to log). */
export class MigrationProfileError extends Error {}

/**
 * An operator-supplied enrollment profile for devices migrated from another MDM (Fleet's
 * `FLEET_SILENT_MIGRATION_ENROLLMENT_PROFILE` idea): it carries the previous vendor's identifiers,
 * ServerURL and Topic, which a migrated device requires of any replacement. We only put our renewal
 * command's SCEP challenge into its SCEP payload.
 */
export interface MigrationProfile {
  identifier: string;
  topic: string;
  serverUrl: string;
  /** The profile as plist XML with this SCEP challenge. */
  withChallenge(challenge: string): Buffer;
}

function isDict(v: PlistValue | undefined): v is Dict {
  return (
    typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v) && !(v instanceof Date)
  );
}

function nonEmpty(v: PlistValue | undefined): v is string {
  return typeof v === 'string' && v.length > 0;
}

/** The profile's plist bytes: XML, CMS-signed (DER), or base64 of either (as Fleet's variable holds it). */
function plistBytes(raw: Buffer): Buffer {
  let bytes = raw;
  const text = raw.toString('utf8').trim();
  if (raw[0] !== 0x30 && !text.startsWith('<') && /^[A-Za-z0-9+/=\s]+$/.test(text)) {
    bytes = Buffer.from(text, 'base64');
  }
  if (bytes[0] === 0x30) {
    try {
      return cmsVerifyAttached(bytes).content;
    } catch (err) {
      throw new MigrationProfileError(`not a readable signed profile: ${(err as Error).message}`);
    }
  }
  return bytes;
}

/**
 * Reads and checks the profile: one top-level Configuration with a PayloadIdentifier, exactly one
 * MDM payload (a device accepts only one) with ServerURL and an APNs Topic, whose identity is a
 * SCEP payload of the same profile with a query-free URL. Throws MigrationProfileError otherwise.
 */
export function readMigrationProfile(raw: Buffer): MigrationProfile {
  let profile: Dict;
  try {
    profile = parsePlistDict(plistBytes(raw));
  } catch (err) {
    if (err instanceof MigrationProfileError) throw err;
    throw new MigrationProfileError(`not a plist: ${(err as Error).message}`);
  }
  if (profile.PayloadType !== 'Configuration')
    throw new MigrationProfileError('PayloadType is not Configuration');
  if (!nonEmpty(profile.PayloadIdentifier)) throw new MigrationProfileError('no top-level PayloadIdentifier');
  const payloads = Array.isArray(profile.PayloadContent) ? profile.PayloadContent.filter(isDict) : [];
  const mdm = payloads.filter((p) => p.PayloadType === 'com.apple.mdm');
  if (mdm.length !== 1)
    throw new MigrationProfileError(`expected one com.apple.mdm payload, found ${mdm.length}`);
  const m = mdm[0];
  if (!nonEmpty(m.ServerURL)) throw new MigrationProfileError('the MDM payload has no ServerURL');
  if (!nonEmpty(m.Topic) || !m.Topic.startsWith('com.apple.mgmt.'))
    throw new MigrationProfileError('the MDM payload has no APNs Topic (com.apple.mgmt.…)');
  if (!nonEmpty(m.IdentityCertificateUUID))
    throw new MigrationProfileError('the MDM payload has no IdentityCertificateUUID');
  const identity = payloads.find((p) => p.PayloadUUID === m.IdentityCertificateUUID);
  if (!identity || identity.PayloadType !== 'com.apple.security.scep')
    throw new MigrationProfileError('IdentityCertificateUUID does not name a SCEP payload of the profile');
  const scep = identity.PayloadContent;
  if (!isDict(scep) || !nonEmpty(scep.URL)) throw new MigrationProfileError('the SCEP payload has no URL');
  // Apple appends `?operation=` without looking for a query string of its own.
  if (scep.URL.includes('?')) throw new MigrationProfileError('the SCEP URL must not have a query string');
  return {
    identifier: profile.PayloadIdentifier,
    topic: m.Topic,
    serverUrl: m.ServerURL,
    withChallenge(challenge: string): Buffer {
      scep.Challenge = challenge;
      return Buffer.from(buildPlist(profile as BuildValue), 'utf8');
    },
  };
}
