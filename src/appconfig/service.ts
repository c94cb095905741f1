import type { AppConfigStore } from './store.js';

export interface AppConfig {
  org_info: { org_name: string; org_logo_url: string };
  server_settings: { server_url: string; live_query_disabled: boolean; enable_analytics: boolean };
  mdm: {
    apple_server_url: string;
    enabled_and_configured: boolean;
    windows_enabled_and_configured: boolean;
    android_enabled_and_configured: boolean;
    apple_bm_enabled_and_configured: boolean;
    enable_disk_encryption: boolean;
    macos_updates: { minimum_version: string | null; deadline: string | null };
    macos_settings: { custom_settings: unknown[] };
    windows_settings: { custom_settings: unknown[] };
    end_user_authentication: { idp_name: string; entity_id: string; metadata: string; metadata_url: string };
  };
}

type Json = Record<string, unknown>;

function isObject(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep-merges `patch` into `base`: objects merge, everything else replaces. */
export function deepMerge<T>(base: T, patch: Json): T {
  const out: Json = { ...(base as Json) };
  for (const [k, v] of Object.entries(patch)) {
    out[k] = isObject(v) && isObject(out[k]) ? deepMerge(out[k], v) : v;
  }
  return out as T;
}

/** Global settings (Fleet's app config), stored as one JSON document. */
export class AppConfigService {
  constructor(
    private readonly store: AppConfigStore,
    private readonly defaultServerUrl: string,
  ) {}

  defaults(): AppConfig {
    return {
      org_info: { org_name: '', org_logo_url: '' },
      server_settings: {
        server_url: this.defaultServerUrl,
        live_query_disabled: false,
        enable_analytics: false,
      },
      mdm: {
        apple_server_url: '',
        enabled_and_configured: false,
        windows_enabled_and_configured: false,
        android_enabled_and_configured: false,
        apple_bm_enabled_and_configured: false,
        enable_disk_encryption: false,
        macos_updates: { minimum_version: null, deadline: null },
        macos_settings: { custom_settings: [] },
        windows_settings: { custom_settings: [] },
        end_user_authentication: { idp_name: '', entity_id: '', metadata: '', metadata_url: '' },
      },
    };
  }

  async get(): Promise<AppConfig> {
    const stored = await this.store.read();
    return stored ? deepMerge(this.defaults(), stored) : this.defaults();
  }

  /** Applies a validated partial document and returns the result. */
  async patch(patch: Json, opts: { dryRun?: boolean } = {}): Promise<AppConfig> {
    const next = deepMerge(await this.get(), patch);
    if (!opts.dryRun) await this.store.write(next as unknown as Json);
    return next;
  }

  /** The URL devices use to reach the server: the stored setting, else the configured one. */
  async serverUrl(): Promise<string> {
    return (await this.get()).server_settings.server_url || this.defaultServerUrl;
  }
}
