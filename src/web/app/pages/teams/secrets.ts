/** A new enroll secret: 24 random bytes, base64url (32 characters), like Fleet's generated ones. */
export function newEnrollSecret(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '');
}

/** The secret with all but its last four characters hidden. */
export function maskSecret(secret: string): string {
  return `${'•'.repeat(Math.max(4, Math.min(12, secret.length - 4)))}${secret.slice(-4)}`;
}
