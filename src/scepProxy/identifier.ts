/**
 * The SCEP proxy URL: `<server>/mdm/scep/proxy/<identifier>`, where the identifier is
 * `hostUUID,profileUUID,caName[,challenge]` path-escaped as Go's url.PathEscape does (Fleet builds
 * it so; devices send it back byte for byte).
 */
export const scepProxyPath = '/mdm/scep/proxy/';

/** The CA name of the NDES proxy in identifiers and managed-certificate rows (Fleet's). */
export const ndesCaName = 'NDES';

const unescaped = /[A-Za-z0-9\-_.~$&+:=@]/;

/** Go's url.PathEscape: unreserved characters and `$&+:=@` stay, everything else is %XX (UTF-8). */
export function goPathEscape(s: string): string {
  let out = '';
  for (const ch of s) {
    if (unescaped.test(ch)) {
      out += ch;
      continue;
    }
    for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export interface ProxyIdentifier {
  hostUuid: string;
  profileUuid: string;
  caName: string;
  /** The one-time challenge of a custom SCEP URL; empty for NDES. */
  challenge: string;
}

export function scepProxyUrl(serverUrl: string, id: ProxyIdentifier): string {
  const parts = [id.hostUuid, id.profileUuid, id.caName, ...(id.challenge ? [id.challenge] : [])];
  return `${serverUrl.replace(/\/+$/, '')}${scepProxyPath}${goPathEscape(parts.join(','))}`;
}

/** Reads an identifier already unescaped by the router; undefined when host or profile is missing. */
export function parseProxyIdentifier(raw: string): ProxyIdentifier | undefined {
  const parts = raw.split(',');
  if (parts.length < 2 || !parts[0] || !parts[1]) return undefined;
  return {
    hostUuid: parts[0],
    profileUuid: parts[1],
    caName: parts.length > 2 ? parts[2] : ndesCaName,
    challenge: parts.length > 3 ? parts[3] : '',
  };
}
