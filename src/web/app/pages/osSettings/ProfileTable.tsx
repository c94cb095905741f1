import { useState } from 'preact/hooks';
import { consolePages } from '../../../paths.js';
import { api, withQuery } from '../../api/client.js';
import {
  downloadProfile,
  platformText,
  profileStatuses,
  targetingText,
  type ConfigurationProfile,
  type ProfileStatus,
  type ProfileStatusCounts,
} from '../../api/profiles.js';
import { DataTable, type Column } from '../../components/DataTable.js';
import { saveBlob } from '../../components/download.js';
import { ConfirmDialog, ErrorText } from '../../components/feedback.js';
import { useAction } from '../../components/useAction.js';
import { Link } from '../../router.js';

/** A listed profile with its hosts per status. */
export interface ProfileRow {
  profile: ConfigurationProfile;
  counts: ProfileStatusCounts;
}

const statusTitles: Record<ProfileStatus, string> = {
  verified: 'Verified',
  verifying: 'Verifying',
  pending: 'Pending',
  failed: 'Failed',
};

/** The hosts page filtered as the API filters: hosts of the team whose row of the profile has `status`. */
export function profileHostsHref(profileUuid: string, status: ProfileStatus, teamId: number): string {
  return withQuery(consolePages.hosts, {
    profile_uuid: profileUuid,
    profile_status: status,
    team_id: teamId,
  });
}

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function Uploaded(props: { at: string | null }) {
  if (!props.at) return <span class="muted">—</span>;
  return <time dateTime={props.at}>{dateFormat.format(new Date(props.at))}</time>;
}

/** The team's profiles: targeting, status counts linking to the hosts, download and delete. */
export function ProfileTable(props: {
  rows: ProfileRow[];
  teamId: number;
  mayWrite: boolean;
  onDeleted: () => void;
}) {
  const [actionError, setActionError] = useState<Error>();
  const [downloading, setDownloading] = useState<string>();
  const [deleting, setDeleting] = useState<ConfigurationProfile>();
  const deletion = useAction();

  const download = async (p: ConfigurationProfile) => {
    setActionError(undefined);
    setDownloading(p.profile_uuid);
    try {
      const { blob, filename } = await downloadProfile(p);
      saveBlob(blob, filename);
    } catch (err) {
      setActionError(err as Error);
    } finally {
      setDownloading(undefined);
    }
  };

  const confirmDelete = async () => {
    if (!deleting) return;
    await deletion.run(async () => {
      await api.delete(`/configuration_profiles/${encodeURIComponent(deleting.profile_uuid)}`);
      setDeleting(undefined);
      props.onDeleted();
    });
  };

  const columns: Column<ProfileRow>[] = [
    {
      key: 'name',
      title: 'Name',
      render: ({ profile }) => (
        <div class="os-profile-name">
          <strong>{profile.name}</strong>
          {profile.identifier && <span class="muted">{profile.identifier}</span>}
        </div>
      ),
    },
    { key: 'platform', title: 'Platform', render: ({ profile }) => platformText(profile) },
    { key: 'targeting', title: 'Targeting', render: ({ profile }) => targetingText(profile) },
    { key: 'uploaded', title: 'Uploaded', render: ({ profile }) => <Uploaded at={profile.updated_at} /> },
    ...profileStatuses.map((status): Column<ProfileRow> => ({
      key: status,
      title: statusTitles[status],
      render: ({ profile, counts }) => (
        <Link
          href={profileHostsHref(profile.profile_uuid, status, props.teamId)}
          class="os-count"
          aria-label={`${profile.name}: ${counts[status]} ${counts[status] === 1 ? 'host' : 'hosts'} ${status}`}
        >
          {counts[status]}
        </Link>
      ),
    })),
    {
      key: 'actions',
      title: 'Actions',
      render: ({ profile }) => (
        <div class="os-actions">
          <button
            type="button"
            aria-label={`Download ${profile.name}`}
            disabled={downloading === profile.profile_uuid}
            onClick={() => void download(profile)}
          >
            {downloading === profile.profile_uuid ? 'Downloading…' : 'Download'}
          </button>
          {props.mayWrite && (
            <button
              type="button"
              class="os-delete"
              aria-label={`Delete ${profile.name}`}
              onClick={() => {
                deletion.setError(undefined);
                setDeleting(profile);
              }}
            >
              Delete
            </button>
          )}
        </div>
      ),
    },
  ];

  return (
    <>
      <ErrorText error={actionError} />
      <DataTable
        caption="Configuration profiles"
        columns={columns}
        rows={props.rows}
        rowKey={(r) => r.profile.profile_uuid}
        empty="No configuration profiles in this team yet."
      />
      {deleting && (
        <ConfirmDialog
          title="Delete profile?"
          confirmLabel="Delete"
          danger
          busy={deletion.busy}
          error={deletion.error}
          onConfirm={() => void confirmDelete()}
          onCancel={() => setDeleting(undefined)}
        >
          <p>
            “{deleting.name}” will be removed from every host that has it. This cannot be undone; to use it
            again, upload the file again.
          </p>
        </ConfirmDialog>
      )}
    </>
  );
}
