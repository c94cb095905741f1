import { readFileSync } from 'node:fs';
import { beforeAll, expect, it } from 'vitest';
import { sql } from 'kysely';
import { SimulatedWindowsDevice } from '../../src/windows/sim/device.js';
import { parseSyncMessage } from '../../src/windows/syncml/codec.js';
import { api } from '../helpers/api.js';
import { describeEachDialect, type TestServer } from '../helpers/testServer.js';

const vector = (name: string) => readFileSync(new URL(`../vectors/windows/${name}`, import.meta.url), 'utf8');
const secret = 'windows-enroll-secret';
const soap = 'application/soap+xml; charset=utf-8';
const syncml = 'application/vnd.syncml.dm+xml';

async function counts(srv: TestServer) {
  const db = srv.app.services.database.db;
  const one = async (t: string) =>
    Number((await sql<{ n: number }>`select count(*) as n from ${sql.table(t)}`.execute(db)).rows[0].n);
  return {
    enrollments: await one('mdm_windows_enrollments'),
    commands: await one('windows_mdm_commands'),
    queue: await one('windows_mdm_command_queue'),
    responses: await one('windows_mdm_responses'),
    results: await one('windows_mdm_command_results'),
    hosts: await one('hosts'),
  };
}

function faultOf(text: string) {
  const code = /<s:subcode><s:value>([^<]+)</.exec(text)?.[1];
  const relatesTo = /<a:RelatesTo>([^<]*)</.exec(text)?.[1];
  return { code, relatesTo };
}

describeEachDialect('Windows MDM', (server) => {
  let srv: TestServer;
  beforeAll(async () => {
    srv = server();
    const s = srv.app.services;
    await s.enrollSecrets.replace(null, null, [secret]);
    await s.appConfig.patch({ server_settings: { server_url: srv.url } });
  });
  const setWindows = async (on: boolean) => {
    await srv.app.services.appConfig.patch({ mdm: { windows_enabled_and_configured: on } });
    srv.app.services.windows.invalidateEnabled();
  };
  const device = (extra: Partial<ConstructorParameters<typeof SimulatedWindowsDevice>[0]> = {}) =>
    new SimulatedWindowsDevice({ serverUrl: srv.url, enrollSecret: secret, keyBits: 1024, ...extra });

  it('orbit enroll and config: bad secret and bad node key get 401; notifications follow the MDM switch', async () => {
    const bad = await api(srv, 'POST', '/api/fleet/orbit/enroll', {
      body: { enroll_secret: 'nope', hardware_uuid: 'X' },
    });
    expect(bad.status).toBe(401);
    expect(bad.body.node_invalid).toBe(true);
    const badCfg = await api(srv, 'POST', '/api/fleet/orbit/config', { body: { orbit_node_key: 'nope' } });
    expect(badCfg.status).toBe(401);

    const vec = JSON.parse(
      readFileSync(new URL('../vectors/orbit/orbit_enroll_request.json', import.meta.url), 'utf8'),
    );
    const mac = await api(srv, 'POST', '/api/fleet/orbit/enroll', {
      body: { ...vec, enroll_secret: secret },
    });
    expect(mac.status).toBe(200);
    expect(typeof mac.body.orbit_node_key).toBe('string');
    const again = await api(srv, 'POST', '/api/fleet/orbit/enroll', {
      body: { ...vec, enroll_secret: secret },
    });
    expect(again.body.orbit_node_key).not.toBe(mac.body.orbit_node_key);
    const host = await srv.app.services.hostStore.findByUuid(vec.hardware_uuid);
    expect(host?.platform).toBe('darwin');
    await setWindows(true);
    const macCfg = await api(srv, 'POST', '/api/fleet/orbit/config', {
      body: { orbit_node_key: again.body.orbit_node_key },
    });
    expect(macCfg.body.notifications).toEqual({});

    await setWindows(false);
    const d = device();
    await d.orbitEnroll();
    expect((await d.orbitConfig()).notifications.needs_programmatic_windows_mdm_enrollment).toBeUndefined();
    await setWindows(true);
    const cfg = await d.orbitConfig();
    expect(cfg.notifications).toEqual({
      needs_programmatic_windows_mdm_enrollment: true,
      windows_mdm_discovery_endpoint: `${srv.url}/api/mdm/microsoft/discovery`,
    });
  });

  it('a simulated PC enrolls programmatically, runs sessions, takes a raw command, re-enrolls into the same row and unenrolls', async () => {
    await setWindows(true);
    const d = device();
    await d.orbitEnroll();
    const cfg = await d.orbitConfig();
    await d.enrollProgrammatically(cfg.notifications.windows_mdm_discovery_endpoint as string);
    expect(d.certificate?.subject).toContain(`CN=${d.hwDevId}`);
    expect(d.certificate?.checkIssued(d.caCertificate!)).toBe(true);
    expect(d.managementUrl).toBe(`${srv.url}/api/mdm/microsoft/management`);
    expect(d.pollIntervalMinutes).toBe(1);

    const s = srv.app.services;
    const host = await s.hostStore.findByUuid(d.hardwareUuid);
    expect(host).toBeDefined();
    const mdm = await s.hostStore.getHostMdm(host!.id);
    expect(mdm).toMatchObject({ enrolled: true, mdm_name: 'Fleet', server_url: d.managementUrl });
    const row = await s.windows.store.enrollmentByDeviceId(d.deviceId);
    expect(row).toMatchObject({ host_uuid: d.hardwareUuid, mdm_hardware_id: d.hwDevId });
    expect((await d.orbitConfig()).notifications).toEqual({});

    // First session: challenged once, then nothing to do.
    const first = await d.runSession();
    expect(first).toMatchObject({ challenged: true, commandsExecuted: 0 });
    const init = parseSyncMessage(d.received.at(-1)!);
    expect(init.commands.map((c) => [c.verb, c.cmdRef, c.data])).toEqual([
      ['Status', '0', '200'],
      ['Status', '3', '200'],
    ]);

    // Raw command: a Replace and a Get in one command, answered in the next session.
    const uri = './Device/Vendor/MSFT/Policy/Config/Experience/AllowManualMDMUnenrollment';
    const run = await s.windowsCommands.enqueueRaw(
      [d.hardwareUuid],
      `<Replace><Item><Target><LocURI>${uri}</LocURI></Target><Meta><Format xmlns="syncml:metinf">int</Format></Meta><Data>0</Data></Item></Replace>` +
        `<Get><Item><Target><LocURI>./DevDetail/Ext/Microsoft/SMBIOSSerialNumber</LocURI></Target></Item></Get>`,
    );
    expect(run.request_type).toBe(uri);
    let results = await s.windowsCommands.results(run.command_uuid);
    expect(results).toMatchObject([{ host_uuid: d.hardwareUuid, status: 'Pending' }]);
    const second = await d.runSession();
    expect(second.challenged).toBe(false);
    expect(second.commandsExecuted).toBe(2);
    expect(d.tree.get(uri)?.data).toBe('0');
    results = await s.windowsCommands.results(run.command_uuid);
    expect(results).toHaveLength(1);
    expect(results[0].status).toBe('200');
    const raw = Buffer.from(results[0].result, 'base64').toString();
    expect(raw).toContain(`<CmdRef>${run.command_uuid}.1</CmdRef>`);
    expect(raw).toContain(d.hardwareSerial);
    // Acknowledged commands are not sent again.
    expect((await d.runSession()).commandsExecuted).toBe(0);

    // Add on an existing node: 418, retried as Replace under a fresh UUID in the same session.
    const add = await s.windowsCommands.enqueueRaw(
      [d.hardwareUuid],
      `<Add><Item><Target><LocURI>${uri}</LocURI></Target><Data>1</Data></Item></Add>`,
    );
    const third = await d.runSession();
    expect(third.commandsExecuted).toBe(2);
    expect(d.tree.get(uri)?.data).toBe('1');
    expect((await s.windowsCommands.results(add.command_uuid))[0].status).toBe('418');
    const cmds = await s.database.db
      .selectFrom('windows_mdm_commands')
      .select(['command_uuid', 'raw_command'])
      .execute();
    const retry = cmds.find(
      (c) => c.raw_command.includes('<Replace>') && c.raw_command.includes('<Data>1</Data>'),
    );
    expect(retry).toBeDefined();
    expect((await s.windowsCommands.results(retry!.command_uuid))[0].status).toBe('200');

    // Atomic with a failing child rolls back: 507 for the Atomic, 216 for the child that ran.
    const atomic = await s.windowsCommands.enqueueRaw(
      [d.hardwareUuid],
      `<Atomic><Replace><Item><Target><LocURI>./Device/A</LocURI></Target><Data>x</Data></Item></Replace><Delete><Item><Target><LocURI>./Device/Missing</LocURI></Target></Item></Delete></Atomic>`,
    );
    await d.runSession();
    const atomicResult = (await s.windowsCommands.results(atomic.command_uuid))[0];
    expect(atomicResult.status).toBe('507');
    const atomicRaw = Buffer.from(atomicResult.result, 'base64').toString();
    expect(atomicRaw).toContain(
      `<CmdRef>${atomic.command_uuid}.1</CmdRef><Cmd>Replace</Cmd><Data>216</Data>`,
    );
    expect(atomicRaw).toContain(`<CmdRef>${atomic.command_uuid}.2</CmdRef><Cmd>Delete</Cmd><Data>404</Data>`);
    expect(d.tree.has('./Device/A')).toBe(false);

    // Re-enrollment of the same machine reuses its row.
    const before = await counts(srv);
    await d.enrollProgrammatically();
    const after = await counts(srv);
    expect(after.enrollments).toBe(before.enrollments);
    expect((await s.windows.store.enrollmentByDeviceId(d.deviceId))?.id).toBe(row!.id);
    expect((await d.runSession()).challenged).toBe(true);

    // Unenroll alert: enrollment gone, MDM off for the host, fleetd asked to enroll again.
    const text = await d.unenroll();
    expect(parseSyncMessage(text).commands[0]).toMatchObject({ verb: 'Status', cmdRef: '0', data: '200' });
    expect(await s.windows.store.enrollmentByDeviceId(d.deviceId)).toBeUndefined();
    expect((await s.hostStore.getHostMdm(host!.id))?.enrolled).toBe(false);
    expect((await d.orbitConfig()).notifications.needs_programmatic_windows_mdm_enrollment).toBe(true);
    const results2 = await s.windowsCommands
      .enqueueRaw([d.hardwareUuid], '<Exec><Item><Target><LocURI>./x</LocURI></Target></Item></Exec>')
      .catch((e) => e);
    expect(results2.statusCode).toBe(400);
  });

  it('answers the sample requests of the vectors', async () => {
    await setWindows(true);
    for (const [path, file] of [
      ['/api/mdm/microsoft/discovery', 'fleet_mdmtest_discover_request_programmatic.xml'],
      ['/EnrollmentServer/Discovery.svc', 'fleet_unittest_discover_request.xml'],
    ]) {
      const res = await api(srv, 'POST', path, { rawBody: vector(file), headers: { 'content-type': soap } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(soap);
      expect(res.text).toContain('<a:RelatesTo>urn:uuid:748132ec-a575-4329-b01b-6171a9cf8478</a:RelatesTo>');
      expect(res.text).toContain(
        `<EnrollmentServiceUrl>${srv.url}/api/mdm/microsoft/enroll</EnrollmentServiceUrl>`,
      );
      expect(res.text).toContain('<EnrollmentVersion>4.0</EnrollmentVersion>');
    }
    const probe = await api(srv, 'GET', '/EnrollmentServer/Discovery.svc');
    expect([probe.status, probe.text]).toEqual([200, '']);
    // The MS doc sample asks for RequestVersion 3.0, which Fleet does not accept.
    const old = await api(srv, 'POST', '/EnrollmentServer/Discovery.svc', {
      rawBody: vector('msdocs_onprem_discover_request.xml'),
      headers: { 'content-type': soap },
    });
    expect(faultOf(old.text)).toEqual({
      code: 's:messageformat',
      relatesTo: 'urn:uuid: 748132ec-a575-4329-b01b-6171a9cf8478',
    });

    // Give a Windows host the vectors' orbit node key so the programmatic vectors authenticate.
    const s = srv.app.services;
    const hostId = await s.hostStore.create({
      uuid: 'VECTOR-HOST',
      platform: 'windows',
      hardware_serial: 'VECTOR-SERIAL',
    });
    await s.hostStore.setOrbitNodeKey(hostId, 'example-orbit-node-key');
    const pol = await api(srv, 'POST', '/api/mdm/microsoft/policy', {
      rawBody: vector('fleet_mdmtest_getpolicies_request_programmatic.xml'),
      headers: { 'content-type': soap },
    });
    expect(pol.text).toContain('<a:RelatesTo>urn:uuid:72048B64-0F19-448F-8C2E-B4C661860AA0</a:RelatesTo>');
    expect(pol.text).toContain('<minimalKeyLength>2048</minimalKeyLength>');
    const enr = await api(srv, 'POST', '/api/mdm/microsoft/enroll', {
      rawBody: vector('fleet_mdmtest_enroll_request_programmatic.xml'),
      headers: { 'content-type': soap },
    });
    expect(enr.text).toContain('http://schemas.microsoft.com/windows/pki/2009/01/enrollment/RSTRC/wstep');
    const doc = Buffer.from(
      /DeviceEnrollmentProvisionDoc"[^>]*>([^<]+)</.exec(enr.text)![1],
      'base64',
    ).toString();
    expect(doc).toContain('<parm name="AAUTHNAME" value="EXAMPLE-DEVICE-ID-0001"/>');
    expect((await s.hostStore.getHostMdm(hostId))?.enrolled).toBe(true);

    // The real device's RST carries a token that is not a Fleet token: authentication fault, nothing stored.
    const before = await counts(srv);
    const real = await api(srv, 'POST', '/api/mdm/microsoft/enroll', {
      rawBody: vector('fleet_unittest_requestsecuritytoken_real_device.xml'),
      headers: { 'content-type': soap },
    });
    expect(faultOf(real.text)).toEqual({
      code: 's:authentication',
      relatesTo: 'urn:uuid:0d5a1441-5891-453b-becf-a2e5f6ea3749',
    });
    // Same request with a valid token: the real CSR is accepted.
    const token = Buffer.from(
      JSON.stringify({ type: 1, payload: { orbit_node_key: 'example-orbit-node-key', auth_token: '' } }),
    ).toString('base64');
    const realOk = await api(srv, 'POST', '/api/mdm/microsoft/enroll', {
      rawBody: vector('fleet_unittest_requestsecuritytoken_real_device.xml').replace(
        'aGVsbG93b3JsZA==',
        token,
      ),
      headers: { 'content-type': soap },
    });
    expect(realOk.text).toContain('DeviceEnrollmentProvisionDoc');
    expect((await counts(srv)).enrollments).toBe(before.enrollments + 1);

    // SyncML vectors: no credentials yet, so the answer is the header Status 407 with a challenge.
    for (const f of [
      'fleet_mdmtest_syncml_client_init_pkg1.xml',
      'fleet_mdmtest_syncml_unenroll_alert_1226.xml',
    ]) {
      const res = await api(srv, 'POST', '/api/mdm/microsoft/management', {
        rawBody: vector(f),
        headers: { 'content-type': syncml },
      });
      expect(res.headers.get('content-type')).toBe(syncml);
      const m = parseSyncMessage(res.text);
      expect(m.header.targetUri).toBe('EXAMPLE-DEVICE-ID-0001');
      expect(m.commands).toHaveLength(1);
      expect(m.commands[0]).toMatchObject({ verb: 'Status', cmdRef: '0', cmd: 'SyncHdr', data: '407' });
      expect(res.text).toContain('<NextNonce xmlns="syncml:metinf">');
    }
    expect(await s.windows.store.enrollmentByDeviceId('EXAMPLE-DEVICE-ID-0001')).toBeDefined();
  });

  it('bad input gets the protocol error answer and changes nothing', async () => {
    await setWindows(true);
    const s = srv.app.services;
    const d = device();
    await d.orbitEnroll();
    await d.enrollProgrammatically();
    await d.runSession();
    const before = await counts(srv);
    const post = (path: string, body: string, type = soap) =>
      api(srv, 'POST', path, { rawBody: body, headers: { 'content-type': type } });
    const disc = vector('fleet_unittest_discover_request.xml');

    expect(faultOf((await post('/api/mdm/microsoft/discovery', '<s:Envelope')).text).code).toBe(
      's:messageformat',
    );
    const noId = await post(
      '/api/mdm/microsoft/discovery',
      disc.replace(/<a:MessageID>.*<\/a:MessageID>/, ''),
    );
    expect(faultOf(noId.text)).toEqual({ code: 's:messageformat', relatesTo: 'invalid_message_id' });
    const wrongNs = await post(
      '/api/mdm/microsoft/discovery',
      disc.replace('http://schemas.microsoft.com/windows/management/2012/01/enrollment', 'urn:wrong'),
    );
    expect(faultOf(wrongNs.text).code).toBe('s:messageformat');
    const wrongEnv = await post(
      '/api/mdm/microsoft/discovery',
      disc.replace('http://www.w3.org/2003/05/soap-envelope', 'urn:wrong'),
    );
    expect(faultOf(wrongEnv.text).code).toBe('s:messageformat');
    const huge = await post(
      '/api/mdm/microsoft/discovery',
      disc.replace('<EmailAddress>', `<EmailAddress>${'x'.repeat(3 * 1024 * 1024)}`),
    );
    expect(huge.status).toBe(200);
    expect(faultOf(huge.text).code).toBe('s:messageformat');

    // Enrollment with a CSR that is not PKCS#10, and with an unknown node key.
    const token = d.programmaticToken();
    const enroll = vector('fleet_mdmtest_enroll_request_programmatic.xml').replace(
      /eyJ0eXBlIjoxLCJwYXlsb2FkIjp7Im9yYml0X25vZGVfa2V5IjoiZXhhbXBsZS1vcmJpdC1ub2RlLWtleSIsImF1dGhfdG9rZW4iOiIifX0=/g,
      token,
    );
    const notCsr = enroll.replace(
      /(#PKCS10"[^>]*>)[^<]+</,
      `$1${Buffer.from('definitely not a csr').toString('base64')}<`,
    );
    expect(faultOf((await post('/api/mdm/microsoft/enroll', notCsr)).text).code).toBe('s:certificaterequest');
    const unknownKey = vector('fleet_mdmtest_enroll_request_programmatic.xml').replace(
      'eyJ0eXBlIjoxLCJwYXlsb2FkIjp7Im9yYml0X25vZGVfa2V5IjoiZXhhbXBsZS1vcmJpdC1ub2RlLWtleSIsImF1dGhfdG9rZW4iOiIifX0=',
      Buffer.from(JSON.stringify({ type: 1, payload: { orbit_node_key: 'unknown' } })).toString('base64'),
    );
    expect(faultOf((await post('/api/mdm/microsoft/enroll', unknownKey)).text).code).toBe('s:authentication');
    const userToken = await post(
      '/api/mdm/microsoft/policy',
      vector('msdocs_onprem_getpolicies_request_usernametoken.xml'),
    );
    expect(faultOf(userToken.text).code).toBe('s:authentication');

    // SyncML: malformed, unknown device, bad digest, and a Status for a command never sent.
    const init = vector('fleet_mdmtest_syncml_client_init_pkg1.xml');
    expect(
      faultOf((await post('/api/mdm/microsoft/management', '<SyncML><SyncHdr>', syncml)).text).code,
    ).toBe('s:messageformat');
    expect(
      faultOf(
        (
          await post(
            '/api/mdm/microsoft/management',
            init.replaceAll('EXAMPLE-DEVICE-ID-0001', 'NOBODY'),
            syncml,
          )
        ).text,
      ).code,
    ).toBe('s:messageformat');
    const badCred = init
      .replaceAll('EXAMPLE-DEVICE-ID-0001', d.deviceId)
      .replace(
        '</SyncHdr>',
        '<Cred><Meta><Type xmlns="syncml:metinf">syncml:auth-md5</Type><Format xmlns="syncml:metinf">b64</Format></Meta><Data>AAAAAAAAAAAAAAAAAAAAAA==</Data></Cred></SyncHdr>',
      );
    const badCredAnswer = parseSyncMessage(
      (await post('/api/mdm/microsoft/management', badCred, syncml)).text,
    );
    expect(badCredAnswer.commands).toHaveLength(1);
    expect(badCredAnswer.commands[0]).toMatchObject({ cmdRef: '0', data: '401' });
    // The device's next real session gets challenged (the nonce changed) and still works.
    const stray = `<Status><CmdID>9</CmdID><MsgRef>1</MsgRef><CmdRef>never-sent-command</CmdRef><Cmd>Replace</Cmd><Data>200</Data></Status>`;
    const session = await d.runSession([stray]);
    expect(session.challenged).toBe(true);
    expect(await counts(srv)).toEqual(before);

    // Turned off: enrollment endpoints refuse with a fault.
    await setWindows(false);
    expect(faultOf((await post('/api/mdm/microsoft/discovery', disc)).text).code).toBe('s:enrollmentserver');
    await setWindows(true);
    expect(s.windows).toBeDefined();
  });
});
