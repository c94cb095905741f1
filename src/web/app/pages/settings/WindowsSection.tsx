import { useState } from 'preact/hooks';
import { api } from '../../api/client.js';
import type { ConfigDocument } from '../../api/settings.js';
import { ConfirmDialog, ErrorText, Loading } from '../../components/feedback.js';
import { useAction } from '../../components/useAction.js';
import { useApi } from '../../components/useApi.js';
import { useSession } from '../../session.js';

/** Windows MDM on or off: Fleet's `mdm.windows_enabled_and_configured` in `PATCH /config`. */
export function WindowsSection() {
  const session = useSession();
  const mayEdit = session.can('app_config', 'write', null);
  const config = useApi(() => api.get<ConfigDocument>('/config'), []);
  const [confirmingOff, setConfirmingOff] = useState(false);
  const { busy, error, setError, run } = useAction();

  if (!config.data) return config.error ? <ErrorText error={config.error} /> : <Loading what="settings" />;
  const on = config.data.mdm.windows_enabled_and_configured;

  const turn = (next: boolean) =>
    run(async () => {
      await api.patch('/config', { mdm: { windows_enabled_and_configured: next } });
      setConfirmingOff(false);
      config.reload();
    });

  return (
    <div class="card stack">
      <h2>Windows MDM</h2>
      <p aria-live="polite">
        Windows MDM is <span class={`badge badge-${on ? 'on' : 'off'}`}>{on ? 'on' : 'off'}</span>
      </p>
      <p class="muted">
        {on
          ? 'Windows PCs with fleetd enroll in MDM, and Windows profiles and commands reach them.'
          : 'Windows PCs are not enrolled in MDM: no Windows profiles, lock or wipe.'}
      </p>
      {mayEdit && !confirmingOff && <ErrorText error={error} />}
      {mayEdit && (
        <div class="actions">
          {on ? (
            <button type="button" class="danger" disabled={busy} onClick={() => setConfirmingOff(true)}>
              Turn off Windows MDM
            </button>
          ) : (
            <button type="button" class="primary" disabled={busy} onClick={() => void turn(true)}>
              {busy ? 'Turning on…' : 'Turn on Windows MDM'}
            </button>
          )}
        </div>
      )}
      {confirmingOff && (
        <ConfirmDialog
          title="Turn off Windows MDM?"
          confirmLabel="Turn off"
          danger
          busy={busy}
          error={error}
          onConfirm={() => void turn(false)}
          onCancel={() => {
            setConfirmingOff(false);
            setError(undefined);
          }}
        >
          <p>
            Windows PCs stop receiving profiles and commands, Windows MDM migration turns off, and the Entra
            tenant and client IDs are cleared.
          </p>
        </ConfirmDialog>
      )}
    </div>
  );
}
