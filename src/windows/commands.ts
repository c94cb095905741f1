import { randomUUID } from 'node:crypto';
import { badRequest, notFound } from '../http/errors.js';
import { toApiTime } from '../db/dialect.js';
import { parseXmlFragment, serializeNode, textAt, XmlError, type XmlNode } from './xml.js';
import type { WindowsMdmStore } from './store.js';
import type { WindowsPush } from './push/service.js';

/** Verbs a server may send inside a SyncBody, and those allowed inside Atomic. */
const sendable = new Set(['Add', 'Replace', 'Delete', 'Get', 'Exec', 'Atomic']);
const insideAtomic = new Set(['Add', 'Replace', 'Delete', 'Exec']);

export interface PreparedCommand {
  commandUuid: string;
  rawCommand: string;
  /** First LocURI targeted (Fleet shows it as the command's request type). */
  targetLocUri: string;
  verbs: string[];
}

function setCmdId(n: XmlNode, id: string): void {
  const existing = n.children.find((c) => c.name === 'CmdID');
  if (existing) existing.text = id;
  else n.children.unshift({ name: 'CmdID', ns: n.ns, attrs: {}, children: [], text: id });
}

function firstLocUri(n: XmlNode): string | undefined {
  for (const c of n.children) {
    if (c.name === 'Item') {
      const uri = textAt(c, 'Target', 'LocURI');
      if (uri) return uri;
    }
    const nested = firstLocUri(c);
    if (nested) return nested;
  }
  return undefined;
}

/**
 * Validates a fragment of one or more SyncML commands and gives it CmdIDs we can match answers
 * to: the first top-level command gets the command UUID, every other command (top-level or
 * nested in Atomic) `<uuid>.<n>`. Status/Results CmdRefs then map back to the command by prefix.
 */
export function prepareCommand(
  xml: string,
  commandUuid: string = randomUUID(),
  opts: { onlyExec?: boolean } = {},
): PreparedCommand {
  let nodes: XmlNode[];
  try {
    nodes = parseXmlFragment(xml.replace(/^\s*<\?xml[^>]*\?>/, ''));
  } catch (err) {
    throw badRequest(
      `The command should include valid XML: ${err instanceof XmlError ? err.message : 'parse error'}`,
      'command',
    );
  }
  if (nodes.length === 0) throw badRequest('The command must hold at least one SyncML command.', 'command');
  if (
    opts.onlyExec &&
    (nodes.length !== 1 ||
      nodes[0].name !== 'Exec' ||
      nodes[0].children.filter((c) => c.name === 'Item').length !== 1)
  ) {
    throw badRequest('You can run only a single <Exec> command with a single <Item>.', 'command');
  }
  let counter = 0;
  const verbs: string[] = [];
  nodes.forEach((n, i) => {
    if (!sendable.has(n.name)) throw badRequest(`Unsupported SyncML command <${n.name}>.`, 'command');
    if (n.children.filter((c) => c.name === 'Item').length === 0 && n.name !== 'Atomic') {
      throw badRequest(`<${n.name}> must hold at least one <Item>.`, 'command');
    }
    setCmdId(n, i === 0 ? commandUuid : `${commandUuid}.${++counter}`);
    verbs.push(n.name);
    if (n.name === 'Atomic') {
      const kids = n.children.filter((c) => !['CmdID', 'Meta', 'NoResp'].includes(c.name));
      if (kids.length === 0) throw badRequest('<Atomic> must hold commands.', 'command');
      for (const k of kids) {
        if (!insideAtomic.has(k.name))
          throw badRequest(`<${k.name}> is not allowed inside <Atomic>.`, 'command');
        setCmdId(k, `${commandUuid}.${++counter}`);
      }
    }
  });
  const targetLocUri = firstLocUri({ name: 'fragment', ns: '', attrs: {}, children: nodes, text: '' }) ?? '';
  return { commandUuid, rawCommand: nodes.map((n) => serializeNode(n)).join(''), targetLocUri, verbs };
}

/** The command UUID a Status/Results CmdRef answers (`<uuid>` or `<uuid>.<n>`). */
export function commandUuidOfCmdRef(cmdRef: string): string {
  const dot = cmdRef.indexOf('.');
  return dot < 0 ? cmdRef : cmdRef.slice(0, dot);
}

/**
 * Queueing SyncML commands for Windows hosts and reading their results (admin commands API).
 * Queued commands are pushed (WNS) so PCs fetch them at once rather than at their next poll.
 */
export class WindowsCommandService {
  constructor(
    private readonly store: WindowsMdmStore,
    private readonly push: WindowsPush = { push: () => {} },
  ) {}

  /**
   * Queues one raw SyncML command (a fragment such as `<Exec>…</Exec>`) for the hosts' newest
   * Windows enrollments. Throws 400 when the XML is not a valid command or a host is not enrolled.
   */
  async enqueueRaw(hostUuids: string[], syncmlXml: string, opts: { onlyExec?: boolean } = {}) {
    const prepared = prepareCommand(syncmlXml, randomUUID(), opts);
    const uuids = [...new Set(hostUuids)];
    const enrollments = await this.store.newestEnrollmentIdsForHosts(uuids);
    const missing = uuids.filter((u) => !enrollments.has(u));
    if (uuids.length === 0 || missing.length) {
      throw badRequest(
        `Can't run the MDM command because one or more hosts have MDM turned off: ${missing.join(', ')}`,
        'host_uuids',
      );
    }
    await this.store.enqueue([...enrollments.values()], prepared);
    this.push.push([...enrollments.values()]);
    return {
      command_uuid: prepared.commandUuid,
      request_type: prepared.targetLocUri,
      platform: 'windows' as const,
    };
  }

  /** Queues an already prepared command for enrollments (used by other Windows features). */
  async enqueuePrepared(enrollmentIds: number[], prepared: PreparedCommand): Promise<void> {
    await this.store.enqueue(enrollmentIds, prepared);
    this.push.push(enrollmentIds);
  }

  /** Fleet's `GET /commands/results` rows for a Windows command (404 when there is no such command). */
  async results(commandUuid: string) {
    const rows = await this.resultsIfAny(commandUuid);
    if (!rows) throw notFound('Command');
    return rows;
  }

  /** The rows of `results`, or undefined when the command is not a Windows one. */
  async resultsIfAny(commandUuid: string) {
    const cmd = await this.store.command(commandUuid);
    if (!cmd) return undefined;
    const { answered, pending } = await this.store.commandResults(commandUuid);
    const payload = Buffer.from(cmd.raw_command).toString('base64');
    return [
      ...answered.map((r) => ({
        host_uuid: r.host_uuid,
        command_uuid: commandUuid,
        status: r.status_code,
        updated_at: toApiTime(r.updated_at),
        request_type: cmd.target_loc_uri,
        payload,
        result: Buffer.from(r.raw_result).toString('base64'),
      })),
      ...pending.map((r) => ({
        host_uuid: r.host_uuid,
        command_uuid: commandUuid,
        status: 'Pending',
        updated_at: toApiTime(r.created_at),
        request_type: cmd.target_loc_uri,
        payload,
        result: '',
      })),
    ];
  }
}
