import { useState } from 'preact/hooks';
import { consolePages } from '../../paths.js';
import { api, storeToken } from '../api/client.js';
import type { MeResponse, User } from '../api/shapes.js';
import { ErrorText } from '../components/feedback.js';
import { useAction } from '../components/useAction.js';
import { navigate } from '../router.js';

interface SetupResponse {
  admin: User;
  token: string;
}

/** First run: the first admin, the organization's name and the URL devices reach the server at. */
export function SetupPage(props: { onSignedIn: (me: MeResponse) => void }) {
  const [form, setForm] = useState({
    name: '',
    email: '',
    password: '',
    password_confirmation: '',
    org_name: '',
    server_url: location.origin,
  });
  const { busy, error, run } = useAction();
  const field = (key: keyof typeof form) => ({
    value: form[key],
    onInput: (e: { currentTarget: HTMLInputElement }) => setForm({ ...form, [key]: e.currentTarget.value }),
  });
  const submit = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      const res = await api.post<SetupResponse>('/api/v1/setup', {
        admin: {
          name: form.name,
          email: form.email,
          password: form.password,
          password_confirmation: form.password_confirmation,
        },
        org_info: { org_name: form.org_name },
        server_url: form.server_url,
      });
      storeToken(res.token);
      props.onSignedIn({ user: res.admin, available_teams: [] });
      navigate(consolePages.dashboard, { replace: true });
    });
  };
  return (
    <main class="auth-page" id="main">
      <form class="card auth-card" onSubmit={submit} aria-labelledby="setup-title">
        <h1 id="setup-title">Set up Flotilla</h1>
        <p class="muted">Create the first admin. You can invite others once you are in.</p>
        <label>
          Full name
          <input name="name" required autoComplete="name" {...field('name')} />
        </label>
        <label>
          Email
          <input type="email" name="email" required autoComplete="username" {...field('email')} />
        </label>
        <label>
          Password
          <input
            type="password"
            name="password"
            required
            autoComplete="new-password"
            {...field('password')}
          />
        </label>
        <label>
          Confirm password
          <input
            type="password"
            name="password_confirmation"
            required
            autoComplete="new-password"
            {...field('password_confirmation')}
          />
        </label>
        <label>
          Organization name
          <input name="org_name" {...field('org_name')} />
        </label>
        <label>
          Server URL (what devices reach)
          <input type="url" name="server_url" required {...field('server_url')} />
        </label>
        <ErrorText error={error} />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Setting up…' : 'Create admin and log in'}
        </button>
      </form>
    </main>
  );
}
