import { request } from 'node:http';
import { beforeAll, expect, it } from 'vitest';
import { api, setupAdmin } from '../helpers/api.js';
import { mobileconfig, uploadProfile } from '../helpers/profiles.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const v1 = '/api/latest/fleet';

/** GET over plain node:http, so the raw header lines the server sent can be counted. */
function download(srv: TestServer, token: string, uuid: string) {
  return new Promise<{ status: number; rawHeaders: string[]; body: Buffer }>((resolve, reject) => {
    const req = request(
      `${srv.url}${v1}/configuration_profiles/${uuid}?alt=media`,
      { headers: { authorization: `Bearer ${token}` } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

const headerNames = (raw: string[]) =>
  raw
    .filter((_, i) => i % 2 === 0)
    .map((n) => n.toLowerCase())
    .sort();
/** Every value sent for one header name (lower case). */
const headerValue = (raw: string[], name: string) =>
  raw.flatMap((v, i) => (i % 2 === 1 && raw[i - 1].toLowerCase() === name ? [v] : []));

interface Case {
  title: string;
  /** The display name as written inside the mobileconfig's <string>. */
  xmlName: string;
  /** The name Flotilla stores (the plist string, trimmed). */
  storedName: string;
  /** The two parameters after the upload date, for `filename` and `filename*`. */
  fallback: string;
  encoded: string;
}

const cases: Case[] = [
  {
    title: 'plain ASCII',
    xmlName: 'Dock settings',
    storedName: 'Dock settings',
    fallback: 'Dock settings.mobileconfig',
    encoded: '%20Dock%20settings.mobileconfig',
  },
  {
    title: 'Japanese and emoji',
    xmlName: '設定プロファイル 🚀',
    storedName: '設定プロファイル 🚀',
    fallback: '________ _.mobileconfig',
    encoded:
      '%20%E8%A8%AD%E5%AE%9A%E3%83%97%E3%83%AD%E3%83%95%E3%82%A1%E3%82%A4%E3%83%AB%20%F0%9F%9A%80.mobileconfig',
  },
  {
    title: 'CR/LF and a header after it',
    xmlName: 'Evil&#13;&#10;X-Injected: yes&#13;&#10;Set-Cookie: a=b',
    storedName: 'Evil\r\nX-Injected: yes\r\nSet-Cookie: a=b',
    fallback: 'EvilX-Injected: yesSet-Cookie: a=b.mobileconfig',
    encoded: '%20EvilX-Injected%3A%20yesSet-Cookie%3A%20a%3Db.mobileconfig',
  },
  {
    title: 'path traversal',
    xmlName: '../../etc/passwd',
    storedName: '../../etc/passwd',
    fallback: '....etcpasswd.mobileconfig',
    encoded: '%20....etcpasswd.mobileconfig',
  },
  {
    title: 'quotes, backslashes, semicolons and percent signs',
    xmlName: 'Say &quot;hi&quot;; C:\\Temp 100%',
    storedName: 'Say "hi"; C:\\Temp 100%',
    fallback: 'Say hi; C:Temp 100_.mobileconfig',
    encoded: '%20Say%20%22hi%22%3B%20C%3ATemp%20100%25.mobileconfig',
  },
];

describeEachDialect('profile downloads: any name gives a safe Content-Disposition', (server) => {
  let admin = '';
  let plainHeaders: string[] = [];

  // An admin, and the header names of a download of a plainly named profile.
  beforeAll(async () => {
    admin = await setupAdmin(server());
    const bytes = mobileconfig('com.example.names.plain', 'Plain');
    const up = await uploadProfile(server(), admin, { name: 'plain.mobileconfig', bytes });
    plainHeaders = headerNames((await download(server(), admin, up.body.profile_uuid)).rawHeaders);
  });

  cases.forEach((c, i) => {
    it(`downloads a profile named with ${c.title}`, async () => {
      const srv = server();
      const bytes = mobileconfig(`com.example.names.${i}`, c.xmlName);
      const up = await uploadProfile(srv, admin, { name: `names-${i}.mobileconfig`, bytes });
      expect(up.status, JSON.stringify(up.body)).toBe(200);
      const uuid = up.body.profile_uuid as string;
      const json = await api(srv, 'GET', `${v1}/configuration_profiles/${uuid}`, { token: admin });
      expect(json.body.name).toBe(c.storedName);
      const date = (json.body.updated_at as string).slice(0, 10);
      expect(date).toMatch(/^\d{4}-\d\d-\d\d$/);

      const res = await download(srv, admin, uuid);
      expect(res.status).toBe(200);
      expect(res.body.equals(bytes)).toBe(true);
      expect(headerValue(res.rawHeaders, 'content-disposition')).toEqual([
        `attachment; filename="${date} ${c.fallback}"; filename*=UTF-8''${date}${c.encoded}`,
      ]);
      expect(headerValue(res.rawHeaders, 'content-type')).toEqual(['application/x-apple-aspen-config']);
      // No header smuggled in: the same header names as any other download.
      expect(headerNames(res.rawHeaders)).toEqual(plainHeaders);
      expect(headerValue(res.rawHeaders, 'x-injected')).toEqual([]);
      expect(headerValue(res.rawHeaders, 'set-cookie')).toEqual([]);
    });
  });

  it('downloads a declaration whose file name is not Latin-1', async () => {
    const srv = server();
    const bytes = Buffer.from(
      JSON.stringify({
        Type: 'com.apple.configuration.passcode.settings',
        Identifier: 'com.example.names.decl',
        Payload: { RequirePasscode: true },
      }),
    );
    const up = await uploadProfile(srv, admin, { name: 'パスコード ✅.json', bytes });
    expect(up.status, JSON.stringify(up.body)).toBe(200);
    const uuid = up.body.profile_uuid as string;
    const json = await api(srv, 'GET', `${v1}/configuration_profiles/${uuid}`, { token: admin });
    expect(json.body.name).toBe('パスコード ✅');
    const date = (json.body.updated_at as string).slice(0, 10);
    const res = await download(srv, admin, uuid);
    expect(res.status).toBe(200);
    expect(res.body.equals(bytes)).toBe(true);
    expect(headerValue(res.rawHeaders, 'content-disposition')).toEqual([
      `attachment; filename="${date} _____ _.json"; filename*=UTF-8''${date}%20%E3%83%91%E3%82%B9%E3%82%B3%E3%83%BC%E3%83%89%20%E2%9C%85.json`,
    ]);
  });
});
