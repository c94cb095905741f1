import { escapeHtml, renderPage, type PageShell } from '../http/htmlPage.js';

/*
 * The two small pages of end-user authentication that Fleet's web console serves (the console
 * comes later; these stand in until then): `/mdm/sso`, which Setup Assistant opens, and
 * `/mdm/sso/callback`, where the login ends. No value from a request reaches the HTML unescaped,
 * and scripts run only with the page's per-response nonce.
 */

export interface Page {
  html: string;
  /** The Content-Security-Policy that goes with this HTML. */
  csp: string;
}

/** A JSON value safe inside a <script> element. */
const scriptJson = (v: unknown) => JSON.stringify(v).replace(/</g, '\\u003c');

/** Where the browser keeps the device's machine info between the two pages. */
const deviceInfoKey = 'flotilla.mdm.deviceinfo';

/** The SSO pages' look and policy (the callback page posts back to this server). */
const shell: PageShell = {
  css: `body{font-family:-apple-system,system-ui,sans-serif;margin:0;padding:3rem 1.5rem;color:#192147;background:#fff}
main{max-width:32rem;margin:0 auto}
h1{font-size:1.4rem}
a.button,button{display:inline-block;padding:.6rem 1.2rem;border-radius:6px;border:0;background:#6a67fe;color:#fff;font-size:1rem;text-decoration:none;cursor:pointer}
.error{color:#d66c7b}`,
  csp: [
    "default-src 'none'",
    "connect-src 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ],
};

function page(title: string, body: string, script?: string): Page {
  return renderPage(shell, title, body, script);
}

/** `/mdm/sso`: asks the server for the IdP URL (`POST /api/v1/fleet/mdm/sso`) and goes there. */
export function ssoStartPage(initiatePath: string): Page {
  const body = `<h1>Sign in to set up this device</h1>
<p id="status">Taking you to your organization's sign-in page…</p>
<noscript><form method="post" action="${escapeHtml(initiatePath)}"><button type="submit">Continue</button></form></noscript>`;
  const script = `(async () => {
  const status = document.getElementById('status');
  const deviceinfo = new URLSearchParams(location.search).get('deviceinfo');
  try {
    if (deviceinfo) sessionStorage.setItem(${scriptJson(deviceInfoKey)}, deviceinfo);
    else sessionStorage.removeItem(${scriptJson(deviceInfoKey)});
  } catch (e) {}
  try {
    const res = await fetch(${scriptJson(initiatePath)}, {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    const answer = await res.json().catch(() => ({}));
    if (!res.ok || typeof answer.url !== 'string') {
      const reason = answer.errors && answer.errors[0] ? answer.errors[0].reason : res.statusText;
      throw new Error(reason || 'the server refused');
    }
    location.replace(answer.url);
  } catch (e) {
    status.className = 'error';
    status.textContent = 'Sign-in could not start: ' + e.message;
  }
})();`;
  return page('Sign in', body, script);
}

const tokenShape = /^[A-Za-z0-9-]{1,128}$/;

export interface CallbackQuery {
  error?: string;
  reason?: string;
  profile_token?: string;
  enrollment_reference?: string;
  eula_token?: string;
}

/**
 * `/mdm/sso/callback`: after a failed login, says so (and why, when the session expired) with a
 * way to start again; after a good one, shows the EULA (when there is one) and sends the browser
 * to the enrollment profile, `/api/mdm/apple/enroll?token=…&enrollment_reference=…`, with the
 * device's machine info (`deviceinfo`) when `/mdm/sso` was given it.
 */
export function ssoCallbackPage(
  q: CallbackQuery,
  paths: { start: string; enroll: string; eula: (token: string) => string },
): Page {
  const retry = `<p><a class="button" href="${escapeHtml(paths.start)}">Try again</a></p>`;
  if (q.error === 'true' || !q.profile_token || !q.enrollment_reference) {
    const message =
      q.reason === 'session_expired'
        ? 'Your sign-in session expired before it was completed. Please sign in again.'
        : 'Something went wrong while signing you in. Please try again or contact your IT administrator.';
    return page(
      'Sign-in failed',
      `<h1>Sign-in failed</h1>\n<p class="error">${escapeHtml(message)}</p>\n${retry}`,
    );
  }
  if (
    !tokenShape.test(q.profile_token) ||
    !tokenShape.test(q.enrollment_reference) ||
    (q.eula_token && !tokenShape.test(q.eula_token))
  ) {
    return page(
      'Sign-in failed',
      `<h1>Sign-in failed</h1>\n<p class="error">This link is not valid.</p>\n${retry}`,
    );
  }
  const enroll = `${paths.enroll}?${new URLSearchParams({
    token: q.profile_token,
    enrollment_reference: q.enrollment_reference,
  }).toString()}`;
  const addDeviceInfo = `const link = document.getElementById('enroll');
  let target = link.getAttribute('href');
  try {
    const deviceinfo = sessionStorage.getItem(${scriptJson(deviceInfoKey)});
    if (deviceinfo) target += '&deviceinfo=' + encodeURIComponent(deviceinfo);
  } catch (e) {}
  link.setAttribute('href', target);`;
  if (q.eula_token) {
    const body = `<h1>Terms and conditions</h1>
<p>Your organization asks you to read and agree to its <a id="eula" href="${escapeHtml(paths.eula(q.eula_token))}" target="_blank" rel="noopener">end user license agreement</a> before this device is set up.</p>
<p><a id="enroll" class="button" href="${escapeHtml(enroll)}">Agree and continue</a></p>`;
    return page('Terms and conditions', body, `(() => {\n  ${addDeviceInfo}\n})();`);
  }
  const body = `<h1>Setting up your device</h1>
<p>Downloading the enrollment profile… If nothing happens, <a id="enroll" href="${escapeHtml(enroll)}">continue here</a>.</p>`;
  return page(
    'Setting up your device',
    body,
    `(() => {\n  ${addDeviceInfo}\n  location.replace(target);\n})();`,
  );
}
