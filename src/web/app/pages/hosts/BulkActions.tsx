import { useState } from 'preact/hooks';
import { api } from '../../api/client.js';
import type { HostProfile } from '../../api/hosts.js';
import type { HostListItem } from '../../api/shapes.js';
import { ConfirmDialog, Progress } from '../../components/feedback.js';
import type { TeamOption } from './useTeams.js';
import { useSession } from '../../session.js';

type BulkHost = Pick<HostListItem, 'id' | 'display_name' | 'team_id'>;

/** What a finished bulk action says: a summary, and each host that failed, in the server's words. */
interface BulkResult {
  summary: string;
  failures: { host: string; error: string }[];
}

interface Running {
  label: string;
  done: number;
  total: number;
}

/**
 * Runs `step` for each host in turn, so the admin sees progress (n of m) and which host failed
 * and why; one host's failure does not stop the others.
 */
async function eachHost(
  hosts: BulkHost[],
  label: string,
  onProgress: (r: Running) => void,
  step: (h: BulkHost) => Promise<void>,
): Promise<BulkResult['failures']> {
  const failures: BulkResult['failures'] = [];
  for (let i = 0; i < hosts.length; i++) {
    onProgress({ label, done: i, total: hosts.length });
    try {
      await step(hosts[i]);
    } catch (e) {
      failures.push({ host: hosts[i].display_name, error: (e as Error).message });
    }
  }
  onProgress({ label, done: hosts.length, total: hosts.length });
  return failures;
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** Bulk actions on the selected hosts: transfer to a team, resend failed profiles. */
export function BulkActions(props: {
  selected: BulkHost[];
  teams: TeamOption[];
  /** After an action: reload the list and clear the selection. */
  onDone: () => void;
}) {
  const session = useSession();
  const { selected } = props;
  const [dialog, setDialog] = useState<'transfer' | 'resend' | null>(null);
  const [targetTeam, setTargetTeam] = useState('');
  const [running, setRunning] = useState<Running | null>(null);
  const [result, setResult] = useState<BulkResult | null>(null);
  const [error, setError] = useState<Error>();

  // The API checks each host's team; the buttons show when the user may write hosts anywhere.
  const canTransfer = session.can('host', 'write');
  const canResend = session.can('profile', 'write');
  if (!canTransfer && !canResend) return null;
  const writableTeams = props.teams.filter((t) => session.can('host', 'write', t.id));

  const close = () => {
    setDialog(null);
    setRunning(null);
    setError(undefined);
  };

  const transfer = async () => {
    if (targetTeam === '') {
      setError(new Error('Choose the team to transfer the hosts to.'));
      return;
    }
    const teamId = Number(targetTeam);
    const teamName = teamId === 0 ? 'No team' : (props.teams.find((t) => t.id === teamId)?.name ?? '');
    const failures = await eachHost(selected, 'Transferring hosts', setRunning, (h) =>
      api.post('/hosts/transfer', { team_id: teamId, hosts: [h.id] }),
    );
    const moved = selected.length - failures.length;
    setResult({
      summary: `Transferred ${plural(moved, 'host')} of ${selected.length} to ${teamName}.`,
      failures,
    });
    close();
    props.onDone();
  };

  const resend = async () => {
    let resent = 0;
    const failures = await eachHost(selected, 'Resending failed profiles', setRunning, async (h) => {
      const { host } = await api.get<{ host: { mdm: { profiles: HostProfile[] | null } } }>(`/hosts/${h.id}`);
      const failed = (host.mdm.profiles ?? []).filter((p) => p.status === 'failed');
      for (const p of failed) {
        await api.post(`/hosts/${h.id}/configuration_profiles/${encodeURIComponent(p.profile_uuid)}/resend`);
        resent++;
      }
    });
    setResult({
      summary: `Resent ${plural(resent, 'failed profile')} on ${plural(selected.length - failures.length, 'host')}.`,
      failures,
    });
    close();
    props.onDone();
  };

  return (
    <div class="bulk-actions">
      <span class="muted">{plural(selected.length, 'host')} selected</span>
      {canTransfer && (
        <button
          type="button"
          disabled={!selected.length}
          onClick={() => {
            setResult(null);
            setDialog('transfer');
          }}
        >
          Transfer to team…
        </button>
      )}
      {canResend && (
        <button
          type="button"
          disabled={!selected.length}
          onClick={() => {
            setResult(null);
            setDialog('resend');
          }}
        >
          Resend failed profiles…
        </button>
      )}
      <div aria-live="polite" class="bulk-result">
        {result && (
          <div class={result.failures.length ? 'error' : 'notice'}>
            <p>{result.summary}</p>
            {result.failures.length > 0 && (
              <ul>
                {result.failures.map((f, i) => (
                  <li key={i}>
                    {f.host}: {f.error}
                  </li>
                ))}
              </ul>
            )}
          </div>
        )}
      </div>
      {dialog === 'transfer' && (
        <ConfirmDialog
          title={`Transfer ${plural(selected.length, 'host')}`}
          confirmLabel="Transfer"
          busy={!!running}
          error={error}
          onConfirm={() => void transfer()}
          onCancel={close}
        >
          <label>
            Team
            <select value={targetTeam} onChange={(e) => setTargetTeam((e.target as HTMLSelectElement).value)}>
              <option value="">Choose a team</option>
              {session.can('host', 'write', null) && <option value="0">No team</option>}
              {writableTeams.map((t) => (
                <option key={t.id} value={String(t.id)}>
                  {t.name}
                </option>
              ))}
            </select>
          </label>
          <p class="muted">Hosts take the new team's settings and profiles.</p>
          {running && <Progress {...running} />}
        </ConfirmDialog>
      )}
      {dialog === 'resend' && (
        <ConfirmDialog
          title="Resend failed profiles"
          confirmLabel="Resend"
          busy={!!running}
          onConfirm={() => void resend()}
          onCancel={close}
        >
          <p>
            Every profile that failed on the {plural(selected.length, 'selected host')} is sent again.
            Profiles that did not fail are left alone.
          </p>
          {running && <Progress {...running} />}
        </ConfirmDialog>
      )}
    </div>
  );
}
