import { describe, expect, it } from 'vitest';
import { buildCommandPlist } from '../../src/apple/commands/build.js';
import { redactApplePlist } from '../../src/apple/commands/redact.js';
import { parsePlistDict } from '../../src/apple/plist/parse.js';
import { redactSyncml } from '../../src/windows/redact.js';

const commandOf = (b: Buffer) => parsePlistDict(b).Command as Record<string, unknown>;

describe('redactApplePlist', () => {
  it('replaces secrets at any depth and of any type with a string, keeping the plist well-formed', () => {
    const cases: [string, Record<string, unknown>, Record<string, unknown>][] = [
      ['DeviceLock', { PIN: '123456', Message: 'Call IT' }, { PIN: '******', Message: 'Call IT' }],
      ['EraseDevice', { PIN: '654321', ObliterationBehavior: 'Default' }, { PIN: '******' }],
      ['ClearPasscode', { UnlockToken: Buffer.from('token-bytes') }, { UnlockToken: '******' }],
      [
        'SetFirmwarePassword',
        { CurrentPassword: 'old-fw', NewPassword: 'new-fw', AllowOroms: true },
        { CurrentPassword: '******', NewPassword: '******', AllowOroms: true },
      ],
      ['VerifyRecoveryLock', { Password: 'rl-pass' }, { Password: '******' }],
      [
        'AccountConfiguration',
        { AutoSetupAdminAccounts: [{ shortName: 'it', passwordHash: Buffer.from('hash') }] },
        { AutoSetupAdminAccounts: [{ shortName: 'it', passwordHash: '******' }] },
      ],
      [
        'EnableLostMode',
        { Message: 'Lost', PhoneNumber: '+1 555 0100' },
        { Message: 'Lost', PhoneNumber: '+1 555 0100' },
      ],
    ];
    for (const [type, fields, expected] of cases) {
      const { plist } = buildCommandPlist(type, fields, 'CMD-1');
      const out = redactApplePlist(plist)!;
      const text = out.toString('utf8');
      for (const [k, v] of Object.entries(fields)) {
        if (k in expected && expected[k] === '******') {
          const secret = Buffer.isBuffer(v) ? v.toString('base64') : String(v);
          expect(text, `${type}.${k}`).not.toContain(secret);
        }
      }
      expect(commandOf(out)).toMatchObject({ RequestType: type, ...expected });
      expect(parsePlistDict(out).CommandUUID).toBe('CMD-1');
    }
  });

  it('returns the same bytes when there is nothing secret, and null for what it cannot read', () => {
    const { plist } = buildCommandPlist('ProfileList', { ManagedOnly: false });
    expect(redactApplePlist(plist)).toBe(plist);
    expect(redactApplePlist(Buffer.from('<plist/>'))).toBeNull();
    expect(redactApplePlist(Buffer.from('bplist00garbage', 'latin1'))).toBeNull();
    // An entity-encoded key is still the key.
    const sneaky = Buffer.from(
      '<plist version="1.0"><dict><key>P&#73;N</key><string>111111</string></dict></plist>',
    );
    expect(redactApplePlist(sneaky)!.toString()).not.toContain('111111');
  });
});

describe('redactSyncml', () => {
  it('redacts the Data of RemoteLock NewPINValue and account passwords only', () => {
    const result =
      '<Results><CmdID>3</CmdID><MsgRef>1</MsgRef><CmdRef>x</CmdRef><Item><Source><LocURI>./Vendor/MSFT/RemoteLock/NewPINValue</LocURI></Source><Data>8675309</Data></Item></Results>';
    const out = redactSyncml(result)!;
    expect(out).not.toContain('8675309');
    expect(out).toContain('<Data>******</Data>');
    const add =
      '<Add><CmdID>c</CmdID><Item><Target><LocURI>./Device/Vendor/MSFT/Accounts/Users/it/Password</LocURI></Target><Data>hunter2</Data></Item></Add>';
    expect(redactSyncml(add)).not.toContain('hunter2');
    const plain =
      '<Exec><CmdID>c</CmdID><Item><Target><LocURI>./Device/Vendor/MSFT/RemoteWipe/doWipe</LocURI></Target><Data></Data></Item></Exec>';
    expect(redactSyncml(plain)).toBe(plain);
    expect(redactSyncml('')).toBe('');
    expect(redactSyncml('<not-closed>')).toBeNull();
  });
});
