import type { AuthenticateMessage } from '../checkin/messages.js';
import type { CheckinHooks, MdmRequest } from '../checkin/service.js';
import type { RenewalCompletion } from './completion.js';

/**
 * The renewal's link in the check-in chain (after the core and the Fleet lifecycle): an
 * Authenticate that binds a new identity to the device completes the renewals open on its older
 * identities. The core has already kept the host, queue and profiles as they were, since a renewal
 * is not a new enrollment.
 */
export class ScepRenewalCheckinHooks implements CheckinHooks {
  constructor(private readonly completion: RenewalCompletion) {}

  async authenticate(r: MdmRequest, _m: AuthenticateMessage): Promise<void> {
    const ground = r.notes.claimGround;
    // 'associated': the identity was already the device's (a repeated Authenticate).
    if (!r.cert || !ground || ground === 'associated') return;
    const kind = r.notes.authenticateKind;
    await this.completion.newIdentity(r.enrollment.deviceId, r.cert.sha256, {
      renewal: kind === 'renewal' || kind === 'migration',
      notValidAfter: r.cert.notAfter,
    });
  }
}
