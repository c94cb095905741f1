import { hasSecrets } from './variables.js';
import { isScepProfile } from './scep.js';
import { isUserLocUri, type ProfileItem } from './validate.js';

/**
 * The settings of a profile the server reads back with Get to verify it. Left out: `./User/`
 * settings (a user may not be signed in when the Get runs), settings holding a secret (the
 * device's answer is stored, and a secret must never be), and SCEP profiles (Windows does not
 * keep the enrollment options readable; Fleet verifies them on acknowledgement). A profile with
 * nothing left is verified when the device acknowledges it.
 */
export function readBackItems(items: ProfileItem[]): ProfileItem[] {
  if (isScepProfile(items.map((it) => it.locUri))) return [];
  return items.filter(
    (it) => !isUserLocUri(it.locUri) && !hasSecrets(it.locUri) && !hasSecrets(it.data ?? ''),
  );
}
