import { useState } from 'preact/hooks';
import { api } from '../../api/client.js';
import { profileFileTypes, targetingModes, uploadProfile, type TargetingMode } from '../../api/profiles.js';
import type { Label } from '../../api/shapes.js';
import { ErrorText, Loading, Progress } from '../../components/feedback.js';
import { useApi } from '../../components/useApi.js';

/** What became of one file of a batch: its new profile, or the server's error. */
interface UploadResult {
  fileName: string;
  profileUuid?: string;
  error?: string;
}

/**
 * Adds profiles to a team: files picked with the file input or dropped on the zone, one label
 * targeting for all of them, then uploaded one by one (the API takes one file per request) so each
 * file gets its own answer.
 */
export function ProfileUpload(props: { teamId: number; teamName: string; onUploaded: () => void }) {
  // Fleet's console offers the admin's own labels for targeting, not the built-in ones.
  const labels = useApi(
    () =>
      api
        .get<{ labels: Label[] }>('/labels', { include_host_counts: false })
        .then((r) => r.labels.filter((l) => l.label_type !== 'builtin')),
    [],
  );
  const [files, setFiles] = useState<File[]>([]);
  const [mode, setMode] = useState<TargetingMode>('all_hosts');
  const [picked, setPicked] = useState<Set<string>>(new Set());
  const [dragOver, setDragOver] = useState(false);
  const [progress, setProgress] = useState<{ done: number; total: number; finished: boolean }>();
  const [results, setResults] = useState<UploadResult[]>([]);
  const [formError, setFormError] = useState<string>();

  const busy = !!progress && !progress.finished;

  const addFiles = (list: FileList | null | undefined) => {
    if (!list?.length) return;
    const added = Array.from(list);
    // The same file picked twice is one upload.
    setFiles((cur) => [...cur.filter((f) => !added.some((a) => a.name === f.name)), ...added]);
    setFormError(undefined);
  };

  const togglePicked = (name: string) => {
    const next = new Set(picked);
    if (next.has(name)) next.delete(name);
    else next.add(name);
    setPicked(next);
  };

  const upload = async () => {
    if (!files.length) {
      setFormError('Choose at least one profile file to upload.');
      return;
    }
    // Keep the labels in the order the list shows them.
    const chosenLabels = (labels.data ?? []).map((l) => l.name).filter((n) => picked.has(n));
    if (mode !== 'all_hosts' && !chosenLabels.length) {
      setFormError('Choose at least one label, or target all hosts.');
      return;
    }
    setFormError(undefined);
    const batch = files;
    const out: UploadResult[] = [];
    setResults([]);
    setProgress({ done: 0, total: batch.length, finished: false });
    for (const [i, file] of batch.entries()) {
      try {
        const { profile_uuid } = await uploadProfile(file, props.teamId, { mode, labels: chosenLabels });
        out.push({ fileName: file.name, profileUuid: profile_uuid });
      } catch (err) {
        out.push({ fileName: file.name, error: (err as Error).message });
      }
      setResults([...out]);
      setProgress({ done: i + 1, total: batch.length, finished: false });
    }
    setProgress({ done: batch.length, total: batch.length, finished: true });
    // Failed files stay picked so the admin can fix the targeting and try them again.
    setFiles(batch.filter((f) => out.some((r) => r.fileName === f.name && r.error)));
    if (out.some((r) => r.profileUuid)) props.onUploaded();
  };

  const uploaded = results.filter((r) => r.profileUuid).length;

  return (
    <section class="card stack os-upload" aria-labelledby="os-upload-title">
      <h2 id="os-upload-title">Add profiles to {props.teamName}</h2>
      <div
        class={dragOver ? 'dropzone over' : 'dropzone'}
        data-testid="profile-dropzone"
        onDragEnter={(e) => {
          e.preventDefault();
          setDragOver(true);
        }}
        onDragOver={(e) => {
          e.preventDefault();
          if (e.dataTransfer) e.dataTransfer.dropEffect = 'copy';
          setDragOver(true);
        }}
        onDragLeave={() => setDragOver(false)}
        onDrop={(e) => {
          e.preventDefault();
          setDragOver(false);
          addFiles(e.dataTransfer?.files);
        }}
      >
        <p>Drop .mobileconfig (Apple), .xml (Windows) or .json (Apple declaration, Android) files here, or</p>
        <label class="os-file-pick">
          Profile files
          <input
            type="file"
            multiple
            accept={profileFileTypes}
            disabled={busy}
            onChange={(e) => {
              const input = e.currentTarget;
              addFiles(input.files);
              // Cleared so picking the same file again after removing it fires a change.
              input.value = '';
            }}
          />
        </label>
      </div>

      {files.length > 0 && (
        <div>
          <h3>Files to upload ({files.length})</h3>
          <ul class="os-file-list">
            {files.map((f) => (
              <li key={f.name}>
                <span>{f.name}</span>
                <button
                  type="button"
                  class="link"
                  aria-label={`Remove ${f.name}`}
                  disabled={busy}
                  onClick={() => setFiles(files.filter((x) => x !== f))}
                >
                  Remove
                </button>
              </li>
            ))}
          </ul>
        </div>
      )}

      <fieldset class="os-targeting" disabled={busy}>
        <legend>Target</legend>
        {targetingModes.map((t) => (
          <label class="inline" key={t.mode}>
            <input
              type="radio"
              name="os-targeting"
              value={t.mode}
              checked={mode === t.mode}
              onChange={() => setMode(t.mode)}
            />
            {t.title}
          </label>
        ))}
        {mode !== 'all_hosts' && (
          <div class="os-label-choices" role="group" aria-label="Labels">
            {labels.loading && !labels.data && <Loading what="labels" />}
            <ErrorText error={labels.error} />
            {labels.data?.length === 0 && (
              <p class="muted">There are no labels yet. Add labels on the Labels page to target hosts.</p>
            )}
            {labels.data?.map((l) => (
              <label class="inline" key={l.id}>
                <input type="checkbox" checked={picked.has(l.name)} onChange={() => togglePicked(l.name)} />
                {l.name}
              </label>
            ))}
          </div>
        )}
      </fieldset>

      <ErrorText error={formError} />
      <div class="row">
        <button type="button" class="primary" disabled={busy} onClick={() => void upload()}>
          {files.length === 0
            ? 'Upload'
            : files.length === 1
              ? 'Upload 1 profile'
              : `Upload ${files.length} profiles`}
        </button>
      </div>

      {progress && (
        <Progress
          label={progress.finished ? 'Upload finished' : 'Uploading profiles'}
          done={progress.done}
          total={progress.total}
        />
      )}
      {progress?.finished && (
        <p class="os-upload-summary">
          {uploaded} uploaded, {results.length - uploaded} failed.
        </p>
      )}
      {results.length > 0 && (
        <ul class="os-upload-results" aria-label="Upload results">
          {results.map((r) =>
            r.error ? (
              <li key={r.fileName}>
                <ErrorText error={`${r.fileName}: ${r.error}`} />
              </li>
            ) : (
              <li key={r.fileName} class="os-upload-ok">
                {r.fileName}: uploaded
              </li>
            ),
          )}
        </ul>
      )}
    </section>
  );
}
