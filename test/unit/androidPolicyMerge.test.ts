import { describe, expect, it } from 'vitest';
import { hostPolicy, mergeProfiles, statusReportingSettings } from '../../src/android/profiles/merge.js';
import { expectedStatusReportingSettings } from '../helpers/androidPolicy.js';

const p = (uuid: string, name: string, policy: Record<string, unknown>) => ({ uuid, name, policy });

describe('Android policy merge', () => {
  it('merges by name ascending, top-level key by key, the later profile winning whole values', () => {
    const merged = mergeProfiles([
      p('g-b', 'B passcode', { passwordPolicies: [{ passwordMinimumLength: 8 }], cameraDisabled: false }),
      p('g-a', 'A camera', { cameraDisabled: true, screenCaptureDisabled: true }),
      p('g-c', 'C passcode', { passwordPolicies: [{ passwordQuality: 'NUMERIC' }] }),
    ]);
    expect(merged.policy).toEqual({
      cameraDisabled: false,
      screenCaptureDisabled: true,
      passwordPolicies: [{ passwordQuality: 'NUMERIC' }],
    });
    expect(merged.settingsOrigin).toEqual({
      cameraDisabled: 'g-b',
      screenCaptureDisabled: 'g-a',
      passwordPolicies: 'g-c',
    });
    expect(merged.overridden).toEqual([]);
  });

  it('reports a profile all of whose keys a later one sets as overridden', () => {
    const merged = mergeProfiles([
      p('g-2', 'Zeta', { cameraDisabled: false, bluetoothDisabled: true }),
      p('g-1', 'Alpha', { cameraDisabled: true }),
      p('g-3', 'Beta', { bluetoothDisabled: false, usbFileTransferDisabled: true }),
    ]);
    // Alpha < Beta < Zeta: Zeta wins cameraDisabled and bluetoothDisabled; Alpha keeps nothing.
    expect(merged.overridden).toEqual(['g-1']);
    expect(merged.settingsOrigin).toEqual({
      cameraDisabled: 'g-2',
      bluetoothDisabled: 'g-2',
      usbFileTransferDisabled: 'g-3',
    });
  });

  it('orders by byte order (upper case before lower case), whatever the input order', () => {
    const a = mergeProfiles([p('g-x', 'apple', { k: 1 }), p('g-y', 'Banana', { k: 2 })]);
    const b = mergeProfiles([p('g-y', 'Banana', { k: 2 }), p('g-x', 'apple', { k: 1 })]);
    expect(a).toEqual(b);
    expect(a.policy).toEqual({ k: 1 });
    expect(a.overridden).toEqual(['g-y']);
  });

  it('is empty for no profiles, and the host policy always carries the ten status-reporting switches', () => {
    const merged = mergeProfiles([]);
    expect(merged).toEqual({ policy: {}, settingsOrigin: {}, overridden: [] });
    const policy = hostPolicy(mergeProfiles([p('g-1', 'One', { cameraDisabled: true })]));
    expect(policy).toEqual({
      cameraDisabled: true,
      statusReportingSettings: expectedStatusReportingSettings,
    });
    expect(Object.keys(statusReportingSettings)).toHaveLength(10);
  });

  it('does not share the inputs: changing the merged policy leaves the profiles as uploaded', () => {
    const input = p('g-1', 'One', { cameraDisabled: true });
    const policy = hostPolicy(mergeProfiles([input]));
    (policy.statusReportingSettings as Record<string, boolean>).memoryInfoEnabled = false;
    policy.cameraDisabled = false;
    expect(input.policy).toEqual({ cameraDisabled: true });
    expect(hostPolicy(mergeProfiles([input])).statusReportingSettings).toEqual(statusReportingSettings);
  });
});
