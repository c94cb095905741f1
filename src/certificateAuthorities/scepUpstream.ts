/**
 * HTTP client for an upstream SCEP server (a custom SCEP CA or NDES): the three operations the
 * proxy passes through, with a timeout, bodies kept as bytes.
 */

/** SCEP messages are small; this bounds what an upstream can make us buffer. */
const maxUpstreamBytes = 2 * 1024 * 1024;

export class UpstreamScepError extends Error {
  constructor(
    message: string,
    /** The upstream's HTTP status, when it answered at all. */
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface UpstreamAnswer {
  body: Buffer;
  contentType: string;
}

function operationUrl(base: string, operation: string, message?: string): string {
  const u = new URL(base);
  u.searchParams.set('operation', operation);
  if (message !== undefined) u.searchParams.set('message', message);
  return u.toString();
}

export class ScepUpstreamClient {
  constructor(
    private readonly timeoutMs: number,
    private readonly fetchImpl: typeof fetch = fetch,
  ) {}

  private async call(url: string, operation: string, init: RequestInit = {}): Promise<UpstreamAnswer> {
    let res: Response;
    try {
      res = await this.fetchImpl(url, { ...init, signal: AbortSignal.timeout(this.timeoutMs) });
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      const reason = (err as Error).name === 'TimeoutError' ? 'timeout' : (cause ?? (err as Error).message);
      throw new UpstreamScepError(`${operation}: ${reason}`);
    }
    const body = Buffer.from(await res.arrayBuffer());
    if (body.length > maxUpstreamBytes) throw new UpstreamScepError(`${operation}: answer too large`);
    if (!res.ok) throw new UpstreamScepError(`${operation}: HTTP ${res.status}`, res.status);
    return { body, contentType: res.headers.get('content-type') ?? '' };
  }

  getCaCaps(url: string): Promise<UpstreamAnswer> {
    return this.call(operationUrl(url, 'GetCACaps'), 'GetCACaps');
  }

  /** GetCACert; an empty answer is an error (Fleet: "SCEP URL did not return a CA certificate"). */
  async getCaCert(url: string, message?: string): Promise<UpstreamAnswer> {
    const answer = await this.call(operationUrl(url, 'GetCACert', message || undefined), 'GetCACert');
    if (answer.body.length === 0) throw new UpstreamScepError('GetCACert: no CA certificate');
    return answer;
  }

  /** PKIOperation by POST when the upstream advertises it, else by GET with the base64 message. */
  async pkiOperation(url: string, der: Buffer): Promise<UpstreamAnswer> {
    const caps = (await this.getCaCaps(url)).body
      .toString('utf8')
      .split(/\r?\n/)
      .map((s) => s.trim());
    if (caps.includes('POSTPKIOperation') || caps.includes('SCEPStandard')) {
      return this.call(operationUrl(url, 'PKIOperation'), 'PKIOperation', {
        method: 'POST',
        headers: { 'content-type': 'application/x-pki-message' },
        body: new Uint8Array(der),
      });
    }
    return this.call(operationUrl(url, 'PKIOperation', der.toString('base64')), 'PKIOperation');
  }
}
