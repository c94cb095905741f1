import type { Config } from '../../src/config.js';
import { api } from './api.js';
import type { TestServer } from './testServer.js';

/**
 * The parts of the Google stand-in (`startAmapiStandIn` in src/clients/amapi/fakeServer.ts) these
 * helpers use; any `AmapiStandIn` fits.
 */
export interface AndroidStandIn {
  readonly url: string;
  readonly certsUrl: string;
  readonly serviceAccount: object;
  readonly enterprises: Map<string, { name: string; pubsubTopic?: string }>;
  readonly subscriptions: Map<string, { name: string; topic: string; pushEndpoint: string }>;
  readonly requests: { method: string; path: string; query: Record<string, string>; body: unknown }[];
  completeSignup(signupUrlName: string): string;
  setPushTarget(baseUrl: string | undefined): void;
}

/** A server URL that is not localhost (signup refuses localhost, as Fleet does). */
export const androidServerUrl = 'https://mdm.example.test';

/** Config overrides pointing a test server's Google calls at the stand-in. */
export function androidTestConfig(standIn: Pick<AndroidStandIn, 'url' | 'certsUrl'>): Partial<Config> {
  return {
    androidApiUrl: standIn.url,
    androidPubsubApiUrl: standIn.url,
    androidOidcCertsUrl: standIn.certsUrl,
    serverUrl: androidServerUrl,
  };
}

export interface BoundTestEnterprise {
  /** `enterprises/LC…` */
  enterpriseName: string;
  /** `LC…` */
  enterpriseId: string;
  /** The `?token=` of the push subscription's endpoint (what Pub/Sub pushes with). */
  pubsubToken?: string;
}

const v1 = '/api/v1/fleet/android_enterprise';

/** Uploads the stand-in's service account through the admin API (global admin token). */
export async function uploadServiceAccount(srv: TestServer, standIn: AndroidStandIn, token: string) {
  const res = await api(srv, 'PUT', `${v1}/service_account`, {
    token,
    rawBody: JSON.stringify(standIn.serviceAccount),
    headers: { 'content-type': 'application/json' },
  });
  if (res.status !== 200) throw new Error(`service_account upload: ${res.status} ${res.text}`);
}

/**
 * Begins signup (`GET signup_url`) and answers the callback URL the server gave Google, with the
 * signup URL's name (read from the stand-in's request and the server's signup row).
 */
export async function beginSignup(
  srv: TestServer,
  standIn: AndroidStandIn,
  token: string,
): Promise<{ callbackPath: string; signupUrlName: string; signupUrl: string }> {
  const res = await api(srv, 'GET', `${v1}/signup_url`, { token });
  if (res.status !== 200) throw new Error(`signup_url: ${res.status} ${res.text}`);
  const call = [...standIn.requests]
    .reverse()
    .find((r) => r.method === 'POST' && r.path.endsWith('/signupUrls'));
  if (!call?.query.callbackUrl) throw new Error('the stand-in saw no signupUrls.create with a callbackUrl');
  const row = await srv.app.services.database.db
    .selectFrom('android_enterprises')
    .select('signup_name')
    .where('enterprise_id', '=', '')
    .orderBy('id', 'desc')
    .executeTakeFirstOrThrow();
  return {
    callbackPath: new URL(call.query.callbackUrl).pathname,
    signupUrlName: row.signup_name,
    signupUrl: res.body.android_enterprise_signup_url as string,
  };
}

/**
 * Binds an Android Enterprise on a started test server whose config points at the stand-in
 * (`androidTestConfig`): uploads the stand-in's service account, runs signup_url, completes
 * Google's signup at the stand-in and calls the connect callback as the admin's browser would.
 * Also points the stand-in's pushes at this server (`setPushTarget`). Starts nothing itself.
 */
export async function bindEnterprise(
  srv: TestServer,
  standIn: AndroidStandIn,
  token: string,
): Promise<BoundTestEnterprise> {
  standIn.setPushTarget(srv.url);
  await uploadServiceAccount(srv, standIn, token);
  const signup = await beginSignup(srv, standIn, token);
  const enterpriseToken = standIn.completeSignup(signup.signupUrlName);
  const res = await api(
    srv,
    'GET',
    `${signup.callbackPath}?enterpriseToken=${encodeURIComponent(enterpriseToken)}`,
  );
  if (res.status !== 200) throw new Error(`connect callback: ${res.status} ${res.text}`);
  const row = await srv.app.services.database.db
    .selectFrom('android_enterprises')
    .select('enterprise_id')
    .where('enterprise_id', '!=', '')
    .executeTakeFirstOrThrow();
  const enterpriseName = `enterprises/${row.enterprise_id}`;
  const topic = standIn.enterprises.get(enterpriseName)?.pubsubTopic;
  const subscription = [...standIn.subscriptions.values()].find((s) => s.topic === topic);
  const pubsubToken = subscription
    ? (new URL(subscription.pushEndpoint).searchParams.get('token') ?? undefined)
    : undefined;
  return { enterpriseName, enterpriseId: row.enterprise_id, pubsubToken };
}
