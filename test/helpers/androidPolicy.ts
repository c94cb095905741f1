/**
 * The ten status-reporting switches every Android host policy must carry, restated here on
 * purpose (not imported from src/android/profiles/merge.ts) so a change there fails the tests.
 */
export const expectedStatusReportingSettings = {
  applicationReportsEnabled: true,
  commonCriteriaModeEnabled: true,
  deviceSettingsEnabled: true,
  displayInfoEnabled: true,
  hardwareStatusEnabled: true,
  memoryInfoEnabled: true,
  networkInfoEnabled: true,
  powerManagementEventsEnabled: true,
  softwareInfoEnabled: true,
  systemPropertiesEnabled: true,
};
