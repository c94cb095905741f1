import { badRequest } from '../../http/errors.js';
import type { CommandStatus } from '../platform.js';

/** Maps Fleet's `command_status` filter values onto its command statuses. */
const statusFilterValues: Record<string, CommandStatus> = {
  pending: 'Pending',
  acknowledged: 'Acknowledged',
  error: 'Error',
  notnow: 'NotNow',
  commandformaterror: 'CommandFormatError',
  failed: 'Error',
  ran: 'Acknowledged',
};

/** Parses `command_status` (comma-separated, case and punctuation ignored); 400 for an unknown value. */
export function parseStatusFilter(value: string | undefined): CommandStatus[] | undefined {
  if (!value) return undefined;
  const out = new Set<CommandStatus>();
  for (const part of value.split(',')) {
    const key = part
      .trim()
      .toLowerCase()
      .replace(/[^a-z]/g, '');
    const mapped = statusFilterValues[key];
    if (!mapped) throw badRequest(`unknown command_status "${part.trim()}"`, 'command_status');
    out.add(mapped);
    if (key === 'failed') out.add('CommandFormatError');
  }
  return [...out];
}
