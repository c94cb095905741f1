import type { ComponentChildren } from 'preact';
import { useEffect, useRef } from 'preact/hooks';

/** An API error in the server's words (ApiError's message is Fleet's message and reasons). */
export function ErrorText(props: { error: Error | string | undefined }) {
  if (!props.error) return null;
  const text = typeof props.error === 'string' ? props.error : props.error.message;
  return (
    <p class="error" role="alert">
      {text}
    </p>
  );
}

export function Loading(props: { what?: string }) {
  return (
    <p class="muted" aria-live="polite">
      Loading{props.what ? ` ${props.what}` : ''}…
    </p>
  );
}

/** Progress of a long action (a batch upload, a bulk transfer): done of total, with a label. */
export function Progress(props: { label: string; done: number; total: number }) {
  return (
    <div class="progress" role="status" aria-live="polite">
      <span>
        {props.label}: {props.done} of {props.total}
      </span>
      <progress max={props.total} value={props.done} />
    </div>
  );
}

/**
 * A confirmation in a modal <dialog>: focus moves into it, Escape cancels, and the page behind
 * cannot be clicked. `onConfirm` runs the action; its error stays in the dialog.
 */
export function ConfirmDialog(props: {
  title: string;
  confirmLabel: string;
  danger?: boolean;
  busy?: boolean;
  error?: Error | string;
  onConfirm: () => void;
  onCancel: () => void;
  children?: ComponentChildren;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = ref.current;
    if (d && !d.open) d.showModal();
  }, []);
  return (
    <dialog
      ref={ref}
      class="dialog"
      aria-labelledby="dialog-title"
      onCancel={(e) => {
        e.preventDefault();
        props.onCancel();
      }}
    >
      <h2 id="dialog-title">{props.title}</h2>
      <div class="dialog-body">{props.children}</div>
      <ErrorText error={props.error} />
      <div class="dialog-actions">
        <button type="button" onClick={props.onCancel}>
          Cancel
        </button>
        <button
          type="button"
          class={props.danger ? 'danger' : 'primary'}
          disabled={props.busy}
          onClick={props.onConfirm}
        >
          {props.busy ? 'Working…' : props.confirmLabel}
        </button>
      </div>
    </dialog>
  );
}

/** A status word in a coloured pill (verified, pending, failed…). */
export function StatusBadge(props: { status: string | null | undefined }) {
  const s = props.status ?? 'unknown';
  return <span class={`badge badge-${s.replace(/[^a-z_]/gi, '')}`}>{s.replace(/_/g, ' ')}</span>;
}
