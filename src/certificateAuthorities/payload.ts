import { z } from 'zod';

/**
 * Request bodies of the certificate-authority API, as Fleet's JSON has them: one key per CA type,
 * exactly one of which a request may carry. Missing strings read as empty so that Fleet's own
 * validation messages answer them; unknown keys are refused.
 */
const text = z.string().default('');
/** PATCH fields: absent or null leaves the value as it is. */
const change = z.string().nullish();

/** CA types Fleet has that this server does not proxy: refused with a clear 400. */
export const unsupportedCaTypes = {
  digicert: 'DigiCert',
  hydrant: 'Hydrant',
  smallstep: 'Smallstep',
  custom_est_proxy: 'custom EST',
} as const;
export type UnsupportedCaType = keyof typeof unsupportedCaTypes;

const unsupported = z.unknown().optional();

export const createCertificateAuthorityBody = z
  .object({
    ndes_scep_proxy: z
      .object({ name: text, url: text, admin_url: text, username: text, password: text })
      .strict()
      .optional(),
    custom_scep_proxy: z.object({ name: text, url: text, challenge: text }).strict().optional(),
    digicert: unsupported,
    hydrant: unsupported,
    smallstep: unsupported,
    custom_est_proxy: unsupported,
  })
  .strict();
export type CreateCertificateAuthorityPayload = z.infer<typeof createCertificateAuthorityBody>;

export const updateCertificateAuthorityBody = z
  .object({
    ndes_scep_proxy: z
      .object({ name: change, url: change, admin_url: change, username: change, password: change })
      .strict()
      .optional(),
    custom_scep_proxy: z.object({ name: change, url: change, challenge: change }).strict().optional(),
    digicert: unsupported,
    hydrant: unsupported,
    smallstep: unsupported,
    custom_est_proxy: unsupported,
  })
  .strict();
export type UpdateCertificateAuthorityPayload = z.infer<typeof updateCertificateAuthorityBody>;

/** The CA type keys a body carries (unsupported ones included), in Fleet's order of checking. */
export function typesIn(body: Record<string, unknown>): string[] {
  return [
    'digicert',
    'hydrant',
    'custom_est_proxy',
    'ndes_scep_proxy',
    'custom_scep_proxy',
    'smallstep',
  ].filter((k) => body[k] !== undefined && body[k] !== null);
}
