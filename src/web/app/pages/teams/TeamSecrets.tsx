import { useState } from 'preact/hooks';
import { api } from '../../api/client.js';
import type { SecretsResponse } from '../../api/admin.js';
import { ConfirmDialog, ErrorText, Loading } from '../../components/feedback.js';
import { copyToClipboard, useRevealed } from '../../components/secrets.js';
import { useAction } from '../../components/useAction.js';
import { useApi } from '../../components/useApi.js';
import { useSession } from '../../session.js';
import { maskSecret } from './secrets.js';
import { newEnrollSecret } from '../../components/secrets.js';

/**
 * A team's enroll secrets: masked until revealed, copyable, and (for who may write them) added,
 * rotated or removed. PATCH replaces the whole list, so every change sends the list it wants.
 */
export function TeamSecrets(props: { teamId: number; teamName: string }) {
  const { can } = useSession();
  const mayWrite = can('enroll_secret', 'write', props.teamId);
  const secrets = useApi(() => api.get<SecretsResponse>(`/teams/${props.teamId}/secrets`), [props.teamId]);
  const { isRevealed, toggle, reveal } = useRevealed();
  const [copied, setCopied] = useState<string>();
  const { busy, error, setError, run } = useAction();
  const [pending, setPending] = useState<{ kind: 'rotate' | 'remove'; secret: string }>();

  const list = secrets.data?.secrets ?? [];
  const save = (next: string[]) =>
    run(async () => {
      await api.patch<SecretsResponse>(`/teams/${props.teamId}/secrets`, {
        secrets: next.map((secret) => ({ secret })),
      });
      setPending(undefined);
      secrets.reload();
    });
  const copy = async (secret: string) => {
    const ok = await copyToClipboard(secret);
    // Refused: reveal it for a manual copy.
    if (!ok) reveal(secret);
    setCopied(ok ? secret : undefined);
  };

  return (
    <section aria-labelledby="team-secrets-title">
      <h3 id="team-secrets-title">Enroll secrets</h3>
      <p class="muted">Hosts enrolled with one of these secrets join {props.teamName}.</p>
      {secrets.loading && !secrets.data && <Loading what="enroll secrets" />}
      <ErrorText error={secrets.error} />
      {secrets.data && list.length === 0 && <p class="muted">This team has no enroll secrets.</p>}
      <ul class="secret-list">
        {list.map((s, i) => (
          <li key={s.secret}>
            <code aria-label={`Enroll secret ${i + 1}`}>
              {isRevealed(s.secret) ? s.secret : maskSecret(s.secret)}
            </code>
            <button type="button" onClick={() => toggle(s.secret)}>
              {isRevealed(s.secret) ? 'Hide' : 'Reveal'}
            </button>
            <button type="button" onClick={() => void copy(s.secret)}>
              Copy
            </button>
            {mayWrite && (
              <>
                <button type="button" onClick={() => setPending({ kind: 'rotate', secret: s.secret })}>
                  Rotate
                </button>
                <button type="button" onClick={() => setPending({ kind: 'remove', secret: s.secret })}>
                  Remove
                </button>
              </>
            )}
          </li>
        ))}
      </ul>
      <p class="visually-hidden" aria-live="polite">
        {copied ? 'Secret copied to the clipboard.' : ''}
      </p>
      {copied && <p class="muted">Copied.</p>}
      {mayWrite && (
        <button
          type="button"
          disabled={busy}
          onClick={() => void save([...list.map((s) => s.secret), newEnrollSecret()])}
        >
          Add secret
        </button>
      )}
      {!pending && <ErrorText error={error} />}
      {pending && (
        <ConfirmDialog
          title={pending.kind === 'rotate' ? 'Rotate enroll secret' : 'Remove enroll secret'}
          confirmLabel={pending.kind === 'rotate' ? 'Rotate' : 'Remove'}
          danger
          busy={busy}
          error={error}
          onCancel={() => {
            setPending(undefined);
            setError(undefined);
          }}
          onConfirm={() =>
            void save(
              pending.kind === 'rotate'
                ? list.map((s) => (s.secret === pending.secret ? newEnrollSecret() : s.secret))
                : list.filter((s) => s.secret !== pending.secret).map((s) => s.secret),
            )
          }
        >
          <p>
            Hosts can no longer enroll with the secret ending in <code>{pending.secret.slice(-4)}</code>
            {pending.kind === 'rotate' ? '; a new secret replaces it.' : '.'} Hosts already enrolled stay
            enrolled.
          </p>
        </ConfirmDialog>
      )}
    </section>
  );
}
