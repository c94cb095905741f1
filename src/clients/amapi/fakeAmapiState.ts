import { randomBytes } from 'node:crypto';
import { GoogleHttpError, notFoundMessage } from './fakeHttp.js';
import type { AmapiDevice, AmapiEnrollmentToken, AmapiOperation } from './types.js';

export interface FakeEnterprise {
  name: string;
  pubsubTopic?: string;
  enabledNotificationTypes: string[];
  signupUrlName: string;
}

export interface FakePolicy {
  name: string;
  version: number;
  policy: Record<string, unknown>;
}

/** A device removed by `devices.delete`, with how it was asked to wipe. */
export interface DeletedDevice {
  device: AmapiDevice;
  wipeDataFlags: string[];
  wipeReasonMessage?: string;
}

export interface SignupUrl {
  name: string;
  callbackUrl: string;
  enterpriseToken?: string;
  used: boolean;
}

export const hex = (bytes: number) => randomBytes(bytes).toString('hex');
export const letters = (n: number) =>
  Array.from(randomBytes(n), (b) => String.fromCharCode(65 + (b % 26))).join('');
export const clone = <T>(v: T): T => structuredClone(v);

/**
 * What Google holds for Android Enterprises in the stand-in, shared by its REST surface
 * (fakeAmapi.ts) and the devices' side (fakeAndroidDevices.ts), with the lookups both make.
 */
export class AmapiState {
  readonly enterprises = new Map<string, FakeEnterprise>();
  readonly policies = new Map<string, FakePolicy>();
  readonly devices = new Map<string, AmapiDevice>();
  readonly deletedDevices = new Map<string, DeletedDevice>();
  readonly operations = new Map<string, AmapiOperation>();
  readonly enrollmentTokens = new Map<string, AmapiEnrollmentToken>();
  readonly signupUrls = new Map<string, SignupUrl>();
  /** One-time enrollment token values already used. */
  readonly usedTokens = new Set<string>();
  /** Largest page `enterprises.list` / `devices.list` answer (Google's is 100 for devices). */
  maxPageSize = 100;

  constructor(readonly projectId: string) {}

  checkProject(projectId: string | undefined) {
    if (!projectId) throw new GoogleHttpError(400, 'projectId is required.');
    if (projectId !== this.projectId) throw new GoogleHttpError(403, 'The caller does not have permission');
  }

  enterprise(name: string): FakeEnterprise {
    const e = this.enterprises.get(name);
    if (!e) throw new GoogleHttpError(404, notFoundMessage);
    return e;
  }

  policy(enterprise: string, name: string): FakePolicy {
    this.enterprise(enterprise);
    const p = this.policies.get(name);
    if (!p) throw new GoogleHttpError(404, notFoundMessage);
    return p;
  }

  device(enterprise: string, name: string): AmapiDevice {
    this.enterprise(enterprise);
    const d = this.devices.get(name);
    if (!d) throw new GoogleHttpError(404, notFoundMessage);
    return d;
  }

  /** Offset paging; the token is opaque to callers. */
  page<T>(all: T[], query: Record<string, string>): { items: T[]; next?: string } {
    const requested = query.pageSize ? Number(query.pageSize) : this.maxPageSize;
    if (!Number.isInteger(requested) || requested < 0) throw new GoogleHttpError(400, 'Invalid page_size.');
    const size = Math.min(requested || this.maxPageSize, this.maxPageSize);
    let offset = 0;
    if (query.pageToken) {
      offset = Number(Buffer.from(query.pageToken, 'base64url').toString('utf8').replace(/^o:/, ''));
      if (!Number.isInteger(offset) || offset < 0) throw new GoogleHttpError(400, 'Invalid page_token.');
    }
    const items = all.slice(offset, offset + size);
    const nextOffset = offset + size;
    return {
      items,
      ...(nextOffset < all.length ? { next: Buffer.from(`o:${nextOffset}`).toString('base64url') } : {}),
    };
  }
}
