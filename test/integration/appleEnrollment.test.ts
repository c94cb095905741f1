import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse as parsePlist } from 'plist';
import { beforeAll, expect, it } from 'vitest';
import { EnrollmentIds } from '../../src/apple/enrollment/profile.js';
import { scepEnroll } from '../../src/apple/scep/client.js';
import { cmsVerifyAttached } from '../../src/crypto/cms.js';
import { dbNow } from '../../src/db/dialect.js';
import { api, setupAdmin } from '../helpers/api.js';
import { installPushCertificate } from '../helpers/apns.js';
import { tokenForRole } from '../helpers/appleSeed.js';
import { describeEachDialect } from '../helpers/testServer.js';

const run = promisify(execFile);

async function download(url: string, token?: string) {
  const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

describeEachDialect('Apple enrollment profile', (server) => {
  let admin = '';
  let topic = '';

  beforeAll(async () => {
    admin = await setupAdmin(server());
  });

  /** Turns MDM on (an APNs certificate) once; returns its topic. */
  async function mdmOn(): Promise<string> {
    if (!topic) topic = (await installPushCertificate(server().app.services)).topic;
    return topic;
  }

  it('answers 400 MDM-not-configured while there is no APNs certificate', async () => {
    const res = await api(server(), 'GET', '/api/v1/fleet/enrollment_profiles/manual', { token: admin });
    expect(res.status).toBe(400);
    expect(res.body.errors[0].reason).toMatch(/MDM features aren't turned on/);
    expect((await api(server(), 'GET', '/api/v1/fleet/enrollment_profiles/manual')).status).toBe(401);
  });

  it('serves a CMS-signed profile that openssl verifies against the SCEP CA and plistutil parses', async () => {
    await mdmOn();
    const res = await download(`${server().url}/api/latest/fleet/enrollment_profiles/manual`, admin);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-apple-aspen-config');
    expect(res.headers.get('content-disposition')).toBe(
      `attachment; filename="fleet-mdm-enrollment-profile.mobileconfig"; filename*=UTF-8''fleet-mdm-enrollment-profile.mobileconfig`,
    );

    const dir = mkdtempSync(join(tmpdir(), 'enroll-profile-'));
    const ca = await server().app.services.appleScep.caCertificate();
    writeFileSync(join(dir, 'ca.pem'), ca.certPem);
    writeFileSync(join(dir, 'profile.mobileconfig'), res.body);
    const verified = await run('openssl', [
      'cms',
      '-verify',
      '-inform',
      'DER',
      '-in',
      join(dir, 'profile.mobileconfig'),
      '-CAfile',
      join(dir, 'ca.pem'),
      '-purpose',
      'any',
      '-out',
      join(dir, 'profile.plist'),
    ]);
    expect(verified.stderr).toContain('Verification successful');
    const xml = await run('plistutil', ['-i', join(dir, 'profile.plist'), '-f', 'xml']).catch(() =>
      run('plistutil', ['-i', join(dir, 'profile.plist')]),
    );
    expect(xml.stdout).toContain('com.apple.mdm');

    // A tampered profile fails openssl's check.
    const tampered = Buffer.from(res.body);
    const at = tampered.indexOf(Buffer.from('com.apple.mdm'));
    tampered[at] = 'C'.charCodeAt(0);
    writeFileSync(join(dir, 'tampered.mobileconfig'), tampered);
    await expect(
      run('openssl', [
        'cms',
        '-verify',
        '-inform',
        'DER',
        '-in',
        join(dir, 'tampered.mobileconfig'),
        '-CAfile',
        join(dir, 'ca.pem'),
        '-purpose',
        'any',
      ]),
    ).rejects.toThrow();

    const { content, signerCertDer } = cmsVerifyAttached(res.body);
    expect(signerCertDer.equals(ca.certDer)).toBe(true);
    const profile = parsePlist(content.toString('utf8')) as any;
    expect(profile).toMatchObject({
      PayloadType: 'Configuration',
      PayloadIdentifier: 'com.fleetdm.fleet.mdm.apple',
      PayloadUUID: EnrollmentIds.profileUuid,
      PayloadVersion: 1,
      PayloadOrganization: 'Acme',
    });
    const [scep, mdm] = profile.PayloadContent;
    const challenge = scep.PayloadContent.Challenge as string;
    expect(challenge).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(scep).toMatchObject({
      PayloadType: 'com.apple.security.scep',
      PayloadIdentifier: 'com.fleetdm.fleet.mdm.apple.scep',
      PayloadUUID: EnrollmentIds.scepUuid,
      PayloadContent: {
        URL: 'http://localhost:8080/mdm/apple/scep',
        Challenge: challenge,
        'Key Type': 'RSA',
        Keysize: 2048,
        'Key Usage': 5,
        Subject: [[['O', 'Fleet']], [['OU', 'Fleet Device Enrollment']], [['CN', 'Fleet Identity']]],
      },
    });
    expect(mdm).toEqual(
      expect.objectContaining({
        PayloadType: 'com.apple.mdm',
        PayloadIdentifier: 'com.fleetdm.fleet.mdm.apple.mdm',
        PayloadUUID: EnrollmentIds.mdmUuid,
        ServerURL: 'http://localhost:8080/mdm/apple/mdm',
        IdentityCertificateUUID: EnrollmentIds.scepUuid,
        Topic: topic,
        SignMessage: true,
        CheckOutWhenRemoved: true,
        AccessRights: 8191,
        ServerCapabilities: ['com.apple.mdm.per-user-connections', 'com.apple.mdm.bootstraptoken'],
      }),
    );
    expect(mdm).not.toHaveProperty('CheckInURL');
    // Integers must be <integer>, not <real>.
    expect(content.toString()).toMatch(/<key>Keysize<\/key>\s*<integer>2048<\/integer>/);
    expect(content.toString()).toMatch(/<key>AccessRights<\/key>\s*<integer>8191<\/integer>/);

    // The embedded challenge really works at our SCEP endpoint.
    const enrolled = await scepEnroll({
      url: `${server().url}/mdm/apple/scep`,
      challenge,
      subjectCN: 'Fleet Identity',
    });
    expect(enrolled.certPem).toContain('BEGIN CERTIFICATE');
  });

  it("serves the same profile at Fleet's older /mdm/manual_enrollment_profile path", async () => {
    await mdmOn();
    const res = await download(`${server().url}/api/latest/fleet/mdm/manual_enrollment_profile`, admin);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-apple-aspen-config');
    expect(cmsVerifyAttached(res.body).content.toString()).toContain('com.apple.mdm');
  });

  it('lets any role that reads the app config download it', async () => {
    await mdmOn();
    const observer = await tokenForRole(server().app.services, 'observer');
    expect((await download(`${server().url}/api/v1/fleet/enrollment_profiles/manual`, observer)).status).toBe(
      200,
    );
    const teamOnly = await tokenForRole(server().app.services, null, []);
    expect((await download(`${server().url}/api/v1/fleet/enrollment_profiles/manual`, teamOnly)).status).toBe(
      403,
    );
  });

  it('serves /api/mdm/apple/enroll only for a valid enroll secret', async () => {
    await mdmOn();
    const { db } = server().app.services.database;
    await db
      .insertInto('enroll_secrets')
      .values({ secret: 'enroll-secret-1', team_id: null, created_at: dbNow() })
      .execute();
    const ok = await download(`${server().url}/api/mdm/apple/enroll?token=enroll-secret-1`);
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('application/x-apple-aspen-config');
    expect(cmsVerifyAttached(ok.body).content.toString()).toContain(topic);
    for (const q of ['?token=wrong', '?token=', '']) {
      const bad = await api(server(), 'GET', `/api/mdm/apple/enroll${q}`);
      expect(bad.status).toBe(401);
      expect(bad.body.message).toBe('Authentication Failed');
    }
  });
});
