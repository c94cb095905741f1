/**
 * Agent options (Fleet's `agent_options`): `{config, overrides: {platforms: {<platform>: config}},
 * command_line_flags, extensions, ...}`, per team with the global ones as the fallback. osquery's
 * `config` endpoint answers with the one `config` object that applies to the host.
 */
type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The osquery configuration for a host, as Fleet's AgentOptionsForHost picks it: the team's agent
 * options when the team has its own (any object, even an empty one), else the global ones; within
 * them the host platform's override when there is one (it replaces `config` whole), else `config`.
 */
export function osqueryConfigFor(teamOptions: unknown, globalOptions: unknown, platform: string): Json {
  const options = isObject(teamOptions) ? teamOptions : globalOptions;
  if (!isObject(options)) return {};
  const overrides = isObject(options.overrides) ? options.overrides : {};
  const platforms = isObject(overrides.platforms) ? overrides.platforms : {};
  const chosen = platform && Object.hasOwn(platforms, platform) ? platforms[platform] : options.config;
  return isObject(chosen) ? structuredClone(chosen) : {};
}

/** A non-negative integer from a number or a numeric string (Go's cast.ToUintE); else undefined. */
function toUint(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v) && v >= 0) return v;
  if (typeof v === 'string' && /^\d{1,9}$/.test(v.trim())) return Number(v.trim());
  return undefined;
}

export interface AgentIntervals {
  distributed_interval?: number;
  logger_tls_period?: number;
  config_tls_refresh?: number;
}

/**
 * The check-in intervals the configuration sets (Fleet records them when it hands the config
 * out): distributed_interval, logger_tls_period, and config_refresh (stored as config_tls_refresh).
 */
export function intervalsFromConfig(config: Json): AgentIntervals {
  const options = isObject(config.options) ? config.options : {};
  const out: AgentIntervals = {};
  const distributed = toUint(options.distributed_interval);
  if (distributed !== undefined) out.distributed_interval = distributed;
  const logger = toUint(options.logger_tls_period);
  if (logger !== undefined) out.logger_tls_period = logger;
  const refresh = toUint(options.config_refresh);
  if (refresh !== undefined) out.config_tls_refresh = refresh;
  return out;
}
