import { useState } from 'preact/hooks';
import { api } from '../../api/client.js';
import {
  isApple,
  restartCommand,
  type HostDetailResponse,
  type LockResponse,
  type RunCommandResult,
  type UnlockResponse,
} from '../../api/host.js';
import { ConfirmDialog, ErrorText } from '../../components/feedback.js';
import { useAction } from '../../components/useAction.js';
import { useSession } from '../../session.js';

type Host = HostDetailResponse['host'];
type Action = 'restart' | 'lock' | 'unlock' | 'wipe';

/** What happened after an action, shown on the page until the next one. */
interface Outcome {
  text: string;
  /** A Mac's unlock PIN, shown large so the admin can read it out to the user. */
  pin?: string;
}

const dialogTitles: Record<Action, string> = {
  restart: 'Restart host?',
  lock: 'Lock host?',
  unlock: 'Unlock host?',
  wipe: 'Wipe host?',
};

/**
 * Refetch, restart, lock, unlock and wipe, each shown only to roles the API lets do it and only
 * when the host's state allows it (a locked host offers unlock, not lock). Every action but refetch
 * asks first; the page reloads the host afterwards so the device status shows the change.
 */
export function HostActions(props: { host: Host; onChanged: () => void }) {
  const { host } = props;
  const mdm = host.mdm;
  const session = useSession();
  const [open, setOpen] = useState<Action>();
  const { busy, error, setError, run } = useAction();
  const [outcome, setOutcome] = useState<Outcome>();
  const [refetchError, setRefetchError] = useState<Error>();
  const [typedName, setTypedName] = useState('');

  const name = host.display_name;
  const enrolled = mdm.connected_to_fleet;
  const status = mdm.device_status;
  const mayLockWipe = enrolled && session.canLockWipe(host.team_id);
  const restartPayload = restartCommand(host.platform);
  const actions = {
    // Anyone who may read the host may ask it for fresh vitals (the API's rule, and Fleet's).
    refetch: session.can('host', 'read', host.team_id),
    restart: enrolled && !!restartPayload && session.can('mdm_command', 'write', host.team_id),
    lock: mayLockWipe && status === 'unlocked',
    unlock: mayLockWipe && (status === 'locked' || status === 'locking'),
    wipe: mayLockWipe && (status === 'unlocked' || status === 'locked'),
  };

  const close = () => {
    setOpen(undefined);
    setError(undefined);
    setTypedName('');
  };

  const refetch = async () => {
    setRefetchError(undefined);
    try {
      await api.post(`/hosts/${host.id}/refetch`);
      setOutcome({ text: 'Refetch requested. The host sends fresh vitals when it next checks in.' });
      props.onChanged();
    } catch (e) {
      setRefetchError(e as Error);
    }
  };

  const send = async (action: Action): Promise<Outcome> => {
    switch (action) {
      case 'restart': {
        const res = await api.post<RunCommandResult>('/commands/run', {
          command: restartPayload,
          host_uuids: [host.uuid],
        });
        return { text: `Restart command sent (${res.request_type}). The host restarts when it receives it.` };
      }
      case 'lock': {
        const res = await api.post<LockResponse>(`/hosts/${host.id}/lock`, undefined, { view_pin: true });
        return res.unlock_pin
          ? {
              text: 'Lock command sent. To unlock the Mac, the user enters this PIN:',
              pin: res.unlock_pin,
            }
          : { text: 'Lock command sent. The host locks when it receives it.' };
      }
      case 'unlock': {
        const res = await api.post<UnlockResponse | undefined>(`/hosts/${host.id}/unlock`);
        return res?.unlock_pin
          ? { text: 'Give the user this PIN to unlock the Mac:', pin: res.unlock_pin }
          : { text: 'Unlock command sent. The host unlocks when it receives it.' };
      }
      case 'wipe': {
        await api.post(`/hosts/${host.id}/wipe`);
        return { text: 'Wipe command sent. The host erases itself when it receives it.' };
      }
    }
  };

  const confirm = async () => {
    if (!open) return;
    if (open === 'wipe' && typedName.trim() !== name) {
      setError(`Type the host name, ${name}, to confirm.`);
      return;
    }
    await run(async () => {
      setOutcome(await send(open));
      close();
      props.onChanged();
    });
  };

  const anyAction = Object.values(actions).some(Boolean);
  return (
    <div class="host-actions">
      {anyAction && (
        <div class="toolbar" role="group" aria-label="Host actions">
          {actions.refetch && (
            <button type="button" onClick={refetch}>
              Refetch
            </button>
          )}
          {actions.restart && (
            <button type="button" onClick={() => setOpen('restart')}>
              Restart
            </button>
          )}
          {actions.lock && (
            <button type="button" onClick={() => setOpen('lock')}>
              Lock
            </button>
          )}
          {actions.unlock && (
            <button type="button" onClick={() => setOpen('unlock')}>
              Unlock
            </button>
          )}
          {actions.wipe && (
            <button type="button" class="danger" onClick={() => setOpen('wipe')}>
              Wipe
            </button>
          )}
        </div>
      )}
      <ErrorText error={refetchError} />
      <div aria-live="polite">
        {outcome && (
          <div class="notice host-outcome">
            <p>{outcome.text}</p>
            {outcome.pin && <p class="host-pin">{outcome.pin}</p>}
          </div>
        )}
      </div>
      {open && (
        <ConfirmDialog
          title={dialogTitles[open]}
          confirmLabel={open[0].toUpperCase() + open.slice(1)}
          danger={open === 'wipe' || open === 'lock'}
          busy={busy}
          error={error}
          onConfirm={confirm}
          onCancel={close}
        >
          <ActionExplanation action={open} host={host} />
          {open === 'wipe' && (
            <label>
              Type the host name to confirm
              <input
                value={typedName}
                autoComplete="off"
                onInput={(e) => setTypedName((e.target as HTMLInputElement).value)}
              />
            </label>
          )}
        </ConfirmDialog>
      )}
    </div>
  );
}

function ActionExplanation(props: { action: Action; host: Host }) {
  const { host } = props;
  const name = <strong>{host.display_name}</strong>;
  switch (props.action) {
    case 'restart':
      return <p>{name} restarts as soon as it receives the command. Unsaved work on it is lost.</p>;
    case 'lock':
      return isApple(host.platform) ? (
        <p>
          {name} locks and shows a PIN prompt. You get the 6-digit PIN here; give it to the user so they can
          unlock it.
        </p>
      ) : (
        <p>{name} locks as soon as it receives the command.</p>
      );
    case 'unlock':
      return isApple(host.platform) ? (
        <p>A Mac is unlocked with its PIN: you get the PIN to give to the user at {name}.</p>
      ) : (
        <p>{name} unlocks as soon as it receives the command.</p>
      );
    case 'wipe':
      return (
        <p>
          All content and settings on {name} are erased. This cannot be undone. The host stays listed until it
          is deleted.
        </p>
      );
  }
}
