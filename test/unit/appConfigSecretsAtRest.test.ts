import { describe, expect, it } from 'vitest';
import { openSecrets, sealSecrets } from '../../src/appconfig/secretsAtRest.js';
import { SecretBox } from '../../src/crypto/secretbox.js';

const box = new SecretBox('unit-test-server-key-0123456789abcdef');

describe('settings secrets at rest', () => {
  const doc = {
    org_info: { org_name: 'Acme' },
    smtp_settings: { server: 'smtp.example.com', password: 'smtp-pass-1' },
    integrations: {
      jira: [{ url: 'https://j.example', api_token: 'jira-token-1' }],
      zendesk: [],
      google_calendar: [{ domain: 'example.com', api_key_json: { private_key: 'gcal-key-1' } }],
    },
    mdm: { apple_account_provisioning: { oauth_idp_client_secret: null } },
  };

  it('seals every secret, leaves the rest readable, and opens back to the same document', () => {
    const sealed = sealSecrets(doc, box);
    const text = JSON.stringify(sealed);
    for (const secret of ['smtp-pass-1', 'jira-token-1', 'gcal-key-1']) expect(text).not.toContain(secret);
    expect(text).toContain('smtp.example.com');
    expect(text).toContain('Acme');
    expect(sealed.mdm).toEqual(doc.mdm);
    expect(openSecrets(sealed, box)).toEqual(doc);
    // The input is not changed in place.
    expect(doc.smtp_settings.password).toBe('smtp-pass-1');
  });

  it('reads documents written before sealing, and refuses a sealed value under another key', () => {
    expect(openSecrets(structuredClone(doc), box)).toEqual(doc);
    const sealed = sealSecrets(doc, box);
    expect(() => openSecrets(sealed, new SecretBox('another-server-key-0123456789abcdef'))).toThrow();
  });
});
