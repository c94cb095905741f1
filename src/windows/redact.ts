import { parseXmlFragment, serializeNode, textAt, type XmlNode } from './xml.js';

/** What a redacted secret reads as. */
export const redactedValue = '******';

/**
 * LocURIs whose `<Data>` is a secret: the PIN RemoteLock generates (`RemoteLock/NewPINValue`) and
 * a local account's password (`Accounts/Users/<name>/Password`). RemoteWipe carries no secret.
 */
const secretLocUris = [/\/RemoteLock\/NewPINValue$/i, /\/Accounts\/Users\/[^/]+\/Password$/i];

function isSecretItem(item: XmlNode): boolean {
  const uris = [textAt(item, 'Target', 'LocURI'), textAt(item, 'Source', 'LocURI')];
  return uris.some((u) => u !== undefined && secretLocUris.some((re) => re.test(u)));
}

/** The enroll secret on the fleetd MSI command line (`FLEET_SECRET="…"`, quotes possibly escaped). */
const fleetSecretArgument = /(FLEET_SECRET=)("|&quot;)(.*?)\2/g;

/** Replaces the Data of secret Items in place; returns whether anything was replaced. */
function scrub(n: XmlNode): boolean {
  let changed = false;
  if (n.name === 'Data' && n.text.includes('FLEET_SECRET=')) {
    const redacted = n.text.replace(fleetSecretArgument, `$1$2${redactedValue}$2`);
    changed = redacted !== n.text;
    n.text = redacted;
  }
  if (n.name === 'Item' && isSecretItem(n)) {
    for (const c of n.children) {
      if (c.name === 'Data' && c.text !== redactedValue) {
        c.text = redactedValue;
        changed = true;
      }
    }
  }
  for (const c of n.children) changed = scrub(c) || changed;
  return changed;
}

/**
 * A SyncML command or result fragment (as stored for `GET /commands/results`) with the Data of
 * secret LocURIs replaced by `******`. The text comes back unchanged when there is no secret and
 * re-serialised when something was redacted; null when it is not XML we can read (withheld).
 */
export function redactSyncml(xml: string): string | null {
  let nodes: XmlNode[];
  try {
    nodes = parseXmlFragment(xml.replace(/^\s*<\?xml[^>]*\?>/, ''));
  } catch {
    return null;
  }
  let changed = false;
  for (const n of nodes) changed = scrub(n) || changed;
  return changed ? nodes.map((n) => serializeNode(n)).join('') : xml;
}
