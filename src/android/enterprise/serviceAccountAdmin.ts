import { readFileSync } from 'node:fs';
import type { ServiceAccountKey } from '../../clients/amapi/types.js';
import { AssetName, type ConfigAssetService } from '../../configassets/service.js';
import { conflict, invalid, notFound } from '../../http/errors.js';
import { parseServiceAccount, type AndroidClientProvider } from '../serviceAccount.js';
import type { BoundEnterprise } from './store.js';

/** What the admin API shows of a service account: never the private key. */
export interface ServiceAccountSummary {
  project_id: string;
  client_email: string;
  private_key_id: string;
}

const summary = (key: ServiceAccountKey): ServiceAccountSummary => ({
  project_id: key.project_id,
  client_email: key.client_email,
  private_key_id: key.private_key_id ?? '',
});

/**
 * The admin API over Flotilla's Google service account (`/android_enterprise/service_account`):
 * upload it (kept sealed), show who it is, remove it. While an enterprise is bound it cannot be
 * removed, and a replacement must belong to the same Google Cloud project (a key rotation).
 */
export class AndroidServiceAccountAdmin {
  constructor(
    private readonly clients: AndroidClientProvider,
    private readonly assets: ConfigAssetService,
    private readonly serviceAccountFile: string | undefined,
    private readonly bound: () => Promise<BoundEnterprise | undefined>,
  ) {}

  /** The service account in force: the uploaded one, else the configured file's. */
  private async current(): Promise<ServiceAccountKey | undefined> {
    const uploaded = await this.assets.getOne(AssetName.androidServiceAccount);
    if (uploaded) return parseServiceAccount(uploaded);
    if (this.serviceAccountFile) return parseServiceAccount(readFileSync(this.serviceAccountFile));
    return undefined;
  }

  async get(): Promise<ServiceAccountSummary> {
    const key = await this.current();
    if (!key) throw notFound('Android service account');
    return summary(key);
  }

  async upload(bytes: Buffer): Promise<ServiceAccountSummary> {
    let key: ServiceAccountKey;
    try {
      key = parseServiceAccount(bytes);
    } catch (err) {
      throw invalid((err as Error).message, 'service_account');
    }
    if (await this.bound()) {
      const before = await this.current();
      if (before && before.project_id !== key.project_id) {
        throw conflict(
          `the bound Android Enterprise belongs to project ${before.project_id}; ` +
            'turn Android MDM off before using another project',
        );
      }
    }
    await this.clients.upload(bytes);
    return summary(key);
  }

  async remove(): Promise<void> {
    if (await this.bound()) {
      throw conflict('Android MDM is on: turn it off (DELETE /api/v1/fleet/android_enterprise) first');
    }
    if (!(await this.assets.getOne(AssetName.androidServiceAccount))) {
      throw notFound('Android service account');
    }
    await this.clients.remove();
  }
}
