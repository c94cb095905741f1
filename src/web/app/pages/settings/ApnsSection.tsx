import { useState } from 'preact/hooks';
import { api, ApiError } from '../../api/client.js';
import {
  daysUntil,
  fromBase64,
  isoDay,
  renewWarningDays,
  type ApnsStatus,
  type CsrResponse,
} from '../../api/settings.js';
import { saveBlob } from '../../components/download.js';
import { ConfirmDialog, ErrorText, Loading } from '../../components/feedback.js';
import { useAction } from '../../components/useAction.js';
import { useApi } from '../../components/useApi.js';
import { useSession } from '../../session.js';
import { fileForm, UploadForm } from './UploadForm.js';

/** `GET /mdm/apple`; the server answers 400 while no certificate is installed, shown here as null. */
async function loadStatus(): Promise<ApnsStatus | null> {
  try {
    return await api.get<ApnsStatus>('/mdm/apple');
  } catch (err) {
    if (err instanceof ApiError && err.status === 400) return null;
    throw err;
  }
}

/** When a certificate or token runs out: the date, days left, and a warning close to it. */
export function RenewDate(props: { iso: string; what: string }) {
  const days = daysUntil(props.iso);
  return (
    <>
      <time dateTime={props.iso}>{isoDay(props.iso)}</time>{' '}
      <span class="muted">
        ({days < 0 ? `expired ${-days} days ago` : days === 1 ? 'in 1 day' : `in ${days} days`})
      </span>
      {days < renewWarningDays && (
        <p class="notice warn" role="status">
          {days < 0
            ? `The ${props.what} has expired. Renew it now.`
            : `The ${props.what} expires in ${days} days. Renew it before then.`}
        </p>
      )}
    </>
  );
}

/** Apple push (APNs) certificate: status, CSR download, certificate upload, delete. */
export function ApnsSection() {
  const session = useSession();
  const mayEdit = session.can('mdm_apple_setup', 'write');
  const status = useApi(loadStatus, []);
  const csrDownload = useAction();
  const [csrSaved, setCsrSaved] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const deletion = useAction();
  const [notice, setNotice] = useState('');

  const downloadCsr = () => {
    setCsrSaved(false);
    return csrDownload.run(async () => {
      const { csr } = await api.get<CsrResponse>('/mdm/apple/request_csr');
      saveBlob(new Blob([fromBase64(csr)], { type: 'application/pkcs10' }), 'flotilla-apns.csr');
      setCsrSaved(true);
    });
  };

  const upload = async (file: File) => {
    setNotice('');
    await api.post('/mdm/apple/apns_certificate', fileForm('certificate', file));
    setNotice('Certificate uploaded. Apple MDM is on.');
    status.reload();
  };

  const remove = () =>
    deletion.run(async () => {
      await api.delete('/mdm/apple/apns_certificate');
      setDeleting(false);
      setNotice('Certificate deleted. Apple MDM is off.');
      status.reload();
    });

  const current = status.data;
  return (
    <>
      <div class="card">
        <h2>Apple push certificate (APNs)</h2>
        {current === undefined ? (
          status.error ? (
            <ErrorText error={status.error} />
          ) : (
            <Loading what="the APNs status" />
          )
        ) : current === null ? (
          <p>
            <span class="badge badge-off">off</span> No push certificate is installed, so Apple MDM is off:
            Macs, iPhones and iPads cannot enroll.
          </p>
        ) : (
          <dl class="facts" aria-label="APNs certificate">
            <dt>Status</dt>
            <dd>
              <span class="badge badge-on">on</span>
            </dd>
            <dt>Common name</dt>
            <dd>{current.common_name}</dd>
            <dt>Issuer</dt>
            <dd>{current.issuer}</dd>
            <dt>Serial number</dt>
            <dd>{current.serial_number}</dd>
            <dt>Renew by</dt>
            <dd>
              <RenewDate iso={current.renew_date} what="push certificate" />
            </dd>
          </dl>
        )}
        <p class="live" aria-live="polite">
          {notice}
        </p>
        {mayEdit && current && (
          <button type="button" class="danger" onClick={() => setDeleting(true)}>
            Delete certificate
          </button>
        )}
      </div>

      {mayEdit && (
        <div class="card stack">
          <h2>{current ? 'Renew the certificate' : 'Set up Apple MDM'}</h2>
          <ol class="stack">
            <li>
              <p>
                Download a certificate signing request (CSR). The server keeps its private key; every download
                is for the same key.
              </p>
              <div class="actions">
                <button type="button" onClick={() => void downloadCsr()} disabled={csrDownload.busy}>
                  {csrDownload.busy ? 'Preparing…' : 'Download CSR'}
                </button>
                <span aria-live="polite">{csrSaved ? 'Saved flotilla-apns.csr.' : ''}</span>
              </div>
              <ErrorText error={csrDownload.error} />
            </li>
            <li>
              Have the CSR signed by an MDM vendor certificate, then upload it at Apple's Push Certificates
              Portal (identity.apple.com) with your company Apple Account
              {current
                ? ' (choose "Renew", not "Create": a new certificate would cut off enrolled devices)'
                : ''}
              , and download the certificate Apple gives back.
            </li>
            <li>
              <UploadForm
                label="Push certificate from Apple (.pem)"
                buttonLabel="Upload certificate"
                accept=".pem,.cer,.crt"
                upload={upload}
              />
            </li>
          </ol>
        </div>
      )}

      {deleting && (
        <ConfirmDialog
          title="Delete the push certificate?"
          confirmLabel="Delete certificate"
          danger
          busy={deletion.busy}
          error={deletion.error}
          onConfirm={() => void remove()}
          onCancel={() => {
            setDeleting(false);
            deletion.setError(undefined);
          }}
        >
          <p>
            Apple MDM turns off: enrolled Macs, iPhones and iPads can no longer be reached, and the private
            key is deleted too, so the certificate cannot be uploaded again.
          </p>
        </ConfirmDialog>
      )}
    </>
  );
}
