import { useState } from 'preact/hooks';
import { api } from '../../api/client.js';
import { isoDay, type EnrollSecret, type EnrollSecretSpecResponse } from '../../api/settings.js';
import { ConfirmDialog, ErrorText, Loading } from '../../components/feedback.js';
import { copyToClipboard, newEnrollSecret, useRevealed } from '../../components/secrets.js';
import { useAction } from '../../components/useAction.js';
import { useApi } from '../../components/useApi.js';
import { useSession } from '../../session.js';

/** What a hidden secret looks like: its length hidden too. */
const masked = '••••••••••••';

/**
 * Global enroll secrets (hosts in no team): `GET /spec/enroll_secret`, and `POST` with the whole
 * new list, as Fleet's spec endpoint replaces the list.
 */
export function EnrollSecretsSection() {
  const session = useSession();
  const mayEdit = session.can('enroll_secret', 'write', null);
  const secrets = useApi(
    () => api.get<EnrollSecretSpecResponse>('/spec/enroll_secret').then((r) => r.spec.secrets),
    [],
  );
  const { isRevealed, toggle } = useRevealed();
  const [copied, setCopied] = useState('');
  const { busy, error, setError, run } = useAction();
  const [deleting, setDeleting] = useState<EnrollSecret>();

  if (!secrets.data)
    return secrets.error ? <ErrorText error={secrets.error} /> : <Loading what="enroll secrets" />;
  const list = secrets.data;

  const replace = (next: string[]) =>
    run(async () => {
      await api.post('/spec/enroll_secret', { spec: { secrets: next.map((secret) => ({ secret })) } });
      setDeleting(undefined);
      secrets.reload();
    });

  const copy = async (secret: string, index: number) =>
    setCopied(
      (await copyToClipboard(secret))
        ? `Secret ${index + 1} copied.`
        : `Could not copy: reveal secret ${index + 1} and copy it by hand.`,
    );

  return (
    <div class="card stack">
      <h2>Enroll secrets</h2>
      <p class="muted">
        Hosts enrolling with one of these secrets join no team (each team has its own secrets). A device needs
        the secret only to enroll.
      </p>
      {list.length === 0 ? (
        <p>No enroll secrets: no host can enroll into no team.</p>
      ) : (
        <ul class="secrets" aria-label="Enroll secrets">
          {list.map((s, i) => {
            const shown = isRevealed(s.secret);
            return (
              <li class="secret-row" key={s.secret}>
                <div>
                  <span class="secret" data-testid="secret-value">
                    {shown ? s.secret : masked}
                  </span>
                  <br />
                  {s.created_at && <span class="muted">Created {isoDay(s.created_at)}</span>}
                </div>
                <div class="actions">
                  <button type="button" aria-pressed={shown} onClick={() => toggle(s.secret)}>
                    {shown ? 'Hide' : 'Reveal'}
                    <span class="visually-hidden"> secret {i + 1}</span>
                  </button>
                  <button type="button" onClick={() => void copy(s.secret, i)}>
                    Copy<span class="visually-hidden"> secret {i + 1}</span>
                  </button>
                  {mayEdit && (
                    <button type="button" class="danger" onClick={() => setDeleting(s)}>
                      Delete<span class="visually-hidden"> secret {i + 1}</span>
                    </button>
                  )}
                </div>
              </li>
            );
          })}
        </ul>
      )}
      <p class="live" aria-live="polite">
        {copied}
      </p>
      {!deleting && <ErrorText error={error} />}
      {mayEdit && (
        <div class="actions">
          <button
            type="button"
            class="primary"
            disabled={busy}
            onClick={() => void replace([...list.map((s) => s.secret), newEnrollSecret()])}
          >
            {busy && !deleting ? 'Adding…' : 'Add secret'}
          </button>
        </div>
      )}
      {deleting && (
        <ConfirmDialog
          title="Delete this enroll secret?"
          confirmLabel="Delete secret"
          danger
          busy={busy}
          error={error}
          onConfirm={() => void replace(list.filter((s) => s !== deleting).map((s) => s.secret))}
          onCancel={() => {
            setDeleting(undefined);
            setError(undefined);
          }}
        >
          <p>Devices using this secret can no longer enroll.</p>
        </ConfirmDialog>
      )}
    </div>
  );
}
