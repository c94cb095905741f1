import {
  child,
  childrenNamed,
  errorDetail,
  escapeXml,
  parseXml,
  serializeNode,
  textAt,
  XmlError,
  type XmlNode,
} from '../xml.js';

/** OMA-DM 1.2 SyncML as Windows speaks it (MS-MDM): parsing device messages, building answers. */
export const syncmlNs = 'SYNCML:SYNCML1.2';
export const metinfNs = 'syncml:metinf';
export const syncmlContentType = 'application/vnd.syncml.dm+xml';

export class SyncmlError extends Error {}

/**
 * Longest SessionID and MsgID accepted. Every answer echoes both, including the 401/407 challenge
 * that any caller can get, so they are bounded (Windows sends a few hex or decimal digits).
 */
export const maxHeaderIdLength = 64;

export interface SyncItem {
  target?: string;
  source?: string;
  metaType?: string;
  metaFormat?: string;
  /** Raw inner XML of `<Data>` (escapes and CDATA kept). */
  data?: string;
}

export interface SyncCommand {
  verb: string;
  cmdId: string;
  msgRef?: string;
  cmdRef?: string;
  cmd?: string;
  /** Raw inner XML of the command's own `<Data>` (Alert code, Status code). */
  data?: string;
  items: SyncItem[];
  /** Nested commands (Atomic, Sequence). */
  children: SyncCommand[];
  node: XmlNode;
}

export interface SyncHeader {
  sessionId: string;
  msgId: string;
  targetUri: string;
  sourceUri: string;
  cred?: { type: string; format: string; data: string };
}

export interface SyncMessage {
  header: SyncHeader;
  commands: SyncCommand[];
  final: boolean;
}

export const commandVerbs = new Set([
  'Add',
  'Alert',
  'Atomic',
  'Delete',
  'Exec',
  'Get',
  'Replace',
  'Results',
  'Sequence',
  'Status',
  'Copy',
]);

function readItem(n: XmlNode): SyncItem {
  const meta = child(n, 'Meta');
  const data = child(n, 'Data');
  return {
    target: textAt(n, 'Target', 'LocURI'),
    source: textAt(n, 'Source', 'LocURI'),
    metaType: textAt(meta, 'Type'),
    metaFormat: textAt(meta, 'Format'),
    data: data?.text,
  };
}

export function readCommand(n: XmlNode): SyncCommand {
  if (!commandVerbs.has(n.name)) throw new SyncmlError(`unknown SyncML command <${errorDetail(n.name, 64)}>`);
  const cmdId = textAt(n, 'CmdID');
  if (!cmdId) throw new SyncmlError(`<${n.name}> without CmdID`);
  return {
    verb: n.name,
    cmdId,
    msgRef: textAt(n, 'MsgRef'),
    cmdRef: textAt(n, 'CmdRef'),
    cmd: textAt(n, 'Cmd'),
    data: child(n, 'Data')?.text.trim(),
    items: childrenNamed(n, 'Item').map(readItem),
    children: n.children.filter((c) => commandVerbs.has(c.name)).map(readCommand),
    node: n,
  };
}

/** Parses a device message; throws SyncmlError for anything that is not a valid DM 1.2 message. */
export function parseSyncMessage(xml: string): SyncMessage {
  let root: XmlNode;
  try {
    root = parseXml(xml);
  } catch (err) {
    throw new SyncmlError(err instanceof XmlError ? err.message : 'invalid XML');
  }
  if (root.name !== 'SyncML' || root.ns.toUpperCase() !== syncmlNs)
    throw new SyncmlError('root must be SyncML in namespace SYNCML:SYNCML1.2');
  const hdr = child(root, 'SyncHdr');
  const body = child(root, 'SyncBody');
  if (!hdr || !body) throw new SyncmlError('SyncHdr and SyncBody are required');
  if (textAt(hdr, 'VerDTD') !== '1.2') throw new SyncmlError('VerDTD must be 1.2');
  if (textAt(hdr, 'VerProto') !== 'DM/1.2') throw new SyncmlError('VerProto must be DM/1.2');
  const sessionId = textAt(hdr, 'SessionID');
  const msgId = textAt(hdr, 'MsgID');
  const sourceUri = textAt(hdr, 'Source', 'LocURI');
  if (!sessionId) throw new SyncmlError('SessionID is missing');
  if (!msgId) throw new SyncmlError('MsgID is missing');
  if (sessionId.length > maxHeaderIdLength) throw new SyncmlError('SessionID is too long');
  if (msgId.length > maxHeaderIdLength) throw new SyncmlError('MsgID is too long');
  if (!sourceUri) throw new SyncmlError('Source LocURI (the device id) is missing');
  const credNode = child(hdr, 'Cred');
  const cred = credNode
    ? {
        type: textAt(credNode, 'Meta', 'Type') ?? '',
        format: textAt(credNode, 'Meta', 'Format') ?? '',
        data: (child(credNode, 'Data')?.text ?? '').trim(),
      }
    : undefined;
  const commands: SyncCommand[] = [];
  let final = false;
  for (const c of body.children) {
    if (c.name === 'Final') final = true;
    else commands.push(readCommand(c));
  }
  return {
    header: { sessionId, msgId, targetUri: textAt(hdr, 'Target', 'LocURI') ?? '', sourceUri, cred },
    commands,
    final,
  };
}

/** Serialises one parsed command back to XML (stored as a command's raw result). */
export function commandXml(c: SyncCommand): string {
  return serializeNode(c.node);
}

const meta = (fields: Record<string, string | undefined>) => {
  const inner = Object.entries(fields)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `<${k} xmlns="${metinfNs}">${escapeXml(v as string)}</${k}>`)
    .join('');
  return inner ? `<Meta>${inner}</Meta>` : '';
};

/** A Status element; the SyncHdr one has CmdRef 0 and Cmd SyncHdr and may carry a digest challenge. */
export function statusXml(s: {
  cmdId: string;
  msgRef: string;
  cmdRef: string;
  cmd: string;
  code: string;
  nextNonceB64?: string;
}): string {
  const chal = s.nextNonceB64
    ? `<Chal>${meta({ Type: 'syncml:auth-md5', Format: 'b64', NextNonce: s.nextNonceB64 })}</Chal>`
    : '';
  return (
    `<Status><CmdID>${escapeXml(s.cmdId)}</CmdID><MsgRef>${escapeXml(s.msgRef)}</MsgRef><CmdRef>${escapeXml(s.cmdRef)}</CmdRef>` +
    `<Cmd>${escapeXml(s.cmd)}</Cmd>${chal}<Data>${escapeXml(s.code)}</Data></Status>`
  );
}

/** A Results element answering a Get: one Item per LocURI read. */
export function resultsXml(r: {
  cmdId: string;
  msgRef: string;
  cmdRef: string;
  items: { locUri: string; data: string; format?: string }[];
}): string {
  const items = r.items
    .map(
      (i) =>
        `<Item><Source><LocURI>${escapeXml(i.locUri)}</LocURI></Source>${meta({ Format: i.format })}<Data>${i.data}</Data></Item>`,
    )
    .join('');
  return `<Results><CmdID>${escapeXml(r.cmdId)}</CmdID><MsgRef>${escapeXml(r.msgRef)}</MsgRef><CmdRef>${escapeXml(r.cmdRef)}</CmdRef>${items}</Results>`;
}

/** A whole message: header, the body parts in the order given, and Final. */
export function buildSyncMessage(h: {
  sessionId: string;
  msgId: string;
  target: string;
  source: string;
  cred?: { type: string; format: string; data: string };
  body: string[];
  final?: boolean;
}): string {
  const cred = h.cred
    ? `<Cred>${meta({ Type: h.cred.type, Format: h.cred.format })}<Data>${escapeXml(h.cred.data)}</Data></Cred>`
    : '';
  return (
    `<SyncML xmlns="${syncmlNs}"><SyncHdr><VerDTD>1.2</VerDTD><VerProto>DM/1.2</VerProto>` +
    `<SessionID>${escapeXml(h.sessionId)}</SessionID><MsgID>${escapeXml(h.msgId)}</MsgID>` +
    `<Target><LocURI>${escapeXml(h.target)}</LocURI></Target><Source><LocURI>${escapeXml(h.source)}</LocURI></Source>${cred}` +
    `</SyncHdr><SyncBody>${h.body.join('')}${h.final === false ? '' : '<Final/>'}</SyncBody></SyncML>`
  );
}
