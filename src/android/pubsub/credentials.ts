/** What authenticates a push: the bound enterprise and the token its push URL carries. */
export interface PushCredentialValues {
  enterpriseId: string;
  token: Buffer;
}

/**
 * The push endpoint's view of the bound enterprise and its Pub/Sub token, kept for a few seconds:
 * reading both on every push was two of the dozen queries a status report costs. Only a bound
 * state is kept (a server just bound must not refuse Google's first pushes), and this process's
 * own bind or unbind drops it at once; another process's unbind is seen within `ttlMs`.
 */
export class PushCredentials {
  private cached: { values: PushCredentialValues; until: number } | undefined;

  constructor(
    private readonly load: () => Promise<PushCredentialValues | undefined>,
    private readonly ttlMs = 5000,
  ) {}

  async get(): Promise<PushCredentialValues | undefined> {
    const now = Date.now();
    if (this.cached && this.cached.until > now) return this.cached.values;
    const values = await this.load();
    this.cached = values ? { values, until: now + this.ttlMs } : undefined;
    return values;
  }

  /** The binding changed in this process. */
  invalidate(): void {
    this.cached = undefined;
  }
}
