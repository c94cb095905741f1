import { beforeAll, expect, it } from 'vitest';
import { Action } from '../../src/windows/mde2/soap.js';
import { unescapeXml } from '../../src/windows/xml.js';
import { api } from '../helpers/api.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';
import { enableWindowsMdm, enrolledWindowsPc } from '../helpers/windowsDevice.js';

const secret = 'windows-fault-secret';
const soap = 'application/soap+xml; charset=utf-8';
const syncml = 'application/vnd.syncml.dm+xml';
const big = 1_500_000;
/** Most a fault may weigh, whatever the request: the envelope, a bounded reason, a bounded RelatesTo. */
const maxFaultBytes = 4096;
/** Longest fault reason: a short fixed reason, at most 200 characters of detail and the `…` of a cut. */
const maxReasonChars = 321;
const messageId = 'urn:uuid:748132ec-a575-4329-b01b-6171a9cf8478';

/** A SOAP request as Windows sends it, with the given Action, MessageID and Body content. */
const envelope = (action: string, body: string, mid = messageId) =>
  `<s:Envelope xmlns:a="http://www.w3.org/2005/08/addressing" xmlns:s="http://www.w3.org/2003/05/soap-envelope">` +
  `<s:Header><a:Action s:mustUnderstand="1">${action}</a:Action><a:MessageID>${mid}</a:MessageID>` +
  `<a:ReplyTo><a:Address>http://www.w3.org/2005/08/addressing/anonymous</a:Address></a:ReplyTo>` +
  `<a:To s:mustUnderstand="1">https://fleet.example.com/EnrollmentServer/Discovery.svc</a:To></s:Header>` +
  `<s:Body>${body}</s:Body></s:Envelope>`;

const discoverBody =
  `<Discover xmlns="http://schemas.microsoft.com/windows/management/2012/01/enrollment"><request xmlns:i="http://www.w3.org/2001/XMLSchema-instance">` +
  `<EmailAddress></EmailAddress><RequestVersion>5.0</RequestVersion><DeviceType>CIMClient_Windows</DeviceType>` +
  `<ApplicationVersion>10.0.22631.2861</ApplicationVersion><OSEdition>48</OSEdition>` +
  `<AuthPolicies><AuthPolicy>OnPremise</AuthPolicy></AuthPolicies></request></Discover>`;

function fault(text: string) {
  return {
    action: /<a:Action s:mustUnderstand="1">([^<]*)</.exec(text)?.[1],
    relatesTo: /<a:RelatesTo>([^<]*)</.exec(text)?.[1],
    code: /<s:subcode><s:value>([^<]+)</.exec(text)?.[1],
    reason: unescapeXml(/<s:text xml:lang="en-us">([^<]*)</.exec(text)?.[1] ?? ''),
  };
}

/**
 * Bad input is answered with a bounded fault: a fixed reason and at most ~200 characters quoted
 * from the request, XML-escaped. (Before, the XML parser's message quoted the whole bad name, so
 * 1.5 MB of `"` came back as 9 MB of `&quot;`.)
 */
describeEachDialect('Windows faults are bounded', (server) => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = server();
    await enableWindowsMdm(srv, secret);
  });
  const post = (path: string, body: string, type = soap) =>
    api(srv, 'POST', path, { rawBody: body, headers: { 'content-type': type } });

  function expectSmallFault(res: { status: number; text: string; headers: Headers }, type = soap) {
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(type);
    expect(Buffer.byteLength(res.text)).toBeLessThan(maxFaultBytes);
    expect(res.text.startsWith('<s:Envelope')).toBe(true);
    const f = fault(res.text);
    expect(f.reason.length).toBeLessThanOrEqual(maxReasonChars);
    return f;
  }

  it('a 1.5 MB malformed discovery or enrollment body gets a small s:messageformat fault', async () => {
    const quotes = '"'.repeat(big);
    for (const [path, action, answerAction] of [
      ['/api/mdm/microsoft/discovery', Action.discover, Action.discoverResponse],
      ['/EnrollmentServer/Discovery.svc', Action.discover, Action.discoverResponse],
      ['/api/mdm/microsoft/enroll', Action.rst, Action.rstrc],
      ['/api/mdm/microsoft/policy', Action.getPolicies, Action.getPoliciesResponse],
    ]) {
      for (const body of [`<Discover ${quotes}/>`, `<Discover${quotes}/>`, `<D${quotes}></X>`]) {
        const req = envelope(action, body);
        expect(req.length).toBeGreaterThan(big);
        const f = expectSmallFault(await post(path, req));
        expect(f.code).toBe('s:messageformat');
        expect(f.action).toBe(answerAction);
        expect(f.relatesTo).toBe(messageId);
        expect(f.reason).toMatch(/^not well-formed XML: /);
        expect(f.reason).toMatch(/…$/);
      }
    }
  });

  it('a 1.5 MB MessageID is refused, not echoed into the answer', async () => {
    const f = expectSmallFault(
      await post('/api/mdm/microsoft/discovery', envelope(Action.discover, discoverBody, '"'.repeat(big))),
    );
    expect(f).toEqual({
      action: Action.discoverResponse,
      relatesTo: 'invalid_message_id',
      code: 's:messageformat',
      reason: 'a:MessageID is too long',
    });
    // A normal request on the same path still gets its answer.
    const ok = await post('/api/mdm/microsoft/discovery', envelope(Action.discover, discoverBody));
    expect(ok.text).toContain('<EnrollmentVersion>4.0</EnrollmentVersion>');
  });

  it('management: a 1.5 MB malformed SyncML body, or a 1.5 MB SessionID, gets a small fault', async () => {
    const d = await enrolledWindowsPc(srv, secret);
    const hdr = (sessionId: string, msgId = '1') =>
      `<SyncML xmlns="SYNCML:SYNCML1.2"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>` +
      `<SessionID>${sessionId}</SessionID><MsgID>${msgId}</MsgID>` +
      `<Target><LocURI>${d.managementUrl}</LocURI></Target><Source><LocURI>${d.deviceId}</LocURI></Source></SyncHdr>`;
    const quotes = '"'.repeat(big);
    const malformed = `${hdr('1')}<SyncBody><Alert${quotes}><CmdID>1</CmdID></Alert></SyncBody></SyncML>`;
    let f = expectSmallFault(await post('/api/mdm/microsoft/management', malformed, syncml));
    expect(f.code).toBe('s:messageformat');
    expect(f.reason).toMatch(/^not well-formed XML: .*…$/);

    // Well-formed but with a huge SessionID (or MsgID): every answer echoes those, even the
    // challenge anyone can get without credentials, so they are refused.
    for (const [sessionId, msgId, reason] of [
      [quotes, '1', 'SessionID is too long'],
      ['1', quotes, 'MsgID is too long'],
    ]) {
      const msg = `${hdr(sessionId, msgId)}<SyncBody><Alert><CmdID>1</CmdID><Data>1201</Data></Alert><Final/></SyncBody></SyncML>`;
      f = expectSmallFault(await post('/api/mdm/microsoft/management', msg, syncml));
      expect(f).toMatchObject({ code: 's:messageformat', reason });
    }
    // An unknown command with a 750 KB name (opened and closed: 1.5 MB): bounded too.
    const name = `Q${'q'.repeat(big / 2)}`;
    const unknown = `${hdr('1')}<SyncBody><${name}><CmdID>1</CmdID></${name}><Final/></SyncBody></SyncML>`;
    f = expectSmallFault(await post('/api/mdm/microsoft/management', unknown, syncml));
    expect(f.code).toBe('s:messageformat');
    expect(f.reason).toMatch(/^unknown SyncML command <Qq+…>$/);

    // The PC is unaffected.
    expect((await d.runSession()).messages).toBeGreaterThan(0);
  });
});
