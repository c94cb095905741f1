import type { ComponentChildren } from 'preact';
import { useRef, useState } from 'preact/hooks';
import { ErrorText } from '../../components/feedback.js';
import { useAction } from '../../components/useAction.js';

/**
 * A file picker and an upload button. `upload` sends the chosen file; its error (the server's
 * words) stays under the form, and the picker clears after a success.
 */
export function UploadForm(props: {
  label: string;
  buttonLabel: string;
  accept?: string;
  upload: (file: File) => Promise<void>;
  children?: ComponentChildren;
}) {
  const input = useRef<HTMLInputElement>(null);
  const [file, setFile] = useState<File>();
  const { busy, error, setError, run } = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    if (!file) return;
    void run(async () => {
      await props.upload(file);
      setFile(undefined);
      if (input.current) input.current.value = '';
    });
  };
  return (
    <form class="stack" onSubmit={submit}>
      <label>
        {props.label}
        <input
          ref={input}
          type="file"
          accept={props.accept}
          onChange={(e) => {
            setError(undefined);
            setFile(e.currentTarget.files?.[0]);
          }}
        />
      </label>
      {props.children}
      <ErrorText error={error} />
      <div class="actions">
        <button type="submit" class="primary" disabled={!file || busy}>
          {busy ? 'Uploading…' : props.buttonLabel}
        </button>
        {busy && (
          <span class="muted" aria-live="polite">
            Uploading {file?.name}…
          </span>
        )}
      </div>
    </form>
  );
}

/** The multipart body the upload routes read: the file in field `field`. */
export function fileForm(field: string, file: File): FormData {
  const form = new FormData();
  form.append(field, file, file.name);
  return form;
}
