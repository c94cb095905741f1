import type { Migration } from 'kysely';
import * as m0001 from './0001_foundation.js';
import * as m0002 from './0002_admin.js';
import * as m0003 from './0003_apple_scep.js';
import * as m0004 from './0004_apple_mdm.js';
import * as m0005 from './0005_profiles.js';
import * as m0006 from './0006_windows.js';
import * as m0007 from './0007_windows_profiles.js';
import * as m0008 from './0008_windows_wstep.js';
import * as m0009 from './0009_profile_status_order.js';
import * as m0010 from './0010_apple_enrollment_claims.js';
import * as m0011 from './0011_rate_limits.js';
import * as m0012 from './0012_session_token_hash.js';
import * as m0013 from './0013_user_invites_password_reset.js';
import * as m0014 from './0014_host_list_filters.js';
import * as m0015 from './0015_agents_disk_encryption.js';
import * as m0016 from './0016_osquery_vitals.js';
import * as m0019 from './0019_apple_dep.js';
import * as m0020 from './0020_idp_accounts.js';
import * as m0021 from './0021_apple_setup_experience.js';
import * as m0022 from './0022_sso_eula.js';
import * as m0023 from './0023_android.js';
import * as m0024 from './0024_android_software.js';
import * as m0025 from './0025_apple_scep_renewal.js';
import * as m0026 from './0026_certificate_lifecycle.js';
import * as m0027 from './0027_import_runs.js';
import * as m0028 from './0028_fleet_variables.js';
import * as m0029 from './0029_certificate_authorities.js';
import * as m0030 from './0030_apple_device_facts.js';
import * as m0031 from './0031_windows_push.js';
import * as m0032 from './0032_windows_user_sign_in.js';
import * as m0034 from './0034_profile_status_write_path.js';

/** Every migration, in order. Names never change once released; new ones go at the end. */
export const migrations: Record<string, Migration> = {
  '0001_foundation': m0001,
  '0002_admin': m0002,
  '0003_apple_scep': m0003,
  '0004_apple_mdm': m0004,
  '0005_profiles': m0005,
  '0006_windows': m0006,
  '0007_windows_profiles': m0007,
  '0008_windows_wstep': m0008,
  '0009_profile_status_order': m0009,
  '0010_apple_enrollment_claims': m0010,
  '0011_rate_limits': m0011,
  '0012_session_token_hash': m0012,
  '0013_user_invites_password_reset': m0013,
  '0014_host_list_filters': m0014,
  '0015_agents_disk_encryption': m0015,
  '0016_osquery_vitals': m0016,
  '0019_apple_dep': m0019,
  '0020_idp_accounts': m0020,
  '0021_apple_setup_experience': m0021,
  '0022_sso_eula': m0022,
  '0023_android': m0023,
  '0024_android_software': m0024,
  '0025_apple_scep_renewal': m0025,
  '0026_certificate_lifecycle': m0026,
  '0027_import_runs': m0027,
  '0028_fleet_variables': m0028,
  '0029_certificate_authorities': m0029,
  '0030_apple_device_facts': m0030,
  '0031_windows_push': m0031,
  '0032_windows_user_sign_in': m0032,
  '0034_profile_status_write_path': m0034,
};
