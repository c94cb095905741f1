import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HttpError } from '../../src/http/errors.js';
import { readBackItems } from '../../src/windows/profiles/readBack.js';
import { isScepProfile, resolveScepCertificateId } from '../../src/windows/profiles/scep.js';
import { parseWindowsProfile, profileItems } from '../../src/windows/profiles/validate.js';

const scepVector = readFileSync(
  new URL('../vectors/windows/fleet_testdata_profile_device_scep.xml', import.meta.url),
)
  .toString()
  // The vector's other variables are certificate authorities' (not this test's concern).
  .replace('$FLEET_VAR_CUSTOM_SCEP_PROXY_URL_INTEGRATION', 'https://scep.example.com/scep')
  .replace('$FLEET_VAR_CUSTOM_SCEP_CHALLENGE_INTEGRATION', 'challenge')
  .replace(',OU=$FLEET_VAR_SCEP_RENEWAL_ID', '');

const VAR = '$FLEET_VAR_SCEP_WINDOWS_CERTIFICATE_ID';
const root = (scope: 'Device' | 'User') => `./${scope}/Vendor/MSFT/ClientCertificateInstall/SCEP/${VAR}`;
const node = (uri: string, data?: string, format = 'chr') =>
  `<Add><Item><Target><LocURI>${uri}</LocURI></Target><Meta><Format xmlns="syncml:metinf">${format}</Format></Meta>${data === undefined ? '' : `<Data>${data}</Data>`}</Item></Add>`;
const required = [
  'CAThumbprint',
  'Challenge',
  'EKUMapping',
  'HashAlgorithm',
  'KeyLength',
  'KeyUsage',
  'ServerURL',
  'SubjectName',
];
const exec = (uri: string) => `<Exec><Item><Target><LocURI>${uri}</LocURI></Target></Item></Exec>`;

/** A complete SCEP profile of one scope, minus the nodes left out. */
function scep(scope: 'Device' | 'User', opts: { without?: string[]; extra?: string; execs?: string[] } = {}) {
  return (
    node(root(scope), undefined, 'node') +
    required
      .filter((n) => !opts.without?.includes(n))
      .map((n) => node(`${root(scope)}/Install/${n}`, '1'))
      .join('') +
    (opts.extra ?? '') +
    (opts.execs ?? [`${root(scope)}/Install/Enroll`]).map(exec).join('')
  );
}

function refusal(xml: string): string {
  try {
    parseWindowsProfile('SCEP', Buffer.from(xml));
  } catch (err) {
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).statusCode).toBe(422);
    return (err as HttpError).errors[0].reason;
  }
  throw new Error('expected a refusal');
}

describe('Windows SCEP profiles (Fleet rules)', () => {
  it('accepts Fleet sample SCEP profile, device and user scoped ones, and the braced variable', () => {
    const p = parseWindowsProfile('SCEP', Buffer.from(scepVector));
    expect(p).toMatchObject({ scep: true, scope: 'System' });
    expect(parseWindowsProfile('SCEP', Buffer.from(scep('User')))).toMatchObject({
      scep: true,
      scope: 'User',
    });
    expect(
      parseWindowsProfile(
        'SCEP',
        Buffer.from(scep('Device').replaceAll(VAR, '${FLEET_VAR_SCEP_WINDOWS_CERTIFICATE_ID}')),
      ).scep,
    ).toBe(true);
    expect(
      parseWindowsProfile('Plain', Buffer.from(node('./Device/Vendor/MSFT/Policy/Config/A/B', '1'))).scep,
    ).toBe(false);
  });

  it("refuses what Fleet refuses, with Fleet's messages", () => {
    expect(
      refusal(
        scep('Device').replace(
          `${root('Device')}/Install/KeyUsage`,
          `./Device/Vendor/MSFT/ClientCertificateInstall/SCEP/fixed/Install/KeyUsage`,
        ),
      ),
    ).toBe('You must use "$FLEET_VAR_SCEP_WINDOWS_CERTIFICATE_ID" after "ClientCertificateInstall/SCEP/".');
    expect(refusal(scep('Device', { extra: node(`${root('User')}/Install/RetryCount`, '3') }))).toBe(
      'All <LocURI> elements in the SCEP profile must start either with "./Device" or "./User".',
    );
    expect(refusal(scep('Device', { execs: [] }) + exec('./Device/Vendor/MSFT/Reboot/RebootNow'))).toBe(
      '"ClientCertificateInstall/SCEP/$FLEET_VAR_SCEP_WINDOWS_CERTIFICATE_ID/Install/Enroll" must be included within <Exec>. Please add and try again.',
    );
    expect(
      refusal(
        scep('Device', { execs: [`${root('Device')}/Install/Enroll`, `${root('Device')}/Install/Enroll`] }),
      ),
    ).toBe('SCEP profiles must include exactly one <Exec> element.');
    expect(refusal(scep('Device', { extra: node('./Device/Vendor/MSFT/Policy/Config/A/B', '1') }))).toBe(
      'Only options that have <LocURI> starting with "ClientCertificateInstall/SCEP/" can be added to SCEP profile.',
    );
    expect(refusal(scep('Device', { without: ['Challenge'] }))).toBe(
      '"ClientCertificateInstall/SCEP/$FLEET_VAR_SCEP_WINDOWS_CERTIFICATE_ID/Install/Challenge" is missing. Please add and try again.',
    );
    expect(refusal(exec('./Device/Vendor/MSFT/Reboot/RebootNow'))).toBe(
      'Only SCEP profiles can include <Exec> elements.',
    );
  });

  it('refuses a profile mixing ./Device (or bare ./Vendor) and ./User settings', () => {
    const mixed = 'All <LocURI> elements in the profile must start either with "./Device" or "./User".';
    expect(
      refusal(
        node('./Device/Vendor/MSFT/Policy/Config/A/B', '1') +
          node('./User/Vendor/MSFT/Policy/Config/A/C', '1'),
      ),
    ).toBe(mixed);
    expect(
      refusal(
        node('./User/Vendor/MSFT/Policy/Config/A/C', '1') + node('./Vendor/MSFT/Policy/Config/A/B', '1'),
      ),
    ).toBe(mixed);
  });

  it('resolves the certificate ID to the profile UUID in both forms, and reads nothing of it back', () => {
    const resolved = resolveScepCertificateId(
      scep('Device').replace(
        `${root('Device')}/Install/SubjectName`,
        `./Device/Vendor/MSFT/ClientCertificateInstall/SCEP/\${FLEET_VAR_SCEP_WINDOWS_CERTIFICATE_ID}/Install/SubjectName`,
      ),
      'w-profile-1',
    );
    expect(resolved).not.toContain('FLEET_VAR_SCEP_WINDOWS_CERTIFICATE_ID');
    const items = profileItems(resolved);
    expect(items[0].locUri).toBe('./Device/Vendor/MSFT/ClientCertificateInstall/SCEP/w-profile-1');
    expect(
      items.every((it) =>
        it.locUri.startsWith('./Device/Vendor/MSFT/ClientCertificateInstall/SCEP/w-profile-1'),
      ),
    ).toBe(true);
    expect(isScepProfile(items.map((it) => it.locUri))).toBe(true);
    expect(readBackItems(items)).toEqual([]);
  });

  it('reads back device settings only: not ./User/ ones, not those holding a secret', () => {
    const items = profileItems(
      node('./Device/Vendor/MSFT/Policy/Config/A/B', '1') +
        node('./Device/Vendor/MSFT/WiFi/Profile/X/Key', '$FLEET_SECRET_WIFI_KEY') +
        node('./Device/Vendor/MSFT/WiFi/Profile/Y/Key', '${FLEET_SECRET_OTHER}') +
        node('./User/Vendor/MSFT/Policy/Config/A/C', '1'),
    );
    expect(readBackItems(items).map((it) => it.locUri)).toEqual(['./Device/Vendor/MSFT/Policy/Config/A/B']);
  });
});
