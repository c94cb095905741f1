import * as plist from 'plist';
import { describe, expect, it } from 'vitest';
import {
  enrollmentIdentity,
  MdmRequestError,
  parseCommandReport,
  platformFromProductName,
} from '../../src/apple/checkin/messages.js';
import { parsePlist, parsePlistDict, PlistParseError } from '../../src/apple/plist/parse.js';

describe('enrollment ids (as NanoMDM derives them)', () => {
  it('covers device, user, Shared iPad and User Enrollment channels', () => {
    expect(enrollmentIdentity({ UDID: 'U1' })).toMatchObject({ id: 'U1', deviceId: 'U1', type: 'Device' });
    expect(enrollmentIdentity({ UDID: 'U1', UserID: 'A-B' })).toMatchObject({
      id: 'U1:A-B',
      deviceId: 'U1',
      type: 'User',
      userId: 'A-B',
    });
    expect(
      enrollmentIdentity({
        UDID: 'U1',
        UserID: 'FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF',
        UserShortName: 'ann@example.com',
      }),
    ).toMatchObject({
      id: 'U1:ann@example.com',
      type: 'Shared iPad',
    });
    expect(enrollmentIdentity({ EnrollmentID: 'E1' })).toMatchObject({
      id: 'E1',
      deviceId: 'E1',
      type: 'User Enrollment (Device)',
    });
    expect(enrollmentIdentity({ EnrollmentID: 'E1', EnrollmentUserID: 'EU' })).toMatchObject({
      id: 'E1:EU',
      type: 'User Enrollment',
    });
    // UDID wins over EnrollmentID.
    expect(enrollmentIdentity({ UDID: 'U1', EnrollmentID: 'E1' }).id).toBe('U1');
    expect(() => enrollmentIdentity({})).toThrow(MdmRequestError);
    expect(() => enrollmentIdentity({ UDID: 5 })).toThrow(/must be a string/);
  });

  it('validates reports and classifies platforms', () => {
    expect(parseCommandReport({ Status: 'Idle' }).commandUuid).toBeUndefined();
    expect(() => parseCommandReport({ Status: 'NotNow' })).toThrow(/missing CommandUUID/);
    expect(() => parseCommandReport({ Status: '' })).toThrow(/missing Status/);
    expect(platformFromProductName('iPhone15,2')).toBe('ios');
    expect(platformFromProductName('iPad13,1')).toBe('ipados');
    expect(platformFromProductName('Mac15,3')).toBe('darwin');
    expect(platformFromProductName(undefined)).toBe('darwin');
  });
});

describe('plist parser', () => {
  it('reads what the plist package writes, every value type', () => {
    const value = {
      s: 'a <b> & "c" \u00e9',
      n: 42,
      neg: -7,
      r: 1.5,
      t: true,
      f: false,
      d: new Date('2024-05-01T10:00:00Z'),
      data: Buffer.from([0, 1, 2, 250]),
      arr: [1, 'two', { three: 3 }],
      empty: {},
      emptyArr: [],
      emptyStr: '',
    };
    expect(parsePlist(plist.build(value))).toEqual(value);
  });

  it('accepts self-closing tags, comments and base64 with line breaks', () => {
    const xml =
      '<?xml version="1.0"?><!-- c --><!DOCTYPE plist PUBLIC "x" "y"><plist version="1.0"><dict><key>A</key><string/><key>B</key><data>\n\tAAEC\n\tAw==\n</data><key>C</key><dict/></dict></plist>';
    expect(parsePlistDict(xml)).toEqual({ A: '', B: Buffer.from([0, 1, 2, 3]), C: {} });
  });

  it('rejects malformed, binary, non-dict and hostile input', () => {
    for (const bad of [
      '',
      'garbage',
      '<plist><dict><key>a</key></dict></plist>',
      '<plist><dict><key>a</key><string>x</dict></plist>',
      '<plist><dict><key>a</key><integer>1x</integer></dict></plist>',
      '<plist><dict><key>a</key><data>!!</data></dict></plist>',
      '<plist><dict><key>__proto__</key><string>x</string></dict></plist>',
      '<plist><dict/></plist>trailing',
      '<plist><dict><key>a</key><string>&bogus;</string></dict></plist>',
      '<plist><unknown/></plist>',
      '<plist>' + '<array>'.repeat(100) + '</array>'.repeat(100) + '</plist>',
    ]) {
      expect(() => parsePlistDict(bad), bad).toThrow(PlistParseError);
    }
    expect(() => parsePlistDict(Buffer.from('bplist00\x00\x01'))).toThrow(/binary/);
    expect(() => parsePlistDict('<plist><array/></plist>')).toThrow(/not a dict/);
  });
});
