import type { ComponentType } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { consolePages, type ConsolePage } from '../paths.js';
import { api, storedToken, storeToken, whenSessionLost } from './api/client.js';
import type { MeResponse } from './api/shapes.js';
import { Layout } from './layout.js';
import { matchPath, navigate, useLocation } from './router.js';
import { makeSession, SessionProvider, type Session } from './session.js';
import { Loading } from './components/feedback.js';
import { LoginPage } from './pages/LoginPage.js';
import { SetupPage } from './pages/SetupPage.js';
import { DashboardPage } from './pages/DashboardPage.js';
import { HostsPage } from './pages/HostsPage.js';
import { HostPage } from './pages/HostPage.js';
import { OsSettingsPage } from './pages/OsSettingsPage.js';
import { TeamsPage } from './pages/TeamsPage.js';
import { LabelsPage } from './pages/LabelsPage.js';
import { UsersPage } from './pages/UsersPage.js';
import { ActivitiesPage } from './pages/ActivitiesPage.js';
import { SettingsPage } from './pages/SettingsPage.js';

/** The signed-in pages, by their entry in consolePages. */
const signedInPages: Record<
  Exclude<ConsolePage, 'login' | 'setup'>,
  ComponentType<{ params: Record<string, string> }>
> = {
  dashboard: DashboardPage,
  hosts: HostsPage,
  host: HostPage,
  osSettings: OsSettingsPage,
  teams: TeamsPage,
  labels: LabelsPage,
  users: UsersPage,
  activities: ActivitiesPage,
  settings: SettingsPage,
};

function route(path: string): { page: ConsolePage; params: Record<string, string> } | undefined {
  for (const [page, pattern] of Object.entries(consolePages)) {
    const params = matchPath(pattern, path);
    if (params) return { page: page as ConsolePage, params };
  }
  return undefined;
}

type AuthState =
  { kind: 'checking' } | { kind: 'signedOut'; notice?: string } | { kind: 'signedIn'; session: Session };

export function App() {
  const { path, search } = useLocation();
  const [auth, setAuth] = useState<AuthState>({ kind: 'checking' });

  const signedIn = (me: MeResponse) =>
    setAuth({
      kind: 'signedIn',
      session: makeSession(me.user, me.available_teams, async () => {
        try {
          await api.post('/logout');
        } finally {
          storeToken(null);
          setAuth({ kind: 'signedOut', notice: 'You have logged out.' });
          navigate(consolePages.login);
        }
      }),
    });

  useEffect(() => {
    whenSessionLost(() => {
      setAuth({ kind: 'signedOut', notice: 'Your session has expired. Please log in again.' });
      navigate(`${consolePages.login}?next=${encodeURIComponent(location.pathname + location.search)}`);
    });
    if (!storedToken()) {
      setAuth({ kind: 'signedOut' });
      return;
    }
    api.get<MeResponse>('/me').then(signedIn, () => setAuth({ kind: 'signedOut' }));
  }, []);

  const current = route(path);
  if (current?.page === 'setup') return <SetupPage onSignedIn={signedIn} />;
  if (auth.kind === 'checking') return <Loading what="the console" />;
  if (auth.kind === 'signedOut' || current?.page === 'login') {
    if (auth.kind === 'signedIn') {
      navigate(consolePages.dashboard, { replace: true });
      return null;
    }
    if (current?.page !== 'login') {
      navigate(`${consolePages.login}?next=${encodeURIComponent(path + search)}`, { replace: true });
      return null;
    }
    return <LoginPage notice={auth.kind === 'signedOut' ? auth.notice : undefined} onSignedIn={signedIn} />;
  }
  const Page = current ? signedInPages[current.page as keyof typeof signedInPages] : undefined;
  return (
    <SessionProvider session={auth.session}>
      <Layout>
        {Page ? (
          <Page params={current!.params} />
        ) : (
          <section>
            <h1>Page not found</h1>
            <p>There is no console page at {path}.</p>
          </section>
        )}
      </Layout>
    </SessionProvider>
  );
}
