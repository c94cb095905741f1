/**
 * Characters no download name keeps: C0 and C1 controls (CR and LF included) and DEL, the path
 * separators `/` and `\`, and the bidirectional marks and overrides that can disguise an extension.
 */
function unsafe(cp: number): boolean {
  return (
    cp < 0x20 ||
    (cp >= 0x7f && cp <= 0x9f) ||
    cp === 0x2f ||
    cp === 0x5c ||
    cp === 0x200e ||
    cp === 0x200f ||
    (cp >= 0x202a && cp <= 0x202e) ||
    (cp >= 0x2066 && cp <= 0x2069)
  );
}

/** RFC 8187 attr-char: what `filename*` may carry unencoded. */
const attrChar = /^[A-Za-z0-9!#$&+\-.^_`|~]$/;

function percentEncodeUtf8(s: string): string {
  let out = '';
  // Buffer.from turns lone surrogates into U+FFFD, so this never throws (encodeURIComponent would).
  for (const byte of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += byte < 0x80 && attrChar.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * A `Content-Disposition: attachment` value for any file name (RFC 6266). Control characters,
 * path separators, bidi overrides and leading dots and spaces are dropped; then `filename` is an
 * ASCII fallback (quotes dropped, `%` and each non-ASCII character as `_`) and `filename*` the
 * UTF-8 name percent-encoded. The result is always a legal header value, so no name can fail a
 * response or inject a header.
 */
export function attachmentDisposition(filename: string): string {
  let clean = '';
  for (const ch of filename) if (!unsafe(ch.codePointAt(0)!)) clean += ch;
  clean = clean.replace(/^[.\s]+/, '').trimEnd() || 'download';
  let fallback = '';
  for (const ch of clean) fallback += ch.charCodeAt(0) < 0x80 ? ch : '_';
  fallback = fallback.replace(/"/g, '').replace(/%/g, '_') || 'download';
  return `attachment; filename="${fallback}"; filename*=UTF-8''${percentEncodeUtf8(clean)}`;
}
