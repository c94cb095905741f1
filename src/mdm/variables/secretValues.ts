/** Decrypted secret values by name, as the expander reads them at delivery. */
export interface SecretValues {
  /** The values of the named secrets that exist (names without `$FLEET_SECRET_`). */
  values(names: string[]): Promise<Map<string, string>>;
}

/**
 * Fleet's text for secrets a profile names that do not exist (at upload and at delivery):
 * `Couldn't add. Secret variable "$FLEET_SECRET_X" missing from database`, plural for several.
 */
export function missingSecretsMessage(names: string[]): string {
  const quoted = names.map((n) => `"$FLEET_SECRET_${n}"`);
  return `Couldn't add. Secret variable${quoted.length > 1 ? 's' : ''} ${quoted.join(', ')} missing from database`;
}
