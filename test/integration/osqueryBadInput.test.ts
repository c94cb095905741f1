import { randomUUID } from 'node:crypto';
import { beforeAll, expect, it } from 'vitest';
import { api } from '../helpers/api.js';
import { enrollAgent, enrollBody, osquery } from '../helpers/osqueryAgent.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const secret = 'osquery-bad-input-secret-value';
const bodyLimit = 64 * 1024;

/** Every row an osquery request could change, to show a refused one changed nothing. */
async function snapshot(srv: TestServer): Promise<string> {
  await srv.app.services.osquery.flush();
  const { db } = srv.app.services.database;
  const out: Record<string, unknown> = {};
  for (const t of ['hosts', 'host_mdm', 'label_membership', 'teams'] as const)
    out[t] = await db.selectFrom(t).selectAll().execute();
  return JSON.stringify(out);
}

const badRequest = { message: 'Bad request', errors: [{ name: 'base', reason: 'json decoder error' }] };

describeEachDialect(
  'osquery endpoints refuse bad input',
  (server) => {
    let agent: { nodeKey: string; hostId: number; uuid: string };

    beforeAll(async () => {
      const srv = server();
      await srv.app.services.enrollSecrets.replace(null, null, [secret]);
      agent = await enrollAgent(srv, secret);
    });

    /** Sends raw bytes; asserts status and body, no state change, one log line, and no secret logged. */
    async function refused(
      path: string,
      raw: string | Buffer,
      status: number,
      body: Record<string, unknown>,
      reason: RegExp,
    ) {
      const srv = server();
      const before = await snapshot(srv);
      const reqId = randomUUID();
      const res = await fetch(`${srv.url}/api/osquery/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': reqId },
        body: typeof raw === 'string' ? raw : new Uint8Array(raw),
      });
      expect(res.status).toBe(status);
      expect(await res.json()).toEqual({ ...body, uuid: expect.any(String) });
      expect(await snapshot(srv)).toBe(before);
      const lines = srv.logLines!.filter((l) => l.reqId === reqId);
      const rejected = lines.filter((l) => l.msg === 'osquery request rejected');
      expect(rejected).toHaveLength(1);
      expect(String(rejected[0].reason)).toMatch(reason);
      const text = JSON.stringify(lines);
      for (const s of [secret, agent.nodeKey, 'wrong-enroll-secret-value', 'unknownNodeKey0123456789'])
        expect(text).not.toContain(s);
    }

    it('a missing node key: 401 node_invalid on every authenticated endpoint', async () => {
      const missing = { error: 'authentication error: missing node key', node_invalid: true };
      for (const path of ['config', 'distributed/read', 'distributed/write'])
        await refused(path, '{}', 401, missing, /missing node key/);
      await refused('log', '{"log_type":"status","data":[]}', 401, missing, /missing node key/);
      await refused('config', '{"node_key":""}', 401, missing, /missing node key/);
    });

    it('an unknown node key: 401 node_invalid, the key echoed to the agent only', async () => {
      const key = 'unknownNodeKey0123456789';
      const answer = { error: `authentication error: invalid node key: ${key}`, node_invalid: true };
      await refused('distributed/read', JSON.stringify({ node_key: key }), 401, answer, /^invalid node key$/);
      await refused(
        'distributed/write',
        JSON.stringify({
          node_key: key,
          queries: { fleet_detail_query_os_version: [{ name: 'x' }] },
          statuses: {},
        }),
        401,
        answer,
        /^invalid node key$/,
      );
    });

    it('a wrong enroll secret: Fleet answer, nothing created', async () => {
      await refused(
        'enroll',
        JSON.stringify(enrollBody('wrong-enroll-secret-value')),
        401,
        {
          error: 'enroll failed: no matching secret found: EnrollSecret was not found in the datastore',
          node_invalid: true,
        },
        /invalid enroll secret/,
      );
      await refused(
        'enroll',
        JSON.stringify({ ...enrollBody(''), enroll_secret: '' }),
        401,
        {
          error: 'enroll failed: no matching secret found: EnrollSecret was not found in the datastore',
          node_invalid: true,
        },
        /invalid enroll secret/,
      );
    });

    it('malformed JSON and empty bodies: 400 with Fleet bad-request body', async () => {
      await refused(
        'distributed/write',
        `{"node_key":"${agent.nodeKey}","queries":{`,
        400,
        badRequest,
        /FST_ERR_CTP_INVALID_JSON_BODY|JSON/,
      );
      await refused('distributed/read', '', 400, badRequest, /FST_ERR_CTP_EMPTY_JSON_BODY/);
      await refused('config', 'null', 400, badRequest, /invalid_type/);
      await refused('enroll', `{"enroll_secret":"${secret}",`, 400, badRequest, /JSON/);
    });

    it('wrong types: rows that are not lists of string maps, statuses that are not numbers', async () => {
      const write = (extra: Record<string, unknown>) =>
        JSON.stringify({ node_key: agent.nodeKey, queries: {}, statuses: {}, ...extra });
      await refused(
        'distributed/write',
        write({
          queries: { fleet_detail_query_system_info: [{ hostname: 'x', physical_memory: 17179869184 }] },
        }),
        400,
        badRequest,
        /queries\.fleet_detail_query_system_info: invalid_union/,
      );
      await refused(
        'distributed/write',
        write({ queries: { fleet_label_query_1: 'rows' } }),
        400,
        badRequest,
        /queries/,
      );
      await refused('distributed/write', write({ queries: [] }), 400, badRequest, /queries/);
      await refused(
        'distributed/write',
        write({ queries: { fleet_label_query_1: [] }, statuses: { fleet_label_query_1: 'failed' } }),
        400,
        badRequest,
        /statuses/,
      );
      await refused('distributed/read', JSON.stringify({ node_key: 12345 }), 400, badRequest, /node_key/);
      await refused(
        'log',
        JSON.stringify({ node_key: agent.nodeKey, log_type: 'snapshot', data: [] }),
        400,
        badRequest,
        /log_type/,
      );
      const details = enrollBody(secret);
      (details.host_details.system_info as Record<string, unknown>).physical_memory = 1;
      await refused('enroll', JSON.stringify(details), 400, badRequest, /host_details\.system_info/);
    });

    it('prototype-poisoning keys are refused before anything reads them', async () => {
      await refused(
        'distributed/write',
        `{"node_key":"${agent.nodeKey}","queries":{"__proto__":{"polluted":true}},"statuses":{}}`,
        400,
        badRequest,
        /FST_ERR|proto/i,
      );
    });

    it('a body over the osquery limit: 413, nothing stored', async () => {
      const rows = Array.from({ length: 2000 }, (_, i) => ({ name: `row-${i}`, value: 'x'.repeat(40) }));
      await refused(
        'distributed/write',
        JSON.stringify({
          node_key: agent.nodeKey,
          queries: { fleet_detail_query_osquery_flags: rows },
          statuses: {},
        }),
        413,
        {
          message: 'Request Entity Too Large',
          errors: [{ name: 'base', reason: `request body exceeds the max size limit of ${bodyLimit} bytes` }],
        },
        /exceeds the max size/,
      );
    });

    it('the accepted requests answer Fleet shapes: write and log {}; logs may be twice the size', async () => {
      const srv = server();
      const write = await osquery(srv, 'distributed/write', {
        node_key: agent.nodeKey,
        queries: {},
        statuses: {},
      });
      expect([write.status, write.body]).toEqual([200, {}]);
      const data = Array.from({ length: 1200 }, (_, i) => ({
        name: `q${i}`,
        columns: { x: 'y'.repeat(60) },
      }));
      const log = await osquery(srv, 'log', { node_key: agent.nodeKey, log_type: 'result', data });
      expect(JSON.stringify(data).length).toBeGreaterThan(bodyLimit);
      expect([log.status, log.body]).toEqual([200, {}]);
    });

    it('every endpoint also answers under /api/v1/osquery, the paths fleetd gives osquery', async () => {
      const srv = server();
      const v1 = (path: string, body: unknown) => api(srv, 'POST', `/api/v1/osquery/${path}`, { body });
      expect((await v1('enroll', enrollBody(secret))).body.node_key).toHaveLength(24);
      expect((await v1('config', { node_key: agent.nodeKey })).status).toBe(200);
      expect((await v1('distributed/read', { node_key: agent.nodeKey })).body).toHaveProperty('queries');
      expect((await v1('distributed/write', { node_key: agent.nodeKey, queries: {} })).body).toEqual({});
      expect((await v1('log', { node_key: agent.nodeKey, log_type: 'status', data: [] })).body).toEqual({});
      expect((await v1('config', { node_key: 'nope' })).body.node_invalid).toBe(true);
    });
  },
  { logLevel: 'info', osqueryMaxBodyBytes: bodyLimit },
);

describeEachDialect(
  'osquery enroll is rate-limited per address',
  (server) => {
    it('past the limit: 429 with Retry-After, the secret is not even checked', async () => {
      const srv = server();
      await srv.app.services.enrollSecrets.replace(null, null, [secret]);
      for (let i = 0; i < 2; i++) expect((await osquery(srv, 'enroll', enrollBody(secret))).status).toBe(200);
      const res = await osquery(srv, 'enroll', enrollBody(secret));
      expect(res.status).toBe(429);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(res.body.message).toMatch(/^limit exceeded, retry after: \d+s$/);
    });
  },
  { enrollRequestsPerAddress: 2 },
);
