import type { SecretBox } from '../crypto/secretbox.js';

type Json = Record<string, unknown>;

/** Marks a sealed string inside the stored document (older documents hold secrets in clear). */
const sealedPrefix = 'sealed:v1:';

/**
 * The secrets of the settings document, by where they sit: a path of keys, where `[]` walks every
 * element of a list. Everything else in the document is configuration, not secret.
 */
const secretPaths: string[][] = [
  ['smtp_settings', 'password'],
  ['integrations', 'jira', '[]', 'api_token'],
  ['integrations', 'zendesk', '[]', 'api_token'],
  ['integrations', 'google_calendar', '[]', 'api_key_json'],
  ['mdm', 'apple_account_provisioning', 'oauth_idp_client_secret'],
];

/** Rewrites each secret value found at `path` below `node` with `fn`. */
function visit(node: unknown, path: string[], fn: (v: unknown) => unknown): void {
  if (node === null || typeof node !== 'object') return;
  const [head, ...rest] = path;
  if (head === '[]') {
    if (Array.isArray(node)) for (const item of node) visit(item, rest, fn);
    return;
  }
  const obj = node as Json;
  if (!(head in obj)) return;
  if (rest.length === 0) obj[head] = fn(obj[head]);
  else visit(obj[head], rest, fn);
}

/** A copy of the document with every secret sealed (AES-256-GCM under the server key). */
export function sealSecrets(doc: Json, box: SecretBox): Json {
  const out = structuredClone(doc);
  for (const path of secretPaths) {
    visit(out, path, (v) => {
      if (v === null || v === undefined || v === '') return v;
      const text = typeof v === 'string' ? v : JSON.stringify(v);
      return sealedPrefix + box.seal(JSON.stringify({ v: typeof v === 'string' ? text : v })).toString();
    });
  }
  return out;
}

/** The document with its sealed secrets opened (clear values from older documents pass through). */
export function openSecrets(doc: Json, box: SecretBox): Json {
  for (const path of secretPaths) {
    visit(doc, path, (v) =>
      typeof v === 'string' && v.startsWith(sealedPrefix)
        ? (JSON.parse(box.open(v.slice(sealedPrefix.length)).toString('utf8')) as { v: unknown }).v
        : v,
    );
  }
  return doc;
}
