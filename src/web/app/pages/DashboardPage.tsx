import type { ComponentChildren } from 'preact';
import { consolePages } from '../../paths.js';
import { withQuery } from '../api/client.js';
import { diskEncryptionValues, osSettingsValues, type DiskEncryptionCounts } from '../api/hosts.js';
import { ErrorText, Loading } from '../components/feedback.js';
import { useApi } from '../components/useApi.js';
import { Link, useQueryParams } from '../router.js';
import { useSession } from '../session.js';
import { daysUntil, loadDashboard, type Figure } from './dashboard/dashboardData.js';
import { useTeams } from './hosts/useTeams.js';
import './dashboard/dashboard.css';

/** Certificates and tokens expiring within this many days are highlighted. */
const soonDays = 30;

/** A link into the hosts list with these filters (and the dashboard's team). */
function hostsLink(teamId: number | undefined, filters: Record<string, string>): string {
  return withQuery(consolePages.hosts, { ...filters, team_id: teamId });
}

/** One count, linking to the hosts it counts. */
function CountLink(props: { label: string; count: number; href: string }) {
  return (
    <li>
      <Link href={props.href} class="count-link">
        <span class="count">{props.count.toLocaleString()}</span>
        <span class="count-label">{props.label}</span>
      </Link>
    </li>
  );
}

function FigureCard<T>(props: {
  title: string;
  figure: Figure<T>;
  note?: string;
  children: (value: T) => ComponentChildren;
}) {
  const { figure } = props;
  if (figure.kind === 'hidden') return null;
  const headingId = `dash-${props.title.toLowerCase().replace(/[^a-z0-9]+/g, '-')}`;
  return (
    <section class="card dash-card" aria-labelledby={headingId}>
      <h2 id={headingId}>{props.title}</h2>
      {props.note && <p class="muted small">{props.note}</p>}
      {figure.kind === 'error' ? <ErrorText error={figure.error} /> : props.children(figure.value)}
    </section>
  );
}

/** Days left before a renewal date, highlighted when under `soonDays`. */
function Expiry(props: { what: string; date: string | null }) {
  if (!props.date) return <span class="muted">no expiry date</span>;
  const days = daysUntil(props.date);
  return <DaysLeft what={props.what} date={props.date} daysLeft={days} soon={days < soonDays} />;
}

/** "n days left (date)", highlighted (and said so to screen readers) when `soon`. */
function DaysLeft(props: { what: string; date: string | null; daysLeft: number | null; soon: boolean }) {
  const { soon } = props;
  const days = props.daysLeft;
  if (days === null || !props.date) return <span class="muted">no expiry date</span>;
  const text = days < 0 ? `expired ${-days} days ago` : days === 0 ? 'expires today' : `${days} days left`;
  return (
    <span class={soon ? 'expiry expiry-soon' : 'expiry'}>
      {text}
      <span class="muted"> ({props.date.slice(0, 10)})</span>
      {soon && <span class="visually-hidden"> {props.what} needs renewing soon</span>}
    </span>
  );
}

function diskEncryptionTotal(c: DiskEncryptionCounts[keyof DiskEncryptionCounts]): number {
  return c.macos + c.windows + c.linux;
}

/** The MDM status card's counts: label, field of the summary, and the hosts filter it links to. */
const mdmStatusCounts = [
  ['On (manual)', 'enrolled_manual_hosts_count', 'manual'],
  ['On (automatic)', 'enrolled_automated_hosts_count', 'automatic'],
  ['On (personal)', 'enrolled_personal_hosts_count', 'personal'],
  ['Pending', 'pending_hosts_count', 'pending'],
  ['Off', 'unenrolled_hosts_count', 'unenrolled'],
] as const;

/**
 * The dashboard: how many hosts there are (by platform and MDM status), how their OS settings and
 * disk encryption stand, and what needs renewing soon. Every count links to the hosts it counts.
 */
export function DashboardPage(_props: { params: Record<string, string> }) {
  const session = useSession();
  const [query, setQuery] = useQueryParams();
  const teamId = query.team_id && /^\d+$/.test(query.team_id) ? Number(query.team_id) : undefined;
  const state = useApi(() => loadDashboard(session, teamId), [teamId]);
  // Teams wait for the dashboard's first answer (see sessionFirst in hosts/hostQuery.ts).
  const teams = useTeams(state.data !== undefined);
  const data = state.data;
  const settingsNote =
    teamId === undefined
      ? 'Hosts in No team (OS settings are per team; pick a team above for its hosts).'
      : undefined;

  return (
    <section class="dashboard">
      <div class="toolbar dash-head">
        <h1>Dashboard</h1>
        <label>
          Team
          <select
            value={teamId === undefined ? '' : String(teamId)}
            onChange={(e) => setQuery({ team_id: (e.target as HTMLSelectElement).value || undefined })}
          >
            <option value="">All teams</option>
            {teams.map((t) => (
              <option key={t.id} value={String(t.id)}>
                {t.name}
              </option>
            ))}
          </select>
        </label>
      </div>
      {state.error && <ErrorText error={state.error} />}
      {!data && !state.error && <Loading what="the dashboard" />}
      {data && (
        <div class="dash-grid" aria-busy={state.loading}>
          <section class="card dash-card" aria-labelledby="dash-hosts">
            <h2 id="dash-hosts">Hosts</h2>
            <ul class="counts">
              <CountLink label="All hosts" count={data.total} href={hostsLink(teamId, {})} />
              {data.byPlatform.map((p) => (
                <CountLink
                  key={p.platform}
                  label={p.name}
                  count={p.count}
                  href={hostsLink(teamId, { platform: p.platform })}
                />
              ))}
            </ul>
          </section>

          <FigureCard title="MDM status" figure={data.mdm}>
            {(m) => {
              const s = m.mobile_device_management_enrollment_status;
              return (
                <ul class="counts">
                  {mdmStatusCounts.map(([label, field, status]) => (
                    <CountLink
                      key={status}
                      label={label}
                      count={s[field]}
                      href={hostsLink(teamId, { mdm_enrollment_status: status })}
                    />
                  ))}
                </ul>
              );
            }}
          </FigureCard>

          <FigureCard title="OS settings" figure={data.profiles} note={settingsNote}>
            {(p) => (
              <ul class="counts">
                {osSettingsValues.map(([status, label]) => (
                  <CountLink
                    key={status}
                    label={label}
                    count={p[status]}
                    href={hostsLink(teamId, { os_settings: status })}
                  />
                ))}
              </ul>
            )}
          </FigureCard>

          <FigureCard title="Disk encryption" figure={data.diskEncryption} note={settingsNote}>
            {(d) => (
              <ul class="counts">
                {diskEncryptionValues.map(([status, label]) => (
                  <CountLink
                    key={status}
                    label={label}
                    count={diskEncryptionTotal(d[status])}
                    href={hostsLink(teamId, { os_settings_disk_encryption: status })}
                  />
                ))}
              </ul>
            )}
          </FigureCard>

          <FigureCard title="Apple push certificate (APNs)" figure={data.apns}>
            {(apns) =>
              apns ? (
                <p>
                  {apns.common_name}: <Expiry what="The APNs certificate" date={apns.renew_date} />
                </p>
              ) : (
                <p class="muted">Not configured.</p>
              )
            }
          </FigureCard>

          <FigureCard title="Apple Business Manager tokens" figure={data.abmTokens}>
            {(tokens) =>
              tokens.length ? (
                <ul class="plain">
                  {tokens.map((t) => (
                    <li key={t.id}>
                      {t.org_name || t.apple_id}:{' '}
                      <Expiry what={`The ABM token of ${t.org_name}`} date={t.renew_date} />
                      {t.terms_expired && <span class="badge badge-failed"> terms expired</span>}
                      {t.token_invalid && <span class="badge badge-failed"> token refused by Apple</span>}
                    </li>
                  ))}
                </ul>
              ) : (
                <p class="muted">Not configured.</p>
              )
            }
          </FigureCard>

          <FigureCard title="Certificates" figure={data.certificates}>
            {(certs) =>
              certs === null ? (
                <p class="muted">The server could not read its certificates; its log says why.</p>
              ) : certs.length ? (
                <ul class="plain">
                  {certs.map((c) => (
                    <li key={c.certificate}>
                      {c.description}
                      {c.devices !== undefined ? ` (${c.devices} devices)` : ''}:{' '}
                      <DaysLeft
                        what={c.description}
                        date={c.renew_date}
                        daysLeft={c.days_left}
                        soon={c.expired || c.expiring_soon || (c.devices_expiring_soon ?? 0) > 0}
                      />
                    </li>
                  ))}
                </ul>
              ) : (
                <p class="muted">Not configured.</p>
              )
            }
          </FigureCard>
        </div>
      )}
    </section>
  );
}
