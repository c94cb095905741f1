import { readAnswers } from '../../../windows/profiles/commands.js';
import type { ReadBack } from '../../../windows/profiles/results.js';
import { child, escapeXml, parseXml, serializeNode, XmlError } from '../../../windows/xml.js';
import { IngestError, type Row } from './hostUpdate.js';

/**
 * The profile checks osquery runs for MDM: macOS lists its installed configuration profiles
 * (`macos_profiles`), Windows reads the host's managed settings back through fleetd's `mdm_bridge`
 * table (a local SyncML session). Both answers go to the same verifiers as the MDM protocol's own
 * checks (ProfileList, SyncML Get).
 */

/** Identifiers of the installed configuration profiles (osquery reports no PayloadUUID: ''). */
export function installedAppleProfiles(rows: Row[]): Map<string, string> | undefined {
  if (rows.length === 0) return undefined; // the extension table is not there
  return new Map(rows.filter((r) => r.identifier).map((r) => [r.identifier, '']));
}

const baseMacProfilesQuery = `
		SELECT
			display_name,
			identifier,
			install_date
		FROM
			macos_profiles
		WHERE
			type = "Configuration"`;

/**
 * Fleet's `mdm_config_profiles_darwin_with_user`: the device's profiles, plus the user channel's
 * when the host has a user enrollment (its short name as an SQLite string: quotes doubled).
 */
export function macProfilesQuery(userShortName: string | undefined): string {
  if (!userShortName) return baseMacProfilesQuery;
  return `${baseMacProfilesQuery}
			UNION

			SELECT
				display_name,
				identifier,
				install_date
			FROM
				macos_user_profiles
			WHERE
				username = "${userShortName.replaceAll('"', '""')}" AND
				type = "Configuration"`;
}

/**
 * A LocURI's CmdID in the read-back: a hash of the LocURI, so the answer maps back to it without
 * remembering what was sent (FNV-1a, kept below 2^31: mdm_bridge reads CmdIDs as integers).
 */
export function readBackCmdId(locUri: string): string {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(locUri, 'utf8')) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return String(h & 0x7fffffff);
}

/** Policy CSP settings are read at their Result twin (Config holds what was asked for, not applied). */
export function readBackTarget(locUri: string): string {
  return locUri.replace('/Policy/Config/', '/Policy/Result/');
}

/** The LocURIs that get a Get, each once with a distinct CmdID (a hash collision waits a round). */
function distinctTargets(locUris: string[]): Map<string, string> {
  const byId = new Map<string, string>();
  for (const u of locUris) {
    const id = readBackCmdId(u);
    if (!byId.has(id)) byId.set(id, u);
  }
  return byId;
}

/**
 * Fleet's `mdm_config_profiles_windows`: one `<Get>` per LocURI the host's verifying and verified
 * profiles set, run through mdm_bridge. Undefined when there is nothing to read back.
 */
export function windowsReadBackQuery(locUris: string[]): string | undefined {
  if (locUris.length === 0) return undefined;
  const gets = [...distinctTargets(locUris)]
    .map(
      ([id, u]) =>
        `<Get><CmdID>${id}</CmdID><Item><Target><LocURI>${escapeXml(readBackTarget(u))}</LocURI></Target></Item></Get>`,
    )
    .join('');
  // escapeXml leaves no single quote, so the SyncBody is a safe SQL string literal.
  return `SELECT raw_mdm_command_output FROM mdm_bridge WHERE mdm_command_input = '<SyncBody>${gets}</SyncBody>';`;
}

/**
 * What the host read back, per LocURI (the profiles' own LocURIs, not the Result twins), from
 * mdm_bridge's SyncML answer. Undefined when the table gave nothing.
 */
export function windowsReadBack(rows: Row[], locUris: string[]): Map<string, ReadBack> | undefined {
  if (rows.length === 0) return undefined;
  if (rows.length > 1) throw new IngestError('mdm_bridge returned more than one row');
  const raw = rows[0].raw_mdm_command_output ?? '';
  if (!raw.trim()) throw new IngestError('mdm_bridge returned an empty answer');
  let body;
  try {
    // The DLL behind mdm_bridge declares utf-16; the text osquery passes on is already decoded.
    const root = parseXml(raw.replace(/^\s*<\?xml[^>]*\?>/, ''));
    body = root.name === 'SyncBody' ? root : child(root, 'SyncBody');
  } catch (err) {
    if (err instanceof XmlError) throw new IngestError('mdm_bridge answer is not well-formed SyncML');
    throw err;
  }
  if (!body) throw new IngestError('mdm_bridge answer has no SyncBody');
  // <Final/> closes a SyncBody; it is not a command, and the local MDM stack may send it.
  const commands = body.children.filter((c) => c.name !== 'Final');
  const answers = readAnswers(commands.map((c) => serializeNode(c)).join(''));
  const sent = distinctTargets(locUris);
  const read = new Map<string, ReadBack>();
  for (const s of answers.statuses) {
    const locUri = sent.get(s.cmdRef);
    if (locUri) read.set(locUri, { code: s.code, data: answers.results.get(s.cmdRef)?.[0]?.data });
  }
  return read;
}
