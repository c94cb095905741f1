import { useState } from 'preact/hooks';
import { api } from '../../api/client.js';
import type { Team } from '../../api/shapes.js';
import {
  fromBase64,
  type AbmPublicKeyResponse,
  type AbmToken,
  type AbmTokenResponse,
  type AbmTokensResponse,
} from '../../api/settings.js';
import { saveBlob } from '../../components/download.js';
import { ConfirmDialog, ErrorText, Loading } from '../../components/feedback.js';
import { useAction } from '../../components/useAction.js';
import { useApi } from '../../components/useApi.js';
import { useSession } from '../../session.js';
import { RenewDate } from './ApnsSection.js';
import { fileForm, UploadForm } from './UploadForm.js';

/** The platforms an ABM token has a default team for, with Fleet's field names. */
const platforms = [
  { key: 'macos', label: 'macOS' },
  { key: 'ios', label: 'iOS' },
  { key: 'ipados', label: 'iPadOS' },
] as const;
type Platform = (typeof platforms)[number]['key'];

/** ABM server tokens: public key, upload, renew, default teams, delete (`/abm_tokens`). */
export function AbmSection() {
  const session = useSession();
  const mayEdit = session.can('mdm_apple_setup', 'write');
  const tokens = useApi(() => api.get<AbmTokensResponse>('/abm_tokens').then((r) => r.abm_tokens), []);
  const keyDownload = useAction();
  const [notice, setNotice] = useState('');
  const [renewing, setRenewing] = useState<AbmToken>();
  const [editingTeams, setEditingTeams] = useState<AbmToken>();
  const [deleting, setDeleting] = useState<AbmToken>();
  const deletion = useAction();

  const downloadKey = () =>
    keyDownload.run(async () => {
      const { public_key } = await api.get<AbmPublicKeyResponse>('/mdm/apple/abm_public_key');
      saveBlob(new Blob([fromBase64(public_key)], { type: 'application/x-pem-file' }), 'flotilla_abm.pem');
      setNotice('Saved flotilla_abm.pem.');
    });

  const upload = async (file: File) => {
    setNotice('');
    const { abm_token } = await api.post<AbmTokenResponse>('/abm_tokens', fileForm('token', file));
    setNotice(`Token for ${abm_token.org_name} added.`);
    tokens.reload();
  };

  const renew = async (token: AbmToken, file: File) => {
    setNotice('');
    const { abm_token } = await api.patch<AbmTokenResponse>(
      `/abm_tokens/${token.id}/renew`,
      fileForm('token', file),
    );
    setRenewing(undefined);
    setNotice(`Token for ${abm_token.org_name} renewed.`);
    tokens.reload();
  };

  const remove = (token: AbmToken) =>
    deletion.run(async () => {
      await api.delete(`/abm_tokens/${token.id}`);
      setDeleting(undefined);
      setNotice(`Token for ${token.org_name} deleted.`);
      tokens.reload();
    });

  return (
    <>
      <div class="card stack wide">
        <h2>Apple Business Manager</h2>
        <p class="muted">
          Devices your organization buys from Apple are assigned to this server in Apple Business Manager
          (ABM) and enroll on first boot. Each ABM organization connects with its own server token.
        </p>
        {tokens.data === undefined ? (
          tokens.error ? (
            <ErrorText error={tokens.error} />
          ) : (
            <Loading what="ABM tokens" />
          )
        ) : (
          <AbmTokenTable
            tokens={tokens.data}
            mayEdit={mayEdit}
            onRenew={setRenewing}
            onTeams={setEditingTeams}
            onDelete={setDeleting}
          />
        )}
        <p class="live" aria-live="polite">
          {notice}
        </p>
      </div>

      {mayEdit && (
        <div class="card stack">
          <h2>Add an ABM organization</h2>
          <ol class="stack">
            <li>
              <p>
                Download this server's public key and upload it in ABM as the key of a new MDM server
                (Preferences → Your MDM Servers).
              </p>
              <button type="button" disabled={keyDownload.busy} onClick={() => void downloadKey()}>
                {keyDownload.busy ? 'Preparing…' : 'Download public key'}
              </button>
              <ErrorText error={keyDownload.error} />
            </li>
            <li>Download the server token (.p7m) ABM makes for that MDM server.</li>
            <li>
              <UploadForm
                label="Server token from ABM (.p7m)"
                buttonLabel="Upload token"
                accept=".p7m"
                upload={upload}
              />
            </li>
          </ol>
        </div>
      )}

      {renewing && (
        <div class="card stack" role="region" aria-labelledby="abm-renew-title">
          <h2 id="abm-renew-title">Renew the token for {renewing.org_name}</h2>
          <p class="muted">Download a new server token for the same MDM server in ABM and upload it here.</p>
          <UploadForm
            label="New server token (.p7m)"
            buttonLabel="Renew token"
            accept=".p7m"
            upload={(file) => renew(renewing, file)}
          />
          <div>
            <button type="button" onClick={() => setRenewing(undefined)}>
              Cancel renewal
            </button>
          </div>
        </div>
      )}

      {editingTeams && (
        <TeamsDialog
          token={editingTeams}
          onDone={(updated) => {
            setEditingTeams(undefined);
            if (updated) {
              setNotice(`Default teams for ${updated.org_name} saved.`);
              tokens.reload();
            }
          }}
        />
      )}

      {deleting && (
        <ConfirmDialog
          title={`Delete the token for ${deleting.org_name}?`}
          confirmLabel="Delete token"
          danger
          busy={deletion.busy}
          error={deletion.error}
          onConfirm={() => void remove(deleting)}
          onCancel={() => {
            setDeleting(undefined);
            deletion.setError(undefined);
          }}
        >
          <p>
            New devices from this ABM organization no longer enroll automatically. Hosts that enrolled already
            stay enrolled.
          </p>
        </ConfirmDialog>
      )}
    </>
  );
}

function AbmTokenTable(props: {
  tokens: AbmToken[];
  mayEdit: boolean;
  onRenew: (t: AbmToken) => void;
  onTeams: (t: AbmToken) => void;
  onDelete: (t: AbmToken) => void;
}) {
  if (props.tokens.length === 0) return <p>No ABM organization is connected.</p>;
  return (
    <div class="table-wrap">
      <table>
        <caption class="visually-hidden">ABM tokens</caption>
        <thead>
          <tr>
            <th scope="col">Organization</th>
            <th scope="col">Apple ID</th>
            <th scope="col">Renew by</th>
            <th scope="col">Default teams</th>
            {props.mayEdit && <th scope="col">Actions</th>}
          </tr>
        </thead>
        <tbody>
          {props.tokens.map((t) => (
            <tr key={t.id}>
              <td data-label="Organization">
                {t.org_name}
                {t.terms_expired && (
                  <p class="notice warn">ABM's terms changed: accept them in ABM so devices sync again.</p>
                )}
                {t.token_invalid && <p class="error">Apple refuses this token: renew it.</p>}
              </td>
              <td data-label="Apple ID">{t.apple_id}</td>
              <td data-label="Renew by">
                {t.renew_date ? <RenewDate iso={t.renew_date} what={`token for ${t.org_name}`} /> : '—'}
              </td>
              <td data-label="Default teams">
                {platforms.map((p) => (
                  <div key={p.key}>
                    {p.label}: {t[`${p.key}_team`].name}
                  </div>
                ))}
              </td>
              {props.mayEdit && (
                <td data-label="Actions">
                  <div class="actions">
                    <button type="button" onClick={() => props.onTeams(t)}>
                      Edit teams<span class="visually-hidden"> of {t.org_name}</span>
                    </button>
                    <button type="button" onClick={() => props.onRenew(t)}>
                      Renew<span class="visually-hidden"> {t.org_name}</span>
                    </button>
                    <button type="button" class="danger" onClick={() => props.onDelete(t)}>
                      Delete<span class="visually-hidden"> {t.org_name}</span>
                    </button>
                  </div>
                </td>
              )}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Default team per platform for the hosts this token brings in (`PATCH /abm_tokens/:id/teams`). */
function TeamsDialog(props: { token: AbmToken; onDone: (updated?: AbmToken) => void }) {
  const teams = useApi(() => api.get<{ teams: Team[] }>('/teams').then((r) => r.teams), []);
  const [chosen, setChosen] = useState<Record<Platform, number>>({
    macos: props.token.macos_team.team_id,
    ios: props.token.ios_team.team_id,
    ipados: props.token.ipados_team.team_id,
  });
  const { busy, error, run } = useAction();
  const save = () =>
    run(async () => {
      // Team id 0 is Fleet's "No team", sent as null.
      const teamOrNull = (id: number) => (id === 0 ? null : id);
      const { abm_token } = await api.patch<AbmTokenResponse>(`/abm_tokens/${props.token.id}/teams`, {
        macos_team_id: teamOrNull(chosen.macos),
        ios_team_id: teamOrNull(chosen.ios),
        ipados_team_id: teamOrNull(chosen.ipados),
      });
      props.onDone(abm_token);
    });
  return (
    <ConfirmDialog
      title={`Default teams for ${props.token.org_name}`}
      confirmLabel="Save teams"
      busy={busy || !teams.data}
      error={error ?? teams.error}
      onConfirm={() => void save()}
      onCancel={() => props.onDone()}
    >
      {teams.data ? (
        <div class="stack">
          {platforms.map((p) => (
            <label key={p.key}>
              {p.label} hosts join
              <select
                value={String(chosen[p.key])}
                onChange={(e) => setChosen({ ...chosen, [p.key]: Number(e.currentTarget.value) })}
              >
                <option value="0">No team</option>
                {teams.data!.map((t) => (
                  <option key={t.id} value={String(t.id)}>
                    {t.name}
                  </option>
                ))}
              </select>
            </label>
          ))}
        </div>
      ) : (
        <Loading what="teams" />
      )}
    </ConfirmDialog>
  );
}
