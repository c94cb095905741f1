import { badRequest } from '../../http/errors.js';
import { DocumentProfiles } from '../../mdm/profiles/documentProfiles.js';
import { jsonProfileKind, looksLikeJson } from '../../mdm/profiles/jsonProfileKind.js';
import type { AndroidProfileManager } from './manager.js';
import type { AndroidProfileRow, AndroidProfileStore } from './store.js';
import { parseAndroidProfile, type ParsedAndroidProfile } from './validate.js';

/** Raised when no Android Enterprise is bound: Android profiles cannot be added. */
export const androidMdmOff = () => badRequest("Couldn't add. Android MDM isn't turned on.", 'profile');

/**
 * Android's configuration profiles for the MDM core (`g…` UUIDs): AMAPI Policy fragments (.json)
 * validated here, stored in mdm_android_configuration_profiles, merged into each host's policy by
 * the Android profile manager and verified by status reports. In a batch only new and changed
 * profiles are marked pending.
 */
export class AndroidProfiles extends DocumentProfiles<AndroidProfileRow, ParsedAndroidProfile> {
  constructor(
    store: AndroidProfileStore,
    profileManager: Pick<AndroidProfileManager, 'markPending'>,
    enabled: () => Promise<boolean>,
    tick: () => Promise<unknown>,
  ) {
    const spec = {
      family: 'android',
      uuidPrefix: 'g',
      fileExtension: 'json',
      contentType: 'application/json',
      job: 'mdm_android_profile_manager',
      pendOnlyChanged: true,
    };
    super(spec, store, profileManager, enabled, tick);
  }

  /**
   * JSON that is not shaped like an Apple declaration (see jsonProfileKind): a .json file, or one
   * without a known extension whose content is JSON. Never another platform's extension.
   */
  claims(ext: string | undefined, bytes: Buffer): boolean {
    if (ext === 'xml' || ext === 'mobileconfig') return false;
    if (ext !== 'json' && !looksLikeJson(bytes)) return false;
    return jsonProfileKind(bytes) === 'android';
  }

  protected mdmOff(): Error {
    return androidMdmOff();
  }

  protected parseDocument(name: string, bytes: Buffer): ParsedAndroidProfile {
    return parseAndroidProfile(name, bytes);
  }

  protected newRow(uuid: string, teamId: number, p: ParsedAndroidProfile, now: string): AndroidProfileRow {
    return {
      profile_uuid: uuid,
      team_id: teamId,
      name: p.name,
      raw_json: p.rawJson,
      checksum: p.checksum,
      created_at: now,
      uploaded_at: now,
    };
  }

  protected changedColumns(p: ParsedAndroidProfile, now: string): Partial<AndroidProfileRow> {
    return { raw_json: p.rawJson, checksum: p.checksum, uploaded_at: now };
  }

  protected documentOf(r: AndroidProfileRow): string {
    return r.raw_json;
  }

  /** Android profiles have no scope. */
  protected scopeOf(): string {
    return '';
  }
}
