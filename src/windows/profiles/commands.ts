import { randomUUID } from 'node:crypto';
import { prepareCommand, type PreparedCommand } from '../commands.js';
import { parseXmlFragment, textAt, unescapeXml, escapeXml, type XmlNode } from '../xml.js';
import { readCommand, type SyncCommand } from '../syncml/codec.js';
import { reservedReason } from './validate.js';

/**
 * The SyncML the profile manager sends: install commands built from a profile, Delete commands for
 * removals and Get commands for verification, plus reading the device's answers back.
 *
 * CmdIDs follow the Windows queue's convention: the first top-level command carries the command
 * UUID, every other (top-level or inside Atomic) `<uuid>.<n>`, so each Status maps back to it.
 */

/**
 * Command UUIDs of profile commands start with this, so the SyncML session's answer listener can
 * skip answers to other commands (admin commands, wipes) without a query. (Rows written before
 * the prefix existed are settled by the cron's sweep.)
 */
export const profileCommandPrefix = 'profile-';

/** A fresh command UUID for a profile install, removal or read-back command. */
export function newProfileCommandUuid(): string {
  return `${profileCommandPrefix}${randomUUID()}`;
}

export function isProfileCommandUuid(commandUuid: string): boolean {
  return commandUuid.startsWith(profileCommandPrefix);
}

/**
 * Install command for a profile. Sent as written (one Atomic stays one Atomic; several top-level
 * commands stay separate so one failing setting does not roll the others back), or wrapped in one
 * <Atomic> when `wrapInAtomic` (what older Fleet did with every profile).
 */
export function buildInstallCommand(
  syncml: string,
  commandUuid: string,
  opts: { wrapInAtomic?: boolean } = {},
): PreparedCommand {
  const already = parseXmlFragment(syncml).length === 1 && parseXmlFragment(syncml)[0].name === 'Atomic';
  const xml = opts.wrapInAtomic && !already ? `<Atomic>${syncml}</Atomic>` : syncml;
  return { ...prepareCommand(xml, commandUuid), targetLocUri: '' };
}

/** One top-level <Delete> per LocURI (never Atomic: removal is best effort, node by node). */
export function buildDeleteCommand(locUris: string[], commandUuid: string): PreparedCommand {
  const xml = locUris
    .map((u) => `<Delete><Item><Target><LocURI>${escapeXml(u)}</LocURI></Target></Item></Delete>`)
    .join('');
  return { ...prepareCommand(xml, commandUuid), targetLocUri: '' };
}

/** One top-level <Get> per LocURI, so a missing node fails only its own Get. */
export function buildGetCommand(locUris: string[], commandUuid: string): PreparedCommand {
  const xml = locUris
    .map((u) => `<Get><Item><Target><LocURI>${escapeXml(u)}</LocURI></Target></Item></Get>`)
    .join('');
  return { ...prepareCommand(xml, commandUuid), targetLocUri: '' };
}

/** CmdID → { verb, LocURIs } for every command (nested included) of a stored raw command. */
export function commandTargets(rawCommand: string): Map<string, { verb: string; locUris: string[] }> {
  const out = new Map<string, { verb: string; locUris: string[] }>();
  const walk = (nodes: XmlNode[]) => {
    for (const n of nodes) {
      const id = textAt(n, 'CmdID');
      const locUris = n.children
        .filter((c) => c.name === 'Item')
        .map((i) => textAt(i, 'Target', 'LocURI') ?? '');
      if (id) out.set(id, { verb: n.name, locUris });
      walk(n.children.filter((c) => c.name !== 'Item'));
    }
  };
  walk(parseXmlFragment(rawCommand));
  return out;
}

/**
 * LocURIs a removal may delete: Replace/Add targets (not Exec) of the install command outside the
 * server's own areas, or the targets of a Delete sent before (a removal held and sent again).
 */
export function deletableLocUris(rawCommand: string): string[] {
  const out: string[] = [];
  for (const t of commandTargets(rawCommand).values()) {
    if (t.verb !== 'Replace' && t.verb !== 'Add' && t.verb !== 'Delete') continue;
    for (const u of t.locUris) if (u && !isProtectedLocUri(u) && !out.includes(u)) out.push(u);
  }
  return out;
}

/**
 * Nodes never deleted by a removal: the server's own areas (enrollment, BitLocker, updates),
 * device information, and anything at or above a CSP root (./Device/Vendor/MSFT/Policy would wipe
 * every policy).
 */
export function isProtectedLocUri(locUri: string): boolean {
  if (reservedReason(locUri)) return true;
  if (/^\.\/(DevInfo|DevDetail|SyncML)(\/|$)/.test(locUri)) return true;
  const parts = locUri.replace(/^\.\//, '').split('/').filter(Boolean);
  const scoped = parts[0] === 'Device' || parts[0] === 'User' ? parts.slice(1) : parts;
  // Vendor/MSFT/<CSP> is a CSP root; a deletable setting lies below it.
  if (scoped[0] === 'Vendor' && scoped.length <= 3) return true;
  return scoped.length <= 1;
}

/** The device's answers to one command, read back from the stored raw result. */
export interface CommandAnswers {
  statuses: { cmdRef: string; cmd: string; code: string }[];
  results: Map<string, { locUri: string; data: string }[]>;
}

export function readAnswers(rawResult: string): CommandAnswers {
  const statuses: CommandAnswers['statuses'] = [];
  const results = new Map<string, { locUri: string; data: string }[]>();
  const walk = (cmds: SyncCommand[]) => {
    for (const c of cmds) {
      if (c.verb === 'Status' && c.cmdRef)
        statuses.push({ cmdRef: c.cmdRef, cmd: c.cmd ?? '', code: unescapeXml(c.data ?? '').trim() });
      if (c.verb === 'Results' && c.cmdRef) {
        results.set(c.cmdRef, [
          ...(results.get(c.cmdRef) ?? []),
          ...c.items.map((i) => ({ locUri: i.source ?? i.target ?? '', data: i.data ?? '' })),
        ]);
      }
      walk(c.children);
    }
  };
  walk(parseXmlFragment(rawResult).map(readCommand));
  return { statuses, results };
}

/**
 * Value comparison for verification. Both sides are unescaped and trimmed; ADMX policy values
 * (`<enabled/><data id=".." value=".."/>`) are compared semantically because Windows returns them
 * re-capitalised, re-escaped and re-ordered; booleans case-insensitively.
 */
export function valuesMatch(expected: string, actual: string, format: string): boolean {
  const a = normalizeValue(expected, format);
  const b = normalizeValue(actual, format);
  return a === b;
}

export function isAdmxValue(raw: string): boolean {
  return /^<\s*(enabled|disabled)\s*\/?>/i.test(unescapeDeep(raw).trim());
}

function unescapeDeep(s: string): string {
  const cdata = s.trim().match(/^<!\[CDATA\[([\s\S]*)\]\]>$/);
  return unescapeXml(cdata ? cdata[1] : s);
}

export function normalizeValue(raw: string, format: string): string {
  const v = unescapeDeep(raw).trim();
  if (isAdmxValue(raw)) {
    const state = /^<\s*enabled/i.test(v) ? 'enabled' : 'disabled';
    const data = [...v.matchAll(/<\s*data\s+([^>]*?)\/?>/gi)].map((m) => {
      const attrs = Object.fromEntries(
        [...m[1].matchAll(/(\w+)\s*=\s*"([^"]*)"/g)].map((x) => [x[1].toLowerCase(), unescapeXml(x[2])]),
      );
      return `${attrs.id ?? ''}=${attrs.value ?? ''}`;
    });
    return `admx:${state}:${data.sort().join('|')}`;
  }
  if (format === 'bool') return v.toLowerCase();
  if (format === 'int' && /^[+-]?\d+$/.test(v)) return String(Number(v));
  return v;
}
