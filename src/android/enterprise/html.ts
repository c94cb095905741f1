import { randomBytes } from 'node:crypto';

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

export const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export function htmlPage(status: number, title: string, body: string, script?: string): HtmlPage {
  const nonce = randomBytes(16).toString('base64');
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style nonce="${nonce}">
body{font-family:-apple-system,system-ui,sans-serif;margin:0;padding:2rem 1.25rem;color:#192147;background:#fff}
main{max-width:34rem;margin:0 auto}
h1{font-size:1.4rem}
h2{font-size:1.1rem;margin-top:2rem}
a.button{display:inline-block;padding:.6rem 1.2rem;border-radius:6px;background:#6a67fe;color:#fff;text-decoration:none}
.qr svg{width:18rem;max-width:100%;height:auto}
.error{color:#b03a4b}
code{word-break:break-all}
</style>
</head>
<body>
<main>
${body}
</main>
${script ? `<script nonce="${nonce}">\n${script}\n</script>` : ''}
</body>
</html>
`;
  const csp = [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    `style-src 'nonce-${nonce}'`,
    "img-src 'self' data:",
    "frame-ancestors 'none'",
    "base-uri 'none'",
    "form-action 'none'",
  ].join('; ');
  return { status, html, csp };
}
