import { createHash } from 'node:crypto';
import type { Kysely } from 'kysely';
import { dbNow, fromDbTime } from '../../db/dialect.js';
import type { DB } from '../../db/schema.js';
import type { DeclarativeManagementRequest, DeclarativeManagementResponse } from '../events.js';

/** Fills `$FLEET_SECRET_*` in a declaration (src/mdm/variables, ProfileExpander.expandSecrets). */
export interface DeclarationSecrets {
  expandSecrets(
    text: string,
    escape: 'json',
  ): Promise<{ ok: true; text: string } | { ok: false; detail: string }>;
}

const secretVariable = /\$\{?FLEET_SECRET_\w/;

/** A declaration as a host should see it now (install rows only). */
interface HostDeclaration {
  declaration_uuid: string;
  identifier: string;
  raw_json: string;
  token: string;
  uploaded_at: string;
  created_at: string;
}

const json = (status: number, body: unknown): DeclarativeManagementResponse => ({
  status,
  body: JSON.stringify(body),
  contentType: 'application/json',
});

/** RFC 3339 without fractional seconds, as devices require. */
export function ddmTimestamp(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * DDM over check-in: the tokens, declaration-items, declaration/<type>/<id> and status endpoints.
 * Fleet's token scheme: ServerToken = upper-case hex MD5 of the declaration; DeclarationsToken =
 * lower-case hex MD5 of "<count><token>..." over the host's install declarations, newest upload
 * first; one synthesised activation per configuration, named "<declaration_uuid>.activation".
 */
export class DeclarativeManagementService {
  constructor(
    private readonly db: Kysely<DB>,
    /** Without it, a declaration is served as stored. */
    private readonly secrets?: DeclarationSecrets,
  ) {}

  async handle(req: DeclarativeManagementRequest): Promise<DeclarativeManagementResponse> {
    if (!req.hostUuid) return json(400, { error: 'missing UDID' });
    const endpoint = req.endpoint.replace(/^\/+/, '');
    if (endpoint === 'tokens') return this.tokens(req.hostUuid);
    if (endpoint === 'declaration-items') return this.items(req.hostUuid);
    if (endpoint === 'status') return this.status(req.hostUuid, req.data);
    const m = /^declaration\/([^/]+)\/(.+)$/.exec(endpoint);
    if (m) return this.declaration(req.hostUuid, m[1], decodeURIComponent(m[2]));
    return json(400, { error: `unknown declarative management endpoint ${endpoint}` });
  }

  private async hostDeclarations(hostUuid: string): Promise<HostDeclaration[]> {
    const rows = await this.db
      .selectFrom('host_mdm_apple_declarations as r')
      .innerJoin('mdm_apple_declarations as d', 'd.declaration_uuid', 'r.declaration_uuid')
      .select([
        'd.declaration_uuid',
        'd.identifier',
        'd.raw_json',
        'r.token',
        'd.uploaded_at',
        'd.created_at',
      ])
      .where('r.host_uuid', '=', hostUuid)
      .where('r.operation_type', '=', 'install')
      .execute();
    // Newest upload first, then by UUID: the order the DeclarationsToken is computed in.
    return rows.sort((a, b) =>
      a.uploaded_at === b.uploaded_at
        ? a.declaration_uuid.localeCompare(b.declaration_uuid)
        : a.uploaded_at < b.uploaded_at
          ? 1
          : -1,
    );
  }

  static declarationsToken(decls: { token: string }[]): string {
    if (decls.length === 0) return '';
    return createHash('md5')
      .update(`${decls.length}${decls.map((d) => d.token.toUpperCase()).join('')}`)
      .digest('hex');
  }

  private async tokens(hostUuid: string): Promise<DeclarativeManagementResponse> {
    const decls = await this.hostDeclarations(hostUuid);
    const latest = decls.reduce<string | undefined>(
      (m, d) => (!m || d.created_at > m ? d.created_at : m),
      undefined,
    );
    const ts = latest ? fromDbTime(latest)! : new Date();
    return json(200, {
      SyncTokens: {
        DeclarationsToken: DeclarativeManagementService.declarationsToken(decls),
        Timestamp: ddmTimestamp(ts),
      },
    });
  }

  private async items(hostUuid: string): Promise<DeclarativeManagementResponse> {
    const decls = await this.hostDeclarations(hostUuid);
    // Removals not yet announced are now being announced (by omission from this list).
    await this.db
      .updateTable('host_mdm_apple_declarations')
      .set({ status: 'pending', updated_at: dbNow() })
      .where('host_uuid', '=', hostUuid)
      .where('operation_type', '=', 'remove')
      .where('status', 'is', null)
      .execute();
    return json(200, {
      Declarations: {
        Activations: decls.map((d) => ({
          Identifier: `${d.declaration_uuid}.activation`,
          ServerToken: d.token,
        })),
        Configurations: decls.map((d) => ({ Identifier: d.identifier, ServerToken: d.token })),
        Assets: [],
        Management: [],
      },
      DeclarationsToken: DeclarativeManagementService.declarationsToken(decls),
    });
  }

  private async declaration(
    hostUuid: string,
    type: string,
    id: string,
  ): Promise<DeclarativeManagementResponse> {
    const decls = await this.hostDeclarations(hostUuid);
    if (type === 'configuration') {
      const d = decls.find((x) => x.identifier === id);
      if (!d) return json(404, { error: 'declaration not found' });
      const raw = await this.withSecrets(hostUuid, d);
      if (raw === undefined) return json(404, { error: 'declaration unavailable' });
      const doc = JSON.parse(raw) as Record<string, unknown>;
      return json(200, { ...doc, ServerToken: d.token });
    }
    if (type === 'activation') {
      const uuid = id.replace(/\.activation$/, '');
      const d = decls.find((x) => x.declaration_uuid === uuid);
      if (!d) return json(404, { error: 'declaration not found' });
      return json(200, {
        Type: 'com.apple.activation.simple',
        Identifier: id,
        ServerToken: d.token,
        Payload: { StandardConfigurations: [d.identifier] },
      });
    }
    return json(404, { error: 'declaration not found' });
  }

  /**
   * The declaration's JSON with its `$FLEET_SECRET_*` filled, in memory only (a secret change
   * bumps secrets_updated_at and so the ServerToken, which makes the device fetch it again). A
   * secret that no longer exists fails the host's row with Fleet's text: undefined.
   */
  private async withSecrets(hostUuid: string, d: HostDeclaration): Promise<string | undefined> {
    if (!this.secrets || !secretVariable.test(d.raw_json)) return d.raw_json;
    const filled = await this.secrets.expandSecrets(d.raw_json, 'json');
    if (filled.ok) return filled.text;
    await this.db
      .updateTable('host_mdm_apple_declarations')
      .set({ status: 'failed', detail: filled.detail, updated_at: dbNow() })
      .where('host_uuid', '=', hostUuid)
      .where('declaration_uuid', '=', d.declaration_uuid)
      .where('operation_type', '=', 'install')
      .execute();
    return undefined;
  }

  /**
   * Status report: active and valid → verified; invalid → failed with the device's reasons;
   * otherwise verifying. Removals absent from the report are done.
   */
  private async status(hostUuid: string, data: Buffer | undefined): Promise<DeclarativeManagementResponse> {
    if (!data || data.length === 0) return json(400, { error: 'empty status report' });
    let report: any;
    try {
      report = JSON.parse(data.toString('utf8'));
    } catch {
      return json(400, { error: 'status report is not JSON' });
    }
    const configs: any[] = report?.StatusItems?.management?.declarations?.configurations ?? [];
    const now = dbNow();
    for (const c of Array.isArray(configs) ? configs : []) {
      if (typeof c?.identifier !== 'string') continue;
      const token = String(c['server-token'] ?? '');
      let status: string;
      let detail: string | null = null;
      if (c.valid === 'valid' && c.active === true) status = 'verified';
      else if (c.valid === 'invalid') {
        status = 'failed';
        const reasons: any[] = Array.isArray(c.reasons) ? c.reasons : [];
        detail =
          reasons.map((r) => [r.code, r.description].filter(Boolean).join(': ')).join('\n') ||
          'The declaration is invalid.';
      } else status = 'verifying';
      await this.db
        .updateTable('host_mdm_apple_declarations')
        .set({ status, detail, updated_at: now })
        .where('host_uuid', '=', hostUuid)
        .where('declaration_identifier', '=', c.identifier)
        .where('token', '=', token)
        .where('operation_type', '=', 'install')
        .execute();
    }
    const reported = new Set(
      (Array.isArray(configs) ? configs : []).map((c) => c?.identifier).filter((x) => typeof x === 'string'),
    );
    const removals = await this.db
      .selectFrom('host_mdm_apple_declarations')
      .select(['declaration_uuid', 'declaration_identifier'])
      .where('host_uuid', '=', hostUuid)
      .where('operation_type', '=', 'remove')
      .where((eb) => eb.or([eb('status', 'is', null), eb('status', '=', 'pending')]))
      .execute();
    const done = removals
      .filter((r) => !reported.has(r.declaration_identifier))
      .map((r) => r.declaration_uuid);
    if (done.length) {
      await this.db
        .deleteFrom('host_mdm_apple_declarations')
        .where('host_uuid', '=', hostUuid)
        .where('operation_type', '=', 'remove')
        .where('declaration_uuid', 'in', done)
        .execute();
    }
    return { status: 200, body: '' };
  }
}
