import type { FastifyInstance, FastifyReply } from 'fastify';

/**
 * The two web pages of MS-MDE2 federated and Entra enrollment, which Windows opens in its broker
 * window: the terms of use (`/tos`, Entra's MDM app points at it) and the federated sign-in page
 * (`/auth`, the AuthenticationServiceUrl of a Federated discovery answer). Both hand control back
 * to Windows through a URL Windows gave, so that URL is checked against Windows' own schemes: any
 * other target would make these pages an open redirect.
 */
export const windowsPagePaths = {
  tos: '/api/mdm/microsoft/tos',
  auth: '/api/mdm/microsoft/auth',
} as const;

/** Where Windows' Entra broker asks to be sent back after the terms of use. */
const tosRedirect =
  /^(ms-appx-web:\/\/microsoft\.aad\.brokerplugin|ms-aadj-redir:\/\/auth\/mdm)(\/[^?#]*)?$/i;
/** Where Windows' Settings app asks for the federated sign-in result. */
const authReturn = /^(ms-app:\/\/windows\.immersivecontrolpanel|ms-appx-web:\/\/[a-z0-9.]+)(\/[^?#]*)?$/i;

/**
 * Discovery never offers Federated sign-in, so this page exists for clients that probe it; the
 * token it posts back is refused at enrollment (programmatic and Entra enrollment need none).
 */
export const federatedSignInNotSupported = 'federated-sign-in-not-supported';

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function page(reply: FastifyReply, status: number, title: string, body: string) {
  return reply
    .status(status)
    .header('content-type', 'text/html; charset=utf-8')
    .header(
      'content-security-policy',
      "default-src 'none'; style-src 'unsafe-inline'; form-action ms-app: ms-appx-web:",
    )
    .header('x-frame-options', 'DENY')
    .send(
      `<!DOCTYPE html><html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head>` +
        `<body style="font-family:sans-serif;max-width:36em;margin:2em auto">${body}</body></html>`,
    );
}

function single(v: unknown): string | undefined {
  return typeof v === 'string' && v.length <= 2048 ? v : undefined;
}

export interface WindowsPageOptions {
  /** Whether Windows MDM is on (both pages answer 400 while it is off). */
  enabled(): Promise<boolean>;
  orgName(): Promise<string>;
}

/** Registers the pages in their own plugin: HTML answers, not SOAP faults. */
export function windowsEnrollmentPages(opts: WindowsPageOptions) {
  return async (scope: FastifyInstance) => {
    const refuse = (reply: FastifyReply, reason: string) =>
      page(
        reply,
        400,
        'Enrollment not possible',
        `<h3>Enrollment not possible</h3><p>${escapeHtml(reason)}</p>`,
      );

    scope.get(windowsPagePaths.tos, async (req, reply) => {
      const q = (req.query ?? {}) as Record<string, unknown>;
      if (!(await opts.enabled())) return refuse(reply, "Windows MDM isn't turned on on this server.");
      const redirect = single(q.redirect_uri);
      if (!redirect || !tosRedirect.test(redirect))
        return refuse(reply, 'redirect_uri is missing or not a Windows address.');
      const requestId = single(q['client-request-id']) ?? '';
      const back = (params: Record<string, string>) =>
        `${redirect}?${new URLSearchParams({ ...params, 'client-request-id': requestId }).toString()}`;
      const org = (await opts.orgName()) || 'your organization';
      return page(
        reply,
        200,
        'Terms of use',
        `<h3>${escapeHtml(org)}: device management</h3>` +
          `<p>Enrolling lets ${escapeHtml(org)} manage settings, apps and security on this device.</p>` +
          `<p><a href="${escapeHtml(back({ IsAccepted: 'true', OpaqueBlob: 'flotilla-terms-accepted' }))}">Accept</a> ` +
          `<a href="${escapeHtml(back({ IsAccepted: 'false', error: 'access_denied', error_description: 'The user declined the terms of use.' }))}">Decline</a></p>`,
      );
    });

    scope.get(windowsPagePaths.auth, async (req, reply) => {
      const q = (req.query ?? {}) as Record<string, unknown>;
      if (!(await opts.enabled())) return refuse(reply, "Windows MDM isn't turned on on this server.");
      const appru = single(q.appru);
      if (!appru || !authReturn.test(appru))
        return refuse(reply, 'appru is missing or not a Windows address.');
      return page(
        reply,
        200,
        'Sign in',
        `<h3>Sign in</h3><p>This server enrolls Windows devices through fleetd or Microsoft Entra ID; ` +
          `federated sign-in is not offered.</p>` +
          `<form method="post" action="${escapeHtml(appru)}">` +
          `<input type="hidden" name="wresult" value="${federatedSignInNotSupported}">` +
          `<input type="submit" value="Continue"></form>`,
      );
    });
  };
}
