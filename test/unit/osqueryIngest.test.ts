import { describe, expect, it } from 'vitest';
import {
  fileVaultKeyFromKeyFile,
  fileVaultKeyFromLines,
  linuxDiskEncrypted,
} from '../../src/agents/osquery/ingest/diskEncryption.js';
import { boolOf, floatOf, IngestError, intOf } from '../../src/agents/osquery/ingest/hostUpdate.js';
import {
  leftOtherMdm,
  mdmNameFromServerUrl,
  reportedAppleMdm,
  reportedWindowsMdm,
} from '../../src/agents/osquery/ingest/mdm.js';
import {
  installedAppleProfiles,
  macProfilesQuery,
  readBackCmdId,
  windowsReadBack,
  windowsReadBackQuery,
} from '../../src/agents/osquery/ingest/profiles.js';
import {
  osqueryFlagsVitals,
  osVersionText,
  osVersionVitals,
  systemInfoVitals,
  uptimeVitals,
  windowsVersionVitals,
} from '../../src/agents/osquery/ingest/vitals.js';
import { isOurDiscoveryUrl } from '../../src/agents/osquery/ingest/detailIngest.js';

describe('osquery values (Go parsing rules)', () => {
  it('integers, floats and booleans as Fleet reads them', () => {
    expect(intOf('', 'x')).toBe(0);
    expect(intOf(' 42 ', 'x')).toBe(42);
    expect(() => intOf('4.2', 'x')).toThrow(IngestError);
    expect(floatOf('10e-10', 'x')).toBe(1e-9);
    expect(() => floatOf('lots', 'x')).toThrow(IngestError);
    expect(['1', 't', 'True'].map((v) => boolOf(v, 'x'))).toEqual([true, true, true]);
    expect(['0', 'F', 'false'].map((v) => boolOf(v, 'x'))).toEqual([false, false, false]);
    expect(() => boolOf('yes', 'x')).toThrow(IngestError);
  });
});

describe('host vitals', () => {
  it('OS version text per Fleet rules', () => {
    expect(osVersionText({ name: 'Ubuntu', version: '22.04.3 LTS (Jammy Jellyfish)' })).toBe('22.04.3 LTS');
    expect(osVersionText({ name: 'macOS', major: '14', minor: '2', patch: '1', extra: '(a)' })).toBe(
      '14.2.1 (a)',
    );
    expect(osVersionText({ name: 'Arch Linux', major: '0', minor: '0', patch: '0', build: 'rolling' })).toBe(
      'rolling',
    );
    expect(
      osVersionVitals([{ name: 'CentOS 6', platform: '', major: '6', minor: '10', patch: '0' }]),
    ).toMatchObject({
      platform: 'centos',
      os_version: 'CentOS 6 6.10.0',
    });
    expect(
      osVersionVitals([{ name: 'Microsoft Windows 11', platform: 'windows' }])?.os_version,
    ).toBeUndefined();
    expect(osVersionVitals([])).toBeUndefined();
    expect(
      windowsVersionVitals([
        {
          name: 'Microsoft Windows Server 2022',
          display_version: '',
          version: '10.0.20348.1',
          installation_type: 'Server Core',
        },
      ]),
    ).toEqual({ os_version: 'Windows Server 2022 (Server Core) 10.0.20348.1' });
  });

  it('system_info: placeholder serials are dropped, -1 keeps the previous one', () => {
    const base = { physical_memory: '1024', cpu_physical_cores: '2', cpu_logical_cores: '4' };
    expect(systemInfoVitals([{ ...base, hardware_serial: 'Default string' }])?.hardware_serial).toBe('');
    expect(systemInfoVitals([{ ...base, hardware_serial: '-1' }])).not.toHaveProperty('hardware_serial');
    expect(systemInfoVitals([{ ...base, hardware_serial: 'C02X' }])).toMatchObject({
      hardware_serial: 'C02X',
      memory: 1024,
    });
  });

  it('uptime in nanoseconds; the restart time moves only forward and by more than 30 s', () => {
    const now = Date.UTC(2024, 0, 1, 12, 0, 0);
    const first = uptimeVitals([{ total_seconds: '60' }], now, null);
    expect(first).toEqual({ uptime: 60e9, last_restarted_at: '2024-01-01 11:59:00.000' });
    expect(uptimeVitals([{ total_seconds: '70' }], now + 10_000, first!.last_restarted_at!)).toEqual({
      uptime: 70e9,
    });
    expect(
      uptimeVitals([{ total_seconds: '10' }], now + 3_600_000, first!.last_restarted_at!)?.last_restarted_at,
    ).toBe('2024-01-01 12:59:50.000');
  });

  it('osquery flags: config_tls_refresh wins over config_refresh', () => {
    expect(osqueryFlagsVitals([{ name: 'config_refresh', value: '60' }])).toEqual({ config_tls_refresh: 60 });
    expect(
      osqueryFlagsVitals([
        { name: 'config_refresh', value: '60' },
        { name: 'config_tls_refresh', value: '' },
        { name: 'distributed_interval', value: '10' },
      ]),
    ).toEqual({ config_tls_refresh: 0, distributed_interval: 10 });
  });
});

describe('MDM state', () => {
  it('guesses well-known MDMs from the URL', () => {
    expect(mdmNameFromServerUrl('https://a.kandji.io/mdm')).toBe('Kandji');
    expect(mdmNameFromServerUrl('https://ds1234.awmdm.com/x')).toBe('VMware Workspace ONE');
    expect(mdmNameFromServerUrl('https://example.com/mdm')).toBe('');
  });

  it('macOS: ours by payload identifier; bad booleans are refused', () => {
    const row = {
      enrolled: 'true',
      server_url: 'https://x.example/mdm?enrollment_reference=abc',
      installed_from_dep: '',
      payload_identifier: 'com.fleetdm.fleet.mdm.apple',
    };
    expect(reportedAppleMdm([row], ['com.fleetdm.fleet.mdm.apple'])).toMatchObject({
      enrolled: true,
      installed_from_dep: false,
      mdm_name: 'Fleet',
      server_url: 'https://x.example/mdm',
      fleet_enroll_ref: 'abc',
    });
    expect(reportedAppleMdm([], [])).toBeUndefined();
    expect(() => reportedAppleMdm([{ ...row, enrolled: 'maybe' }], [])).toThrow(IngestError);
    expect(() => reportedAppleMdm([{ ...row, enrolled: '' }], [])).toThrow(IngestError);
  });

  it('Windows: enrolled by discovery URL; automatic unless our record says the user enrolled from Settings', () => {
    const row = {
      discovery_service_url: 'https://mdm.jamf.example/discovery',
      aad_resource_id: 'r',
      provider_id: 'X',
      installation_type: 'Client',
    };
    const never = () => false;
    expect(reportedWindowsMdm([row], never, undefined)).toMatchObject({
      enrolled: true,
      installed_from_dep: true,
      mdm_name: 'Jamf',
    });
    expect(reportedWindowsMdm([row], never, true)).toMatchObject({ installed_from_dep: false });
    expect(reportedWindowsMdm([row, row], never, undefined)).toBeUndefined();
    expect(reportedWindowsMdm([{ ...row, discovery_service_url: '' }], never, undefined)).toMatchObject({
      enrolled: false,
      installed_from_dep: false,
      mdm_name: '',
    });
  });

  it('the critical window ends when the host has left its other MDM', () => {
    const m = {
      enrolled: false,
      server_url: '',
      installed_from_dep: true,
      mdm_name: '',
      fleet_enroll_ref: '',
      is_server: false,
    };
    expect(leftOtherMdm('darwin', m)).toBe(true);
    expect(leftOtherMdm('darwin', { ...m, installed_from_dep: false })).toBe(false);
    expect(leftOtherMdm('windows', { ...m, installed_from_dep: false })).toBe(true);
    expect(leftOtherMdm('windows', { ...m, enrolled: true })).toBe(false);
  });

  it('our Windows discovery URL: same host, our path or the well-known one', () => {
    expect(
      isOurDiscoveryUrl(
        'https://FLOTILLA.example.com/api/mdm/microsoft/discovery',
        'https://flotilla.example.com',
      ),
    ).toBe(true);
    expect(
      isOurDiscoveryUrl(
        'https://flotilla.example.com/EnrollmentServer/Discovery.svc',
        'https://flotilla.example.com',
      ),
    ).toBe(true);
    expect(
      isOurDiscoveryUrl(
        'https://other.example.com/api/mdm/microsoft/discovery',
        'https://flotilla.example.com',
      ),
    ).toBe(false);
    expect(isOurDiscoveryUrl('not a url', 'https://flotilla.example.com')).toBe(false);
  });
});

describe('disk encryption', () => {
  it('key file: only for an encrypted disk; empty key = encrypted without escrow; base64 checked', () => {
    expect(fileVaultKeyFromKeyFile([])).toBeUndefined();
    expect(fileVaultKeyFromKeyFile([{ encrypted: '0', filevault_key: 'AAAA' }])).toBeUndefined();
    expect(fileVaultKeyFromKeyFile([{ encrypted: '1', filevault_key: '' }])).toBe('');
    expect(fileVaultKeyFromKeyFile([{ encrypted: '1', filevault_key: 'QUJD' }])).toBe('QUJD');
    expect(() => fileVaultKeyFromKeyFile([{ encrypted: '1', filevault_key: 'not base64!' }])).toThrow(
      IngestError,
    );
  });

  it('file lines: hex decoded and joined with newlines; any unencrypted row means nothing', () => {
    expect(fileVaultKeyFromLines([{ encrypted: '1', hex_line: '' }])).toBe('');
    expect(
      fileVaultKeyFromLines([
        { encrypted: '1', hex_line: '00ff' },
        { encrypted: '1', hex_line: '0a' },
      ]),
    ).toBe(Buffer.from([0x00, 0xff, 0x0a, 0x0a]).toString('base64'));
    expect(
      fileVaultKeyFromLines([
        { encrypted: '1', hex_line: '41' },
        { encrypted: '0', hex_line: '42' },
      ]),
    ).toBeUndefined();
    expect(() => fileVaultKeyFromLines([{ encrypted: '1', hex_line: 'xyz' }])).toThrow(IngestError);
  });

  it('Linux: the root volume decides', () => {
    expect(linuxDiskEncrypted([{ path: '/boot', encrypted: '1' }])).toBe(false);
    expect(linuxDiskEncrypted([{ path: '/', encrypted: '1' }])).toBe(true);
  });
});

describe('profile checks', () => {
  it('macOS: identifiers installed; the user channel joins the query when there is one', () => {
    expect(installedAppleProfiles([])).toBeUndefined();
    expect([...installedAppleProfiles([{ identifier: 'a' }, { identifier: '' }])!]).toEqual([['a', '']]);
    expect(macProfilesQuery(undefined)).not.toContain('macos_user_profiles');
    expect(macProfilesQuery('o"neil')).toContain('username = "o""neil" AND');
  });

  it('Windows: Result twins with integer CmdIDs, answers mapped back to the profile LocURIs', () => {
    const config = './Device/Vendor/MSFT/Policy/Config/Camera/AllowCamera';
    const other = "./Device/Vendor/MSFT/Defender/Configuration/It's";
    const q = windowsReadBackQuery([config, other, config])!;
    expect(q).toContain('/Policy/Result/Camera/AllowCamera');
    expect(q).toContain('It&apos;s');
    expect(q.match(/<Get>/g)).toHaveLength(2);
    expect(readBackCmdId(config)).toMatch(/^\d+$/);
    expect(Number(readBackCmdId(config))).toBeLessThan(2 ** 31);
    expect(windowsReadBackQuery([])).toBeUndefined();

    const id = readBackCmdId(config);
    const raw = `<?xml version="1.0" encoding="utf-16"?><SyncML xmlns="SYNCML:SYNCML1.2"><SyncBody><Status><CmdID>2</CmdID><MsgRef>1</MsgRef><CmdRef>${id}</CmdRef><Cmd>Get</Cmd><Data>200</Data></Status><Results><CmdID>3</CmdID><MsgRef>1</MsgRef><CmdRef>${id}</CmdRef><Item><Source><LocURI>x</LocURI></Source><Data>1</Data></Item></Results><Status><CmdID>4</CmdID><MsgRef>1</MsgRef><CmdRef>${readBackCmdId(other)}</CmdRef><Cmd>Get</Cmd><Data>404</Data></Status></SyncBody></SyncML>`;
    const read = windowsReadBack([{ raw_mdm_command_output: raw }], [config, other])!;
    expect(read.get(config)).toEqual({ code: '200', data: '1' });
    expect(read.get(other)).toEqual({ code: '404', data: undefined });
    expect(windowsReadBack([], [config])).toBeUndefined();
    expect(() => windowsReadBack([{ raw_mdm_command_output: '<SyncML><SyncBody>' }], [config])).toThrow(
      IngestError,
    );
    expect(() => windowsReadBack([{ raw_mdm_command_output: '' }], [config])).toThrow(IngestError);
  });
});
