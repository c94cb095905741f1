import { execFile } from 'node:child_process';
import { randomUUID, X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startNdesStandIn, type NdesStandIn } from '../../src/certificateAuthorities/ndes/standIn.js';
import { toDbTime } from '../../src/db/dialect.js';
import type { VariableHost, VariableValue } from '../../src/mdm/variables/sources.js';
import { api, setupAdmin } from '../helpers/api.js';
import { startScepUpstream, type ScepUpstream } from '../helpers/scepUpstream.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const run = promisify(execFile);
const v1 = '/api/v1/fleet';
const upstreamChallenge = 'proxy-upstream-static-9c2';
const ndesPassword = 'ndes-pw-for-proxy-tests';

let upstream: ScepUpstream;
let ndes: NdesStandIn;
let work: string;
beforeAll(async () => {
  upstream = await startScepUpstream(upstreamChallenge);
  ndes = await startNdesStandIn({
    username: 'svc_ndes',
    password: ndesPassword,
    nextPassword: () => upstreamChallenge,
  });
  work = mkdtempSync(join(tmpdir(), 'scep-proxy-'));
}, 60_000);
afterAll(async () => {
  await upstream?.close();
  await ndes?.close();
  if (work) rmSync(work, { recursive: true, force: true });
});

const host = (n: number): VariableHost => ({
  hostUuid: `HOST-${n}-${randomUUID()}`,
  hostId: n,
  platform: 'darwin',
});
const appleProfile = () => `a${randomUUID()}`;

/**
 * Debian's scepclient asking for a certificate through `url`; resolves to the certificate file. The
 * CN gets a unique suffix: scepserver issues one certificate per subject outside its renewal window.
 */
async function scepclient(url: string, challenge: string, cnPrefix: string): Promise<string> {
  const cn = `${cnPrefix}-${randomUUID().slice(0, 8)}`;
  const dir = join(work, cn);
  mkdirSync(dir);
  const cert = join(dir, 'cert.pem');
  await run(
    'scepclient',
    [
      '-server-url',
      url,
      '-private-key',
      join(dir, 'key.pem'),
      '-certificate',
      cert,
      '-challenge',
      challenge,
      '-cn',
      cn,
    ],
    { timeout: 30_000 },
  );
  if (!existsSync(cert)) throw new Error('scepclient wrote no certificate');
  return cert;
}

/** The proxy's state: what a refused request must leave untouched. */
async function proxyState(srv: TestServer) {
  const { db } = srv.app.services.database;
  return {
    challenges: await db
      .selectFrom('scep_proxy_challenges')
      .selectAll()
      .orderBy('challenge_sha256')
      .execute(),
    managed: await db
      .selectFrom('host_mdm_managed_certificates')
      .selectAll()
      .orderBy('host_uuid')
      .orderBy('profile_uuid')
      .execute(),
  };
}

function value(v: VariableValue | undefined): string {
  if (!v?.ok) throw new Error(`no value: ${JSON.stringify(v)}`);
  return v.value;
}

describeEachDialect(
  'SCEP proxy and certificate variables',
  (server) => {
    let admin: string;
    beforeAll(async () => {
      admin = await setupAdmin(server());
      await server().app.services.appConfig.patch({ server_settings: { server_url: server().url } });
    });

    const resolve = (srv: TestServer, name: string, profileUuid: string, hosts: VariableHost[]) => {
      const source = srv.app.services.certificateAuthorities.variableSources.find((s) => s.handles(name));
      if (!source) throw new Error(`no source for ${name}`);
      return source.resolve(name, profileUuid, hosts);
    };

    async function customCa(srv: TestServer, name: string, url = upstream.url): Promise<number> {
      const res = await api(srv, 'POST', `${v1}/certificate_authorities`, {
        token: admin,
        body: { custom_scep_proxy: { name, url, challenge: upstreamChallenge } },
      });
      expect(res.status).toBe(200);
      return res.body.id;
    }

    it('issues a certificate to scepclient through a custom SCEP proxy URL, once, and records it', async () => {
      const srv = server();
      await customCa(srv, 'PROXY_WIFI');
      const profile = appleProfile();
      const [a, b] = [host(1), host(2)];
      const urls = await resolve(srv, 'CUSTOM_SCEP_PROXY_URL_PROXY_WIFI', profile, [a, b]);
      const challenges = await resolve(srv, 'CUSTOM_SCEP_CHALLENGE_PROXY_WIFI', profile, [a, b]);
      expect(value(challenges.get(a.hostUuid))).toBe(upstreamChallenge);
      const urlA = value(urls.get(a.hostUuid));
      expect(urlA).not.toBe(value(urls.get(b.hostUuid)));
      // `<server>/mdm/scep/proxy/<host>%2C<profile>%2CPROXY_WIFI%2C<challenge>`
      expect(urlA).toMatch(
        new RegExp(`^${srv.url}/mdm/scep/proxy/${a.hostUuid}%2C${profile}%2CPROXY_WIFI%2C[A-Za-z0-9_-]{32}$`),
      );
      const { db } = srv.app.services.database;
      const challengeOfA = decodeURIComponent(urlA).split(',')[3];
      const stored = await db
        .selectFrom('scep_proxy_challenges')
        .selectAll()
        .where('host_uuid', '=', a.hostUuid)
        .execute();
      expect(stored).toHaveLength(1);
      expect(stored[0].challenge_sha256).not.toContain(challengeOfA);

      const certFile = await scepclient(urlA, upstreamChallenge, 'proxied-device-a');
      const verified = await run('openssl', ['verify', '-CAfile', upstream.caFile, certFile]);
      expect(verified.stdout).toContain('OK');
      const cert = new X509Certificate(readFileSync(certFile));
      expect(cert.subject).toContain('CN=proxied-device-a');

      const managed = await srv.app.services.certificateAuthorities.proxyStore.managedCertificate({
        hostUuid: a.hostUuid,
        profileUuid: profile,
        caName: 'PROXY_WIFI',
      });
      expect(managed).toMatchObject({
        type: 'custom_scep_proxy',
        serial: cert.serialNumber.toLowerCase(),
        not_valid_before: toDbTime(new Date(cert.validFrom)),
        not_valid_after: toDbTime(new Date(cert.validTo)),
      });
      expect(
        await db
          .selectFrom('scep_proxy_challenges')
          .select('host_uuid')
          .where('host_uuid', '=', a.hostUuid)
          .execute(),
      ).toEqual([]);

      // The same URL again (a replay): refused before the upstream is asked, nothing changes.
      const before = await proxyState(srv);
      await expect(scepclient(urlA, upstreamChallenge, 'replayed')).rejects.toThrow();
      const replay = await fetch(`${urlA}?operation=PKIOperation`, { method: 'POST', body: 'x' });
      expect(replay.status).toBe(400);
      expect(await replay.text()).toBe('custom scep challenge failed\n');
      expect(await proxyState(srv)).toEqual(before);
    }, 90_000);

    it("refuses a wrong challenge, another host's challenge and unknown identifiers, changing nothing", async () => {
      const srv = server();
      await customCa(srv, 'PROXY_REFUSE');
      const profile = appleProfile();
      const [a, b] = [host(3), host(4)];
      const urls = await resolve(srv, 'CUSTOM_SCEP_PROXY_URL_PROXY_REFUSE', profile, [a, b]);
      const urlA = value(urls.get(a.hostUuid));
      const challengeOfB = decodeURIComponent(value(urls.get(b.hostUuid))).split(',')[3];
      const base = `${srv.url}/mdm/scep/proxy/`;
      const id = (...parts: string[]) => base + encodeURIComponent(parts.join(','));
      const before = await proxyState(srv);

      const cases: [string, string, number, string][] = [
        [
          id(a.hostUuid, profile, 'PROXY_REFUSE', 'not-the-challenge'),
          'PKIOperation',
          400,
          'custom scep challenge failed',
        ],
        [
          id(a.hostUuid, profile, 'PROXY_REFUSE', challengeOfB),
          'PKIOperation',
          400,
          'custom scep challenge failed',
        ],
        [id(a.hostUuid, profile, 'PROXY_REFUSE'), 'PKIOperation', 400, 'custom scep challenge failed'],
        [id(a.hostUuid, profile, 'NO_SUCH_CA', 'x'), 'GetCACaps', 400, 'unknown identifier in URL path'],
        [
          id('UNKNOWN-HOST', profile, 'PROXY_REFUSE', 'x'),
          'GetCACert',
          400,
          'unknown identifier in URL path',
        ],
        [id(a.hostUuid), 'GetCACaps', 400, 'invalid identifier in URL path'],
        [
          id(a.hostUuid, 'd123', 'PROXY_REFUSE', 'x'),
          'GetCACaps',
          400,
          'invalid profile UUID (only Apple and Windows config profiles are supported): d123',
        ],
        [urlA, '', 400, 'missing operation'],
        [urlA, 'GetNextCACert', 400, 'operation not implemented'],
      ];
      for (const [url, op, status, text] of cases) {
        const res = await fetch(op ? `${url}?operation=${op}` : url, {
          method: op === 'PKIOperation' ? 'POST' : 'GET',
          body: op === 'PKIOperation' ? 'pki-bytes' : undefined,
        });
        expect([url, op, res.status, await res.text()]).toEqual([url, op, status, `${text}\n`]);
      }
      const noMessage = await fetch(`${urlA}?operation=PKIOperation`);
      expect([noMessage.status, await noMessage.text()]).toEqual([400, 'missing PKIOperation message\n']);
      expect(await proxyState(srv)).toEqual(before);

      // scepclient with a forged challenge gets no certificate either.
      await expect(
        scepclient(id(a.hostUuid, profile, 'PROXY_REFUSE', 'forged'), upstreamChallenge, 'forged'),
      ).rejects.toThrow();
      expect(await proxyState(srv)).toEqual(before);

      // GetCACaps and GetCACert pass through for a known identifier without using the challenge.
      const caps = await fetch(`${urlA}?operation=GetCACaps`);
      expect(caps.status).toBe(200);
      expect((await caps.text()).split('\n')).toContain('POSTPKIOperation');
      const caCert = await fetch(`${urlA}?operation=GetCACert`);
      expect(caCert.headers.get('content-type')).toBe('application/x-x509-ca-cert');
      expect(new X509Certificate(Buffer.from(await caCert.arrayBuffer())).raw).toEqual(
        new X509Certificate(upstream.caPem).raw,
      );
      expect(await proxyState(srv)).toEqual(before);
    }, 60_000);

    it("fails the variables with Fleet's text once the CA is deleted, and the proxy refuses its URLs", async () => {
      const srv = server();
      const id = await customCa(srv, 'PROXY_GONE');
      const profile = appleProfile();
      const h = host(5);
      const url = value(
        (await resolve(srv, 'CUSTOM_SCEP_PROXY_URL_PROXY_GONE', profile, [h])).get(h.hostUuid),
      );
      const del = await api(srv, 'DELETE', `${v1}/certificate_authorities/${id}`, { token: admin });
      expect(del.status).toBe(204);

      const before = await proxyState(srv);
      for (const name of ['CUSTOM_SCEP_PROXY_URL_PROXY_GONE', 'CUSTOM_SCEP_CHALLENGE_PROXY_GONE']) {
        const values = await resolve(srv, name, profile, [h]);
        expect(values.get(h.hostUuid)).toEqual({
          ok: false,
          detail: `Fleet couldn't populate $${name} because PROXY_GONE certificate authority doesn't exist.`,
        });
      }
      const res = await fetch(`${url}?operation=PKIOperation`, { method: 'POST', body: 'x' });
      expect([res.status, await res.text()]).toEqual([400, 'SCEP proxy is not configured\n']);
      expect(await proxyState(srv)).toEqual(before);
    });

    it("answers 500 with Fleet's text when the upstream SCEP server is unreachable", async () => {
      const srv = server();
      const other = await startScepUpstream('other-upstream');
      await customCa(srv, 'PROXY_DOWN', other.url);
      await other.close();
      const profile = appleProfile();
      const h = host(6);
      const url = value(
        (await resolve(srv, 'CUSTOM_SCEP_PROXY_URL_PROXY_DOWN', profile, [h])).get(h.hostUuid),
      );
      const caps = await fetch(`${url}?operation=GetCACaps`);
      expect([caps.status, await caps.text()]).toEqual([500, 'Could not GetCACaps from SCEP server\n']);
      const pki = await fetch(`${url}?operation=PKIOperation`, { method: 'POST', body: 'x' });
      expect([pki.status, await pki.text()]).toEqual([500, 'Could not do PKIOperation on SCEP server\n']);
    }, 60_000);

    it('expands a whole profile through the expander: URL escaped for XML, renewal ID, per-host values', async () => {
      const srv = server();
      await customCa(srv, 'PROXY_PLIST');
      const profile = appleProfile();
      const [a, b] = [host(7), host(8)];
      const text = [
        '<dict><key>URL</key><string>$FLEET_VAR_CUSTOM_SCEP_PROXY_URL_PROXY_PLIST</string>',
        '<key>Challenge</key><string>${FLEET_VAR_CUSTOM_SCEP_CHALLENGE_PROXY_PLIST}</string>',
        '<key>CN</key><string>$FLEET_VAR_SCEP_RENEWAL_ID</string></dict>',
      ].join('');
      const out = await srv.app.services.profileExpander.expandForHosts(profile, text, [a, b], 'xml');
      const ea = out.get(a.hostUuid);
      const eb = out.get(b.hostUuid);
      if (!ea?.ok || !eb?.ok) throw new Error(JSON.stringify([ea, eb]));
      expect(ea.text).toContain(`<string>${upstreamChallenge}</string>`);
      expect(ea.text).toContain(`<string>fleet-${profile}</string>`);
      expect(ea.text).toMatch(
        new RegExp(`<string>${srv.url}/mdm/scep/proxy/${a.hostUuid}%2C${profile}%2CPROXY_PLIST%2C`),
      );
      expect(ea.text).not.toBe(eb.text);
      expect(ea.text).not.toContain('$FLEET_VAR_');
    });

    it('NDES: a fresh challenge per host from the admin page, a proxy URL, scepclient gets a certificate', async () => {
      const srv = server();
      const created = await api(srv, 'POST', `${v1}/certificate_authorities`, {
        token: admin,
        body: {
          ndes_scep_proxy: {
            url: upstream.url,
            admin_url: ndes.adminUrl,
            username: 'svc_ndes',
            password: ndesPassword,
          },
        },
      });
      expect(created.status).toBe(200);
      try {
        const profile = appleProfile();
        const [a, b] = [host(9), host(10)];
        const issuedBefore = ndes.issued.length;
        const challenges = await resolve(srv, 'NDES_SCEP_CHALLENGE', profile, [a, b]);
        expect(ndes.issued.length).toBe(issuedBefore + 2);
        const urls = await resolve(srv, 'NDES_SCEP_PROXY_URL', profile, [a, b]);
        const urlA = value(urls.get(a.hostUuid));
        expect(urlA).toBe(`${srv.url}/mdm/scep/proxy/${a.hostUuid}%2C${profile}%2CNDES`);
        const managed = await srv.app.services.certificateAuthorities.proxyStore.managedCertificate({
          hostUuid: a.hostUuid,
          profileUuid: profile,
          caName: 'NDES',
        });
        expect(managed?.type).toBe('ndes');
        expect(managed?.challenge_retrieved_at).not.toBeNull();

        const certFile = await scepclient(urlA, value(challenges.get(a.hostUuid)), 'ndes-device-a');
        expect((await run('openssl', ['verify', '-CAfile', upstream.caFile, certFile])).stdout).toContain(
          'OK',
        );

        // Fleet treats an NDES challenge older than 57 minutes as expired.
        const { db } = srv.app.services.database;
        await db
          .updateTable('host_mdm_managed_certificates')
          .set({ challenge_retrieved_at: toDbTime(new Date(Date.now() - 58 * 60_000)) })
          .where('host_uuid', '=', b.hostUuid)
          .execute();
        const before = await proxyState(srv);
        const urlB = value(urls.get(b.hostUuid));
        const expired = await fetch(`${urlB}?operation=PKIOperation`, { method: 'POST', body: 'x' });
        expect([expired.status, await expired.text()]).toEqual([400, 'challenge password has expired\n']);
        expect(await proxyState(srv)).toEqual(before);

        // Credentials NDES rejects: every host fails with Fleet's text.
        await api(srv, 'PATCH', `${v1}/certificate_authorities/${created.body.id}`, {
          token: admin,
          body: { ndes_scep_proxy: { password: 'changed-but-wrong' } },
        });
        const failed = await resolve(srv, 'NDES_SCEP_CHALLENGE', profile, [a]);
        expect(failed.get(a.hostUuid)).toEqual({
          ok: false,
          detail:
            "Invalid NDES admin credentials. Fleet couldn't populate $FLEET_VAR_NDES_SCEP_CHALLENGE. Please update credentials in Settings > Integrations > Mobile Device Management > Simple Certificate Enrollment Protocol.",
        });
      } finally {
        await api(srv, 'DELETE', `${v1}/certificate_authorities/${created.body.id}`, { token: admin });
      }
      const h = host(11);
      for (const name of ['NDES_SCEP_CHALLENGE', 'NDES_SCEP_PROXY_URL']) {
        expect((await resolve(srv, name, appleProfile(), [h])).get(h.hostUuid)).toEqual({
          ok: false,
          detail:
            'NDES SCEP Proxy is not configured. Please configure in Settings > Integrations > Certificates.',
        });
      }
    }, 90_000);

    it('keeps proxy challenges out of the request log', async () => {
      const srv = server();
      await customCa(srv, 'PROXY_LOG');
      const profile = appleProfile();
      const h = host(12);
      const url = value(
        (await resolve(srv, 'CUSTOM_SCEP_PROXY_URL_PROXY_LOG', profile, [h])).get(h.hostUuid),
      );
      const challenge = decodeURIComponent(url).split(',')[3];
      await fetch(`${url}?operation=GetCACaps`);
      await fetch(`${url}?operation=PKIOperation`, { method: 'POST', body: 'x' });
      const logs = JSON.stringify(srv.logLines);
      expect(logs).toContain('/mdm/scep/proxy/:identifier');
      expect(logs).not.toContain(challenge);
    });
  },
  { logLevel: 'info', scepProxyTimeoutSeconds: 5 },
);
