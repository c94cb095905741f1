import { createHash } from 'node:crypto';
import type {
  ImportedDefinitions,
  ImportedHost,
  ImportedHostDeclaration,
  ImportedHostProfile,
  ImportedLabelRef,
} from './model.js';
import { optString, ourTimeOr, type SourceDb } from './sourceDb.js';

/** Fleet's label and profile tables the import reads; checked with the rest of the schema. */
export const fleetDefinitionSchema: Record<string, string[]> = {
  labels: [
    'id',
    'name',
    'description',
    'query',
    'platform',
    'label_type',
    'label_membership_type',
    'created_at',
  ],
  label_membership: ['host_id', 'label_id'],
  mdm_apple_configuration_profiles: [
    'profile_uuid',
    'team_id',
    'identifier',
    'name',
    'mobileconfig',
    'checksum',
    'created_at',
    'uploaded_at',
  ],
  mdm_configuration_profile_labels: [
    'apple_profile_uuid',
    'windows_profile_uuid',
    'label_name',
    'label_id',
    'exclude',
    'require_all',
  ],
  host_mdm_apple_profiles: [
    'host_uuid',
    'profile_uuid',
    'profile_identifier',
    'profile_name',
    'status',
    'operation_type',
    'detail',
    'command_uuid',
    'checksum',
    'retries',
  ],
};

/** Tables older Fleet versions lack (Windows profiles, declarations): read when present, checked then. */
export const fleetOptionalSchema: Record<string, string[]> = {
  mdm_windows_configuration_profiles: [
    'profile_uuid',
    'team_id',
    'name',
    'syncml',
    'created_at',
    'uploaded_at',
  ],
  mdm_apple_declarations: [
    'declaration_uuid',
    'team_id',
    'identifier',
    'name',
    'raw_json',
    'created_at',
    'uploaded_at',
  ],
  mdm_declaration_labels: ['apple_declaration_uuid', 'label_name', 'label_id', 'exclude', 'require_all'],
  host_mdm_apple_declarations: [
    'host_uuid',
    'declaration_uuid',
    'declaration_identifier',
    'declaration_name',
    'status',
    'operation_type',
    'detail',
    'token',
  ],
};

/** Fleet's BINARY(16) checksums arrive as bytes; a text export may hold hex already. */
function hex(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (Buffer.isBuffer(v)) return v.toString('hex');
  const s = String(v);
  return /^[0-9a-fA-F]{32}$/.test(s) ? s.toLowerCase() : Buffer.from(s, 'latin1').toString('hex');
}

const text = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString('utf8') : String(v ?? ''));
const bool = (v: unknown): boolean => Boolean(Number(v ?? 0));
const scopeOf = (v: unknown): string => (v === 'User' ? 'User' : 'System');

/**
 * Fleet's labels and profiles, with each profile's label rows and its team by name (team 0 or
 * NULL is No team). `tables` says which optional tables the source has.
 */
export async function readFleetDefinitions(
  src: SourceDb,
  tables: Map<string, Set<string>>,
): Promise<ImportedDefinitions> {
  const now = new Date().toISOString();
  const teams = new Map(
    (await src.query<{ id: number; name: string }>('SELECT id, name FROM teams')).map((t) => [
      Number(t.id),
      t.name,
    ]),
  );
  const teamName = (id: unknown) =>
    id === null || Number(id) === 0 ? null : (teams.get(Number(id)) ?? null);
  const labelRows = await src.query('SELECT * FROM labels ORDER BY id');
  const refs = new Map<string, ImportedLabelRef[]>();
  const addRef = (uuid: unknown, r: Record<string, unknown>) => {
    if (uuid === null || uuid === undefined) return;
    const list = refs.get(String(uuid)) ?? [];
    list.push({
      labelName: String(r.label_name),
      broken: r.label_id === null,
      exclude: bool(r.exclude),
      requireAll: bool(r.require_all),
    });
    refs.set(String(uuid), list);
  };
  for (const r of await src.query('SELECT * FROM mdm_configuration_profile_labels ORDER BY label_name')) {
    addRef(r.apple_profile_uuid, r);
    addRef(r.windows_profile_uuid, r);
  }
  if (tables.has('mdm_declaration_labels'))
    for (const r of await src.query('SELECT * FROM mdm_declaration_labels ORDER BY label_name'))
      addRef(r.apple_declaration_uuid, r);
  const common = (uuid: string, r: Record<string, unknown>) => ({
    uuid,
    teamName: teamName(r.team_id),
    name: String(r.name),
    createdAt: ourTimeOr(r.created_at, now),
    uploadedAt: ourTimeOr(r.uploaded_at, now),
    labels: refs.get(uuid) ?? [],
  });
  const apple = await src.query('SELECT * FROM mdm_apple_configuration_profiles ORDER BY profile_uuid');
  const windows = tables.has('mdm_windows_configuration_profiles')
    ? await src.query('SELECT * FROM mdm_windows_configuration_profiles ORDER BY profile_uuid')
    : [];
  const declarations = tables.has('mdm_apple_declarations')
    ? await src.query('SELECT * FROM mdm_apple_declarations ORDER BY declaration_uuid')
    : [];
  return {
    labels: labelRows
      .filter((r) => Number(r.label_type) !== 1)
      .map((r) => ({
        name: String(r.name),
        description: String(r.description ?? ''),
        query: text(r.query),
        platform: String(r.platform ?? ''),
        membershipType: Number(r.label_membership_type),
        createdAt: ourTimeOr(r.created_at, now),
      })),
    builtinLabelNames: labelRows.filter((r) => Number(r.label_type) === 1).map((r) => String(r.name)),
    appleProfiles: apple.map((r) => {
      const mobileconfig = Buffer.isBuffer(r.mobileconfig)
        ? r.mobileconfig
        : Buffer.from(text(r.mobileconfig));
      return {
        ...common(String(r.profile_uuid), r),
        mobileconfig,
        sourceChecksum: hex(r.checksum) || createHash('md5').update(mobileconfig).digest('hex'),
      };
    }),
    windowsProfiles: windows.map((r) => ({ ...common(String(r.profile_uuid), r), syncml: text(r.syncml) })),
    declarations: declarations.map((r) => {
      const rawJson = text(r.raw_json);
      return {
        ...common(String(r.declaration_uuid), r),
        rawJson,
        sourceToken: hex(r.token) || createHash('md5').update(rawJson).digest('hex'),
      };
    }),
  };
}

type HostExtras = Pick<ImportedHost, 'labels' | 'profiles' | 'declarations'>;

/**
 * Per-host rows of one batch of Fleet hosts (by Fleet host id and uuid): memberships in its own
 * labels (a dynamic label the host was evaluated for after the label was made, with no membership
 * row, is a known "not a member"), and the Apple profile and declaration status rows.
 */
export async function readFleetHostExtras(
  src: SourceDb,
  tables: Map<string, Set<string>>,
  hosts: { id: number; uuid: string; labelUpdatedAt: string | null }[],
): Promise<Map<string, HostExtras>> {
  const out = new Map<string, HostExtras>(
    hosts.map((h) => [h.uuid, { labels: [], profiles: [], declarations: [] }]),
  );
  if (hosts.length === 0) return out;
  const ids = hosts.map((h) => h.id);
  const uuids = hosts.map((h) => h.uuid);
  const marks = (n: number) => Array(n).fill('?').join(',');
  const byId = new Map(hosts.map((h) => [h.id, h]));
  const members = await src.query<{ host_id: number; name: string }>(
    `SELECT m.host_id, l.name FROM label_membership m JOIN labels l ON l.id = m.label_id
      WHERE l.label_type <> 1 AND m.host_id IN (${marks(ids.length)}) ORDER BY l.name`,
    ids,
  );
  const isMember = new Set(members.map((m) => `${m.host_id}\u0000${m.name}`));
  for (const m of members)
    out.get(byId.get(Number(m.host_id))!.uuid)!.labels.push({ name: m.name, isMember: true });
  const dynamic = await src.query<{ name: string; created_at: string }>(
    'SELECT name, created_at FROM labels WHERE label_type <> 1 AND label_membership_type = 0 ORDER BY name',
  );
  for (const h of hosts) {
    if (!h.labelUpdatedAt) continue;
    for (const l of dynamic)
      if (!isMember.has(`${h.id}\u0000${l.name}`) && String(l.created_at) <= h.labelUpdatedAt)
        out.get(h.uuid)!.labels.push({ name: l.name, isMember: false });
  }
  const profileRows = await src.query(
    `SELECT * FROM host_mdm_apple_profiles WHERE host_uuid IN (${marks(uuids.length)}) ORDER BY profile_uuid`,
    uuids,
  );
  for (const r of profileRows) {
    const row: ImportedHostProfile = {
      profileUuid: String(r.profile_uuid),
      identifier: String(r.profile_identifier),
      name: String(r.profile_name ?? ''),
      status: optString(r.status),
      operationType: String(r.operation_type ?? 'install') || 'install',
      detail: optString(r.detail),
      commandUuid: String(r.command_uuid ?? ''),
      checksum: hex(r.checksum),
      retries: Number(r.retries ?? 0),
      scope: scopeOf(r.scope),
    };
    out.get(String(r.host_uuid))?.profiles.push(row);
  }
  if (tables.has('host_mdm_apple_declarations')) {
    const rows = await src.query(
      `SELECT * FROM host_mdm_apple_declarations WHERE host_uuid IN (${marks(uuids.length)}) ORDER BY declaration_uuid`,
      uuids,
    );
    for (const r of rows) {
      const row: ImportedHostDeclaration = {
        declarationUuid: String(r.declaration_uuid),
        identifier: String(r.declaration_identifier),
        name: String(r.declaration_name ?? ''),
        status: optString(r.status),
        operationType: String(r.operation_type ?? 'install') || 'install',
        detail: optString(r.detail),
        token: hex(r.token),
        scope: scopeOf(r.scope),
      };
      out.get(String(r.host_uuid))?.declarations.push(row);
    }
  }
  return out;
}
