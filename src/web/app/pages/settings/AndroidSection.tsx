import { useState } from 'preact/hooks';
import { api, ApiError } from '../../api/client.js';
import type {
  AndroidEnterpriseResponse,
  AndroidServiceAccount,
  AndroidSignupUrlResponse,
} from '../../api/settings.js';
import { ConfirmDialog, ErrorText, Loading } from '../../components/feedback.js';
import { useAction } from '../../components/useAction.js';
import { useApi } from '../../components/useApi.js';
import { UploadForm } from './UploadForm.js';

/** A GET the server answers 404 while the thing does not exist yet, as null. */
async function orNull<T>(load: Promise<T>): Promise<T | null> {
  try {
    return await load;
  } catch (err) {
    if (err instanceof ApiError && err.status === 404) return null;
    throw err;
  }
}

interface AndroidState {
  enterprise: AndroidEnterpriseResponse | null;
  serviceAccount: AndroidServiceAccount | null;
}

/**
 * Android Enterprise (global admins): the Google service account, binding an enterprise through
 * Google's signup page, and unbinding it.
 */
export function AndroidSection() {
  const state = useApi<AndroidState>(
    async () => ({
      enterprise: await orNull(api.get<AndroidEnterpriseResponse>('/android_enterprise')),
      serviceAccount: await orNull(api.get<AndroidServiceAccount>('/android_enterprise/service_account')),
    }),
    [],
  );
  const [signupUrl, setSignupUrl] = useState('');
  const connection = useAction();
  const [disconnecting, setDisconnecting] = useState(false);
  const disconnection = useAction();
  const [notice, setNotice] = useState('');

  if (!state.data)
    return state.error ? <ErrorText error={state.error} /> : <Loading what="Android Enterprise" />;
  const { enterprise, serviceAccount } = state.data;

  const connect = () => {
    setSignupUrl('');
    return connection.run(async () => {
      const res = await api.get<AndroidSignupUrlResponse>('/android_enterprise/signup_url');
      setSignupUrl(res.android_enterprise_signup_url);
    });
  };

  const uploadServiceAccount = async (file: File) => {
    let key: unknown;
    try {
      key = JSON.parse(await file.text());
    } catch {
      throw new Error(`${file.name} is not a JSON key file.`);
    }
    const summary = await api.put<AndroidServiceAccount>('/android_enterprise/service_account', key);
    setNotice(`Service account ${summary.client_email} saved.`);
    state.reload();
  };

  const disconnect = () =>
    disconnection.run(async () => {
      await api.delete('/android_enterprise');
      setDisconnecting(false);
      setNotice('Android Enterprise disconnected. Android MDM is off.');
      state.reload();
    });

  return (
    <>
      <div class="card stack">
        <h2>Android Enterprise</h2>
        {enterprise ? (
          <dl class="facts" aria-label="Android Enterprise">
            <dt>Status</dt>
            <dd>
              <span class="badge badge-on">on</span>
            </dd>
            <dt>Enterprise ID</dt>
            <dd>{enterprise.android_enterprise_id}</dd>
          </dl>
        ) : (
          <p>
            <span class="badge badge-off">off</span> No Android Enterprise is connected, so Android phones and
            tablets cannot enroll.
          </p>
        )}
        <p class="live" aria-live="polite">
          {notice}
        </p>
        {enterprise ? (
          <div class="actions">
            <button type="button" class="danger" onClick={() => setDisconnecting(true)}>
              Disconnect Android Enterprise
            </button>
          </div>
        ) : (
          <div class="stack">
            <p class="muted">
              Connecting opens Google's signup page; Google then calls this server back at its server URL, so
              that URL must be public HTTPS.
            </p>
            <div class="actions">
              <button type="button" class="primary" disabled={connection.busy} onClick={() => void connect()}>
                {connection.busy ? 'Asking Google…' : 'Connect Android Enterprise'}
              </button>
              <button type="button" onClick={() => state.reload()}>
                Check status
              </button>
            </div>
            <ErrorText error={connection.error} />
            {signupUrl && (
              <p class="notice">
                <a href={signupUrl} target="_blank" rel="noopener noreferrer">
                  Open Google's signup page
                </a>{' '}
                (in a new tab), finish the managed Google Play signup there, then come back and choose "Check
                status".
              </p>
            )}
          </div>
        )}
      </div>

      <div class="card stack">
        <h2>Google service account</h2>
        {serviceAccount ? (
          <dl class="facts" aria-label="Google service account">
            <dt>Project</dt>
            <dd>{serviceAccount.project_id}</dd>
            <dt>Account</dt>
            <dd>{serviceAccount.client_email}</dd>
            <dt>Key ID</dt>
            <dd>{serviceAccount.private_key_id}</dd>
          </dl>
        ) : (
          <p>No service account yet: connecting needs one.</p>
        )}
        <UploadForm
          label={serviceAccount ? 'Replace the JSON key file' : 'Service account JSON key file'}
          buttonLabel="Upload key"
          accept=".json,application/json"
          upload={uploadServiceAccount}
        >
          <p class="muted">
            From a Google Cloud project used only by this server, with the Android Management API and Cloud
            Pub/Sub enabled.
          </p>
        </UploadForm>
      </div>

      {disconnecting && (
        <ConfirmDialog
          title="Disconnect Android Enterprise?"
          confirmLabel="Disconnect"
          danger
          busy={disconnection.busy}
          error={disconnection.error}
          onConfirm={() => void disconnect()}
          onCancel={() => {
            setDisconnecting(false);
            disconnection.setError(undefined);
          }}
        >
          <p>
            The enterprise is deleted at Google, every Android host is unenrolled, and Android MDM turns off.
          </p>
        </ConfirmDialog>
      )}
    </>
  );
}
