import type { ComponentType } from 'preact';
import { consolePages } from '../../paths.js';
import { Link, useQueryParams } from '../router.js';
import { useSession, type Session } from '../session.js';
import { AbmSection } from './settings/AbmSection.js';
import { AndroidSection } from './settings/AndroidSection.js';
import { ApnsSection } from './settings/ApnsSection.js';
import { EnrollSecretsSection } from './settings/EnrollSecretsSection.js';
import { OrganizationSection } from './settings/OrganizationSection.js';
import { WindowsSection } from './settings/WindowsSection.js';
import './settings/settings.css';

interface Tab {
  id: string;
  label: string;
  /** Shown only when the API would answer the section's reads for this user. */
  visible: (s: Session) => boolean;
  Section: ComponentType;
}

/** Android Enterprise is for global admins only (the server checks the role, not a resource). */
const globalAdmin = (s: Session) => s.principal.globalRole === 'admin';

const tabs: Tab[] = [
  {
    id: 'organization',
    label: 'Organization',
    visible: (s) => s.can('app_config', 'read', null),
    Section: OrganizationSection,
  },
  {
    id: 'apple',
    label: 'Apple (APNs)',
    visible: (s) => s.can('mdm_apple_setup', 'read'),
    Section: ApnsSection,
  },
  {
    id: 'windows',
    label: 'Windows MDM',
    visible: (s) => s.can('app_config', 'read', null),
    Section: WindowsSection,
  },
  {
    id: 'enroll-secrets',
    label: 'Enroll secrets',
    visible: (s) => s.can('enroll_secret', 'read', null),
    Section: EnrollSecretsSection,
  },
  {
    id: 'abm',
    label: 'Apple Business Manager',
    visible: (s) => s.can('mdm_apple_setup', 'read'),
    Section: AbmSection,
  },
  { id: 'android', label: 'Android Enterprise', visible: globalAdmin, Section: AndroidSection },
];

/** Settings: one section at a time, chosen by `?tab=` so a section can be bookmarked. */
export function SettingsPage(_props: { params: Record<string, string> }) {
  const session = useSession();
  const [query] = useQueryParams();
  const shown = tabs.filter((t) => t.visible(session));
  const current = shown.find((t) => t.id === query.tab) ?? shown[0];
  return (
    <section class="settings">
      <h1>Settings</h1>
      {shown.length === 0 || !current ? (
        <p class="muted">Your role cannot see any settings.</p>
      ) : (
        <>
          <nav class="settings-tabs" aria-label="Settings sections">
            <ul>
              {shown.map((t) => (
                <li key={t.id}>
                  <Link
                    href={`${consolePages.settings}?tab=${t.id}`}
                    aria-current={t === current ? 'page' : undefined}
                  >
                    {t.label}
                  </Link>
                </li>
              ))}
            </ul>
          </nav>
          <current.Section key={current.id} />
        </>
      )}
    </section>
  );
}
