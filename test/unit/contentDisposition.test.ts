import { validateHeaderValue } from 'node:http';
import { describe, expect, it } from 'vitest';
import { attachmentDisposition } from '../../src/http/contentDisposition.js';

describe('attachmentDisposition', () => {
  it('gives an ASCII fallback and the UTF-8 name percent-encoded (RFC 6266 / RFC 8187)', () => {
    const cases: [string, string][] = [
      [
        'profile.mobileconfig',
        `attachment; filename="profile.mobileconfig"; filename*=UTF-8''profile.mobileconfig`,
      ],
      ['a b.json', `attachment; filename="a b.json"; filename*=UTF-8''a%20b.json`],
      ['日本語.xml', `attachment; filename="___.xml"; filename*=UTF-8''%E6%97%A5%E6%9C%AC%E8%AA%9E.xml`],
      ['😀 x', `attachment; filename="_ x"; filename*=UTF-8''%F0%9F%98%80%20x`],
      ['café', `attachment; filename="caf_"; filename*=UTF-8''caf%C3%A9`],
      [
        'a\r\nSet-Cookie: x=1',
        `attachment; filename="aSet-Cookie: x=1"; filename*=UTF-8''aSet-Cookie%3A%20x%3D1`,
      ],
      ['../../etc/passwd', `attachment; filename="etcpasswd"; filename*=UTF-8''etcpasswd`],
      ['..\\..\\boot.ini', `attachment; filename="boot.ini"; filename*=UTF-8''boot.ini`],
      ['say "hi"', `attachment; filename="say hi"; filename*=UTF-8''say%20%22hi%22`],
      ['100%.txt', `attachment; filename="100_.txt"; filename*=UTF-8''100%25.txt`],
      ['evil\u202Etxt.exe', `attachment; filename="eviltxt.exe"; filename*=UTF-8''eviltxt.exe`],
      ['tab\there\u0000\u007f\u0085', `attachment; filename="tabhere"; filename*=UTF-8''tabhere`],
      ['', `attachment; filename="download"; filename*=UTF-8''download`],
      ['\r\n/\\', `attachment; filename="download"; filename*=UTF-8''download`],
      ['"""', `attachment; filename="download"; filename*=UTF-8''%22%22%22`],
      [
        'lone \uD800 surrogate',
        `attachment; filename="lone _ surrogate"; filename*=UTF-8''lone%20%EF%BF%BD%20surrogate`,
      ],
    ];
    for (const [name, expected] of cases)
      expect(attachmentDisposition(name), JSON.stringify(name)).toBe(expected);
  });

  it('always yields a value Node accepts as a header, whatever the name', () => {
    const names = [
      '\u0000\u0001\u001f',
      '\u00ff\u0100',
      '\uFFFF',
      'x'.repeat(5000),
      '\r',
      '\n\n',
      'é'.repeat(3),
    ];
    for (let cp = 0; cp < 0x3000; cp += 7) names.push(`n${String.fromCharCode(cp)}m`);
    for (const name of names) {
      const value = attachmentDisposition(name);
      expect(() => validateHeaderValue('content-disposition', value), JSON.stringify(name)).not.toThrow();
      expect(value).toMatch(/^[\x20-\x7e]+$/);
    }
  });
});
