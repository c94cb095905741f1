/** Fleet's body for the macOS MDM migration webhook. */
export interface MigrationWebhookPayload {
  timestamp: string;
  host: { id: number; uuid: string; hardware_serial: string };
}

/** The webhook did not take the payload: the address was unreachable or answered non-2xx. */
export class WebhookError extends Error {
  constructor(
    message: string,
    /** The remote status, when there was an answer. */
    readonly status?: number,
  ) {
    super(message);
  }
}

/**
 * POSTs the migration webhook as JSON with a timeout (Fleet: 30 s). It only reports success or
 * failure; the URL is the admin's and may carry a secret, so nothing here logs or repeats it.
 */
export class MigrationWebhookPoster {
  constructor(
    private readonly timeoutMs = 30_000,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  async post(url: string, payload: MigrationWebhookPayload): Promise<void> {
    let res: Response;
    try {
      res = await this.fetchImpl(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(payload),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new WebhookError(`webhook unreachable: ${(err as Error).name}`);
    }
    // Drain the body so the connection can be reused; its content is not kept.
    await res.arrayBuffer().catch(() => undefined);
    if (res.status < 200 || res.status > 299)
      throw new WebhookError(`webhook answered ${res.status}`, res.status);
  }
}
