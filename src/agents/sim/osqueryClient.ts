import type { OsqueryRow } from './machine.js';
import { AgentHttpError, jsonBody, type AgentResponse, type AgentTransport } from './transport.js';

export interface DistributedReadResponse {
  queries?: Record<string, string>;
  discovery?: Record<string, string>;
  accelerate?: number;
}

/** Fleet's SubmitDistributedQueryResultsRequest. */
export interface DistributedWriteRequest {
  queries: Record<string, OsqueryRow[]>;
  statuses: Record<string, number>;
  messages: Record<string, string>;
  stats: Record<string, { wall_time_ms: number; user_time: number; system_time: number; memory: number }>;
}

/**
 * osquery's TLS plugins against `/api/osquery/*`: enroll with the secret, then the node key in every
 * JSON body. A 401 (`node_invalid`) makes osquery enroll again; this client then retries once.
 */
export class OsqueryClient {
  nodeKey?: string;
  enrollments = 0;

  constructor(
    private readonly baseUrl: string,
    private readonly transport: AgentTransport,
    private readonly enrollRequest: () => Record<string, unknown>,
  ) {}

  async enroll(): Promise<string> {
    const endpoint = 'POST /api/osquery/enroll';
    const res = await this.transport.request(
      'POST',
      `${this.baseUrl}/api/osquery/enroll`,
      JSON.stringify(this.enrollRequest()),
    );
    const body = jsonBody<{ node_key?: string; node_invalid?: boolean }>(endpoint, res);
    if (res.status !== 200 || !body.node_key) throw new AgentHttpError(endpoint, res.status, res.body);
    this.nodeKey = body.node_key;
    this.enrollments++;
    return body.node_key;
  }

  /** POSTs `{node_key, ...fields}`; re-enrolls and retries once on 401. */
  private async call(path: string, fields: Record<string, unknown> = {}): Promise<AgentResponse> {
    if (!this.nodeKey) await this.enroll();
    for (let attempt = 0; ; attempt++) {
      const res = await this.transport.request(
        'POST',
        `${this.baseUrl}${path}`,
        JSON.stringify({ node_key: this.nodeKey, ...fields }),
      );
      if (res.status === 401 && attempt === 0) {
        await this.enroll();
        continue;
      }
      if (res.status !== 200) throw new AgentHttpError(`POST ${path}`, res.status, res.body);
      return res;
    }
  }

  async config(): Promise<Record<string, unknown>> {
    return jsonBody('POST /api/osquery/config', await this.call('/api/osquery/config'));
  }

  async read(): Promise<DistributedReadResponse> {
    return jsonBody('POST /api/osquery/distributed/read', await this.call('/api/osquery/distributed/read'));
  }

  async write(results: DistributedWriteRequest): Promise<void> {
    await this.call('/api/osquery/distributed/write', { ...results });
  }
}
