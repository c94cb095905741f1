import { beforeAll, expect, it } from 'vitest';
import { federatedSignInNotSupported } from '../../src/windows/mde2/webPages.js';
import { describeEachDialect } from '../helpers/testServer.js';

const broker = 'ms-appx-web://Microsoft.AAD.BrokerPlugin';

describeEachDialect('Windows enrollment web pages (terms of use, federated sign-in)', (server) => {
  const get = async (path: string) => {
    const res = await fetch(`${server().url}${path}`);
    return {
      status: res.status,
      type: res.headers.get('content-type'),
      csp: res.headers.get('content-security-policy'),
      text: await res.text(),
    };
  };

  beforeAll(async () => {
    const srv = server();
    await srv.app.services.appConfig.patch({
      org_info: { org_name: 'Acme <Corp>' },
      mdm: { windows_enabled_and_configured: true },
    });
    srv.app.services.windows.invalidateEnabled();
  });

  it('serves the terms of use with Accept and Decline links back to the Entra broker', async () => {
    const res = await get(
      `/api/mdm/microsoft/tos?redirect_uri=${encodeURIComponent(broker)}&client-request-id=req-42`,
    );
    expect(res.status).toBe(200);
    expect(res.type).toBe('text/html; charset=utf-8');
    expect(res.csp).toContain("default-src 'none'");
    expect(res.text).toContain('Acme &lt;Corp&gt;');
    expect(res.text).toContain(
      `href="${broker}?IsAccepted=true&amp;OpaqueBlob=flotilla-terms-accepted&amp;client-request-id=req-42"`,
    );
    expect(res.text).toContain(`href="${broker}?IsAccepted=false&amp;error=access_denied&amp;`);
  });

  it('serves the federated sign-in page posting a placeholder result to Settings', async () => {
    const res = await get(
      '/api/mdm/microsoft/auth?appru=ms-app%3A%2F%2Fwindows.immersivecontrolpanel&login_hint=a%40b.c',
    );
    expect(res.status).toBe(200);
    expect(res.text).toContain('<form method="post" action="ms-app://windows.immersivecontrolpanel">');
    expect(res.text).toContain(`name="wresult" value="${federatedSignInNotSupported}"`);
  });

  it('refuses any other return address (no open redirect) and escapes what it shows', async () => {
    for (const path of [
      '/api/mdm/microsoft/tos',
      `/api/mdm/microsoft/tos?redirect_uri=${encodeURIComponent('https://evil.example/')}`,
      `/api/mdm/microsoft/tos?redirect_uri=${encodeURIComponent(`${broker}"><script>x()</script>`)}`,
      `/api/mdm/microsoft/tos?redirect_uri=${encodeURIComponent('javascript:alert(1)')}`,
      '/api/mdm/microsoft/auth?appru=https%3A%2F%2Fevil.example%2F',
      '/api/mdm/microsoft/auth',
    ]) {
      const res = await get(path);
      expect([path, res.status]).toEqual([path, 400]);
      expect(res.text).not.toContain('<script>');
      expect(res.text).not.toContain('evil.example');
    }
  });

  it('answers 400 while Windows MDM is off', async () => {
    const srv = server();
    await srv.app.services.appConfig.patch({ mdm: { windows_enabled_and_configured: false } });
    srv.app.services.windows.invalidateEnabled();
    try {
      const res = await get(`/api/mdm/microsoft/tos?redirect_uri=${encodeURIComponent(broker)}`);
      expect(res.status).toBe(400);
      expect(res.text).toContain('Windows MDM isn&#39;t turned on on this server.');
    } finally {
      await srv.app.services.appConfig.patch({ mdm: { windows_enabled_and_configured: true } });
      srv.app.services.windows.invalidateEnabled();
    }
  });
});
