import type { AdminAuth } from './options.js';

/**
 * The few admin REST calls `flotilla sim` makes, all to read enrollment material: log in (when
 * given an e-mail and password), read the MDM switches, the enroll secret, and Apple's manual
 * enrollment profile. The token goes only into the Authorization header, never into a message.
 */

/** A refusal before the run starts (server not set up, wrong token): exit status 1. */
export class SimSetupError extends Error {}

interface FleetError {
  message?: string;
  errors?: { name?: string; reason?: string }[];
}

async function describeFailure(what: string, res: Response): Promise<SimSetupError> {
  const text = await res.text().catch(() => '');
  let detail = '';
  try {
    const body = JSON.parse(text) as FleetError;
    const reason = body.errors?.find((e) => e.reason)?.reason;
    detail = [body.message, reason === body.message ? undefined : reason].filter(Boolean).join(': ');
  } catch {
    detail = text.slice(0, 200);
  }
  return new SimSetupError(`${what}: HTTP ${res.status}${detail ? ` (${detail})` : ''}`);
}

export interface MdmSwitches {
  apple: boolean;
  windows: boolean;
  /** The URL the server hands devices (server_settings.server_url). */
  serverUrl: string;
}

export class AdminApi {
  private constructor(
    private readonly base: string,
    private readonly token: string,
  ) {}

  static async connect(base: string, auth: AdminAuth): Promise<AdminApi> {
    if ('token' in auth) return new AdminApi(base, auth.token);
    let res: Response;
    try {
      res = await fetch(`${base}/api/v1/fleet/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: auth.email, password: auth.password }),
      });
    } catch (err) {
      throw unreachable(base, err);
    }
    if (res.status !== 200) throw await describeFailure('login failed', res);
    const body = (await res.json()) as { token?: unknown };
    if (typeof body.token !== 'string' || !body.token) throw new SimSetupError('login answered no token');
    return new AdminApi(base, body.token);
  }

  /** The secret itself, so callers can keep it out of what they print. */
  get secret(): string {
    return this.token;
  }

  private async get(path: string, what: string, f: typeof fetch = fetch): Promise<Response> {
    let res: Response;
    try {
      res = await f(`${this.base}/api/v1/fleet${path}`, {
        headers: { authorization: `Bearer ${this.token}` },
      });
    } catch (err) {
      throw unreachable(this.base, err);
    }
    if (res.status !== 200) throw await describeFailure(what, res);
    return res;
  }

  async mdmSwitches(): Promise<MdmSwitches> {
    const res = await this.get('/config', 'reading the settings (GET /api/v1/fleet/config) failed');
    const body = (await res.json()) as {
      mdm?: { enabled_and_configured?: boolean; windows_enabled_and_configured?: boolean };
      server_settings?: { server_url?: string };
    };
    return {
      apple: body.mdm?.enabled_and_configured === true,
      windows: body.mdm?.windows_enabled_and_configured === true,
      serverUrl: body.server_settings?.server_url ?? '',
    };
  }

  /** The first enroll secret of the team (or of no team); undefined when there is none. */
  async enrollSecret(team?: number): Promise<string | undefined> {
    if (team === undefined) {
      const res = await this.get('/spec/enroll_secret', 'reading the enroll secrets failed');
      const body = (await res.json()) as { spec?: { secrets?: { secret?: string }[] } };
      return body.spec?.secrets?.find((s) => s.secret)?.secret;
    }
    const res = await this.get(`/teams/${team}/secrets`, `reading the enroll secrets of team ${team} failed`);
    const body = (await res.json()) as { secrets?: { secret?: string }[] };
    return body.secrets?.find((s) => s.secret)?.secret;
  }

  /**
   * Apple's manual enrollment profile. Each download carries a new one-time SCEP challenge, so
   * each device downloads its own (through its own fetch, so the download is timed with it).
   */
  async appleEnrollmentProfile(f: typeof fetch): Promise<Buffer> {
    const res = await this.get('/enrollment_profiles/manual', 'downloading the enrollment profile failed', f);
    return Buffer.from(await res.arrayBuffer());
  }
}

function unreachable(base: string, err: unknown): SimSetupError {
  const cause =
    err instanceof Error && err.cause instanceof Error ? err.cause.message : (err as Error).message;
  return new SimSetupError(`cannot reach ${base}: ${cause}`);
}
