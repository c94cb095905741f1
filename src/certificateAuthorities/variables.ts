import { createHash, randomBytes } from 'node:crypto';
import type { FleetVariableSource, VariableHost, VariableValue } from '../mdm/variables/sources.js';
import { dbNow } from '../db/dialect.js';
import { ndesCaName, scepProxyUrl } from '../scepProxy/identifier.js';
import { managedCertificateTypes } from '../scepProxy/service.js';
import type { ScepProxyStore } from '../scepProxy/store.js';
import { ndesChallengeDetail, type NdesChallengeClient } from './ndes/challenge.js';
import type { CertificateAuthorityStore } from './store.js';

const customChallengePrefix = 'CUSTOM_SCEP_CHALLENGE_';
const customUrlPrefix = 'CUSTOM_SCEP_PROXY_URL_';
/** A CA name as Fleet allows it (letters, digits, underscores). */
const caNamePattern = /^[A-Za-z0-9_]+$/;

const ok = (value: string): VariableValue => ({ ok: true, value });
const everyHost = (hosts: VariableHost[], value: VariableValue) =>
  new Map(hosts.map((h) => [h.hostUuid, value] as const));

/** Fleet's `$FLEET_VAR_SCEP_RENEWAL_ID`: `fleet-<profile UUID>`, put in the SCEP subject's CN or OU. */
class ScepRenewalIdVariable implements FleetVariableSource {
  handles(name: string): boolean {
    return name === 'SCEP_RENEWAL_ID';
  }

  async resolve(_name: string, profileUuid: string, hosts: VariableHost[]) {
    return everyHost(hosts, ok(`fleet-${profileUuid}`));
  }
}

export interface CertificateVariableDeps {
  cas: CertificateAuthorityStore;
  proxy: ScepProxyStore;
  ndes: NdesChallengeClient;
  /** The URL devices reach this server at (the proxy URL's base). */
  serverUrl: () => Promise<string>;
}

/**
 * `$FLEET_VAR_CUSTOM_SCEP_CHALLENGE_<CA>`: the CA's own challenge, which the upstream checks; and
 * `$FLEET_VAR_CUSTOM_SCEP_PROXY_URL_<CA>`: a proxy URL per host carrying a fresh one-time challenge
 * of our own, which the proxy checks and uses up before it passes the request on.
 */
class CustomScepVariables implements FleetVariableSource {
  constructor(private readonly deps: CertificateVariableDeps) {}

  handles(name: string): boolean {
    const ca = name.startsWith(customChallengePrefix)
      ? name.slice(customChallengePrefix.length)
      : name.startsWith(customUrlPrefix)
        ? name.slice(customUrlPrefix.length)
        : undefined;
    return ca !== undefined && caNamePattern.test(ca);
  }

  /** Fleet refuses at upload a profile naming a custom SCEP CA that does not exist. */
  async uploadProblem(name: string): Promise<string | undefined> {
    const caName = name.slice(
      (name.startsWith(customUrlPrefix) ? customUrlPrefix : customChallengePrefix).length,
    );
    const cas = await this.deps.cas.list();
    return cas.some((c) => c.type === 'custom_scep_proxy' && c.name === caName)
      ? undefined
      : `Fleet variable $FLEET_VAR_${name} does not exist.`;
  }

  async resolve(
    name: string,
    profileUuid: string,
    hosts: VariableHost[],
  ): Promise<Map<string, VariableValue>> {
    const isUrl = name.startsWith(customUrlPrefix);
    const caName = name.slice((isUrl ? customUrlPrefix : customChallengePrefix).length);
    const ca = (await this.deps.cas.byTypeWithSecrets('custom_scep_proxy')).find((c) => c.name === caName);
    if (!ca) {
      return everyHost(hosts, {
        ok: false,
        detail: `Fleet couldn't populate $${name} because ${caName} certificate authority doesn't exist.`,
      });
    }
    if (!isUrl) return everyHost(hosts, ok(ca.challenge ?? ''));

    const serverUrl = await this.deps.serverUrl();
    const issued = hosts.map((h) => ({ host: h, challenge: randomBytes(24).toString('base64url') }));
    await this.deps.proxy.insertChallenges(
      issued.map(({ host, challenge }) => ({
        challengeSha256: createHash('sha256').update(challenge).digest('hex'),
        hostUuid: host.hostUuid,
        profileUuid,
        caName,
      })),
    );
    await this.deps.proxy.upsertManagedCertificates(
      hosts.map((h) => ({
        hostUuid: h.hostUuid,
        profileUuid,
        caName,
        type: managedCertificateTypes.customScep,
        challengeRetrievedAt: null,
      })),
    );
    return new Map(
      issued.map(({ host, challenge }) => [
        host.hostUuid,
        ok(scepProxyUrl(serverUrl, { hostUuid: host.hostUuid, profileUuid, caName, challenge })),
      ]),
    );
  }
}

const ndesNotConfigured =
  'NDES SCEP Proxy is not configured. Please configure in Settings > Integrations > Certificates.';

/**
 * `$FLEET_VAR_NDES_SCEP_PROXY_URL`: the proxy URL for this host and profile; and
 * `$FLEET_VAR_NDES_SCEP_CHALLENGE`: a fresh one-time password from the NDES admin page per host
 * (NDES checks it; the proxy refuses the request once it is older than NDES keeps it).
 */
class NdesVariables implements FleetVariableSource {
  constructor(private readonly deps: CertificateVariableDeps) {}

  handles(name: string): boolean {
    return name === 'NDES_SCEP_CHALLENGE' || name === 'NDES_SCEP_PROXY_URL';
  }

  async resolve(
    name: string,
    profileUuid: string,
    hosts: VariableHost[],
  ): Promise<Map<string, VariableValue>> {
    const [ndes] = await this.deps.cas.byTypeWithSecrets('ndes_scep_proxy');
    if (!ndes) return everyHost(hosts, { ok: false, detail: ndesNotConfigured });
    const managed = (hostUuid: string, challengeRetrievedAt: string | null) => ({
      hostUuid,
      profileUuid,
      caName: ndesCaName,
      type: managedCertificateTypes.ndes,
      challengeRetrievedAt,
    });

    if (name === 'NDES_SCEP_PROXY_URL') {
      const serverUrl = await this.deps.serverUrl();
      // Known to the proxy from now on; a challenge fetched for the same profile keeps its time.
      await this.deps.proxy.addManagedCertificates(hosts.map((h) => managed(h.hostUuid, null)));
      return new Map(
        hosts.map((h) => [
          h.hostUuid,
          ok(
            scepProxyUrl(serverUrl, { hostUuid: h.hostUuid, profileUuid, caName: ndesCaName, challenge: '' }),
          ),
        ]),
      );
    }

    // One NDES password per host, fetched one after another (NDES hands them out one at a time).
    const out = new Map<string, VariableValue>();
    const fetched: ReturnType<typeof managed>[] = [];
    for (const h of hosts) {
      try {
        const challenge = await this.deps.ndes.fetchChallenge({
          adminUrl: ndes.adminUrl ?? '',
          username: ndes.username ?? '',
          password: ndes.password ?? '',
        });
        out.set(h.hostUuid, ok(challenge));
        fetched.push(managed(h.hostUuid, dbNow()));
      } catch (err) {
        out.set(h.hostUuid, { ok: false, detail: ndesChallengeDetail(err) });
      }
    }
    await this.deps.proxy.upsertManagedCertificates(fetched);
    return out;
  }
}

/**
 * The certificate variable sources for the profile expander: custom SCEP and NDES proxies, and the
 * SCEP renewal ID.
 */
export function createCertificateVariableSources(deps: CertificateVariableDeps): FleetVariableSource[] {
  return [new CustomScepVariables(deps), new NdesVariables(deps), new ScepRenewalIdVariable()];
}
