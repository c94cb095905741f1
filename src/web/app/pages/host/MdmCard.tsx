import { useState } from 'preact/hooks';
import { api } from '../../api/client.js';
import type { EncryptionKeyResponse, HostDetailResponse } from '../../api/host.js';
import { ConfirmDialog, StatusBadge } from '../../components/feedback.js';
import { useAction } from '../../components/useAction.js';
import { useSession } from '../../session.js';
import { formatTime, orDash } from './format.js';

type Host = HostDetailResponse['host'];

/**
 * The host's MDM enrollment, lock state and disk encryption, with the escrowed key behind an
 * audited reveal (only for the roles the server lets read it: those that may lock and wipe).
 */
export function MdmCard(props: { host: Host; onKeyRead: () => void }) {
  const { host } = props;
  const mdm = host.mdm;
  const { canLockWipe, user } = useSession();
  const [asking, setAsking] = useState(false);
  const { busy, error, setError, run } = useAction();
  const [key, setKey] = useState<EncryptionKeyResponse['encryption_key']>();
  const encryption = mdm.os_settings?.disk_encryption?.status ?? null;
  const mayReadKey = canLockWipe(host.team_id);

  const reveal = () =>
    run(async () => {
      const res = await api.get<EncryptionKeyResponse>(`/hosts/${host.id}/encryption_key`);
      setKey(res.encryption_key);
      setAsking(false);
      props.onKeyRead();
    });

  return (
    <section class="card" aria-labelledby="host-mdm">
      <h2 id="host-mdm">Device management</h2>
      <dl class="facts">
        <dt>MDM status</dt>
        <dd>{orDash(mdm.enrollment_status)}</dd>
        <dt>MDM server</dt>
        <dd class="host-url">{orDash(mdm.server_url)}</dd>
        <dt>MDM name</dt>
        <dd>{orDash(mdm.name)}</dd>
        <dt>Device status</dt>
        <dd>
          <StatusBadge status={mdm.device_status} />
          {mdm.pending_action && <span class="muted"> (pending {mdm.pending_action})</span>}
        </dd>
        <dt>Disk encryption</dt>
        <dd>{encryption ? <StatusBadge status={encryption} /> : '—'}</dd>
      </dl>
      {mayReadKey && (
        <div class="host-key">
          {key ? (
            <div class="notice" role="status">
              <p>
                Disk encryption key (escrowed {formatTime(key.updated_at)}):{' '}
                <code class="host-secret">{key.key}</code>
              </p>
              <button type="button" onClick={() => setKey(undefined)}>
                Hide key
              </button>
            </div>
          ) : mdm.encryption_key_available ? (
            <button type="button" onClick={() => setAsking(true)}>
              Show disk encryption key
            </button>
          ) : (
            <p class="muted">No disk encryption key has been escrowed for this host.</p>
          )}
        </div>
      )}
      {asking && (
        <ConfirmDialog
          title="Show disk encryption key?"
          confirmLabel="Show key"
          busy={busy}
          error={error}
          onConfirm={reveal}
          onCancel={() => {
            setAsking(false);
            setError(undefined);
          }}
        >
          <p>
            Viewing this host's disk encryption key is recorded in the activity log as {user.name} (
            {user.email}).
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}
