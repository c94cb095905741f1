import type { Logger } from 'pino';
import { channelUriRefusal, type ChannelUriPolicy } from '../../clients/wns/client.js';
import { fromDbTime } from '../../db/dialect.js';
import type { SyncCommand } from '../syncml/codec.js';
import type { SessionContributor, SessionMessage } from '../syncml/session.js';
import { escapeXml, unescapeXml } from '../xml.js';
import type { WindowsPushStore } from './store.js';

/** CmdIDs of the commands this reader adds; they are never queued, so no UUID is needed. */
const cmdIdPrefix = 'flotilla-wns';
const pfnCmdId = `${cmdIdPrefix}.pfn`;
const getCmdId = `${cmdIdPrefix}.get`;
/** The column's size; WNS URIs are a few hundred characters. */
const maxChannelUriLength = 2048;

export interface PushChannelOptions {
  /** The Store app's Package Family Name the PC registers its channel for. */
  pfn: string;
  /** DMClient provider ID of our enrollments (`Fleet`). */
  providerId: string;
  /** Ask again when the last answer is older than this. */
  maxAgeMs: number;
  policy: ChannelUriPolicy;
}

/**
 * Learns each PC's WNS ChannelURI through the DMClient CSP. On a session's first message, when
 * the channel is unknown (never answered, or forgotten after a 410) or its last reading is older
 * than `maxAgeMs` (an hour when the PC had no usable channel), the answer carries a
 * `Replace …/Push/PFN` (only until the PC accepted our PFN) and a `Get …/Push/ChannelURI` and
 * `…/Push/Status`; the PC's Status/Results in a later message of the session are stored. Windows
 * renews the channel about every 15 days and then checks in at once, which re-reads it. A URI
 * outside the allowed WNS hosts is refused: it is stored as no channel and never contacted.
 */
export class PushChannelReader implements SessionContributor {
  constructor(
    private readonly store: WindowsPushStore,
    private readonly opts: PushChannelOptions,
    private readonly log: Logger,
  ) {}

  private get base(): string {
    return `./Vendor/MSFT/DMClient/Provider/${this.opts.providerId}/Push`;
  }

  async contribute(m: SessionMessage): Promise<string[]> {
    const answers = ownAnswers(m.commands);
    if (answers.length) await this.save(m, answers);
    if (!m.sessionStart) return [];
    const e = m.enrollment;
    const state = await this.store.channel(e.id, e.created_at);
    const checked = fromDbTime(state?.checkedAt)?.getTime();
    // A PC that answered without a usable channel (no Store app, WNS off) is asked hourly at most.
    const maxAge = state?.channelUri ? this.opts.maxAgeMs : Math.min(this.opts.maxAgeMs, 3600_000);
    if (checked !== undefined && Date.now() - checked < maxAge) return [];
    await this.store.recordAsked(e.id, e.created_at);
    const out: string[] = [];
    if (state?.pfn !== this.opts.pfn) {
      out.push(
        `<Replace><CmdID>${pfnCmdId}</CmdID><Item><Target><LocURI>${this.base}/PFN</LocURI></Target>` +
          `<Meta><Format xmlns="syncml:metinf">chr</Format><Type xmlns="syncml:metinf">text/plain</Type></Meta>` +
          `<Data>${escapeXml(this.opts.pfn)}</Data></Item></Replace>`,
      );
    }
    out.push(
      `<Get><CmdID>${getCmdId}</CmdID>` +
        `<Item><Target><LocURI>${this.base}/ChannelURI</LocURI></Target></Item>` +
        `<Item><Target><LocURI>${this.base}/Status</LocURI></Target></Item></Get>`,
    );
    return out;
  }

  private async save(m: SessionMessage, answers: SyncCommand[]): Promise<void> {
    const statusOf = (cmdId: string) =>
      answers.find((a) => a.verb === 'Status' && a.cmdRef === cmdId)?.data?.trim();
    const pfnStatus = statusOf(pfnCmdId);
    const getStatus = statusOf(getCmdId);
    if (pfnStatus === undefined && getStatus === undefined) return;
    const items = answers
      .filter((a) => a.verb === 'Results' && a.cmdRef === getCmdId)
      .flatMap((a) => a.items);
    const valueOf = (leaf: string) => {
      const item = items.find((i) => (i.source ?? i.target ?? '').endsWith(`/Push/${leaf}`));
      return item?.data === undefined ? undefined : unescapeXml(item.data).trim();
    };
    let channelUri = valueOf('ChannelURI') || null;
    if (channelUri) {
      const refusal =
        channelUri.length > maxChannelUriLength
          ? 'channel URI is too long'
          : channelUriRefusal(channelUri, this.opts.policy);
      if (refusal) {
        // The URI itself stays out of the log: it is device-supplied and carries a WNS routing token.
        this.log.warn(
          { enrollmentId: m.enrollment.id, reason: refusal },
          'windows push: channel URI refused',
        );
        channelUri = null;
      }
    }
    await this.store.recordAnswer(m.enrollment.id, m.enrollment.created_at, {
      pfn: pfnStatus?.startsWith('2') ? this.opts.pfn : undefined,
      channelUri,
      channelStatus: valueOf('Status')?.slice(0, 32) ?? null,
    });
  }
}

/** The device's Status and Results for this reader's commands, nested ones included. */
function ownAnswers(commands: SyncCommand[]): SyncCommand[] {
  const out: SyncCommand[] = [];
  const walk = (list: SyncCommand[]) => {
    for (const c of list) {
      if ((c.verb === 'Status' || c.verb === 'Results') && c.cmdRef?.startsWith(`${cmdIdPrefix}.`))
        out.push(c);
      walk(c.children);
    }
  };
  walk(commands);
  return out;
}
