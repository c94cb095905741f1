/** Per Windows enrollment: the WNS ChannelURI the PC reported and the push bookkeeping. */
export interface WindowsMdmPushChannelsTable {
  enrollment_id: number;
  /** The enrollment's created_at when this row was written; another value means the PC re-enrolled. */
  enrollment_created_at: string;
  pfn: string;
  channel_uri: string | null;
  channel_status: string | null;
  asked_at: string | null;
  checked_at: string | null;
  last_push_at: string | null;
  last_push_error: string | null;
  push_failures: number;
  next_push_at: string | null;
  updated_at: string;
}

export interface WindowsPushTables {
  windows_mdm_push_channels: WindowsMdmPushChannelsTable;
}
