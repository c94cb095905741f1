import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import type { AndroidManagementClient, ServiceAccountKey } from '../clients/amapi/types.js';
import { AssetName, type ConfigAssetService } from '../configassets/service.js';

/** A service-account JSON Flotilla can call Google with: the fields Google's key files carry. */
export const serviceAccountSchema = z.object({
  type: z.literal('service_account'),
  project_id: z.string().min(1),
  private_key_id: z.string().optional(),
  private_key: z.string().includes('PRIVATE KEY'),
  client_email: z.string().min(3).includes('@'),
  client_id: z.string().optional(),
  token_uri: z.url().default('https://oauth2.googleapis.com/token'),
});

/** Parses an uploaded or configured service-account JSON; throws a message fit for a 422 / startup error. */
export function parseServiceAccount(bytes: Buffer | string): ServiceAccountKey {
  let raw: unknown;
  try {
    raw = JSON.parse(bytes.toString());
  } catch {
    throw new Error('the service account is not JSON');
  }
  const parsed = serviceAccountSchema.passthrough().safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(
      `the service account JSON is not usable: ${issue.path.join('.') || 'body'}: ${issue.message}`,
    );
  }
  return parsed.data as ServiceAccountKey;
}

export type AndroidClientFactory = (serviceAccount: ServiceAccountKey) => AndroidManagementClient;

/**
 * The Google client for the service account in force: the one uploaded through the admin API
 * (stored sealed in `mdm_config_assets`), else `FLOTILLA_ANDROID_SERVICE_ACCOUNT_FILE`. The
 * client is kept while the JSON is unchanged, so its access token is reused until it expires.
 */
export class AndroidClientProvider {
  private cached: { fingerprint: string; client: AndroidManagementClient } | undefined;

  constructor(
    private readonly assets: ConfigAssetService,
    private readonly serviceAccountFile: string | undefined,
    private readonly factory: AndroidClientFactory,
  ) {}

  /** Whether a service account is configured (uploaded or from the file). */
  async configured(): Promise<boolean> {
    return (await this.rawServiceAccount()) !== undefined;
  }

  /** The client, or undefined when no service account is configured. */
  async get(): Promise<AndroidManagementClient | undefined> {
    const raw = await this.rawServiceAccount();
    if (!raw) return undefined;
    const fingerprint = createHash('sha256').update(raw).digest('hex');
    if (this.cached?.fingerprint !== fingerprint) {
      this.cached = { fingerprint, client: this.factory(parseServiceAccount(raw)) };
    }
    return this.cached.client;
  }

  /** Stores an uploaded service account (validated first; throws the parse message). */
  async upload(bytes: Buffer): Promise<ServiceAccountKey> {
    const key = parseServiceAccount(bytes);
    await this.assets.set({ [AssetName.androidServiceAccount]: bytes });
    return key;
  }

  async remove(): Promise<void> {
    await this.assets.delete([AssetName.androidServiceAccount]);
  }

  private async rawServiceAccount(): Promise<Buffer | undefined> {
    const uploaded = await this.assets.getOne(AssetName.androidServiceAccount);
    if (uploaded) return uploaded;
    if (this.serviceAccountFile) return readFileSync(this.serviceAccountFile);
    return undefined;
  }
}
