import { generateKeyPairSync } from 'node:crypto';
import { beforeAll, expect, it, vi } from 'vitest';
import { certsCommand } from '../../src/certs/cli.js';
import { selfSignedCertificate } from '../../src/crypto/issue.js';
import { SimulatedWindowsDevice } from '../../src/windows/sim/device.js';
import { child, parseXml, textAt } from '../../src/windows/xml.js';
import { api, setupAdmin } from '../helpers/api.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';
import { enableWindowsMdm } from '../helpers/windowsDevice.js';

const header = 'x-ssl-client-cert';
const enrollSecret = 'forwarded-cert-secret';

/** Everything a management message could change, for one enrollment. */
async function snapshot(srv: TestServer, deviceId: string) {
  const { db } = srv.app.services.database;
  const enrollment = await db
    .selectFrom('mdm_windows_enrollments')
    .selectAll()
    .where('mdm_device_id', '=', deviceId)
    .executeTakeFirstOrThrow();
  return {
    enrollment,
    queue: await db
      .selectFrom('windows_mdm_command_queue')
      .selectAll()
      .where('enrollment_id', '=', enrollment.id)
      .execute(),
    results: await db
      .selectFrom('windows_mdm_command_results')
      .selectAll()
      .where('enrollment_id', '=', enrollment.id)
      .execute(),
    responses: await db
      .selectFrom('windows_mdm_responses')
      .selectAll()
      .where('enrollment_id', '=', enrollment.id)
      .execute(),
  };
}

/** Posts a raw management message with a forwarded certificate header; returns status and SOAP fault. */
async function postManagement(srv: TestServer, body: string, forwarded: string) {
  const res = await fetch(`${srv.url}/api/mdm/microsoft/management`, {
    method: 'POST',
    headers: { 'content-type': 'application/vnd.syncml.dm+xml', [header]: forwarded },
    body,
  });
  const text = await res.text();
  const fault = child(child(parseXml(text), 'Body'), 'fault');
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    subcode: textAt(fault, 'code', 'subcode', 'value'),
    reason: textAt(fault, 'reason', 'text'),
  };
}

const base64Body = (pem: string) => pem.replace(/-----[^-]+-----|\s+/g, '');

describeEachDialect(
  'Windows management endpoint: client certificate forwarded by a TLS terminator',
  (server) => {
    let srv: TestServer;
    let admin = '';
    let a: SimulatedWindowsDevice;
    let b: SimulatedWindowsDevice;

    beforeAll(async () => {
      srv = server();
      admin = await setupAdmin(srv);
      await enableWindowsMdm(srv, enrollSecret);
      a = new SimulatedWindowsDevice({
        serverUrl: srv.url,
        enrollSecret,
        keyBits: 1024,
        clientCertHeader: header,
      });
      b = new SimulatedWindowsDevice({ serverUrl: srv.url, enrollSecret, keyBits: 1024 });
      for (const d of [a, b]) {
        await d.orbitEnroll();
        await d.enrollProgrammatically();
      }
    });

    it('accepts the certificate issued to the enrollment instead of the digest, and runs commands', async () => {
      const first = await a.runSession();
      expect(first.challenged).toBe(false);
      const run = await api(srv, 'POST', '/api/v1/fleet/commands/run', {
        token: admin,
        body: {
          command: Buffer.from(
            '<Exec><Item><Target><LocURI>./Device/Vendor/MSFT/Reboot/RebootNow</LocURI></Target></Item></Exec>',
          ).toString('base64'),
          host_uuids: [a.hardwareUuid],
        },
      });
      expect(run.status).toBe(200);
      const second = await a.runSession();
      expect(second).toEqual({ messages: 2, commandsExecuted: 1, challenged: false });
      expect(a.execs.map((e) => e.locUri)).toEqual(['./Device/Vendor/MSFT/Reboot/RebootNow']);
      // No nonce was issued or consumed: the certificate authenticated every message.
      const s = await snapshot(srv, a.deviceId);
      expect(s.enrollment.auth_nonce).toBeNull();
      expect(s.results.map((r) => r.status_code)).toEqual(['200']);
    });

    it('keeps the digest for messages that come without the header', async () => {
      const summary = await b.runSession();
      expect(summary.challenged).toBe(true);
      expect(summary.messages).toBeGreaterThanOrEqual(2);
    });

    it('refuses a wrong or foreign certificate with a SOAP fault, storing nothing and logging no certificate', async () => {
      const own = a.sent[a.sent.length - 1];
      const before = await snapshot(srv, a.deviceId);
      const other = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
      const stranger = selfSignedCertificate({ privateKey: other, subject: { CN: a.hwDevId } }).certPem;
      const cases: [string, string][] = [
        // Another PC's certificate, issued by our CA: not this enrollment's.
        [
          encodeURIComponent(b.certificate?.toString() ?? ''),
          'certificate was not issued to this enrollment',
        ],
        [encodeURIComponent(stranger), 'certificate was not issued by the WSTEP CA'],
        ['not a certificate', 'client certificate header holds no certificate'],
        ['%E0%A4%A', 'client certificate header is not URL-escaped PEM'],
      ];
      for (const [value, reason] of cases) {
        expect(await postManagement(srv, own, value), reason).toEqual({
          status: 200,
          contentType: 'application/soap+xml; charset=utf-8',
          subcode: 's:messageformat',
          reason: `client certificate refused: ${reason}`,
        });
      }
      expect(await snapshot(srv, a.deviceId)).toEqual(before);
      const logged = JSON.stringify(srv.logLines);
      expect(logged).toContain('client certificate refused');
      for (const pem of [b.certificate?.toString() ?? '', stranger])
        expect(logged).not.toContain(base64Body(pem).slice(0, 64));
    });

    it('refuses the enrollment’s own certificate once it is revoked', async () => {
      const { db } = srv.app.services.database;
      const own = a.sent[a.sent.length - 1];
      const before = await snapshot(srv, a.deviceId);
      await db
        .updateTable('wstep_certificates')
        .set({ revoked: 1 })
        .where('enrollment_id', '=', before.enrollment.id)
        .execute();
      expect(
        (await postManagement(srv, own, encodeURIComponent(a.certificate?.toString() ?? ''))).reason,
      ).toBe('client certificate refused: certificate was not issued to this enrollment');
      expect(await snapshot(srv, a.deviceId)).toEqual(before);
      await db
        .updateTable('wstep_certificates')
        .set({ revoked: 0 })
        .where('enrollment_id', '=', before.enrollment.id)
        .execute();
      expect((await a.runSession()).challenged).toBe(false);
    });

    it('still accepts a certificate from a WSTEP CA retired by a rotation', async () => {
      const code = await certsCommand(srv.config, ['rotate-ca', 'windows'], { write: () => {} });
      expect(code).toBe(0);
      // Running servers re-read the CA assets once a minute: move the clock past that (Date only).
      vi.useFakeTimers({ toFake: ['Date'], now: Date.now() + 61_000 });
      try {
        expect((await a.runSession()).challenged).toBe(false);
      } finally {
        vi.useRealTimers();
      }
    });
  },
  { windowsClientCertHeader: header, logLevel: 'info' },
);
