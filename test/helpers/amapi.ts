import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AmapiStandIn } from '../../src/clients/amapi/fakeServer.js';
import type { AndroidManagementClient } from '../../src/clients/amapi/types.js';

export interface ReceivedPush {
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A tiny HTTP endpoint that records Pub/Sub pushes and answers `status` (changeable). */
export interface PushReceiver {
  url: string;
  received: ReceivedPush[];
  status: number;
  close(): Promise<void>;
}

export async function startPushReceiver(): Promise<PushReceiver> {
  const receiver: PushReceiver = {
    url: '',
    received: [],
    status: 200,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      receiver.received.push({
        path: req.url ?? '',
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      });
      res.writeHead(receiver.status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return receiver;
}

/** The Pub/Sub push body's message, with `data` decoded from base64 JSON. */
export function decodePush(body: string): {
  notificationType: string | undefined;
  data: Record<string, unknown>;
  messageId: string;
  publishTime: string;
  subscription: string;
} {
  const parsed = JSON.parse(body) as {
    message: { attributes?: Record<string, string>; data: string; messageId: string; publishTime: string };
    subscription: string;
  };
  return {
    notificationType: parsed.message.attributes?.notificationType,
    data: JSON.parse(Buffer.from(parsed.message.data, 'base64').toString('utf8')) as Record<string, unknown>,
    messageId: parsed.message.messageId,
    publishTime: parsed.message.publishTime,
    subscription: parsed.subscription,
  };
}

/** Who AMAPI publishes as; it must hold roles/pubsub.publisher on an enterprise's topic. */
export const amapiPublisher = 'serviceAccount:android-cloud-policy@system.gserviceaccount.com';

/**
 * An enterprise bound straight through the client, as Flotilla's connect step does in direct
 * mode: topic (24 h retention), publisher grant, push subscription, signup, enterprises.create.
 */
export async function bindEnterpriseDirect(
  client: AndroidManagementClient,
  standIn: AmapiStandIn,
  opts: { pushEndpoint: string; oidcToken?: { serviceAccountEmail: string; audience: string } },
): Promise<{ enterpriseName: string; topicName: string; subscriptionName: string }> {
  const topicId = `a${randomUUID()}`;
  const topicName = await client.pubsubCreateTopic(topicId, { messageRetentionDuration: '86400s' });
  await client.pubsubGrantTopicRole(topicName, 'roles/pubsub.publisher', amapiPublisher);
  const subscriptionName = await client.pubsubCreatePushSubscription({
    subscriptionId: topicId,
    topicName,
    pushEndpoint: opts.pushEndpoint,
    ackDeadlineSeconds: 60,
    ...(opts.oidcToken ? { oidcToken: opts.oidcToken } : {}),
  });
  const signup = await client.signupUrlsCreate(
    'https://mdm.example.test/api/v1/fleet/android_enterprise/connect/x',
  );
  const enterpriseToken = standIn.completeSignup(signup.name);
  const enterprise = await client.enterprisesCreate({
    enterpriseToken,
    signupUrlName: signup.name,
    pubsubTopic: topicName,
    enabledNotificationTypes: ['ENROLLMENT', 'STATUS_REPORT', 'COMMAND', 'USAGE_LOGS'],
  });
  return { enterpriseName: enterprise.name, topicName, subscriptionName };
}
