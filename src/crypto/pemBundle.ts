/**
 * PEM bundles: several certificates (or private keys) concatenated in one asset, as the retired
 * CAs of a rotation are kept. Keys are matched in any of the PEM forms OpenSSL writes (PKCS#1,
 * PKCS#8, SEC1), because an imported CA may bring any of them.
 */
export function certificatePems(bundle: string | undefined): string[] {
  return bundle?.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

export function privateKeyPems(bundle: string | undefined): string[] {
  return bundle?.match(/-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]+?-----END \1PRIVATE KEY-----/g) ?? [];
}

/** One bundle from its parts, each on its own lines; '' for none. */
export function joinPems(pems: string[]): string {
  return pems.length ? pems.map((p) => p.trim()).join('\n') + '\n' : '';
}

/** Certificate/key pairs from two bundles in the same order; throws when they do not pair up. */
export function pemPairs(
  certs: string | undefined,
  keys: string | undefined,
): { certPem: string; keyPem: string }[] {
  const c = certificatePems(certs);
  const k = privateKeyPems(keys);
  if (c.length !== k.length)
    throw new Error(`PEM bundles do not pair up: ${c.length} certificates, ${k.length} keys`);
  return c.map((certPem, i) => ({ certPem, keyPem: k[i] }));
}
