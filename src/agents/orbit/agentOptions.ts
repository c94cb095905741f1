import { linuxPlatforms } from '../../hosts/platforms.js';
/**
 * The part of orbit's config that comes from agent options (the team's, else the global ones):
 * the script timeout, osquery's command-line flags, the TUF update channels and the extensions
 * meant for this host. Keys Fleet leaves out when unset are left out here too.
 */

type Json = Record<string, unknown>;

export interface OrbitUpdateChannels {
  orbit: string;
  osqueryd: string;
  desktop: string;
}

export interface OrbitExtension {
  platform: string;
  channel: string;
}

export interface AgentOptionsPart {
  script_execution_timeout?: number;
  command_line_startup_flags?: unknown;
  extensions?: Record<string, OrbitExtension>;
  update_channels?: OrbitUpdateChannels;
}

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown) => (typeof v === 'string' ? v : '');

const linuxPlatformSet = new Set(linuxPlatforms);

/**
 * The extension platform name a host matches, from its osquery platform and CPU type (Fleet's
 * rule): Linux and Windows split by architecture, `darwin` is `macos`. Otherwise the platform is
 * kept, so a Linux host whose CPU type is not known yet (`ubuntu`) matches nothing and such a
 * Windows host matches `windows`.
 */
export function extensionPlatformOf(platform: string, cpuType: string): string {
  const x64 = cpuType === 'x86_64' || cpuType === 'amd64';
  const arm = cpuType === 'aarch64' || cpuType === 'arm64' || cpuType === 'ARM';
  if (linuxPlatformSet.has(platform)) {
    if (x64) return 'linux';
    if (cpuType === 'aarch64' || cpuType === 'arm64') return 'linux-arm64';
  }
  if (platform === 'darwin') return 'macos';
  if (platform === 'windows') {
    if (x64) return 'windows';
    if (arm) return 'windows-arm64';
  }
  return platform;
}

/** What the extension filter needs to know about the host (labels are looked up only if named). */
export interface ExtensionHost {
  platform: string;
  /** The CPU type osquery reported ('' until it has). */
  cpuType: string;
  /** Whether the host is a member of every label named (true for none). */
  memberOfAll(labelNames: string[]): Promise<boolean>;
}

/** The extensions for this host (platform and labels), without their label lists; undefined if none. */
async function extensionsFor(
  raw: unknown,
  host: ExtensionHost,
): Promise<Record<string, OrbitExtension> | undefined> {
  if (!isObject(raw)) return undefined;
  const entries = Object.entries(raw).filter(([, v]) => isObject(v)) as [string, Json][];
  if (entries.length === 0) return undefined;
  const wanted = extensionPlatformOf(host.platform, host.cpuType);
  const out: Record<string, OrbitExtension> = {};
  for (const [name, info] of entries) {
    if (str(info.platform) !== wanted) continue;
    const labels = Array.isArray(info.labels)
      ? info.labels.filter((l): l is string => typeof l === 'string')
      : [];
    if (labels.length && !(await host.memberOfAll(labels))) continue;
    out[name] = { platform: str(info.platform), channel: str(info.channel) };
  }
  return Object.keys(out).length ? out : undefined;
}

/** Orbit's config fields from one agent-options document. */
export async function agentOptionsPart(
  opts: Json | undefined,
  host: ExtensionHost,
): Promise<AgentOptionsPart> {
  const out: AgentOptionsPart = {};
  if (!opts) return out;
  const timeout = opts.script_execution_timeout;
  if (typeof timeout === 'number' && Number.isInteger(timeout) && timeout !== 0) {
    out.script_execution_timeout = timeout;
  }
  if (opts.command_line_flags !== undefined) out.command_line_startup_flags = opts.command_line_flags;
  const extensions = await extensionsFor(opts.extensions, host);
  if (extensions) out.extensions = extensions;
  const channels = opts.update_channels;
  if (isObject(channels)) {
    out.update_channels = {
      orbit: str(channels.orbit),
      osqueryd: str(channels.osqueryd),
      desktop: str(channels.desktop),
    };
  }
  return out;
}
