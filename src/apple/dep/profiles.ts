import { createHash } from 'node:crypto';
import type { AppConfigService } from '../../appconfig/service.js';
import type { DepProfile } from '../../clients/dep/types.js';
import { dbNow } from '../../db/dialect.js';
import type { DepProfileStore } from './profileStore.js';

/** Fleet's default ADE profile (the JSON stored with the automatic enrollment profile). */
export const defaultDepProfile = {
  profile_name: 'Fleet default enrollment profile',
  is_supervised: true,
  is_mdm_removable: false,
};

/** Paths on the server that the ADE profile points devices at. */
export const enrollPath = '/api/mdm/apple/enroll';
export const mdmSsoPath = '/mdm/sso';
export const mdmPath = '/mdm/apple/mdm';

/** The profile keys Apple's define-profile call takes (what NanoDEP's profile type carries). */
const profileKeys = new Set([
  'profile_name',
  'url',
  'configuration_web_url',
  'allow_pairing',
  'is_supervised',
  'is_multi_user',
  'is_mandatory',
  'await_device_configured',
  'is_mdm_removable',
  'auto_advance_setup',
  'is_return_to_service',
  'do_not_use_profile_from_backup',
  'support_phone_number',
  'support_email_address',
  'org_magic',
  'department',
  'language',
  'region',
  'anchor_certs',
  'supervising_host_certs',
  'skip_setup_items',
]);

export function joinUrl(base: string, path: string): string {
  return base.replace(/\/+$/, '') + path;
}

/**
 * The profile defined with Apple for a team, as Fleet builds it: the admin's setup-assistant JSON
 * (or the default), `is_mdm_removable` true unless the JSON says otherwise, the SSO page as
 * `configuration_web_url` when end-user authentication is on, `url` equal to it when set (so the
 * token-bearing enroll URL never leaks) or else the enroll URL with the automatic profile's token,
 * and `await_device_configured` always true. Serials are never assigned at define time.
 */
export function buildDepProfile(
  base: Record<string, unknown>,
  opts: { mdmUrl: string; enrollToken: string; endUserAuth: boolean },
): DepProfile {
  const p: Record<string, unknown> = { is_mdm_removable: true };
  for (const [k, v] of Object.entries(base)) if (profileKeys.has(k)) p[k] = v;
  let webUrl = typeof p.configuration_web_url === 'string' ? p.configuration_web_url : '';
  if (!webUrl && opts.endUserAuth) webUrl = joinUrl(opts.mdmUrl, mdmSsoPath);
  if (webUrl) {
    p.configuration_web_url = webUrl;
    p.url = webUrl;
  } else {
    delete p.configuration_web_url;
    p.url = `${joinUrl(opts.mdmUrl, enrollPath)}?token=${encodeURIComponent(opts.enrollToken)}`;
  }
  p.await_device_configured = true;
  if (typeof p.profile_name !== 'string' || !p.profile_name) p.profile_name = defaultDepProfile.profile_name;
  return p as DepProfile;
}

/** The profile a team's devices get from one token, and when it was (re)defined with Apple. */
export interface EffectiveProfile {
  profileUuid: string;
  definedAt: string;
}

/**
 * Keeps each team's ADE profile defined with Apple per token: builds the profile from the current
 * settings, and defines it again only when it differs from what was defined (its checksum).
 */
export class DepProfileService {
  constructor(
    private readonly store: DepProfileStore,
    private readonly appConfig: AppConfigService,
  ) {}

  /** The automatic enrollment profile's token (`/api/mdm/apple/enroll?token=`), created on first use. */
  async automaticEnrollmentToken(): Promise<string> {
    return (await this.store.ensureAutomatic(defaultDepProfile)).token;
  }

  /** The MDM base URL devices reach: `mdm.apple_server_url`, else the server URL. */
  async mdmUrl(): Promise<string> {
    const cfg = await this.appConfig.get();
    return cfg.mdm.apple_server_url || (await this.appConfig.serverUrl());
  }

  /** The profile JSON this team's devices should get. */
  async build(teamId: number | null): Promise<{ profile: DepProfile; setupAssistantId: number | null }> {
    const auto = await this.store.ensureAutomatic(defaultDepProfile);
    const cfg = await this.appConfig.get();
    const mdmUrl = cfg.mdm.apple_server_url || (await this.appConfig.serverUrl());
    const endUserAuth =
      teamId === null
        ? cfg.mdm.macos_setup.enable_end_user_authentication === true
        : ((await this.store.teamEndUserAuth(teamId)) ?? false);
    const custom = await this.store.setupAssistant(teamId);
    const profile = buildDepProfile(custom ? custom.profile : auto.depProfile, {
      mdmUrl,
      enrollToken: auto.token,
      endUserAuth,
    });
    return { profile, setupAssistantId: custom?.id ?? null };
  }

  /**
   * The team's profile UUID for this token, defining it with Apple (through `define`) when it was
   * never defined for the token or its JSON changed since.
   */
  async ensure(
    teamId: number | null,
    tokenId: number,
    define: (profile: DepProfile) => Promise<string>,
  ): Promise<EffectiveProfile> {
    const { profile, setupAssistantId } = await this.build(teamId);
    const checksum = createHash('sha256').update(JSON.stringify(profile)).digest('hex');
    const have =
      setupAssistantId !== null
        ? await this.store.definedCustom(setupAssistantId, tokenId)
        : await this.store.definedDefault(teamId, tokenId);
    if (have && have.checksum === checksum && have.profileUuid) {
      return { profileUuid: have.profileUuid, definedAt: have.updatedAt };
    }
    const profileUuid = await define(profile);
    if (setupAssistantId !== null)
      await this.store.saveCustom(setupAssistantId, tokenId, profileUuid, checksum);
    else await this.store.saveDefault(teamId, tokenId, profileUuid, checksum);
    return { profileUuid, definedAt: dbNow() };
  }

  /** Sets a team's custom setup assistant (the DEP profile JSON the admin uploads). */
  async setSetupAssistant(teamId: number | null, name: string, profile: Record<string, unknown>) {
    await this.store.setSetupAssistant(teamId, name, profile);
  }

  /** A team's custom setup assistant, if it has one. */
  async getSetupAssistant(teamId: number | null) {
    return this.store.setupAssistant(teamId);
  }

  async deleteSetupAssistant(teamId: number | null): Promise<void> {
    await this.store.deleteSetupAssistant(teamId);
  }
}
