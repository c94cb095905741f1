import type { Logger } from 'pino';
import { dbNow } from '../../db/dialect.js';
import type { QueuedCommand, WindowsEnrollment } from '../store.js';
import { isProfileCommandUuid } from './commands.js';
import type { WindowsProfileStore } from './store.js';
import type { ProfileVariables } from './variables.js';

/**
 * `$FLEET_SECRET_*` in profile commands: the stored command keeps the placeholders, and they are
 * filled in memory as the SyncML session hands the command to the device. When a secret no
 * longer exists the command is not sent: the host's profile row fails with the reason and the
 * command leaves the host's queue. Neither values nor the filled command are logged.
 */
export class WindowsProfileSecretDelivery {
  constructor(
    private readonly store: Pick<WindowsProfileStore, 'failUndeliverable'>,
    private readonly variables: Pick<ProfileVariables, 'expandSecrets'>,
    private readonly logger?: Logger,
  ) {}

  /** The command as the device gets it, or undefined when it must not be sent. */
  async render(e: WindowsEnrollment, cmd: QueuedCommand): Promise<string | undefined> {
    // Other commands (admin commands) are sent as queued.
    if (!isProfileCommandUuid(cmd.command_uuid)) return cmd.raw_command;
    const filled = await this.variables.expandSecrets(cmd.raw_command, 'xml');
    if (filled.ok) return filled.text;
    await this.store.failUndeliverable(e.host_uuid, e.id, cmd.command_uuid, filled.detail, dbNow());
    this.logger?.info(
      { enrollmentId: e.id, commandUuid: cmd.command_uuid },
      'windows profile not sent: a secret it uses does not exist',
    );
    return undefined;
  }
}
