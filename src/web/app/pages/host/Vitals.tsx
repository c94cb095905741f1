import type { HostDetailResponse } from '../../api/host.js';
import { StatusBadge } from '../../components/feedback.js';
import { formatBytes, formatDisk, formatTime, orDash, platformName } from './format.js';

type Host = HostDetailResponse['host'];

/** What the host reported about itself (osquery, MDM): hardware, OS, network, disk. */
export function Vitals(props: { host: Host }) {
  const h = props.host;
  const cpu = [h.cpu_brand || h.cpu_type, h.cpu_logical_cores ? `${h.cpu_logical_cores} cores` : '']
    .filter(Boolean)
    .join(', ');
  return (
    <section class="card" aria-labelledby="host-vitals">
      <h2 id="host-vitals">About this host</h2>
      <dl class="facts">
        <dt>Status</dt>
        <dd>
          <StatusBadge status={h.status} />
        </dd>
        <dt>Platform</dt>
        <dd>{platformName(h.platform)}</dd>
        <dt>Operating system</dt>
        <dd>{orDash(h.os_version)}</dd>
        <dt>Serial number</dt>
        <dd>{orDash(h.hardware_serial)}</dd>
        <dt>UUID</dt>
        <dd>
          <code>{orDash(h.uuid)}</code>
        </dd>
        <dt>Model</dt>
        <dd>{orDash([h.hardware_vendor, h.hardware_model].filter(Boolean).join(' '))}</dd>
        <dt>Team</dt>
        <dd>{h.team_name ?? 'No team'}</dd>
        <dt>Hostname</dt>
        <dd>{orDash(h.hostname)}</dd>
        <dt>Last seen</dt>
        <dd>{formatTime(h.seen_time)}</dd>
        <dt>Last restarted</dt>
        <dd>{formatTime(h.last_restarted_at)}</dd>
        <dt>Enrolled</dt>
        <dd>{formatTime(h.last_enrolled_at)}</dd>
        <dt>Memory</dt>
        <dd>{formatBytes(h.memory)}</dd>
        <dt>Processor</dt>
        <dd>{orDash(cpu)}</dd>
        <dt>Disk space</dt>
        <dd>
          {formatDisk(h.gigs_disk_space_available, h.gigs_total_disk_space, h.percent_disk_space_available)}
        </dd>
        <dt>IP address</dt>
        <dd>{orDash(h.primary_ip)}</dd>
        <dt>MAC address</dt>
        <dd>{orDash(h.primary_mac)}</dd>
        <dt>osquery</dt>
        <dd>{orDash(h.osquery_version)}</dd>
        {h.refetch_requested && (
          <>
            <dt>Refetch</dt>
            <dd>Requested; the host sends fresh vitals when it next checks in.</dd>
          </>
        )}
      </dl>
    </section>
  );
}
