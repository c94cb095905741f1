import { useEffect, useState } from 'preact/hooks';
import { api } from '../../api/client.js';
import type { ConfigDocument } from '../../api/settings.js';
import { ErrorText, Loading } from '../../components/feedback.js';
import { useAction } from '../../components/useAction.js';
import { useApi } from '../../components/useApi.js';
import { useSession } from '../../session.js';

/** Organization name and the URL devices reach the server at (`GET|PATCH /config`). */
export function OrganizationSection() {
  const session = useSession();
  const mayEdit = session.can('app_config', 'write', null);
  const config = useApi(() => api.get<ConfigDocument>('/config'), []);
  const [orgName, setOrgName] = useState('');
  const [serverUrl, setServerUrl] = useState('');
  const { busy, error, run } = useAction();
  const [saved, setSaved] = useState(false);

  useEffect(() => {
    if (!config.data) return;
    setOrgName(config.data.org_info.org_name);
    setServerUrl(config.data.server_settings.server_url);
  }, [config.data]);

  if (!config.data) return config.error ? <ErrorText error={config.error} /> : <Loading what="settings" />;

  const save = (e: Event) => {
    e.preventDefault();
    setSaved(false);
    void run(async () => {
      await api.patch('/config', {
        org_info: { org_name: orgName },
        server_settings: { server_url: serverUrl },
      });
      setSaved(true);
      config.reload();
    });
  };

  if (!mayEdit) {
    return (
      <div class="card">
        <h2>Organization</h2>
        <dl class="facts">
          <dt>Organization name</dt>
          <dd>{config.data.org_info.org_name || '—'}</dd>
          <dt>Server URL</dt>
          <dd>{config.data.server_settings.server_url}</dd>
        </dl>
        <p class="muted">Only global admins can change these settings.</p>
      </div>
    );
  }
  return (
    <form class="card stack" onSubmit={save} aria-labelledby="org-title">
      <h2 id="org-title">Organization</h2>
      <label>
        Organization name
        <input
          name="org_name"
          value={orgName}
          onInput={(e) => setOrgName(e.currentTarget.value)}
          autoComplete="organization"
        />
      </label>
      <label>
        Server URL (what devices reach)
        <input
          type="url"
          name="server_url"
          required
          value={serverUrl}
          onInput={(e) => setServerUrl(e.currentTarget.value)}
        />
      </label>
      <p class="muted">
        Devices enrolled already keep the URL they were given; change it only when the old one still reaches
        this server, or re-enroll them.
      </p>
      <ErrorText error={error} />
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Saving…' : 'Save'}
        </button>
        <span aria-live="polite">{saved && !busy ? 'Saved.' : ''}</span>
      </div>
    </form>
  );
}
