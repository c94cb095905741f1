import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channelUriRefusal, HttpWnsClient } from '../../src/clients/wns/client.js';
import { FakeWnsServer } from '../../src/clients/wns/fakeServer.js';

const sid = 'S-1-15-2-1111111111-2222222222-3333333333';
const secret = 'wns-client-secret-for-tests';
const policy = { allowedHosts: ['127.0.0.1'], allowHttp: true };

describe('WNS client against the loopback stand-in', () => {
  let wns: FakeWnsServer;
  const client = (over: Partial<ConstructorParameters<typeof HttpWnsClient>[0]> = {}) =>
    new HttpWnsClient({ ...policy, packageSid: sid, clientSecret: secret, tokenUrl: wns.tokenUrl, ...over });

  beforeAll(async () => {
    wns = await FakeWnsServer.start({ packageSid: sid, clientSecret: secret });
  });
  afterAll(async () => {
    await wns.close();
  });

  it('fetches one token for concurrent pushes and sends raw notifications in the WNS wire format', async () => {
    const c = client();
    const uri = wns.registerChannel('Flotilla.Push_8wekyb3d8bbwe');
    const before = wns.tokensIssued;
    const outcomes = await Promise.all([c.sendRaw(uri), c.sendRaw(uri), c.sendRaw(uri)]);
    expect(outcomes).toEqual([
      { ok: true, status: 200 },
      { ok: true, status: 200 },
      { ok: true, status: 200 },
    ]);
    expect(wns.tokensIssued - before).toBe(1);
    expect(await c.sendRaw(uri)).toEqual({ ok: true, status: 200 });
    expect(wns.tokensIssued - before).toBe(1);
    const pushes = wns.pushesTo(uri);
    expect(pushes).toHaveLength(4);
    expect(pushes[0].headers).toEqual({
      contentType: 'application/octet-stream',
      wnsType: 'wns/raw',
      cachePolicy: 'cache',
    });
  });

  it('accepts a Package SID already wrapped in ms-app://', async () => {
    const uri = wns.registerChannel('pfn');
    expect(await client({ packageSid: `ms-app://${sid}` }).sendRaw(uri)).toEqual({ ok: true, status: 200 });
  });

  it('refreshes the token once when WNS answers 401, and gives up after a second 401', async () => {
    const c = client();
    const uri = wns.registerChannel('pfn');
    expect((await c.sendRaw(uri)).ok).toBe(true);
    const issued = wns.tokensIssued;
    wns.revokeTokens();
    expect(await c.sendRaw(uri)).toEqual({ ok: true, status: 200 });
    expect(wns.tokensIssued).toBe(issued + 1);
    const statuses = wns.channelRequests.filter((r) => uri.endsWith(r.channelId)).map((r) => r.status);
    expect(statuses).toEqual([200, 401, 200]);
  });

  it('reports 410 as an expired channel', async () => {
    const c = client();
    const uri = wns.registerChannel('pfn');
    wns.expireChannel(uri);
    expect(await c.sendRaw(uri)).toEqual({
      ok: false,
      status: 410,
      reason: 'channel expired',
      channelExpired: true,
    });
    expect(wns.pushesTo(uri)).toHaveLength(0);
  });

  it('reports a refused token request without quoting the secret', async () => {
    const uri = wns.registerChannel('pfn');
    const before = wns.channelRequests.length;
    const outcome = await client({ clientSecret: 'wrong-secret' }).sendRaw(uri);
    expect(outcome).toEqual({ ok: false, reason: 'WNS token request failed: HTTP 400' });
    expect(JSON.stringify(outcome)).not.toContain('wrong-secret');
    expect(wns.channelRequests.length).toBe(before);
  });

  it('never contacts a ChannelURI outside the allowed hosts, or over http unless allowed', async () => {
    const uri = wns.registerChannel('pfn');
    const port = new URL(uri).port;
    const before = wns.channelRequests.length;
    const strict = client({ allowHttp: false });
    expect(await strict.sendRaw(uri)).toEqual({
      ok: false,
      reason: 'channel URI is not https',
      refused: true,
    });
    expect(await client().sendRaw(uri.replace('127.0.0.1', 'localhost'))).toEqual({
      ok: false,
      reason: 'channel URI host is not an allowed WNS host',
      refused: true,
    });
    expect(await client().sendRaw(`http://user:pw@127.0.0.1:${port}/w/x`)).toEqual({
      ok: false,
      reason: 'channel URI carries credentials',
      refused: true,
    });
    expect(wns.channelRequests.length).toBe(before);
  });
});

describe('channelUriRefusal', () => {
  const real = { allowedHosts: ['notify.windows.com'], allowHttp: false };
  it('accepts https WNS channel URIs on notify.windows.com and its subdomains only', () => {
    expect(channelUriRefusal('https://db5p.notify.windows.com/?token=AwYAAAB', real)).toBeUndefined();
    expect(channelUriRefusal('https://notify.windows.com/x', real)).toBeUndefined();
    expect(channelUriRefusal('https://DB5P.Notify.Windows.Com./?token=x', real)).toBeUndefined();
    const refused: [string, string][] = [
      ['http://db5p.notify.windows.com/?token=x', 'channel URI is not https'],
      ['https://notify.windows.com.evil.example/?token=x', 'channel URI host is not an allowed WNS host'],
      ['https://evilnotify.windows.com/?token=x', 'channel URI host is not an allowed WNS host'],
      ['https://169.254.169.254/latest/meta-data', 'channel URI host is not an allowed WNS host'],
      ['file:///etc/passwd', 'channel URI is not https'],
      ['not a url', 'channel URI is not a URL'],
    ];
    for (const [uri, reason] of refused) expect(channelUriRefusal(uri, real), uri).toBe(reason);
  });
});
