import { useEffect, useRef, useState } from 'preact/hooks';
import { api } from '../../api/client.js';
import {
  fromBase64,
  type CommandListItem,
  type CommandListResponse,
  type CommandResult,
  type CommandResultsResponse,
} from '../../api/host.js';
import { DataTable, Pager } from '../../components/DataTable.js';
import { ErrorText, Loading } from '../../components/feedback.js';
import { useApi } from '../../components/useApi.js';
import { formatTime } from './format.js';
import { prettyXml } from './xml.js';

/**
 * A command's name: Apple's RequestType, or for Windows the LocURI it targets (Fleet's
 * request_type); a Windows command for several LocURIs (a profile's Atomic) targets none.
 */
function commandName(c: { request_type: string }): string {
  return c.request_type || 'SyncML command (several settings)';
}

const perPage = 10;

/** Fleet's command statuses as badge classes (Acknowledged reads as done, Error as failed). */
const statusBadge: Record<string, string> = {
  Acknowledged: 'verified',
  Pending: 'pending',
  NotNow: 'pending',
  Error: 'failed',
  CommandFormatError: 'failed',
};

function CommandStatus(props: { status: string }) {
  const cls = statusBadge[props.status] ?? (/^2\d\d$/.test(props.status) ? 'verified' : 'failed');
  return <span class={`badge badge-${cls}`}>{props.status}</span>;
}

/** A base64 plist or SyncML, decoded and indented; "none yet" before the device answers. */
function Xml(props: { label: string; base64: string | null }) {
  if (!props.base64) {
    return (
      <p>
        <strong>{props.label}:</strong> <span class="muted">none yet</span>
      </p>
    );
  }
  const text = fromBase64(props.base64);
  return (
    <div>
      <h4>{props.label}</h4>
      <pre class="host-xml" tabIndex={0} aria-label={props.label}>
        {text === undefined ? props.base64 : prettyXml(text)}
      </pre>
    </div>
  );
}

/** One command's result for this host: status, time, the command sent and the device's answer. */
function CommandDetail(props: { command: CommandListItem; hostUuid: string; onClose: () => void }) {
  const { command } = props;
  const heading = useRef<HTMLHeadingElement>(null);
  const results = useApi(
    () => api.get<CommandResultsResponse>('/commands/results', { command_uuid: command.command_uuid }),
    [command.command_uuid],
  );
  useEffect(() => heading.current?.focus(), [command.command_uuid]);
  const mine: CommandResult | undefined = results.data?.results.find((r) => r.host_uuid === props.hostUuid);
  return (
    <section class="card host-command" aria-labelledby="host-command-title">
      <div class="row host-command-head">
        <h3 id="host-command-title" ref={heading} tabIndex={-1}>
          Result of {commandName(command)}
        </h3>
        <button type="button" onClick={props.onClose}>
          Close result
        </button>
      </div>
      {results.loading && !results.data && <Loading what="the result" />}
      <ErrorText error={results.error} />
      {results.data && !mine && <p class="muted">This host has no result for the command.</p>}
      {mine && (
        <>
          <dl class="facts">
            <dt>Status</dt>
            <dd>
              <CommandStatus status={mine.status} />
            </dd>
            <dt>Updated</dt>
            <dd>{formatTime(mine.updated_at)}</dd>
            <dt>Command UUID</dt>
            <dd>
              <code>{mine.command_uuid}</code>
            </dd>
          </dl>
          <Xml label="Result" base64={mine.result} />
          <Xml label="Command" base64={mine.payload} />
        </>
      )}
    </section>
  );
}

/** The host's MDM commands, newest first, each with its result on request. */
export function Commands(props: { hostUuid: string; version: number }) {
  const [page, setPage] = useState(0);
  const [shown, setShown] = useState<CommandListItem>();
  const list = useApi(
    () =>
      api.get<CommandListResponse>('/commands', {
        host_identifier: props.hostUuid,
        page,
        per_page: perPage,
        order_key: 'updated_at',
        order_direction: 'desc',
      }),
    [props.hostUuid, page, props.version],
  );
  const rows = list.data?.results ?? [];
  return (
    <section class="card" aria-labelledby="host-commands">
      <h2 id="host-commands">MDM commands</h2>
      {list.loading && !list.data && <Loading what="commands" />}
      <ErrorText error={list.error} />
      {list.data && (
        <>
          <DataTable<CommandListItem>
            caption="MDM commands sent to this host"
            rowKey={(c) => c.command_uuid}
            rows={rows}
            empty="No MDM commands have been sent to this host."
            columns={[
              { key: 'request_type', title: 'Command', render: (c) => commandName(c) },
              { key: 'status', title: 'Status', render: (c) => <CommandStatus status={c.status} /> },
              { key: 'updated_at', title: 'Updated', render: (c) => formatTime(c.updated_at) },
              {
                key: 'result',
                title: 'Result',
                render: (c) => (
                  <button
                    type="button"
                    aria-label={`Show result of ${commandName(c)}`}
                    aria-pressed={shown?.command_uuid === c.command_uuid}
                    onClick={() => setShown(c)}
                  >
                    Show result
                  </button>
                ),
              },
            ]}
          />
          {(page > 0 || list.data.meta.has_next_results) && (
            <Pager
              page={page}
              hasNext={list.data.meta.has_next_results}
              onPage={setPage}
              label="Command pages"
            />
          )}
        </>
      )}
      {shown && (
        <CommandDetail command={shown} hostUuid={props.hostUuid} onClose={() => setShown(undefined)} />
      )}
    </section>
  );
}
