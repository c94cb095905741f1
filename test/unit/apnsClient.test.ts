import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Http2ApnsClient, resolveApnsBaseUrl } from '../../src/clients/apns/client.js';
import { FakeApnsServer } from '../../src/clients/apns/fakeServer.js';
import { issuePushCertificate } from '../../src/clients/apns/testCertificates.js';
import { createCertificateAuthority } from '../../src/crypto/certificateAuthority.js';

const topic = 'com.apple.mgmt.External.11111111-2222-3333-4444-555555555555';
const goodToken = 'aa'.repeat(32);
const badToken = 'bb'.repeat(32);
const goneToken = 'cc'.repeat(32);

describe('APNs HTTP/2 client against the local stand-in', () => {
  const pushCa = createCertificateAuthority('Test push CA');
  const cert = issuePushCertificate({ ca: pushCa, topic });
  let fake: FakeApnsServer;
  let client: Http2ApnsClient;

  beforeAll(async () => {
    fake = await FakeApnsServer.start({ trustedClientCaPem: pushCa.certPem });
    fake.markBadToken(badToken);
    fake.markUnregistered(goneToken, new Date('2024-01-02T03:04:05Z'));
    client = new Http2ApnsClient({ baseUrl: fake.url, caPem: fake.caPem, maxConcurrentStreams: 4 });
  });
  afterAll(async () => {
    await client.close();
    await fake.close();
  });

  it('resolves production, sandbox and custom base URLs', () => {
    expect(resolveApnsBaseUrl('production')).toBe('https://api.push.apple.com');
    expect(resolveApnsBaseUrl('sandbox')).toBe('https://api.sandbox.push.apple.com');
    expect(resolveApnsBaseUrl('https://127.0.0.1:9/')).toBe('https://127.0.0.1:9');
  });

  it('delivers an MDM push with the headers and body Apple expects', async () => {
    const woke: string[] = [];
    const off = fake.onPush(goodToken, (p) => woke.push(p.pushMagic ?? ''));
    const [res] = await client.push(cert, [
      { tokenHex: goodToken.toUpperCase(), pushMagic: 'magic-1', topic },
    ]);
    off();
    expect(res).toMatchObject({ ok: true, status: 200 });
    expect(res.apnsId).toMatch(/^[0-9A-F-]{36}$/);
    const push = fake.pushesTo(goodToken).at(-1)!;
    expect(push).toMatchObject({
      topic,
      pushType: 'mdm',
      priority: '10',
      clientCertTopic: topic,
      status: 200,
    });
    expect(JSON.parse(push.body)).toEqual({ mdm: 'magic-1' });
    expect(woke).toEqual(['magic-1']);
  });

  it('reports BadDeviceToken and Unregistered with their timestamp', async () => {
    const res = await client.push(cert, [
      { tokenHex: badToken, pushMagic: 'm', topic },
      { tokenHex: goneToken, pushMagic: 'm', topic },
      { tokenHex: 'not-hex', pushMagic: 'm', topic },
    ]);
    expect(res[0]).toMatchObject({ ok: false, status: 400, reason: 'BadDeviceToken' });
    expect(res[1]).toMatchObject({
      ok: false,
      status: 410,
      reason: 'Unregistered',
      timestamp: Date.parse('2024-01-02T03:04:05Z'),
    });
    expect(res[2]).toMatchObject({ ok: false, reason: 'BadDeviceToken' });
    expect(res[2].status).toBeUndefined();
  });

  it('is refused when the topic does not match the certificate', async () => {
    const [res] = await client.push(cert, [
      { tokenHex: goodToken, pushMagic: 'm', topic: 'com.apple.mgmt.External.other' },
    ]);
    expect(res).toMatchObject({ ok: false, status: 400, reason: 'TopicDisallowed' });
  });

  it('is refused at the TLS layer without a trusted client certificate', async () => {
    const otherCa = createCertificateAuthority('Untrusted CA');
    const stranger = issuePushCertificate({ ca: otherCa, topic });
    const before = fake.pushes.length;
    const [res] = await client.push(stranger, [{ tokenHex: goodToken, pushMagic: 'm', topic }]);
    expect(res.ok).toBe(false);
    expect(res.status).toBeUndefined();
    expect(fake.pushes.length).toBe(before);
    // The session for the good certificate comes back afterwards.
    const [again] = await client.push(cert, [{ tokenHex: goodToken, pushMagic: 'm', topic }]);
    expect(again.ok).toBe(true);
  });

  it('refuses a connection that presents no client certificate at all', async () => {
    const before = fake.pushes.length;
    const outcome = await new Promise<string>((resolve) => {
      const s = http2.connect(fake.url, { ca: fake.caPem });
      s.on('error', (e) => resolve(`error: ${e.message}`));
      const req = s.request({
        ':method': 'POST',
        ':path': `/3/device/${goodToken}`,
        'apns-topic': topic,
        'apns-push-type': 'mdm',
      });
      req.on('response', (h) => resolve(`status ${String(h[':status'])}`));
      req.on('error', (e) => resolve(`error: ${e.message}`));
      req.end(JSON.stringify({ mdm: 'm' }));
    });
    expect(outcome).toMatch(/^error/);
    expect(fake.pushes.length).toBe(before);
  });

  it('keeps at most maxConcurrentStreams pushes in flight', async () => {
    fake.resetStats();
    fake.responseDelayMs = 40;
    try {
      const reqs = Array.from({ length: 20 }, (_, i) => ({
        tokenHex: i.toString(16).padStart(64, '0'),
        pushMagic: 'm',
        topic,
      }));
      const res = await client.push(cert, reqs);
      expect(res.every((r) => r.ok)).toBe(true);
      expect(fake.pushes.length).toBe(20);
      expect(fake.maxConcurrent).toBeLessThanOrEqual(4);
      expect(fake.maxConcurrent).toBeGreaterThanOrEqual(2);
    } finally {
      fake.responseDelayMs = 0;
    }
  });
});
