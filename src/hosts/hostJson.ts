import { fromDbTime, toApiTime } from '../db/dialect.js';
import { enrollmentStatusText, type HostMdmRow, type HostRow } from './store.js';

// A host that reported within this window counts as online.
const onlineWindowMs = 60 * 60 * 1000;

/** Fleet's host object as lists show it. */
export function hostJson(h: HostRow) {
  const seen = fromDbTime(h.detail_updated_at)?.getTime() ?? 0;
  return {
    id: h.id,
    created_at: toApiTime(h.created_at),
    updated_at: toApiTime(h.updated_at),
    uuid: h.uuid,
    hardware_serial: h.hardware_serial,
    hardware_model: h.hardware_model,
    platform: h.platform,
    os_version: h.os_version,
    hostname: h.hostname,
    computer_name: h.computer_name,
    display_name: h.computer_name || h.hostname || h.hardware_serial || h.uuid,
    team_id: h.team_id,
    team_name: h.team_name,
    fleet_id: h.team_id,
    fleet_name: h.team_name,
    osquery_host_id: h.osquery_host_id,
    last_enrolled_at: toApiTime(h.last_enrolled_at),
    detail_updated_at: toApiTime(h.detail_updated_at),
    label_updated_at: toApiTime(h.label_updated_at),
    refetch_requested: h.refetch_requested,
    status: Date.now() - seen < onlineWindowMs ? 'online' : 'offline',
  };
}

/** The `mdm` object of `GET /hosts/:id`; other areas add to it (profiles, disk encryption, actions). */
export function hostMdmJson(m: HostMdmRow | undefined) {
  return {
    encryption_key_available: false,
    enrollment_status: enrollmentStatusText(m),
    dep_profile_error: false,
    server_url: m?.server_url || null,
    name: m?.mdm_name || null,
    connected_to_fleet: Boolean(m?.enrolled && !m.is_server),
    // Lock/wipe state: Apple's host actions replace these for hosts they have locked or wiped.
    device_status: 'unlocked',
    pending_action: '',
    macos_settings: { disk_encryption: null, action_required: null },
    macos_setup: { bootstrap_package_status: '', detail: '', bootstrap_package_name: '' },
    os_settings: { disk_encryption: { status: null, detail: '' } },
    profiles: null as unknown[] | null,
  };
}
