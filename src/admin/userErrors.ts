import { HttpError } from '../http/errors.js';

/**
 * Errors of the user-lifecycle endpoints worded as Fleet words them (its `passwordResetRequiredError`,
 * `PermissionError`, `AuthFailedError` and the mail service's "email not configured").
 */

/** 401 for a user who must choose a new password first (any endpoint but me, logout, the reset). */
export const passwordResetRequired = () =>
  new HttpError(401, 'password reset required', [{ name: 'base', reason: 'password reset required' }]);

/** 403 with Fleet's "Permission Denied" message. */
export const permissionDenied = (reason: string) =>
  new HttpError(403, 'Permission Denied', [{ name: 'base', reason }]);

/** 401 for a bad, used or expired password reset token (the reason tells no more than that). */
export const authFailed = () =>
  new HttpError(401, 'Authentication failed', [{ name: 'base', reason: 'Authentication failed' }]);

/** SMTP is off: nothing that must send mail can be done. */
export const emailNotConfigured = () =>
  new HttpError(500, 'email not configured', [{ name: 'base', reason: 'email not configured' }]);

/** The SMTP server refused or could not be reached (500, as Fleet answers); its reason is passed on. */
export const emailFailed = (reason: string) => {
  const text = `failed to send e-mail: ${reason}`;
  return new HttpError(500, text, [{ name: 'base', reason: text }]);
};
