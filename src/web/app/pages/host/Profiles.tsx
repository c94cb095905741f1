import { useState } from 'preact/hooks';
import { api } from '../../api/client.js';
import type { HostDetailResponse, HostProfile } from '../../api/host.js';
import { DataTable } from '../../components/DataTable.js';
import { StatusBadge } from '../../components/feedback.js';
import { useSession } from '../../session.js';
import { platformName } from './format.js';

type Host = HostDetailResponse['host'];

/** Per profile: what the last resend did (queued, or the API's refusal in words). */
type ResendState = { kind: 'busy' } | { kind: 'sent' } | { kind: 'failed'; message: string };

/**
 * Every configuration profile on the host with its status and the device's own error text, in
 * full; "Resend" queues a profile again for roles that may write profiles.
 */
export function Profiles(props: { host: Host; onChanged: () => void }) {
  const { host } = props;
  const { can } = useSession();
  const [resends, setResends] = useState<Record<string, ResendState>>({});
  const mayResend = host.mdm.connected_to_fleet && can('profile', 'write', host.team_id);
  const profiles = host.mdm.profiles ?? [];

  const resend = async (p: HostProfile) => {
    setResends((r) => ({ ...r, [p.profile_uuid]: { kind: 'busy' } }));
    try {
      await api.post(`/hosts/${host.id}/configuration_profiles/${encodeURIComponent(p.profile_uuid)}/resend`);
      setResends((r) => ({ ...r, [p.profile_uuid]: { kind: 'sent' } }));
      props.onChanged();
    } catch (e) {
      setResends((r) => ({ ...r, [p.profile_uuid]: { kind: 'failed', message: (e as Error).message } }));
    }
  };

  return (
    <section class="card" aria-labelledby="host-profiles">
      <h2 id="host-profiles">Configuration profiles</h2>
      <DataTable<HostProfile>
        caption="Configuration profiles on this host"
        rowKey={(p) => p.profile_uuid}
        rows={profiles}
        empty="No configuration profiles apply to this host."
        columns={[
          { key: 'name', title: 'Name', render: (p) => p.name },
          { key: 'platform', title: 'Platform', render: (p) => platformName(p.platform) },
          {
            key: 'status',
            title: 'Status',
            render: (p) => (
              <>
                <StatusBadge status={p.status} />
                {p.operation_type === 'remove' && <span class="muted"> (removal)</span>}
              </>
            ),
          },
          {
            key: 'detail',
            title: 'Error',
            render: (p) => (p.detail ? <span class="host-detail-text">{p.detail}</span> : '—'),
          },
          ...(mayResend
            ? [
                {
                  key: 'resend',
                  title: 'Action',
                  render: (p: HostProfile) => {
                    const st = resends[p.profile_uuid];
                    return (
                      <div class="stack host-resend">
                        <button
                          type="button"
                          disabled={st?.kind === 'busy'}
                          aria-label={`Resend ${p.name}`}
                          onClick={() => resend(p)}
                        >
                          {st?.kind === 'busy' ? 'Resending…' : 'Resend'}
                        </button>
                        <span aria-live="polite">
                          {st?.kind === 'sent' && <span class="muted">Resend queued.</span>}
                          {st?.kind === 'failed' && (
                            <span class="error" role="alert">
                              {st.message}
                            </span>
                          )}
                        </span>
                      </div>
                    );
                  },
                },
              ]
            : []),
        ]}
      />
    </section>
  );
}
