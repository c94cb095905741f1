import type { MdmHostDetail } from '../../hosts/service.js';
import { applePlatforms } from '../platform.js';
import type { AppleFactsService } from './service.js';

/**
 * Host detail with `mdm.security_info` added for Apple hosts: what the device last answered to
 * SecurityInfo (Flotilla addition; the facts Fleet has columns for show in Fleet's own fields).
 */
export function withAppleSecurityInfo(
  inner: MdmHostDetail,
  facts: Pick<AppleFactsService, 'securityInfoJson'>,
): MdmHostDetail {
  return {
    async forHost(host, mdm) {
      const out = await inner.forHost(host, mdm);
      if (!applePlatforms.includes(host.platform)) return out;
      return { ...out, security_info: await facts.securityInfoJson(host.id) };
    },
  };
}
