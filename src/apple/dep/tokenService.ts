import type { Logger } from 'pino';
import type { AppConfigService } from '../../appconfig/service.js';
import { DepError, type DepCredentials } from '../../clients/dep/client.js';
import type { DepAccount } from '../../clients/dep/types.js';
import { AssetName, type ConfigAssetService } from '../../configassets/service.js';
import { md5Hex, type ConfigAssetStore } from '../../configassets/store.js';
import type { SecretBox } from '../../crypto/secretbox.js';
import { isUniqueViolation, toDbTime } from '../../db/dialect.js';
import { HttpError, alreadyExists, badRequest, notFound } from '../../http/errors.js';
import type { DepClientPool } from './clientPool.js';
import { abmTokenJson, type AbmTokenJson } from './json.js';
import { joinUrl, mdmPath, type DepProfileService } from './profiles.js';
import {
  createAbmKeyPair,
  decryptServerToken,
  ServerTokenError,
  type ServerTokenCredentials,
} from './serverToken.js';
import type { AbmTokenRow, AbmTokenStore } from './tokenStore.js';

/** Fleet's answer when the uploaded file is not a token for our key. */
export const invalidTokenReason = 'Invalid token. Please provide a valid token from Apple Business Manager.';
/** Fleet's answer when Apple refuses the token at /session with 401. */
export const rejectedTokenReason =
  'The Apple Business Manager certificate or server token is invalid. Restart Fleet with a valid certificate and token. See https://fleetdm.com/learn-more-about/setup-abm for help.';

export interface DefaultTeamIds {
  macos_team_id?: number | null;
  ios_team_id?: number | null;
  ipados_team_id?: number | null;
}

/**
 * ABM server tokens (Fleet's `/abm_tokens` API): the key pair ABM encrypts tokens to, upload,
 * renewal, default teams per platform, deletion. Credentials are sealed with the server key before
 * they reach the database and are never logged.
 */
export class AbmTokenService {
  constructor(
    private readonly deps: {
      tokens: AbmTokenStore;
      assets: ConfigAssetService;
      assetStore: ConfigAssetStore;
      box: SecretBox;
      appConfig: AppConfigService;
      profiles: DepProfileService;
      clients: DepClientPool;
      logger: Logger;
    },
  ) {}

  /**
   * The ABM key pair, created on first use. Safe with several processes: only a missing pair is
   * inserted (in one transaction), and every process then reads back whichever pair won.
   */
  async keyPair(opts: { create: boolean }): Promise<{ certPem: string; keyPem: string }> {
    const { assets } = this.deps;
    const names = [AssetName.abmCert, AssetName.abmKey];
    let have = await assets.get(names, { fresh: true });
    if ((!have.abm_cert || !have.abm_key) && opts.create) {
      const pair = createAbmKeyPair();
      try {
        await this.deps.assetStore.insertMissingSealed(
          { abm_cert: this.deps.box.seal(pair.certPem), abm_key: this.deps.box.seal(pair.keyPem) },
          { abm_cert: md5Hex(pair.certPem), abm_key: md5Hex(pair.keyPem) },
        );
      } catch (err) {
        // Another process created the pair at the same moment; its pair stands.
        if (!isUniqueViolation(err)) throw err;
      }
      have = await assets.get(names, { fresh: true });
    }
    if (!have.abm_cert || !have.abm_key) throw badRequest('Please generate a keypair first.');
    return { certPem: have.abm_cert.toString(), keyPem: have.abm_key.toString() };
  }

  /** `GET /mdm/apple/abm_public_key`: the certificate PEM the admin uploads to ABM. */
  async publicKeyPem(): Promise<string> {
    return (await this.keyPair({ create: true })).certPem;
  }

  private async mdmServerUrl(): Promise<string> {
    return joinUrl(await this.deps.profiles.mdmUrl(), mdmPath);
  }

  private async view(row: AbmTokenRow): Promise<AbmTokenJson> {
    return abmTokenJson(row, await this.mdmServerUrl());
  }

  async list(): Promise<AbmTokenJson[]> {
    const [rows, url] = await Promise.all([this.deps.tokens.list(), this.mdmServerUrl()]);
    return rows.map((r) => abmTokenJson(r, url));
  }

  async count(): Promise<number> {
    return this.deps.tokens.count();
  }

  async get(id: number): Promise<AbmTokenRow> {
    const row = await this.deps.tokens.getById(id);
    if (!row) throw notFound('ABMToken');
    return row;
  }

  /** Decrypts an uploaded file with the ABM key; anything else is Fleet's 400. */
  private async decrypt(file: Buffer): Promise<ServerTokenCredentials> {
    const pair = await this.keyPair({ create: false });
    try {
      return decryptServerToken(file, pair);
    } catch (err) {
      if (err instanceof ServerTokenError) throw badRequest(invalidTokenReason);
      throw err;
    }
  }

  /** Asks Apple whose token this is (`GET /account`), mapping refusals to 4xx/502. */
  private async account(creds: DepCredentials): Promise<{ orgName: string; appleId: string }> {
    let account: DepAccount;
    try {
      account = await this.deps.clients.oneOff(creds).account();
    } catch (err) {
      if (err instanceof DepError) {
        this.deps.logger.info(
          { status: err.status, code: err.code, path: err.path },
          'ABM token refused by Apple',
        );
        if (err.path === '/session' && err.status === 401) throw badRequest(rejectedTokenReason);
        if (err.tokenRejected)
          throw badRequest(`Apple Business Manager refused the token (HTTP ${err.status}).`);
        if (err.termsNotSigned) {
          throw badRequest(
            'Apple Business Manager terms and conditions changed. Accept them in Apple Business Manager, then upload the token again.',
          );
        }
        throw new HttpError(502, 'Bad Gateway', [
          { name: 'base', reason: `Apple Business Manager answered HTTP ${err.status}.` },
        ]);
      }
      this.deps.logger.warn({ err: (err as Error).message }, 'Apple Business Manager unreachable');
      throw new HttpError(502, 'Bad Gateway', [
        { name: 'base', reason: 'Apple Business Manager is unreachable.' },
      ]);
    }
    const orgName = typeof account.org_name === 'string' ? account.org_name.trim() : '';
    if (!orgName) throw badRequest('Apple Business Manager returned no organization name for this token.');
    const appleId = account.admin_id || account.facilitator_id || '';
    return { orgName, appleId: String(appleId) };
  }

  private seal(creds: ServerTokenCredentials): Buffer {
    return this.deps.box.seal(JSON.stringify(creds));
  }

  /** `POST /abm_tokens`: stores a new token (409 when the organisation already has one). */
  async upload(file: Buffer): Promise<AbmTokenJson> {
    const creds = await this.decrypt(file);
    const { orgName, appleId } = await this.account(creds);
    let id: number;
    try {
      id = await this.deps.tokens.insert({
        organization_name: orgName,
        apple_id: appleId,
        renew_at: toDbTime(new Date(creds.access_token_expiry)),
        token: this.seal(creds),
      });
    } catch (err) {
      if (isUniqueViolation(err))
        throw alreadyExists(`ABM token for organization "${orgName}" already exists`);
      throw err;
    }
    await this.deps.appConfig.patch({ mdm: { apple_bm_enabled_and_configured: true } });
    this.deps.logger.info({ abm_token_id: id, org_name: orgName }, 'ABM token added');
    return this.view((await this.deps.tokens.getById(id))!);
  }

  /** `PATCH /abm_tokens/:id/renew`: new credentials for the same organisation. */
  async renew(id: number, file: Buffer): Promise<AbmTokenJson> {
    const row = await this.get(id);
    const creds = await this.decrypt(file);
    const { orgName, appleId } = await this.account(creds);
    if (orgName !== row.organization_name) {
      throw badRequest(
        `This token belongs to organization "${orgName}", not "${row.organization_name}". Renew with a token of the same organization, or upload it as a new token.`,
      );
    }
    await this.deps.tokens.replaceCredentials(id, {
      apple_id: appleId,
      renew_at: toDbTime(new Date(creds.access_token_expiry)),
      token: this.seal(creds),
    });
    this.deps.clients.forget(id);
    this.deps.logger.info({ abm_token_id: id, org_name: orgName }, 'ABM token renewed');
    return this.view((await this.deps.tokens.getById(id))!);
  }

  /**
   * `PATCH /abm_tokens/:id/teams` (and `/fleets`): the default team per platform for hosts this
   * token brings in. Absent, null or 0 is No team; an unknown team is Fleet's 400.
   */
  async updateTeams(id: number, teams: DefaultTeamIds): Promise<AbmTokenJson> {
    await this.get(id);
    const pick = async (v: number | null | undefined) => {
      if (v === undefined || v === null || v === 0) return null;
      if ((await this.deps.tokens.teamName(v)) === undefined) throw badRequest(`team with ID ${v} not found`);
      return v;
    };
    const next = {
      macos: await pick(teams.macos_team_id),
      ios: await pick(teams.ios_team_id),
      ipados: await pick(teams.ipados_team_id),
    };
    await this.deps.tokens.setDefaultTeams(id, next);
    return this.view((await this.deps.tokens.getById(id))!);
  }

  /** `DELETE /abm_tokens/:id`. Removing the last token turns ABM off in the app config. */
  async delete(id: number): Promise<void> {
    if (!(await this.deps.tokens.delete(id))) throw notFound('ABMToken');
    this.deps.clients.forget(id);
    const [left, expired] = await Promise.all([
      this.deps.tokens.count(),
      this.deps.tokens.countTermsExpired(),
    ]);
    const cfg = await this.deps.appConfig.get();
    const patch: Record<string, unknown> = {};
    if (left === 0 && cfg.mdm.apple_bm_enabled_and_configured) patch.apple_bm_enabled_and_configured = false;
    if (cfg.mdm.apple_bm_terms_expired !== expired > 0) patch.apple_bm_terms_expired = expired > 0;
    if (Object.keys(patch).length) await this.deps.appConfig.patch({ mdm: patch });
  }
}
