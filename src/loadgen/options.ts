import { z } from 'zod';

/**
 * The options of `flotilla sim`: argv is split into flags and values, then checked by one zod
 * schema, so every bad option gets a message naming it and nothing starts.
 */

export const defaultApnsListen = '127.0.0.1:2197';
export const defaultApnsDir = '.flotilla-sim';

/** Env vars that may carry the secrets instead of the command line (which others can read in `ps`). */
export const tokenEnvVar = 'FLOTILLA_SIM_TOKEN';
export const passwordEnvVar = 'FLOTILLA_SIM_PASSWORD';

export type AdminAuth = { token: string } | { email: string; password: string };

export interface HostPort {
  host: string;
  port: number;
}

export interface SimOptions {
  /** The server's base URL, without a trailing slash. */
  server: string;
  auth: AdminAuth;
  /** Team whose enroll secret the Windows PCs use (no team when absent). */
  team?: number;
  apple: number;
  windows: number;
  durationMs: number;
  think: { minMs: number; maxMs: number };
  rampPerSecond: number;
  /** Where the APNs stand-in listens; absent with --no-apns. */
  apnsListen?: HostPort;
  apnsDir: string;
  json: boolean;
}

/** What the command line asks for: a run, the APNs stand-in's settings only, or the usage. */
export type SimRequest =
  | { kind: 'run'; options: SimOptions }
  | { kind: 'apns-setup'; apnsListen: HostPort; apnsDir: string }
  | { kind: 'help' };

export class SimOptionError extends Error {}

const valued = [
  '--server',
  '--token',
  '--email',
  '--password',
  '--team',
  '--apple',
  '--windows',
  '--duration',
  '--think',
  '--ramp',
  '--apns-listen',
  '--apns-dir',
] as const;
const flags = ['--json', '--no-apns', '--apns-setup', '--help'] as const;

type Raw = Partial<Record<(typeof valued)[number], string> & Record<(typeof flags)[number], true>>;

/** `--name value` and `--name=value`; each option at most once. */
function tokenize(args: string[]): Raw {
  const raw: Record<string, string | true> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq > 0 ? arg.slice(0, eq) : arg;
    if (name in raw) throw new SimOptionError(`${name} is given twice`);
    if ((flags as readonly string[]).includes(name)) {
      if (eq > 0) throw new SimOptionError(`${name} takes no value`);
      raw[name] = true;
    } else if ((valued as readonly string[]).includes(name)) {
      const value = eq > 0 ? arg.slice(eq + 1) : args[++i];
      if (value === undefined || (eq < 0 && value.startsWith('--')))
        throw new SimOptionError(`${name} needs a value`);
      raw[name] = value;
    } else {
      throw new SimOptionError(`unknown option: ${arg.startsWith('--') ? name : arg}`);
    }
  }
  return raw as Raw;
}

const durationUnits: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `500ms`, `30s`, `5m`, `1h`, or a bare number of seconds. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * durationUnits[m[2] ?? 's']);
}

/** Adds a zod issue and gives up when `parse` finds nothing. */
function parsedWith<T>(parse: (s: string) => T | undefined, message: string) {
  return z.string().transform((s, ctx) => {
    const v = parse(s);
    if (v === undefined) {
      ctx.addIssue({ code: 'custom', message: `${message} (got ${JSON.stringify(s)})` });
      return z.NEVER;
    }
    return v;
  });
}

const maxDevices = 100_000;
const count = z
  .string()
  .regex(/^\d+$/, 'must be a whole number of devices')
  .transform(Number)
  .pipe(z.number().max(maxDevices, `must be at most ${maxDevices}`));

const duration = parsedWith(parseDuration, 'expected a time such as 60s, 5m or 500ms').pipe(
  z
    .number()
    .min(1000, 'must be at least 1s')
    .max(24 * 3_600_000, 'must be at most 24h'),
);

const think = parsedWith((s) => {
  const [a, b, extra] = s.split('..');
  if (extra !== undefined) return undefined;
  const minMs = parseDuration(a);
  const maxMs = b === undefined ? minMs : parseDuration(b);
  if (minMs === undefined || maxMs === undefined) return undefined;
  return { minMs, maxMs };
}, 'expected a time or a range such as 5s..30s')
  .refine((t) => t.minMs <= t.maxMs, 'the range must run from the shorter time to the longer')
  .refine((t) => t.maxMs <= 3_600_000, 'must be at most 1h')
  .refine((t) => t.maxMs >= 10, 'must be at least 10ms');

const ramp = parsedWith((s) => {
  const m = /^(\d+(?:\.\d+)?)(?:\/(s|m))?$/.exec(s.trim());
  if (!m) return undefined;
  return Number(m[1]) / (m[2] === 'm' ? 60 : 1);
}, 'expected devices per second such as 10/s (or per minute: 30/m)').pipe(
  z.number().gt(0, 'must be more than 0').max(10_000, 'must be at most 10000/s'),
);

export const hostPort = parsedWith((s) => {
  const m = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(s.trim());
  if (!m) return undefined;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return undefined;
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}, 'expected host:port such as 127.0.0.1:2197');

const serverUrl = z.string().transform((s, ctx) => {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    ctx.addIssue({
      code: 'custom',
      message: `expected a URL such as https://mdm.example.com (got ${JSON.stringify(s)})`,
    });
    return z.NEVER;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    ctx.addIssue({ code: 'custom', message: 'must be an http:// or https:// URL' });
    return z.NEVER;
  }
  if (u.username || u.password || u.search || u.hash) {
    ctx.addIssue({ code: 'custom', message: 'must be a base URL without credentials, query or fragment' });
    return z.NEVER;
  }
  return u.origin + u.pathname.replace(/\/+$/, '');
});

const runSchema = z
  .object({
    '--server': serverUrl.optional(),
    '--token': z.string().min(1, 'must not be empty').optional(),
    '--email': z.string().min(1, 'must not be empty').optional(),
    '--password': z.string().min(1, 'must not be empty').optional(),
    '--team': z
      .string()
      .regex(/^[1-9]\d{0,9}$/, 'must be a team id (a positive whole number)')
      .transform(Number)
      .optional(),
    '--apple': count.default(0),
    '--windows': count.default(0),
    '--duration': duration.default(60_000),
    '--think': think.default({ minMs: 5000, maxMs: 30_000 }),
    '--ramp': ramp.default(10),
    '--apns-listen': hostPort.default({ host: '127.0.0.1', port: 2197 }),
    '--apns-dir': z.string().min(1, 'must not be empty').default(defaultApnsDir),
    '--no-apns': z.literal(true).optional(),
    '--apns-setup': z.literal(true).optional(),
    '--json': z.literal(true).optional(),
    '--help': z.literal(true).optional(),
  })
  .strict();

/** Reads argv (and the two secret env vars); throws SimOptionError with a message for people. */
export function parseSimArgs(args: string[], env: NodeJS.ProcessEnv = process.env): SimRequest {
  const raw = tokenize(args);
  const parsed = runSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = issue.path[0] === undefined ? '' : `${String(issue.path[0])}: `;
    throw new SimOptionError(`${name}${issue.message}`);
  }
  const o = parsed.data;
  if (o['--help']) return { kind: 'help' };
  if (o['--apns-setup']) {
    if (o['--no-apns']) throw new SimOptionError('--apns-setup and --no-apns exclude each other');
    return { kind: 'apns-setup', apnsListen: o['--apns-listen'], apnsDir: o['--apns-dir'] };
  }
  if (!o['--server']) throw new SimOptionError('--server is required (the Flotilla base URL)');
  if (o['--apple'] + o['--windows'] === 0)
    throw new SimOptionError('nothing to simulate: give --apple N and/or --windows N');
  const token = o['--token'] ?? (env[tokenEnvVar] || undefined);
  const password = o['--password'] ?? (env[passwordEnvVar] || undefined);
  let auth: AdminAuth;
  if (o['--email']) {
    if (o['--token']) throw new SimOptionError('give either --token or --email/--password, not both');
    if (!password) throw new SimOptionError(`--email needs --password (or ${passwordEnvVar})`);
    auth = { email: o['--email'], password };
  } else if (o['--password']) {
    throw new SimOptionError('--password needs --email');
  } else if (token) {
    auth = { token };
  } else {
    throw new SimOptionError(
      `an admin API token is required: --token (or ${tokenEnvVar}), or --email/--password`,
    );
  }
  return {
    kind: 'run',
    options: {
      server: o['--server'],
      auth,
      team: o['--team'],
      apple: o['--apple'],
      windows: o['--windows'],
      durationMs: o['--duration'],
      think: o['--think'],
      rampPerSecond: o['--ramp'],
      apnsListen: o['--no-apns'] ? undefined : o['--apns-listen'],
      apnsDir: o['--apns-dir'],
      json: !!o['--json'],
    },
  };
}
