import { Agent, request } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/** One answer from the server: status, lower-cased headers and the body as text. */
export interface AgentResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * How a simulated agent reaches the server. Tests use `fetch`; the load generator uses a keep-alive
 * `node:http` agent, which costs the client far less CPU per request than fetch does.
 */
export interface AgentTransport {
  request(
    method: string,
    url: string,
    body?: string,
    headers?: Record<string, string>,
  ): Promise<AgentResponse>;
}

/** A transport over `fetch` (or a stand-in with its signature). */
export function fetchTransport(fetchImpl: typeof fetch = fetch): AgentTransport {
  return {
    async request(method, url, body, headers = {}) {
      const res = await fetchImpl(url, {
        method,
        headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
        body,
      });
      const out: Record<string, string> = {};
      res.headers.forEach((v, k) => (out[k] = v));
      return { status: res.status, headers: out, body: await res.text() };
    },
  };
}

/** A transport over `node:http(s)` with keep-alive connections, at most `maxSockets` at a time. */
export function keepAliveTransport(maxSockets = 64): AgentTransport & { close(): void } {
  const agent = new Agent({ keepAlive: true, maxSockets });
  const tlsAgent = new HttpsAgent({ keepAlive: true, maxSockets });
  return {
    request(method, url, body, headers = {}) {
      const u = new URL(url);
      const send = u.protocol === 'https:' ? httpsRequest : request;
      const h: Record<string, string | number> = { ...headers };
      if (body !== undefined) {
        h['content-type'] ??= 'application/json';
        h['content-length'] = Buffer.byteLength(body);
      }
      return new Promise((resolve, reject) => {
        const req = send(
          u,
          { method, agent: u.protocol === 'https:' ? tlsAgent : agent, headers: h },
          (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => {
              const out: Record<string, string> = {};
              for (const [k, v] of Object.entries(res.headers)) {
                if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
              }
              resolve({ status: res.statusCode ?? 0, headers: out, body: Buffer.concat(chunks).toString() });
            });
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    },
    close() {
      agent.destroy();
      tlsAgent.destroy();
    },
  };
}

/** A non-2xx answer the agent did not expect. */
export class AgentHttpError extends Error {
  constructor(
    readonly endpoint: string,
    readonly status: number,
    readonly body: string,
  ) {
    super(`${endpoint}: server answered HTTP ${status}: ${body.slice(0, 300)}`);
  }
}

/** Parses a JSON body, naming the endpoint when it is not JSON. */
export function jsonBody<T>(endpoint: string, res: AgentResponse): T {
  try {
    return (res.body ? JSON.parse(res.body) : {}) as T;
  } catch {
    throw new AgentHttpError(endpoint, res.status, `not JSON: ${res.body}`);
  }
}
