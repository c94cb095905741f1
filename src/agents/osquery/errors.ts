/**
 * An error answered to osquery in Fleet's osquery form: `{"error": ..., "node_invalid": true}` with
 * 401 when the agent must enroll again (osquery re-enrolls on `node_invalid`), `{"error": ...}`
 * with `status` otherwise. `logReason` is what the server log says: never a node key or a secret.
 */
export class OsqueryError extends Error {
  constructor(
    message: string,
    readonly nodeInvalid: boolean,
    readonly logReason: string,
    readonly status = nodeInvalid ? 401 : 500,
  ) {
    super(message);
  }
}

export const missingNodeKey = () =>
  new OsqueryError('authentication error: missing node key', true, 'missing node key');

/** Fleet echoes the rejected key back to the agent that sent it; the log never carries it. */
export const invalidNodeKey = (nodeKey: string) =>
  new OsqueryError(`authentication error: invalid node key: ${nodeKey}`, true, 'invalid node key');

/** Fleet's answer to an unknown enroll secret (VerifyEnrollSecret's not-found error, wrapped). */
export const invalidEnrollSecret = () =>
  new OsqueryError(
    'enroll failed: no matching secret found: EnrollSecret was not found in the datastore',
    true,
    'invalid enroll secret',
  );

/**
 * An error as the log may show it: database drivers attach the failed statement with its values
 * (`sql`), which on these endpoints can hold a node key or an escrowed key, so only the kind,
 * message, code and stack are kept.
 */
export function loggableError(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return { message: String(err) };
  return { type: err.name, message: err.message, code: (err as { code?: unknown }).code, stack: err.stack };
}
