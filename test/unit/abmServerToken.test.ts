import { readFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createAbmKeyPair,
  decryptServerToken,
  parseDecryptedToken,
  ServerTokenError,
} from '../../src/apple/dep/serverToken.js';
import {
  bucketDevices,
  parseDevicePage,
  platformOfFamily,
  DepPageError,
} from '../../src/apple/dep/devices.js';
import { buildDepProfile, defaultDepProfile } from '../../src/apple/dep/profiles.js';
import { onCooldown, defaultDepSyncOptions } from '../../src/apple/dep/syncer.js';
import type { DepDevice } from '../../src/clients/dep/types.js';
import { toDbTime } from '../../src/db/dialect.js';
import { makeServerToken, otherCertificate, serverTokenPlaintext } from '../helpers/dep.js';

const vectors = new URL('../vectors/dep/', import.meta.url);
const vector = (name: string) => readFileSync(new URL(name, vectors));

describe('ABM server token (.p7m)', () => {
  const recipient = {
    certPem: vector('abm_server_token_test1_recipient.crt.pem').toString(),
    keyPem: vector('abm_server_token_test1_recipient.key.pem').toString(),
  };

  it('decrypts the reference token (S/MIME, BER EnvelopedData, AES-128) to the expected JSON', () => {
    const creds = decryptServerToken(vector('abm_server_token_test1.p7m'), recipient);
    expect(creds).toEqual(JSON.parse(vector('abm_server_token_test1_expected.json').toString()));
  });

  it('accepts the same token as bare base64 and as binary CMS', () => {
    const text = vector('abm_server_token_test1.p7m').toString();
    const body = text.slice(text.search(/\r?\n\r?\n/)).trim();
    const expected = JSON.parse(vector('abm_server_token_test1_expected.json').toString());
    expect(decryptServerToken(Buffer.from(body), recipient)).toEqual(expected);
    expect(decryptServerToken(Buffer.from(body.replace(/\s+/g, ''), 'base64'), recipient)).toEqual(expected);
  });

  it('decrypts a token openssl encrypted to a new ABM key pair', () => {
    const pair = createAbmKeyPair();
    const cert = new X509Certificate(pair.certPem);
    expect(cert.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(cert.checkPrivateKey(createPrivateKey(pair.keyPem))).toBe(true);
    const creds = {
      consumer_key: 'CK_1',
      consumer_secret: 'CS_1',
      access_token: 'AT_1',
      access_secret: 'AS_1',
      access_token_expiry: '2030-01-01T00:00:00Z',
    };
    const p7m = makeServerToken(pair.certPem, serverTokenPlaintext(creds));
    expect(decryptServerToken(p7m, pair)).toEqual(creds);
  });

  it('refuses a token encrypted to another key, and files that are no token', () => {
    const pair = createAbmKeyPair();
    const creds = { consumer_key: 'a', consumer_secret: 'b', access_token: 'c', access_secret: 'd' };
    const foreign = makeServerToken(
      otherCertificate(),
      serverTokenPlaintext({ ...creds, access_token_expiry: '2030-01-01T00:00:00Z' }),
    );
    expect(() => decryptServerToken(foreign, pair)).toThrow(ServerTokenError);
    expect(() => decryptServerToken(vector('abm_server_token_test1.p7m'), pair)).toThrow(ServerTokenError);
    for (const junk of [
      Buffer.alloc(0),
      Buffer.from('hello'),
      Buffer.from('Content-Type: application/pkcs7-mime\r\n\r\n!!!not base64!!!'),
      Buffer.from([0x30, 0x80, 0x01, 0x02]),
      Buffer.alloc(70 * 1024, 0x41),
    ]) {
      expect(() => decryptServerToken(junk, pair)).toThrow(ServerTokenError);
    }
  });

  it('reads the credentials between the MESSAGE markers and checks them', () => {
    const good = {
      consumer_key: 'CK',
      consumer_secret: 'CS',
      access_token: 'AT',
      access_secret: 'AS',
      access_token_expiry: '2026-01-17T11:02:21Z',
    };
    expect(parseDecryptedToken(Buffer.from(serverTokenPlaintext(good)))).toEqual(good);
    expect(() => parseDecryptedToken(Buffer.from('Content-Type: text/plain\r\n\r\nnot json'))).toThrow(
      ServerTokenError,
    );
    const { access_secret: _drop, ...missing } = good;
    expect(() => parseDecryptedToken(Buffer.from(serverTokenPlaintext(missing as typeof good)))).toThrow(
      ServerTokenError,
    );
    expect(() =>
      parseDecryptedToken(Buffer.from(serverTokenPlaintext({ ...good, access_token_expiry: 'soon' }))),
    ).toThrow(ServerTokenError);
  });
});

describe('DEP device pages', () => {
  it('keeps the latest op_date of duplicate records (Apple vector)', () => {
    const page = JSON.parse(vector('apple_mdm_clients_sync_modified_duplicates.json').toString());
    const { page: parsed } = parseDevicePage(page);
    const b = bucketDevices(parsed.devices);
    expect([...b.modified.keys()]).toEqual(['C112342756']);
    expect(b.modified.get('C112342756')!.op_date).toBe('2025-05-03T21:01:55Z');
    expect(b.added.size).toBe(0);
  });

  it('treats fetch records (no op_type) as added', () => {
    const { page } = parseDevicePage(JSON.parse(vector('micromdm_device_response.json').toString()));
    const b = bucketDevices(page.devices);
    expect([...b.added.keys()]).toEqual(['C02T0HL0GGC0']);
  });

  it('cancels adds, modifications and deletes by op_date', () => {
    const d = (serial: string, op_type: string, op_date: string): DepDevice => ({
      serial_number: serial,
      op_type,
      op_date,
    });
    const b = bucketDevices([
      d('A', 'added', '2025-01-01T00:00:00Z'),
      d('A', 'deleted', '2025-01-02T00:00:00Z'), // newer delete wins
      d('B', 'deleted', '2025-01-01T00:00:00Z'),
      d('B', 'added', '2025-01-02T00:00:00Z'), // re-added
      d('C', 'modified', '2025-01-01T00:00:00Z'),
      d('C', 'deleted', '2025-01-02T00:00:00Z'), // deleted after the change
      d('D', 'deleted', '2025-01-02T00:00:00Z'),
      d('D', 'modified', '2025-01-03T00:00:00Z'), // a change after the delete stays
      d('E', 'Added', '2025-01-01T00:00:00Z'), // op types are case-insensitive
      d('F', 'updated', '2025-01-01T00:00:00Z'), // unknown
    ]);
    expect([...b.added.keys()].sort()).toEqual(['B', 'E']);
    expect([...b.deleted.keys()].sort()).toEqual(['A', 'C', 'D']);
    expect([...b.modified.keys()]).toEqual(['D']);
    expect(b.unknown.map((x) => x.serial_number)).toEqual(['F']);
  });

  it('refuses pages that are not pages and drops records without a serial', () => {
    expect(() => parseDevicePage('garbage')).toThrow(DepPageError);
    expect(() => parseDevicePage({ devices: 'x', cursor: 'c' })).toThrow(DepPageError);
    expect(() => parseDevicePage({ devices: [] })).toThrow(DepPageError);
    const { page, dropped } = parseDevicePage({
      devices: [{ serial_number: 'OK1' }, { serial_number: '' }, { model: 'x' }, 'junk'],
      cursor: 'c',
      more_to_follow: false,
    });
    expect(page.devices.map((x) => x.serial_number)).toEqual(['OK1']);
    expect(dropped).toBe(3);
  });

  it('maps device families to platforms', () => {
    expect(platformOfFamily('Mac')).toBe('darwin');
    expect(platformOfFamily('iPhone')).toBe('ios');
    expect(platformOfFamily('iPod')).toBe('ios');
    expect(platformOfFamily('iPad')).toBe('ipados');
    expect(platformOfFamily(undefined)).toBe('darwin');
  });
});

describe('ADE profile', () => {
  const opts = { mdmUrl: 'https://mdm.example.com/', enrollToken: 'tok-1', endUserAuth: false };

  it('is Fleet’s default with the enroll URL and await_device_configured', () => {
    const p = buildDepProfile(defaultDepProfile, opts);
    expect(p).toEqual({
      profile_name: 'Fleet default enrollment profile',
      is_supervised: true,
      is_mdm_removable: false,
      url: 'https://mdm.example.com/api/mdm/apple/enroll?token=tok-1',
      await_device_configured: true,
    });
  });

  it('points url at the SSO page when end-user authentication is on, so the token never leaks', () => {
    const p = buildDepProfile(defaultDepProfile, { ...opts, endUserAuth: true });
    expect(p.configuration_web_url).toBe('https://mdm.example.com/mdm/sso');
    expect(p.url).toBe('https://mdm.example.com/mdm/sso');
  });

  it('keeps a custom profile’s settings, defaults is_mdm_removable to true, drops devices', () => {
    const p = buildDepProfile(
      {
        profile_name: 'Custom',
        skip_setup_items: ['Siri'],
        await_device_configured: false,
        devices: ['X'],
        unknown_key: 1,
        configuration_web_url: 'https://idp.example.com/start',
      },
      opts,
    );
    expect(p).toEqual({
      profile_name: 'Custom',
      is_mdm_removable: true,
      skip_setup_items: ['Siri'],
      await_device_configured: true,
      configuration_web_url: 'https://idp.example.com/start',
      url: 'https://idp.example.com/start',
    });
  });
});

describe('assignment cooldowns', () => {
  const now = Date.parse('2026-01-02T00:00:00Z');
  const at = (msAgo: number) => toDbTime(new Date(now - msAgo));
  const row = (response: string, msAgo: number, retry: number | null = null) => ({
    assign_profile_response: response,
    response_updated_at: at(msAgo),
    retry_after_seconds: retry,
  });

  it('holds FAILED for an hour and THROTTLED for a day or Apple’s retry_after_seconds', () => {
    expect(onCooldown(row('FAILED', 30 * 60_000), now, defaultDepSyncOptions)).toBe(true);
    expect(onCooldown(row('FAILED', 61 * 60_000), now, defaultDepSyncOptions)).toBe(false);
    expect(onCooldown(row('THROTTLED', 23 * 3600_000), now, defaultDepSyncOptions)).toBe(true);
    expect(onCooldown(row('THROTTLED', 25 * 3600_000), now, defaultDepSyncOptions)).toBe(false);
    expect(onCooldown(row('THROTTLED', 2 * 3600_000, 3600), now, defaultDepSyncOptions)).toBe(false);
    expect(onCooldown(row('THROTTLED', 30 * 60_000, 3600), now, defaultDepSyncOptions)).toBe(true);
    expect(onCooldown(row('SUCCESS', 1000), now, defaultDepSyncOptions)).toBe(false);
    expect(onCooldown(row('NOT_ACCESSIBLE', 1000), now, defaultDepSyncOptions)).toBe(false);
  });
});
