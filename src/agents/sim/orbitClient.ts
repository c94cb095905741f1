import type { OrbitNotifications } from '../orbit/service.js';
import { AgentHttpError, jsonBody, type AgentResponse, type AgentTransport } from './transport.js';

/** What fleetd tells the server it can do (`X-Fleet-Capabilities`). */
export const defaultOrbitCapabilities = [
  'orbit_endpoints',
  'token_rotation',
  'error_reporting',
  'end_user_email',
  'escrow_buddy',
];

export interface OrbitEnrollRequest {
  enroll_secret: string;
  hardware_uuid: string;
  hardware_serial: string;
  hostname: string;
  platform: string;
  platform_like: string;
  osquery_identifier: string;
  computer_name: string;
  hardware_model: string;
}

/** Fleet's OrbitConfigNotifications (the wire type the server's orbit module sends). */
export type { OrbitNotifications };

export interface OrbitConfig {
  script_execution_timeout?: number;
  command_line_startup_flags?: Record<string, unknown>;
  extensions?: Record<string, unknown>;
  nudge_config?: unknown;
  notifications?: OrbitNotifications;
  update_channels?: Record<string, string>;
}

/**
 * orbit's side of `/api/fleet/orbit/*`: enroll with the secret, then send the node key in every
 * JSON body. A 401 means the server no longer knows the key: orbit enrolls again and retries once.
 * Every request carries the client's capabilities; the server answers with its own.
 */
export class OrbitClient {
  nodeKey?: string;
  /** Capabilities the server last announced. */
  serverCapabilities = new Set<string>();
  /** How many times this client has enrolled (re-enrollment after a 401 included). */
  enrollments = 0;

  constructor(
    private readonly baseUrl: string,
    private readonly transport: AgentTransport,
    private readonly enrollRequest: () => OrbitEnrollRequest,
    readonly capabilities: string[] = defaultOrbitCapabilities,
  ) {}

  private headers(): Record<string, string> {
    return { 'x-fleet-capabilities': this.capabilities.join(',') };
  }

  private noteCapabilities(res: AgentResponse): void {
    const header = res.headers['x-fleet-capabilities'];
    if (header !== undefined) {
      this.serverCapabilities = new Set(
        header
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean),
      );
    }
  }

  async enroll(): Promise<string> {
    const endpoint = 'POST /api/fleet/orbit/enroll';
    const res = await this.transport.request(
      'POST',
      `${this.baseUrl}/api/fleet/orbit/enroll`,
      JSON.stringify(this.enrollRequest()),
      this.headers(),
    );
    if (res.status !== 200) throw new AgentHttpError(endpoint, res.status, res.body);
    this.noteCapabilities(res);
    const key = jsonBody<{ orbit_node_key?: string }>(endpoint, res).orbit_node_key;
    if (!key) throw new AgentHttpError(endpoint, res.status, `no orbit_node_key: ${res.body}`);
    this.nodeKey = key;
    this.enrollments++;
    return key;
  }

  /** POSTs `{orbit_node_key, ...fields}`; on 401 enrolls again and retries once. */
  private async call(path: string, fields: Record<string, unknown> = {}): Promise<AgentResponse> {
    if (!this.nodeKey) await this.enroll();
    for (let attempt = 0; ; attempt++) {
      const res = await this.transport.request(
        'POST',
        `${this.baseUrl}${path}`,
        JSON.stringify({ orbit_node_key: this.nodeKey, ...fields }),
        this.headers(),
      );
      if (res.status === 401 && attempt === 0) {
        await this.enroll();
        continue;
      }
      this.noteCapabilities(res);
      return res;
    }
  }

  async config(): Promise<OrbitConfig> {
    const res = await this.call('/api/fleet/orbit/config');
    if (res.status !== 200) throw new AgentHttpError('POST /api/fleet/orbit/config', res.status, res.body);
    return jsonBody<OrbitConfig>('POST /api/fleet/orbit/config', res);
  }

  /** Registers (or replaces) Fleet Desktop's token for this host. */
  async setDeviceToken(token: string): Promise<void> {
    const res = await this.call('/api/fleet/orbit/device_token', { device_auth_token: token });
    if (res.status !== 200)
      throw new AgentHttpError('POST /api/fleet/orbit/device_token', res.status, res.body);
  }

  /**
   * Escrows a BitLocker recovery password: `encryption_key` is a Go []byte, so standard base64 of
   * the text; or reports why BitLocker could not be turned on. The server answers 204.
   */
  async escrowDiskEncryptionKey(key: string | null, clientError = ''): Promise<AgentResponse> {
    return this.call('/api/fleet/orbit/disk_encryption_key', {
      encryption_key: key === null ? null : Buffer.from(key, 'utf8').toString('base64'),
      client_error: clientError,
    });
  }

  /** `HEAD /api/fleet/orbit/ping`: no credentials, refreshes the server's capabilities. */
  async ping(): Promise<number> {
    const res = await this.transport.request(
      'HEAD',
      `${this.baseUrl}/api/fleet/orbit/ping`,
      undefined,
      this.headers(),
    );
    this.noteCapabilities(res);
    return res.status;
  }
}
