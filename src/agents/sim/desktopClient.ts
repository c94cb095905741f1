import type { AgentResponse, AgentTransport } from './transport.js';

export interface DesktopResponse<T = any> {
  status: number;
  body: T;
}

/**
 * Fleet Desktop's calls to `/api/latest/fleet/device/{token}/...`: the token in the path is the
 * whole credential. Answers come back as status and parsed body so tests can check refusals too.
 */
export class DesktopClient {
  constructor(
    private readonly baseUrl: string,
    private readonly transport: AgentTransport,
  ) {}

  private async send(method: string, path: string, body?: unknown): Promise<DesktopResponse> {
    const res: AgentResponse = await this.transport.request(
      method,
      `${this.baseUrl}${path}`,
      body === undefined ? undefined : JSON.stringify(body),
    );
    let parsed: unknown = res.body;
    try {
      parsed = res.body ? JSON.parse(res.body) : undefined;
    } catch {
      // not JSON; keep the text
    }
    return { status: res.status, body: parsed };
  }

  private path(token: string, rest = ''): string {
    return `/api/latest/fleet/device/${encodeURIComponent(token)}${rest}`;
  }

  /** What Fleet Desktop polls (and uses to check its token): failing policies, notifications, config. */
  desktop(token: string): Promise<DesktopResponse> {
    return this.send('GET', this.path(token, '/desktop'));
  }

  /** The "My device" page's host details. */
  device(token: string): Promise<DesktopResponse> {
    return this.send('GET', this.path(token));
  }

  policies(token: string): Promise<DesktopResponse> {
    return this.send('GET', this.path(token, '/policies'));
  }

  /** "Refetch" on the My device page: asks for fresh vitals at the next check-in. */
  refetch(token: string): Promise<DesktopResponse> {
    return this.send('POST', this.path(token, '/refetch'));
  }

  /** `HEAD /api/latest/fleet/device/{token}/ping`: whether the token is valid. */
  async tokenPing(token: string): Promise<number> {
    return (await this.send('HEAD', this.path(token, '/ping'))).status;
  }

  /** `HEAD /api/fleet/device/ping`: liveness, no token. */
  async ping(): Promise<number> {
    return (await this.send('HEAD', '/api/fleet/device/ping')).status;
  }
}
