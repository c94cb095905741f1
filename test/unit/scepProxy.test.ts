import { describe, expect, it } from 'vitest';
import {
  decodeAdminPage,
  NdesChallengeClient,
  NdesChallengeError,
  ndesChallengeDetail,
} from '../../src/certificateAuthorities/ndes/challenge.js';
import { startNdesStandIn } from '../../src/certificateAuthorities/ndes/standIn.js';
import { goPathEscape, parseProxyIdentifier, scepProxyUrl } from '../../src/scepProxy/identifier.js';
import { redactScepProxyPath } from '../../src/scepProxy/routes.js';

describe('SCEP proxy identifiers', () => {
  it("escapes as Go's url.PathEscape does", () => {
    expect(goPathEscape('a,b/c;d?e f')).toBe('a%2Cb%2Fc%3Bd%3Fe%20f');
    expect(goPathEscape('$&+:=@-_.~AZaz09')).toBe('$&+:=@-_.~AZaz09');
    expect(goPathEscape('é')).toBe('%C3%A9');
  });

  it('builds and reads the proxy URL', () => {
    const id = { hostUuid: 'H-1', profileUuid: 'aP', caName: 'WIFI', challenge: 'c_h-x' };
    const url = scepProxyUrl('https://mdm.example.com/', id);
    expect(url).toBe('https://mdm.example.com/mdm/scep/proxy/H-1%2CaP%2CWIFI%2Cc_h-x');
    expect(parseProxyIdentifier(decodeURIComponent(url.split('/proxy/')[1]))).toEqual(id);
    expect(scepProxyUrl('https://m', { ...id, caName: 'NDES', challenge: '' })).toBe(
      'https://m/mdm/scep/proxy/H-1%2CaP%2CNDES',
    );
    expect(parseProxyIdentifier('H,aP')).toEqual({
      hostUuid: 'H',
      profileUuid: 'aP',
      caName: 'NDES',
      challenge: '',
    });
    expect(parseProxyIdentifier('H')).toBeUndefined();
    expect(parseProxyIdentifier(',aP')).toBeUndefined();
    expect(redactScepProxyPath('/mdm/scep/proxy/H%2CaP%2CWIFI%2Csecret')).toBe('/mdm/scep/proxy/:identifier');
  });
});

describe('NDES admin page', () => {
  const html = '<HTML><Body><P> The enrollment challenge password is: <B> 8CE3170A </B></Body></HTML>';

  it('reads UTF-16LE with or without a byte-order mark, and UTF-8', () => {
    const le = Buffer.from(html, 'utf16le');
    expect(decodeAdminPage(le)).toBe(html);
    expect(decodeAdminPage(Buffer.concat([Buffer.from([0xff, 0xfe]), le]))).toBe(html);
    expect(decodeAdminPage(Buffer.from(html, 'utf8'), 'text/html; charset=utf-8')).toBe(html);
  });

  it("words each failure as Fleet does on the host's profile", () => {
    expect(ndesChallengeDetail(new NdesChallengeError('cacheFull', 'x'))).toBe(
      "The NDES password cache is full. Fleet couldn't populate $FLEET_VAR_NDES_SCEP_CHALLENGE. Please increase the number of cached passwords in NDES and try again.",
    );
    expect(ndesChallengeDetail(new NdesChallengeError('permissions', 'x'))).toBe(
      "This account does not have sufficient permissions to enroll with SCEP. Fleet couldn't populate $FLEET_VAR_NDES_SCEP_CHALLENGE. Please update the account with NDES SCEP enroll permissions and try again.",
    );
    expect(ndesChallengeDetail(new NdesChallengeError('transport', 'sending request: ECONNREFUSED'))).toBe(
      "Fleet couldn't populate $FLEET_VAR_NDES_SCEP_CHALLENGE. sending request: ECONNREFUSED",
    );
  });

  it('gets a password over NTLM from the stand-in, and is refused with a wrong one', async () => {
    const standIn = await startNdesStandIn({
      username: 'svc',
      password: 'right',
      nextPassword: () => 'ABCD1234',
    });
    try {
      const client = new NdesChallengeClient(5000);
      await expect(
        client.fetchChallenge({ adminUrl: standIn.adminUrl, username: 'CORP\\svc', password: 'right' }),
      ).resolves.toBe('ABCD1234');
      await expect(
        client.fetchChallenge({ adminUrl: standIn.adminUrl, username: 'svc', password: 'wrong' }),
      ).rejects.toMatchObject({ kind: 'invalid' });
      expect(standIn.rejected).toBe(1);
      await expect(
        client.fetchChallenge({ adminUrl: 'http://127.0.0.1:1/', username: 'svc', password: 'right' }),
      ).rejects.toMatchObject({ kind: 'transport', message: 'sending request: ECONNREFUSED' });
    } finally {
      await standIn.close();
    }
  });
});
