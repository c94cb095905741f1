import { escapeHtml, renderPage, type PageShell } from '../../http/htmlPage.js';

/*
 * The few browser pages the Android flow serves itself (the signup callback, the end user's
 * /enroll page). No request value reaches the HTML unescaped; scripts and styles run only with the
 * page's per-response nonce.
 */

export interface HtmlPage {
  status: number;
  html: string;
  /** The Content-Security-Policy that goes with this HTML. */
  csp: string;
}

export { escapeHtml };

/** The Android pages' look and policy (they show a QR code as an inline SVG or data: image). */
const shell: PageShell = {
  css: `body{font-family:-apple-system,system-ui,sans-serif;margin:0;padding:2rem 1.25rem;color:#192147;background:#fff}
main{max-width:34rem;margin:0 auto}
h1{font-size:1.4rem}
h2{font-size:1.1rem;margin-top:2rem}
a.button{display:inline-block;padding:.6rem 1.2rem;border-radius:6px;background:#6a67fe;color:#fff;text-decoration:none}
.qr svg{width:18rem;max-width:100%;height:auto}
.error{color:#b03a4b}
code{word-break:break-all}`,
  csp: [
    "default-src 'none'",
    "img-src 'self' data:",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ],
};

export function htmlPage(status: number, title: string, body: string, script?: string): HtmlPage {
  return { status, ...renderPage(shell, title, body, script) };
}
