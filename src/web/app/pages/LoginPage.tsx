import { useState } from 'preact/hooks';
import { consolePages } from '../../paths.js';
import { api, storeToken } from '../api/client.js';
import type { LoginResponse, MeResponse } from '../api/shapes.js';
import { ErrorText } from '../components/feedback.js';
import { useAction } from '../components/useAction.js';
import { navigate } from '../router.js';

/** Only paths inside the console may follow a login (no open redirect through ?next=). */
function nextPath(): string {
  const next = new URLSearchParams(location.search).get('next') ?? '';
  return next.startsWith('/') && !next.startsWith('//') && !next.startsWith(consolePages.login)
    ? next
    : consolePages.dashboard;
}

export function LoginPage(props: { notice?: string; onSignedIn: (me: MeResponse) => void }) {
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const { busy, error, run } = useAction();
  const submit = (e: Event) => {
    e.preventDefault();
    void run(async () => {
      const res = await api.post<LoginResponse>('/login', { email, password });
      storeToken(res.token);
      props.onSignedIn({ user: res.user, available_teams: res.available_teams });
      navigate(nextPath(), { replace: true });
    });
  };
  return (
    <main class="auth-page" id="main">
      <form class="card auth-card" onSubmit={submit} aria-labelledby="login-title">
        <h1 id="login-title">Log in to Flotilla</h1>
        {props.notice && (
          <p class="notice" role="status">
            {props.notice}
          </p>
        )}
        <label>
          Email
          <input
            type="email"
            name="email"
            autoComplete="username"
            required
            value={email}
            onInput={(e) => setEmail(e.currentTarget.value)}
          />
        </label>
        <label>
          Password
          <input
            type="password"
            name="password"
            autoComplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        <ErrorText error={error} />
        <button type="submit" class="primary" disabled={busy}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
      </form>
    </main>
  );
}
