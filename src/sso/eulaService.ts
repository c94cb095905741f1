import { createHash, randomUUID, timingSafeEqual } from 'node:crypto';
import type { AppConfigService } from '../appconfig/service.js';
import { appleMdmNotConfigured } from '../apple/push/certificates.js';
import { toApiTime, toDbTime } from '../db/dialect.js';
import { alreadyExists, badRequest, notFound } from '../http/errors.js';
import type { EulaStore } from './eulaStore.js';

/** A PDF starts with these bytes (Fleet's check). */
const pdfMagic = Buffer.from('%PDF');

function sameToken(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

/**
 * The EULA end users see before enrolling (one for the whole server, as in Fleet). Every route
 * needs Apple MDM turned on. Fleet records no activity for EULA changes, so neither does this.
 */
export class EulaService {
  constructor(
    private readonly store: EulaStore,
    private readonly appConfig: AppConfigService,
    private readonly now: () => number = Date.now,
  ) {}

  private async requireAppleMdm(): Promise<void> {
    if (!(await this.appConfig.get()).mdm.enabled_and_configured) throw appleMdmNotConfigured();
  }

  /** `POST /setup_experience/eula`: stores the PDF (`dryRun`: checks it only). */
  async upload(name: string, bytes: Buffer, opts: { dryRun?: boolean } = {}): Promise<void> {
    await this.requireAppleMdm();
    if (bytes.length < pdfMagic.length || !bytes.subarray(0, pdfMagic.length).equals(pdfMagic)) {
      throw badRequest('invalid file type');
    }
    if (!name.trim()) throw badRequest('the EULA needs a file name', 'eula');
    if ([...name].length > 255) throw badRequest('the EULA file name is longer than 255 characters', 'eula');
    if (opts.dryRun) return;
    const token = randomUUID();
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    const stored = await this.store.insert({ name, bytes, token, sha256 }, toDbTime(new Date(this.now())));
    if (!stored) throw alreadyExists(`MDMEULA "${token}" already exists`);
  }

  /** `GET /setup_experience/eula/metadata`: `{name, token, created_at}`. */
  async metadata(): Promise<{ name: string; token: string; created_at: string | null }> {
    await this.requireAppleMdm();
    const m = await this.store.metadata();
    if (!m) throw notFound('MDMEULA');
    return { name: m.name, token: m.token, created_at: toApiTime(m.createdAt) };
  }

  /** `GET /setup_experience/eula/:token` (no login: the token is the credential). */
  async download(token: string): Promise<{ name: string; bytes: Buffer }> {
    await this.requireAppleMdm();
    const m = await this.store.metadata();
    if (!m || !sameToken(m.token, token)) throw notFound('MDMEULA');
    const bytes = await this.store.bytes();
    if (!bytes) throw notFound('MDMEULA');
    return { name: m.name, bytes };
  }

  /** `DELETE /setup_experience/eula/:token`. */
  async delete(token: string): Promise<void> {
    await this.requireAppleMdm();
    const m = await this.store.metadata();
    if (!m || !sameToken(m.token, token) || !(await this.store.delete(m.token))) throw notFound('MDMEULA');
  }

  /** The token of the stored EULA, for the SSO callback's redirect ('' when there is none). */
  async currentToken(): Promise<string> {
    return (await this.store.metadata())?.token ?? '';
  }
}
