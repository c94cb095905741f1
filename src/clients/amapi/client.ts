import type { AndroidManagementClient, ServiceAccountKey } from './types.js';

export interface GoogleAndroidClientOptions {
  serviceAccount: ServiceAccountKey;
  /** `https://androidmanagement.googleapis.com/` in production; the stand-in's URL in tests. */
  apiUrl: string;
  /** `https://pubsub.googleapis.com/` in production; the stand-in's URL in tests. */
  pubsubApiUrl: string;
  timeoutMs?: number;
}

/** Placeholder until the Google implementation lands (being written now). */
export function createGoogleAndroidClient(opts: GoogleAndroidClientOptions): AndroidManagementClient {
  void opts;
  throw new Error('not implemented yet');
}
