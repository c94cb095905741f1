import { sql } from 'kysely';
import type { EntityTables } from '../../mdm/profiles/targeting.js';

/** Apple hosts take part when they have an enabled device-channel enrollment (enrollment id = ne.id). */
const appleEnrollmentJoin = sql`JOIN nano_enrollments ne ON ne.device_id = h.uuid AND ne.enabled = 1 AND ne.type IN ('Device', 'User Enrollment (Device)')`;

export const appleProfileTables: EntityTables = {
  defTable: 'mdm_apple_configuration_profiles',
  defKey: 'profile_uuid',
  labelTable: 'mdm_configuration_profile_labels',
  labelKey: 'apple_profile_uuid',
  hostTable: 'host_mdm_apple_profiles',
  hostKey: 'profile_uuid',
  contentCol: 'checksum',
  defIdentifierCol: 'identifier',
  hostIdentifierCol: 'profile_identifier',
  hostNameCol: 'profile_name',
  platforms: ['darwin', 'ios', 'ipados'],
  enrollmentJoin: appleEnrollmentJoin,
  statusKeyOrder: 'definition_host',
  // As Fleet filters them: the FileVault profile is for Macs only, never iPhones or iPads.
  pairFilter: sql`(h.platform = 'darwin' OR p.identifier <> 'com.fleetdm.fleet.mdm.filevault')`,
};

export const appleDeclarationTables: EntityTables = {
  defTable: 'mdm_apple_declarations',
  defKey: 'declaration_uuid',
  labelTable: 'mdm_declaration_labels',
  labelKey: 'apple_declaration_uuid',
  hostTable: 'host_mdm_apple_declarations',
  hostKey: 'declaration_uuid',
  contentCol: 'token',
  defIdentifierCol: 'identifier',
  hostIdentifierCol: 'declaration_identifier',
  hostNameCol: 'declaration_name',
  // Declarations travel by DDM: their host rows name no command.
  commandColumns: false,
  platforms: ['darwin', 'ios', 'ipados'],
  enrollmentJoin: appleEnrollmentJoin,
};
