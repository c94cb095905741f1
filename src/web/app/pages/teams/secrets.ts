/** The secret with all but its last four characters hidden. */
export function maskSecret(secret: string): string {
  return `${'•'.repeat(Math.max(4, Math.min(12, secret.length - 4)))}${secret.slice(-4)}`;
}
