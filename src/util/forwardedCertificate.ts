/**
 * Decodes a client certificate a TLS terminator forwards in a header: URL-escaped PEM (nginx
 * `$ssl_client_escaped_cert`, Envoy and most others), plain PEM, or RFC 9440 `:base64 DER:`.
 * Returns the DER; throws an Error saying what is wrong (never quoting the value).
 */
export function decodeForwardedCertificate(value: string): Buffer {
  let v = value.trim();
  if (v.startsWith(':') && v.endsWith(':') && v.length > 2) {
    const b64 = v.slice(1, -1);
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new Error('client certificate header is not base64');
    return Buffer.from(b64, 'base64');
  }
  if (v.includes('%')) {
    try {
      v = decodeURIComponent(v);
    } catch {
      throw new Error('client certificate header is not URL-escaped PEM');
    }
  }
  const m = /-----BEGIN CERTIFICATE-----([\s\S]+?)-----END CERTIFICATE-----/.exec(v);
  if (!m) throw new Error('client certificate header holds no certificate');
  const b64 = m[1].replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw new Error('client certificate header is not PEM');
  return Buffer.from(b64, 'base64');
}
