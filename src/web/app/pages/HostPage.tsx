import { useState } from 'preact/hooks';
import { consolePages } from '../../paths.js';
import { api } from '../api/client.js';
import type { HostDetailResponse } from '../api/host.js';
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
