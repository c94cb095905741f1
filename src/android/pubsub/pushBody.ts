/**
 * Pub/Sub's push request as Google posts it: `{"message": {"attributes": {"notificationType": …},
 * "data": <standard base64 of the AMAPI resource JSON>, "messageId": …, "publishTime": …},
 * "subscription": …}` (Pub/Sub also sends snake_case copies of the message fields).
 */
export interface PushMessage {
  notificationType: string | undefined;
  /** The base64 text as posted ('' when absent). */
  data: string;
  messageId: string;
  publishTime: string | undefined;
}

/** A body that is not a Pub/Sub push request at all (answered 400). */
export class NotAPushRequest extends Error {}

/** A push whose `data` cannot be read (answered 200: a redelivery would carry the same bytes). */
export class UnreadableData extends Error {}

const str = (v: unknown) => (typeof v === 'string' ? v : undefined);

/** Reads the push request's JSON text; throws NotAPushRequest naming what is wrong. */
export function parsePushRequest(text: string): PushMessage {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new NotAPushRequest('the body is not JSON');
  }
  const message = (body as { message?: unknown } | null)?.message;
  if (!message || typeof message !== 'object' || Array.isArray(message))
    throw new NotAPushRequest('the body has no "message" object');
  const m = message as Record<string, unknown>;
  const messageId = str(m.messageId) ?? str(m.message_id) ?? '';
  // android_pubsub_messages.message_id is 128 characters wide; Pub/Sub's IDs are decimal numbers.
  if (!messageId || messageId.length > 128)
    throw new NotAPushRequest('the message has no usable "messageId"');
  const attributes = m.attributes;
  if (
    attributes !== undefined &&
    (typeof attributes !== 'object' || attributes === null || Array.isArray(attributes))
  )
    throw new NotAPushRequest('"message.attributes" is not an object');
  if (m.data !== undefined && typeof m.data !== 'string')
    throw new NotAPushRequest('"message.data" is not a string');
  return {
    notificationType: str((attributes as Record<string, unknown> | undefined)?.notificationType) || undefined,
    data: str(m.data) ?? '',
    messageId,
    publishTime: str(m.publishTime) ?? str(m.publish_time),
  };
}

const base64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** The AMAPI resource in `data`: standard base64 of a JSON object; throws UnreadableData. */
export function decodeResource(data: string): Record<string, unknown> {
  if (!data) throw new UnreadableData('"message.data" is empty');
  if (!base64.test(data)) throw new UnreadableData('"message.data" is not standard base64');
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(data, 'base64').toString('utf8'));
  } catch {
    throw new UnreadableData('"message.data" is not base64 of JSON');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed))
    throw new UnreadableData('"message.data" is not a JSON object');
  return parsed as Record<string, unknown>;
}
