import { dbNow } from '../../db/dialect.js';
import { buildCommandPlist } from '../commands/build.js';
import type { CommandPreparer, PreparedCommand, StoredCommand } from '../commands/queue.js';
import type { AppleChannelStore } from './channels.js';
import type { ProfileVariableExpander } from './delivery.js';
import type { HostStatusStore } from './hostStatusStore.js';
import type { ProfileSigner } from './signing.js';

/**
 * Delivers `ProfileWithSecrets` commands: the stored profile keeps its `$FLEET_SECRET_*`
 * placeholders; here, as the command is handed to the device, the secrets are filled in memory,
 * the profile is signed and wrapped in its InstallProfile command. Nothing built here is stored or
 * logged. A secret that no longer exists fails the host's profile row with Fleet's text instead
 * of sending a broken profile.
 */
export class SecretProfileDelivery implements CommandPreparer {
  constructor(
    private readonly secrets: Pick<ProfileVariableExpander, 'expandSecrets'>,
    private readonly signer: ProfileSigner,
    private readonly statuses: Pick<HostStatusStore, 'failPendingInstall'>,
    private readonly channels: Pick<AppleChannelStore, 'deviceOf'>,
  ) {}

  async prepare(c: StoredCommand): Promise<PreparedCommand> {
    const expanded = await this.secrets.expandSecrets(c.command.toString('utf8'), 'xml');
    if (!expanded.ok) {
      const hostUuid = await this.channels.deviceOf(c.enrollmentId);
      if (hostUuid) await this.statuses.failPendingInstall(hostUuid, c.commandUuid, expanded.detail, dbNow());
      return expanded;
    }
    const payload = await this.signer.payloadFor(Buffer.from(expanded.text, 'utf8'));
    return {
      ok: true,
      command: buildCommandPlist('InstallProfile', { Payload: payload }, c.commandUuid).plist,
    };
  }
}
