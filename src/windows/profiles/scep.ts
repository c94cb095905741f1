import { invalid, type HttpError } from '../../http/errors.js';

/**
 * Windows SCEP profiles (ClientCertificateInstall/SCEP), as Fleet validates and delivers them: the
 * certificate's node is named `$FLEET_VAR_SCEP_WINDOWS_CERTIFICATE_ID`, which becomes the
 * profile's UUID on delivery, so each profile owns its own node and a removal finds it again.
 */

export const scepCertificateIdVariable = 'FLEET_VAR_SCEP_WINDOWS_CERTIFICATE_ID';
const variable = `$${scepCertificateIdVariable}`;
const csp = 'Vendor/MSFT/ClientCertificateInstall/SCEP/';

type Scope = 'Device' | 'User';
const root = (scope: Scope) => `./${scope}/${csp}${variable}`;

/** Install nodes a SCEP profile may set; the required ones must all be there. */
const optionalNodes = [
  'AADKeyIdentifierList',
  'ContainerName',
  'CustomTextToShowInPrompt',
  'KeyProtection',
  'RetryCount',
  'RetryDelay',
  'SubjectAlternativeNames',
  'TemplateName',
  'ValidPeriod',
  'ValidPeriodUnits',
];
const requiredNodes = [
  'CAThumbprint',
  'Challenge',
  'EKUMapping',
  'HashAlgorithm',
  'KeyLength',
  'KeyUsage',
  'ServerURL',
  'SubjectName',
];
const requiredLocUris = (s: Scope) => [root(s), ...requiredNodes.map((n) => `${root(s)}/Install/${n}`)];
const validLocUris = (s: Scope) =>
  new Set([...requiredLocUris(s), ...optionalNodes.map((n) => `${root(s)}/Install/${n}`)]);
const enrollLocUri = (s: Scope) => `${root(s)}/Install/Enroll`;

const braced = /\$\{FLEET_VAR_SCEP_WINDOWS_CERTIFICATE_ID\}/g;
const anyForm =
  /\$\{FLEET_VAR_SCEP_WINDOWS_CERTIFICATE_ID\}|\$FLEET_VAR_SCEP_WINDOWS_CERTIFICATE_ID(?![A-Z0-9_])/g;

/** A LocURI trimmed, with the braced form of the certificate ID variable written plainly. */
export function normalizeScepLocUri(locUri: string): string {
  return locUri.trim().replace(braced, variable);
}

export function isScepLocUri(locUri: string): boolean {
  return locUri.startsWith(`./Device/${csp}`) || locUri.startsWith(`./User/${csp}`);
}

/** Fleet's rule: the certificate ID variable is the profile's UUID, for every host. */
export function resolveScepCertificateId(text: string, profileUuid: string): string {
  return text.replace(anyForm, profileUuid);
}

const fail = (reason: string): HttpError => invalid(reason, 'profile');

/**
 * Collects a profile's LocURIs in document order and applies Fleet's SCEP rules: a SCEP LocURI
 * names its node with the variable, does not mix ./Device and ./User; a SCEP profile holds only
 * SCEP options, every required one, and exactly one Exec of Install/Enroll. <Exec> is refused in
 * any other profile.
 */
export class ScepProfileCheck {
  private scope?: Scope;
  private readonly found = new Set<string>();
  private locUris = 0;
  private execs = 0;
  private enrollFound = false;

  add(rawLocUri: string, inExec: boolean): void {
    const locUri = normalizeScepLocUri(rawLocUri);
    if (isScepLocUri(locUri)) {
      const scope: Scope = locUri.startsWith('./User/') ? 'User' : 'Device';
      if (this.scope && this.scope !== scope)
        throw fail(
          'All <LocURI> elements in the SCEP profile must start either with "./Device" or "./User".',
        );
      this.scope = scope;
      if (!locUri.startsWith(root(scope)))
        throw fail(`You must use "${variable}" after "ClientCertificateInstall/SCEP/".`);
    }
    if (inExec) {
      this.execs++;
      if (this.scope && locUri === enrollLocUri(this.scope)) this.enrollFound = true;
    } else {
      this.locUris++;
      if (this.scope && validLocUris(this.scope).has(locUri)) this.found.add(locUri);
    }
  }

  /** Throws Fleet's message when the profile breaks a rule; true when it is a SCEP profile. */
  finish(): boolean {
    const isScep = this.found.size > 0 || (this.execs > 0 && this.enrollFound);
    if (!isScep) {
      if (this.execs > 0) throw fail('Only SCEP profiles can include <Exec> elements.');
      return false;
    }
    const scope = this.scope as Scope;
    if (!this.enrollFound)
      throw fail(
        `"ClientCertificateInstall/SCEP/${variable}/Install/Enroll" must be included within <Exec>. Please add and try again.`,
      );
    if (this.execs !== 1) throw fail('SCEP profiles must include exactly one <Exec> element.');
    if (this.locUris !== this.found.size)
      throw fail(
        'Only options that have <LocURI> starting with "ClientCertificateInstall/SCEP/" can be added to SCEP profile.',
      );
    for (const required of requiredLocUris(scope)) {
      if (!this.found.has(required))
        throw fail(
          `"${required.replace(`./${scope}/Vendor/MSFT/`, '')}" is missing. Please add and try again.`,
        );
    }
    return true;
  }
}

/** Does a profile with these LocURIs install a SCEP certificate? */
export function isScepProfile(locUris: string[]): boolean {
  return locUris.some((u) => isScepLocUri(normalizeScepLocUri(u)));
}
