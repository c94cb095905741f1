import { useEffect, useState } from 'preact/hooks';
import { consolePages } from '../../paths.js';
import { api } from '../api/client.js';
import type { HostDetailResponse, HostProfile } from '../api/host.js';
import { ErrorText, Loading, StatusBadge } from '../components/feedback.js';
import { useApi } from '../components/useApi.js';
import { Link } from '../router.js';
import { Activities } from './host/Activities.js';
import { HostActions } from './host/Actions.js';
import { Commands } from './host/Commands.js';
import { MdmCard } from './host/MdmCard.js';
import { Profiles } from './host/Profiles.js';
import { Vitals } from './host/Vitals.js';
import { platformName } from './host/format.js';
import './host/host.css';

/** How often the page asks again while the device still has work in flight. */
const refreshWhileBusyMs = 5000;
const busyDeviceStates = new Set(['locking', 'unlocking', 'wiping']);

/**
 * One host: its vitals, MDM enrollment and lock state, profiles, commands and activity, and the
 * actions the signed-in role may take on it. Every change reloads the host, its commands and its
 * activity, so the page shows what the server now says.
 */
export function HostPage(props: { params: Record<string, string> }) {
  const id = props.params.id;
  // Bumped after each action: the commands and activity lists load again.
  const [version, setVersion] = useState(0);
  const detail = useApi(() => api.get<HostDetailResponse>(`/hosts/${encodeURIComponent(id)}`), [id]);
  const changed = () => {
    detail.reload();
    setVersion((v) => v + 1);
  };
  const host = detail.data?.host;
  // While a profile is on its way (pending, verifying) or a lock or wipe is under way, the page asks
  // again every few seconds, so the admin watches it settle without reloading; not in a hidden tab.
  const busy =
    !!host &&
    ((host.mdm.profiles ?? []).some(
      (p: HostProfile) => !p.status || p.status === 'pending' || p.status === 'verifying',
    ) ||
      busyDeviceStates.has(host.mdm.device_status));
  useEffect(() => {
    if (!busy) return;
    const timer = setInterval(() => {
      if (document.visibilityState === 'visible') changed();
    }, refreshWhileBusyMs);
    return () => clearInterval(timer);
  }, [busy, id]);

  return (
    <section class="host-page">
      <p>
        <Link href={consolePages.hosts}>← All hosts</Link>
      </p>
      {!host && (
        <>
          <h1>Host</h1>
          {detail.loading && <Loading what="the host" />}
          <ErrorText error={detail.error} />
        </>
      )}
      {host && (
        <>
          <header class="host-header">
            <h1>{host.display_name}</h1>
            <p class="row host-summary">
              <span>{platformName(host.platform)}</span>
              <StatusBadge status={host.status} />
              {host.mdm.device_status !== 'unlocked' && <StatusBadge status={host.mdm.device_status} />}
            </p>
          </header>
          <ErrorText error={detail.error} />
          {busy && (
            <p class="muted" role="status">
              Changes are under way on this device; this page updates itself every few seconds.
            </p>
          )}
          <HostActions host={host} onChanged={changed} />
          <div class="host-grid">
            <Vitals host={host} />
            <MdmCard host={host} onKeyRead={changed} />
          </div>
          <Profiles host={host} onChanged={changed} />
          <Commands hostUuid={host.uuid} version={version} />
          <Activities hostId={host.id} version={version} />
        </>
      )}
    </section>
  );
}
