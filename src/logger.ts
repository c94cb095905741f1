import pino, { type Logger, type LoggerOptions } from 'pino';

/** Paths whose values never reach a log line, wherever they appear. */
const redactedPaths = [
  'password',
  '*.password',
  'password_confirmation',
  '*.password_confirmation',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'secrets',
  '*.secrets',
  'serverPrivateKey',
  '*.serverPrivateKey',
  'appleScepChallenge',
  '*.appleScepChallenge',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["mdm-signature"]',
  'node_key',
  '*.node_key',
  'orbit_node_key',
  '*.orbit_node_key',
  'challenge',
  '*.challenge',
  'key',
  '*.key',
];

function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: { paths: redactedPaths, censor: '[REDACTED]' },
    serializers: {
      req: (req: { id: string; method: string; url: string; headers: Record<string, unknown> }) => ({
        id: req.id,
        method: req.method,
        // Query strings may carry tokens (enroll tokens, ?token= downloads): log the path only.
        url: req.url.split('?')[0],
      }),
    },
  };
}

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return destination ? pino(loggerOptions(level), destination as any) : pino(loggerOptions(level));
}
