import { badRequest } from '../../http/errors.js';
import { DocumentProfiles } from '../../mdm/profiles/documentProfiles.js';
import { looksLikeJson } from '../../mdm/profiles/jsonProfileKind.js';
import type { WindowsProfileManager } from './manager.js';
import type { WindowsProfileRow, WindowsProfileStore } from './store.js';
import { parseWindowsProfile, type ParsedWindowsProfile } from './validate.js';

/** Raised when Windows MDM is off: Windows profiles cannot be added. */
export const windowsMdmOff = () => badRequest("Couldn't add. Windows MDM isn't turned on.", 'profile');

/**
 * Windows' configuration profiles for the MDM core (`w…` UUIDs): SyncML fragments validated here,
 * stored in mdm_windows_configuration_profiles, delivered and verified by the Windows manager.
 * Every profile of a batch is marked pending.
 */
export class WindowsProfiles extends DocumentProfiles<WindowsProfileRow, ParsedWindowsProfile> {
  constructor(
    store: WindowsProfileStore,
    profileManager: Pick<WindowsProfileManager, 'markPending'>,
    enabled: () => Promise<boolean>,
    tick: () => Promise<unknown>,
  ) {
    const spec = {
      family: 'windows',
      uuidPrefix: 'w',
      fileExtension: 'xml',
      contentType: 'application/xml',
      job: 'mdm_windows_profile_manager',
      pendOnlyChanged: false,
    };
    super(spec, store, profileManager, enabled, tick);
  }

  /**
   * An .xml file that is not a plist (Apple's); without an .xml extension, any file that is
   * neither a plist nor JSON (JSON is Apple's declarations or Android's policies).
   */
  claims(ext: string | undefined, bytes: Buffer): boolean {
    if (bytes.includes('<plist')) return false;
    return ext === 'xml' || (ext !== 'json' && !looksLikeJson(bytes));
  }

  protected mdmOff(): Error {
    return windowsMdmOff();
  }

  protected parseDocument(name: string, bytes: Buffer): ParsedWindowsProfile {
    return parseWindowsProfile(name, bytes);
  }

  protected newRow(uuid: string, teamId: number, p: ParsedWindowsProfile, now: string): WindowsProfileRow {
    return {
      profile_uuid: uuid,
      team_id: teamId,
      name: p.name,
      scope: p.scope,
      syncml: p.syncml,
      checksum: p.checksum,
      created_at: now,
      uploaded_at: now,
      secrets_updated_at: null,
    };
  }

  protected changedColumns(p: ParsedWindowsProfile, now: string): Partial<WindowsProfileRow> {
    return { syncml: p.syncml, checksum: p.checksum, scope: p.scope, uploaded_at: now };
  }

  protected documentOf(r: WindowsProfileRow): string {
    return r.syncml;
  }

  protected scopeOf(r: WindowsProfileRow): string {
    return r.scope;
  }
}
