import type { ComponentChildren } from 'preact';
import { ConfirmDialog } from './feedback.js';
import { useAction } from './useAction.js';

/**
 * "Delete this?" for one row of a list: `remove` calls the API, then `onDone(true)` closes the
 * dialog and lets the page reload; a failure stays in the dialog for another try or Cancel.
 */
export function DeleteDialog(props: {
  title: string;
  confirmLabel: string;
  remove: () => Promise<unknown>;
  onDone: (deleted: boolean) => void;
  children: ComponentChildren;
}) {
  const { busy, error, run } = useAction();
  return (
    <ConfirmDialog
      title={props.title}
      confirmLabel={props.confirmLabel}
      danger
      busy={busy}
      error={error}
      onCancel={() => props.onDone(false)}
      onConfirm={() =>
        // The last error stays up while trying again, as these dialogs always showed it.
        void run(
          async () => {
            await props.remove();
            props.onDone(true);
          },
          { keepError: true },
        )
      }
    >
      {props.children}
    </ConfirmDialog>
  );
}
