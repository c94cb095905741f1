import type { ActionOutcome } from '../platform.js';

/**
 * A host's lock and wipe state, derived from its host_mdm_actions row and the device's answers to
 * the lock and wipe commands it names. One place decides both which host actions are allowed and
 * what `GET /hosts/:id` shows as `mdm.device_status` / `mdm.pending_action`, for every platform.
 */
export interface LockState {
  /** lock command sent, not answered yet (or answered "not now") */
  locking: boolean;
  locked: boolean;
  unlocking: boolean;
  wiping: boolean;
  wiped: boolean;
}

/** The row and the device's answers the state is derived from (null outcome: no such command). */
export interface LockStateSource {
  lock_ref: string | null;
  wipe_ref: string | null;
  unlock_ref: string | null;
  lock_outcome: ActionOutcome | null;
  wipe_outcome: ActionOutcome | null;
}

export function lockStateOf(src: LockStateSource | undefined): LockState {
  return {
    locking: Boolean(src?.lock_ref) && src!.lock_outcome === 'pending',
    locked: Boolean(src?.lock_ref) && src!.lock_outcome === 'done',
    unlocking: Boolean(src?.unlock_ref),
    wiping: Boolean(src?.wipe_ref) && src!.wipe_outcome === 'pending',
    wiped: Boolean(src?.wipe_ref) && src!.wipe_outcome === 'done',
  };
}

export type DeviceStatus = 'unlocked' | 'locked' | 'locking' | 'unlocking' | 'wiped' | 'wiping';
export type PendingAction = '' | 'lock' | 'unlock' | 'wipe';

/**
 * Fleet's host `mdm.device_status` and `mdm.pending_action`: a wipe outranks a lock; a pending
 * action shows as the "-ing" status with the action named; done actions show as locked/wiped.
 */
export function deviceStatusJson(st: LockState): {
  device_status: DeviceStatus;
  pending_action: PendingAction;
} {
  if (st.wiped) return { device_status: 'wiped', pending_action: '' };
  if (st.wiping) return { device_status: 'wiping', pending_action: 'wipe' };
  if (st.unlocking) return { device_status: 'unlocking', pending_action: 'unlock' };
  if (st.locking) return { device_status: 'locking', pending_action: 'lock' };
  if (st.locked) return { device_status: 'locked', pending_action: '' };
  return { device_status: 'unlocked', pending_action: '' };
}
