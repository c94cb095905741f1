import type { CertificateStatus } from './service.js';

/**
 * The certificates as `GET /config` shows them, in Fleet's style: `renew_date` is when the
 * certificate (or token) expires, as Fleet names it for the APNs certificate and ABM tokens;
 * `expired` and `expiring_soon` are the flags Fleet's UI derives from it (within 30 days).
 */
export function certificatesJson(list: CertificateStatus[], now = new Date(), soonDays = 30) {
  return list.map((c) => {
    const expired = c.notAfter !== null && c.notAfter.getTime() <= now.getTime();
    return {
      certificate: c.certificate,
      description: c.description,
      subject: c.subject,
      renew_date: c.notAfter ? c.notAfter.toISOString().replace(/\.\d{3}Z$/, 'Z') : null,
      days_left: c.daysLeft,
      expired,
      expiring_soon: !expired && c.daysLeft !== null && c.daysLeft <= soonDays,
      ...(c.devices
        ? {
            devices: c.devices.count,
            devices_expiring_soon: c.devices.expiringSoon,
            devices_expired: c.devices.expired,
          }
        : {}),
    };
  });
}
