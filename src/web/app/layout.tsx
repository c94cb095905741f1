import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { adminTeamIds } from '../../admin/roles.js';
import { consolePages } from '../paths.js';
import { Link, useLocation } from './router.js';
import { useSession } from './session.js';

/** The console's frame: a skip link, the navigation (a menu button on narrow screens), the page. */
export function Layout(props: { children: ComponentChildren }) {
  const session = useSession();
  const { path } = useLocation();
  const [menuOpen, setMenuOpen] = useState(false);
  const links: { href: string; label: string; show: boolean }[] = [
    { href: consolePages.dashboard, label: 'Dashboard', show: true },
    { href: consolePages.hosts, label: 'Hosts', show: true },
    { href: consolePages.osSettings, label: 'OS settings', show: session.can('profile', 'read') },
    { href: consolePages.labels, label: 'Labels', show: session.can('label', 'read', null) },
    { href: consolePages.teams, label: 'Teams', show: session.can('team', 'read') },
    // Team admins manage their own teams' users, though users are not a team resource.
    {
      href: consolePages.users,
      label: 'Users',
      show: session.can('user', 'read') || adminTeamIds(session.principal).length > 0,
    },
    { href: consolePages.activities, label: 'Activities', show: session.can('activity', 'read') },
    { href: consolePages.settings, label: 'Settings', show: session.can('app_config', 'write') },
  ];
  const section = (href: string) =>
    path === href || path.startsWith(`${href.split('/').slice(0, 2).join('/')}/`);
  return (
    <div class="shell">
      <a class="skip-link" href="#main">
        Skip to content
      </a>
      <header class="topbar">
        <Link href={consolePages.dashboard} class="brand">
          Flotilla
        </Link>
        <button
          type="button"
          class="menu-button"
          aria-expanded={menuOpen}
          aria-controls="main-nav"
          onClick={() => setMenuOpen(!menuOpen)}
        >
          Menu
        </button>
        <nav id="main-nav" aria-label="Main" class={menuOpen ? 'open' : ''}>
          <ul>
            {links
              .filter((l) => l.show)
              .map((l) => (
                <li key={l.href}>
                  <Link
                    href={l.href}
                    aria-current={
                      path === l.href || (l.href === consolePages.hosts && section(l.href))
                        ? 'page'
                        : undefined
                    }
                    onClick={() => setMenuOpen(false)}
                  >
                    {l.label}
                  </Link>
                </li>
              ))}
          </ul>
        </nav>
        <div class="user-menu">
          <span class="muted" title={session.user.email}>
            {session.user.name}
            {session.user.global_role ? ` (${session.user.global_role.replace('_', ' ')})` : ''}
          </span>
          <button type="button" onClick={() => void session.logout()}>
            Log out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {props.children}
      </main>
    </div>
  );
}
