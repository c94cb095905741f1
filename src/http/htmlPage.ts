import { randomBytes } from 'node:crypto';

/*
 * The shell of the few small HTML pages the server renders itself (Apple SSO, the Android signup
 * callback and /enroll page): no request value reaches the HTML unescaped, and styles and scripts
 * run only with the page's per-response nonce.
 */

/** Text safe inside HTML content and quoted attribute values. */
export const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

/** What a page adds to the shell: its look and the CSP directives beyond scripts and styles. */
export interface PageShell {
  /** The page's stylesheet (no `<style>` element). */
  css: string;
  /** CSP directives other than script-src and style-src, in order. */
  csp: string[];
}

/** A rendered page and the Content-Security-Policy that goes with it. */
export interface RenderedPage {
  html: string;
  csp: string;
}

/** `body` (already escaped) and an optional inline `script` in the shell, with a fresh nonce. */
export function renderPage(shell: PageShell, title: string, body: string, script?: string): RenderedPage {
  const nonce = randomBytes(16).toString('base64');
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style nonce="${nonce}">
${shell.css}
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
  const [defaultSrc, ...rest] = shell.csp;
  const csp = [defaultSrc, `script-src 'nonce-${nonce}'`, `style-src 'nonce-${nonce}'`, ...rest].join('; ');
  return { html, csp };
}
