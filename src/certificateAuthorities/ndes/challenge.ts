import { ntlmGet, type NtlmCredentials } from './ntlmHttp.js';

/** What the NDES admin page says around the one-time password (Fleet reads the same words). */
const challengePattern = /The enrollment challenge password is: <B> (\S*)/i;
const fullCacheText = 'The password cache is full.';
const noPermissionText = 'You do not have sufficient permission to enroll with SCEP.';

/** Why an NDES challenge could not be had; `kind` picks Fleet's wording for the admin. */
export class NdesChallengeError extends Error {
  constructor(
    readonly kind: 'invalid' | 'cacheFull' | 'permissions' | 'transport',
    message: string,
  ) {
    super(message);
  }
}

/**
 * NDES serves its admin page in UTF-16LE, often with no byte-order mark and no charset; anything
 * else is read as UTF-8.
 */
export function decodeAdminPage(body: Buffer, contentType = ''): string {
  if (body.length >= 2 && body[0] === 0xff && body[1] === 0xfe) return body.subarray(2).toString('utf16le');
  if (body.length >= 2 && body[0] === 0x3c && body[1] === 0x00) return body.toString('utf16le');
  if (/charset=utf-?16/i.test(contentType)) return body.toString('utf16le');
  const sample = body.subarray(0, 100);
  let zeros = 0;
  for (let i = 1; i < sample.length; i += 2) if (sample[i] === 0) zeros++;
  if (sample.length >= 4 && zeros / Math.floor(sample.length / 2) >= 0.9) return body.toString('utf16le');
  return body.toString('utf8');
}

export interface NdesAdmin extends NtlmCredentials {
  adminUrl: string;
}

/** Fetches one-time challenges from an NDES admin page (`/certsrv/mscep_admin/`). */
export class NdesChallengeClient {
  constructor(private readonly timeoutMs: number) {}

  async fetchChallenge(admin: NdesAdmin): Promise<string> {
    let answer;
    try {
      answer = await ntlmGet(admin.adminUrl, admin, this.timeoutMs);
    } catch (err) {
      const code = (err as { code?: string }).code;
      throw new NdesChallengeError('transport', `sending request: ${code ?? (err as Error).message}`);
    }
    if (answer.status !== 200) {
      throw new NdesChallengeError(
        'invalid',
        `unexpected status code: ${answer.status}; could not retrieve the enrollment challenge password; invalid admin URL or credentials; please correct and try again`,
      );
    }
    const page = decodeAdminPage(answer.body, String(answer.headers['content-type'] ?? ''));
    const challenge = challengePattern.exec(page)?.[1];
    if (challenge) return challenge;
    if (page.includes(fullCacheText)) {
      throw new NdesChallengeError(
        'cacheFull',
        'the password cache is full; please increase the number of cached passwords in NDES; by default, NDES caches 5 passwords and they expire 60 minutes after they are created',
      );
    }
    if (page.includes(noPermissionText)) {
      throw new NdesChallengeError(
        'permissions',
        'this account does not have sufficient permissions to enroll with SCEP. Please use a different account with NDES SCEP enroll permissions.',
      );
    }
    throw new NdesChallengeError(
      'invalid',
      'could not retrieve the enrollment challenge password; invalid admin URL or credentials; please correct and try again',
    );
  }
}

const challengeVariable = '$FLEET_VAR_NDES_SCEP_CHALLENGE';

/** Fleet's failure text on a host's profile row when the NDES challenge could not be had. */
export function ndesChallengeDetail(err: unknown): string {
  if (err instanceof NdesChallengeError) {
    switch (err.kind) {
      case 'invalid':
        return `Invalid NDES admin credentials. Fleet couldn't populate ${challengeVariable}. Please update credentials in Settings > Integrations > Mobile Device Management > Simple Certificate Enrollment Protocol.`;
      case 'cacheFull':
        return `The NDES password cache is full. Fleet couldn't populate ${challengeVariable}. Please increase the number of cached passwords in NDES and try again.`;
      case 'permissions':
        return `This account does not have sufficient permissions to enroll with SCEP. Fleet couldn't populate ${challengeVariable}. Please update the account with NDES SCEP enroll permissions and try again.`;
      default:
        return `Fleet couldn't populate ${challengeVariable}. ${err.message}`;
    }
  }
  return `Fleet couldn't populate ${challengeVariable}. ${(err as Error).message}`;
}
