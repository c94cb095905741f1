import { createHash } from 'node:crypto';
import { HttpError, invalid } from '../../http/errors.js';
import { reservedNames } from '../../mdm/profiles/reservedNames.js';
import { parseXml, textAt, XmlError, type XmlNode } from '../xml.js';
import { ScepProfileCheck } from './scep.js';

/**
 * Upload validation of Windows configuration profiles, as Fleet does it: a fragment of top-level
 * <Replace>/<Add> commands (or one <Atomic> wrapping them all), each Item with a Target/LocURI and
 * a Meta/Format, no processing instructions, and nothing under the LocURIs the server manages itself.
 */

export interface ProfileItem {
  verb: 'Replace' | 'Add';
  locUri: string;
  format: string;
  /** Raw inner XML of <Data> (escapes kept), or undefined for nodes without data. */
  data: string | undefined;
}

export interface ParsedWindowsProfile {
  name: string;
  syncml: string;
  checksum: string;
  scope: 'System' | 'User';
  items: ProfileItem[];
  /** A ClientCertificateInstall/SCEP profile (sent in one Atomic, verified on acknowledgement). */
  scep: boolean;
}

/** LocURI areas the server manages itself: refused at upload, never deleted. */
export const reservedLocUris: { fragment: string; reason: string }[] = [
  {
    fragment: '/Vendor/MSFT/BitLocker',
    reason: "Couldn't add. The configuration profile can't include BitLocker settings.",
  },
  {
    fragment: '/Vendor/MSFT/Policy/Config/Update',
    reason:
      "Custom configuration profiles can't include Windows updates settings. To control these settings, use the mdm.windows_updates option.",
  },
  {
    fragment: '/Vendor/MSFT/DMClient',
    reason: "Couldn't add. The configuration profile can't include MDM enrollment settings (DMClient).",
  },
  {
    fragment: './SyncML/DMAcc',
    reason: "Couldn't add. The configuration profile can't include MDM enrollment settings (DMAcc).",
  },
  {
    fragment: './Vendor/MSFT/DMAcc',
    reason: "Couldn't add. The configuration profile can't include MDM enrollment settings (DMAcc).",
  },
];

const formats = new Set(['chr', 'int', 'bool', 'b64', 'xml', 'node', 'float', 'bin', 'date', 'time', 'null']);
const topLevel = new Set(['Replace', 'Add', 'Exec', 'Atomic']);
const commandChildren = new Set(['CmdID', 'Meta', 'Item', 'NoResp']);
const itemChildren = new Set(['Target', 'Meta', 'Data', 'Source']);

const fail = (reason: string): HttpError => invalid(reason, 'profile');
const xmlFail = (why: string) => fail(`Couldn't add. The file should include valid XML: ${why}`);

export const md5Hex = (s: string) => createHash('md5').update(s).digest('hex');

/** Why a LocURI may not be in a custom profile, or undefined when it may. */
export function reservedReason(locUri: string): string | undefined {
  return reservedLocUris.find((r) => locUri.includes(r.fragment))?.reason;
}

/**
 * A LocURI's scope: `./User/...` is the signed-in user's, everything else (`./Device/...`, or a
 * bare `./Vendor/...`, which Windows reads as the device) the device's.
 */
export const isUserLocUri = (locUri: string): boolean => locUri.trim().startsWith('./User/');

/** One profile is delivered as a whole, so it is either the device's or the user's, never both. */
const mixedScope = 'All <LocURI> elements in the profile must start either with "./Device" or "./User".';

function readItems(cmd: XmlNode, into: ProfileItem[], scep: ScepProfileCheck): void {
  for (const c of cmd.children) {
    if (!commandChildren.has(c.name))
      throw fail(`Couldn't add. <${c.name}> is not allowed inside <${cmd.name}>.`);
  }
  const items = cmd.children.filter((c) => c.name === 'Item');
  if (items.length === 0) throw fail(`Couldn't add. Each <${cmd.name}> must include at least one <Item>.`);
  for (const item of items) {
    for (const c of item.children) {
      if (!itemChildren.has(c.name)) throw fail(`Couldn't add. <${c.name}> is not allowed inside <Item>.`);
    }
    const locUri = textAt(item, 'Target', 'LocURI');
    if (!locUri) throw fail(`Couldn't add. Each <Item> of <${cmd.name}> must include <Target><LocURI>.`);
    if (locUri.startsWith('/'))
      throw fail(`Couldn't add. LocURI ${locUri} must not start with "/" (use ./Device/... or ./User/...).`);
    scep.add(locUri, cmd.name === 'Exec');
    const reason = reservedReason(locUri);
    if (reason) throw fail(reason);
    // An Exec's item (SCEP's Install/Enroll) carries no setting: no format, nothing to read back.
    if (cmd.name === 'Exec') continue;
    const format = textAt(item, 'Meta', 'Format');
    if (!format)
      throw fail(
        `Couldn't add. The <Item> for ${locUri} must include <Meta><Format> (chr, int, bool, b64, xml or node).`,
      );
    if (!formats.has(format))
      throw fail(`Couldn't add. The <Item> for ${locUri} has an unknown <Format> "${format}".`);
    const data = item.children.find((c) => c.name === 'Data')?.text;
    into.push({ verb: cmd.name as 'Replace' | 'Add', locUri, format, data });
  }
}

/** Items (LocURI, format, data) of an already validated profile, in document order. */
export function profileItems(syncml: string): ProfileItem[] {
  const root = parseXml(`<fragment>${syncml}</fragment>`);
  const out: ProfileItem[] = [];
  const walk = (nodes: XmlNode[]) => {
    for (const n of nodes) {
      if (n.name === 'Atomic') walk(n.children);
      else if (n.name === 'Replace' || n.name === 'Add') {
        for (const item of n.children.filter((c) => c.name === 'Item')) {
          const locUri = textAt(item, 'Target', 'LocURI');
          if (locUri)
            out.push({
              verb: n.name,
              locUri,
              format: textAt(item, 'Meta', 'Format') ?? '',
              data: item.children.find((c) => c.name === 'Data')?.text,
            });
        }
      }
    }
  };
  walk(root.children);
  return out;
}

/** Validates an uploaded Windows profile; `name` is the file name without its extension. */
export function parseWindowsProfile(name: string, bytes: Buffer): ParsedWindowsProfile {
  const text = bytes.toString('utf8');
  if (!text.trim()) throw fail("Couldn't add. The file should include valid XML.");
  const trimmedName = name.trim();
  if (!trimmedName) throw fail("Couldn't add. The profile name (file name) must not be empty.");
  if (reservedNames.has(trimmedName)) throw fail(`Couldn't add. ${trimmedName} is a reserved name.`);
  // Processing instructions anywhere (an XML declaration, or a whole XML document pasted unescaped
  // into <Data>) make Windows reject the command, and the profile would be re-sent forever.
  if (text.includes('<?'))
    throw xmlFail('XML processing instructions (<?...?>) are not allowed; escape XML inside <Data>.');
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) throw xmlFail('DOCTYPE and ENTITY declarations are not allowed.');
  let root: XmlNode;
  try {
    root = parseXml(`<fragment>${text}</fragment>`);
  } catch (err) {
    throw xmlFail(err instanceof XmlError ? err.message : 'parse error');
  }
  if (root.text.trim()) throw xmlFail('text outside of elements.');
  // $FLEET_VAR_* and $FLEET_SECRET_* are checked by the profile core's variable checks (src/mdm/variables).
  const nodes = root.children;
  if (nodes.length === 0) throw fail("Couldn't add. The file should include valid XML.");
  const items: ProfileItem[] = [];
  const scepCheck = new ScepProfileCheck();
  const onlyTop = 'Windows configuration profiles can only have <Replace> or <Add> top level elements.';
  nodes.forEach((n, i) => {
    if (!topLevel.has(n.name)) throw fail(onlyTop);
    if (n.name === 'Atomic') {
      if (i > 0 || nodes.length > 1)
        throw fail('<Atomic> element must wrap all the elements in a Windows configuration profile.');
      const kids = n.children.filter((c) => c.name !== 'CmdID' && c.name !== 'Meta');
      if (kids.length === 0) throw fail('<Atomic> must include <Replace> or <Add> elements.');
      for (const k of kids) {
        if (k.name !== 'Replace' && k.name !== 'Add' && k.name !== 'Exec')
          throw fail(
            `Windows configuration profiles can only have <Replace> or <Add> elements inside <Atomic> (found <${k.name}>).`,
          );
        readItems(k, items, scepCheck);
      }
      return;
    }
    readItems(n, items, scepCheck);
  });
  const scep = scepCheck.finish();
  const userItems = items.filter((it) => isUserLocUri(it.locUri)).length;
  if (userItems > 0 && userItems < items.length) throw fail(mixedScope);
  const scope = items.length > 0 && userItems === items.length ? 'User' : 'System';
  return { name: trimmedName, syncml: text, checksum: md5Hex(text), scope, items, scep };
}
