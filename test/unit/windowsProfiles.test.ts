import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { HttpError } from '../../src/http/errors.js';
import {
  buildDeleteCommand,
  buildInstallCommand,
  commandTargets,
  deletableLocUris,
  isProtectedLocUri,
  normalizeValue,
  readAnswers,
  valuesMatch,
} from '../../src/windows/profiles/commands.js';
import { parseWindowsProfile } from '../../src/windows/profiles/validate.js';
import { parseXmlFragment } from '../../src/windows/xml.js';

const vector = (name: string) => readFileSync(new URL(`../vectors/windows/${name}`, import.meta.url));

function refusal(name: string, xml: string): string {
  try {
    parseWindowsProfile(name, Buffer.from(xml));
  } catch (err) {
    expect(err).toBeInstanceOf(HttpError);
    return (err as HttpError).errors[0].reason;
  }
  throw new Error('expected a refusal');
}

const item = (uri: string, data = '1', format = 'int') =>
  `<Item><Meta><Format xmlns="syncml:metinf">${format}</Format></Meta><Target><LocURI>${uri}</LocURI></Target><Data>${data}</Data></Item>`;

describe('Windows profile validation', () => {
  it('accepts the sample profiles and reads their items', () => {
    const multi = parseWindowsProfile('Password', vector('fleet_profile_multi_replace_device_password.xml'));
    expect(multi.items.map((i) => i.locUri)).toEqual([
      './Device/Vendor/MSFT/Policy/Config/DeviceLock/DevicePasswordEnabled',
      './Device/Vendor/MSFT/Policy/Config/DeviceLock/MaxInactivityTimeDeviceLock',
      './Device/Vendor/MSFT/Policy/Config/DeviceLock/MinDevicePasswordLength',
      './Device/Vendor/MSFT/Policy/Config/DeviceLock/MinDevicePasswordComplexCharacters',
    ]);
    expect(multi.scope).toBe('System');
    const admx = parseWindowsProfile(
      'RDP',
      vector('fleet_profile_replace_admx_AllowUsersToConnectRemotely.xml'),
    );
    expect(admx.items[0].data).toContain('&lt;enabled/&gt;');
    const one = parseWindowsProfile('Block', vector('fleet_profile_replace_int_BlockMDMUnenrollment.xml'));
    expect(one.items).toHaveLength(1);
    expect(
      parseWindowsProfile(
        'U',
        Buffer.from(`<Replace>${item('./User/Vendor/MSFT/Policy/Config/Start/HideSleep')}</Replace>`),
      ).scope,
    ).toBe('User');
  });

  it('refuses what Fleet refuses, with clear messages', () => {
    expect(refusal('x', 'not xml at all')).toMatch(/valid XML/);
    expect(refusal('x', '<Replace><Item>')).toMatch(/valid XML/);
    expect(
      refusal(
        'x',
        `<?xml version="1.0"?><Replace>${item('./Device/Vendor/MSFT/Policy/Config/A/B')}</Replace>`,
      ),
    ).toMatch(/processing instructions/);
    expect(
      refusal('x', `<Replace>${item('./Device/Vendor/MSFT/BitLocker/RequireDeviceEncryption')}</Replace>`),
    ).toMatch(/BitLocker/);
    expect(
      refusal('x', `<Replace>${item('./Device/Vendor/MSFT/Policy/Config/Update/AllowAutoUpdate')}</Replace>`),
    ).toMatch(/Windows updates/);
    expect(
      refusal(
        'x',
        `<Replace>${item('./Device/Vendor/MSFT/DMClient/Provider/Fleet/Poll/NumberOfFirstRetries')}</Replace>`,
      ),
    ).toMatch(/enrollment/);
    expect(refusal('x', `<Delete>${item('./Device/Vendor/MSFT/Policy/Config/A/B')}</Delete>`)).toMatch(
      /only have <Replace> or <Add>/,
    );
    expect(refusal('x', `<Exec>${item('./Device/Vendor/MSFT/Reboot/RebootNow')}</Exec>`)).toMatch(
      /Only SCEP profiles/,
    );
    expect(
      refusal(
        'x',
        `<Replace><Item><Meta><Format xmlns="syncml:metinf">int</Format></Meta><Data>1</Data></Item></Replace>`,
      ),
    ).toMatch(/LocURI/);
    expect(
      refusal(
        'x',
        `<Replace><Item><Target><LocURI>./Device/Vendor/MSFT/Policy/Config/A/B</LocURI></Target><Data>1</Data></Item></Replace>`,
      ),
    ).toMatch(/Format/);
    expect(
      refusal(
        'x',
        `<Replace>${item('./Device/Vendor/MSFT/Policy/Config/A/B')}</Replace><Atomic><Replace>${item('./Device/Vendor/MSFT/Policy/Config/A/C')}</Replace></Atomic>`,
      ),
    ).toMatch(/Atomic/);
    expect(
      refusal('x', `<Atomic><Get>${item('./Device/Vendor/MSFT/Policy/Config/A/C')}</Get></Atomic>`),
    ).toMatch(/inside <Atomic>/);
    expect(
      refusal(
        'x',
        `<Replace><Item><Target><LocURI>./Device/Vendor/MSFT/Policy/Config/A/B</LocURI></Target><Meta><Format xmlns="syncml:metinf">int</Format></Meta><Bogus/></Item></Replace>`,
      ),
    ).toMatch(/<Bogus>/);
    expect(
      refusal('Windows OS Updates', `<Replace>${item('./Device/Vendor/MSFT/Policy/Config/A/B')}</Replace>`),
    ).toMatch(/reserved/);
    // Fleet variables and secrets are accepted here: the profile core checks them (src/mdm/variables).
    expect(
      parseWindowsProfile(
        'x',
        Buffer.from(
          `<Replace>${item('./Device/Vendor/MSFT/Policy/Config/A/B', '$FLEET_VAR_HOST_UUID', 'chr')}</Replace>`,
        ),
      ).items[0].data,
    ).toBe('$FLEET_VAR_HOST_UUID');
  });
});

describe('Windows profile commands', () => {
  it('wraps a profile in one Atomic like the older Fleet sample, and sends it as written otherwise', () => {
    const profile =
      '<Replace><Item><Target><LocURI>foo/bar</LocURI></Target></Item></Replace><Add><Item><Target><LocURI>foo/bar</LocURI></Target></Item></Add>';
    const wrapped = buildInstallCommand(profile, 'uuid-1', { wrapInAtomic: true });
    const expected = vector('fleet_unittest_profile_to_atomic_command_expected.xml')
      .toString()
      .trim()
      .replace(/<!--[^>]*-->/g, '')
      .replace('REPLACE-CMD-UUID', 'uuid-1.1')
      .replace('ADD-CMD-UUID', 'uuid-1.2');
    expect(wrapped.rawCommand).toBe(expected);
    const plain = buildInstallCommand(profile, 'uuid-2');
    expect(parseXmlFragment(plain.rawCommand).map((n) => n.name)).toEqual(['Replace', 'Add']);
    expect([...commandTargets(plain.rawCommand).keys()]).toEqual(['uuid-2', 'uuid-2.1']);
    // An Atomic profile is not wrapped twice.
    const atomic = buildInstallCommand(`<Atomic>${profile}</Atomic>`, 'u3', { wrapInAtomic: true });
    expect(atomic.rawCommand.match(/<Atomic>/g)).toHaveLength(1);
  });

  it('deletes Replace/Add LocURIs one top-level Delete each, never protected nodes', () => {
    const raw = buildInstallCommand(
      `<Replace>${item('./Device/Vendor/MSFT/Policy/Config/A/B')}${item('./Device/Vendor/MSFT/Policy')}</Replace><Add>${item('./DevDetail/Ext/Microsoft/DeviceName', 'x', 'chr')}</Add>`,
      'c',
    ).rawCommand;
    const uris = deletableLocUris(raw);
    expect(uris).toEqual(['./Device/Vendor/MSFT/Policy/Config/A/B']);
    const del = buildDeleteCommand(uris, 'd');
    expect(del.rawCommand).toBe(
      '<Delete><CmdID>d</CmdID><Item><Target><LocURI>./Device/Vendor/MSFT/Policy/Config/A/B</LocURI></Target></Item></Delete>',
    );
    expect(isProtectedLocUri('./Device/Vendor/MSFT/BitLocker/RequireDeviceEncryption')).toBe(true);
    expect(isProtectedLocUri('./Vendor/MSFT/DMClient/Provider/Fleet/Poll/IntervalForFirstSetOfRetries')).toBe(
      true,
    );
    expect(isProtectedLocUri('./User/Vendor/MSFT/Policy/Config/Start/HideSleep')).toBe(false);
  });

  it('reads Status and Results back and compares values as Windows returns them', () => {
    const a = readAnswers(
      '<Status><CmdID>2</CmdID><MsgRef>1</MsgRef><CmdRef>g</CmdRef><Cmd>Get</Cmd><Data>200</Data></Status>' +
        '<Results><CmdID>3</CmdID><MsgRef>1</MsgRef><CmdRef>g</CmdRef><Item><Source><LocURI>./x</LocURI></Source><Data>&lt;Enabled/&gt;</Data></Item></Results>',
    );
    expect(a.statuses).toEqual([{ cmdRef: 'g', cmd: 'Get', code: '200' }]);
    expect(a.results.get('g')).toEqual([{ locUri: './x', data: '&lt;Enabled/&gt;' }]);
    const sent =
      '\n      &lt;enabled/&gt;&lt;data id=&quot;A&quot; value=&quot;1&quot;/&gt;&lt;data id=&quot;B&quot; value=&quot;2&quot;/&gt;\n    ';
    const back = '&lt;Enabled/&gt;&lt;Data id="B" value="2"/&gt;&lt;Data id="A" value="1"/&gt;';
    expect(valuesMatch(sent, back, 'chr')).toBe(true);
    expect(valuesMatch(sent, back.replace('value="2"', 'value="3"'), 'chr')).toBe(false);
    expect(valuesMatch('<disabled/>', '<enabled/>', 'chr')).toBe(false);
    expect(valuesMatch('AT&amp;T', 'AT&T', 'chr')).toBe(true);
    expect(valuesMatch('True', 'true', 'bool')).toBe(true);
    expect(valuesMatch('15', '16', 'int')).toBe(false);
    expect(normalizeValue(' 15 ', 'int')).toBe('15');
  });
});
