import QRCode from 'qrcode';
import { escapeHtml, htmlPage, type HtmlPage } from '../enterprise/html.js';
import type { AndroidEnrollmentToken } from './service.js';

/** The path of the end user's enrollment page (Fleet's `/enroll?enroll_secret=`). */
export const enrollPagePath = '/enroll';

/**
 * The setup QR code of a fully managed device, as inline SVG (drawn here: the page loads nothing
 * from elsewhere). It encodes Google's provisioning JSON unchanged.
 */
async function qrSvg(payload: string): Promise<string | undefined> {
  try {
    return await QRCode.toString(payload, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
  } catch {
    return undefined; // too long for a QR code: the page offers the link alone
  }
}

/**
 * `/enroll`: both ways onto Android management. A personal phone opens the enrollment link and gets
 * a work profile; a company-owned device being set up from factory reset scans the QR code (tap the
 * welcome screen six times) and becomes fully managed.
 */
export async function enrollPage(orgName: string, token: AndroidEnrollmentToken): Promise<HtmlPage> {
  const org = escapeHtml(orgName || 'your organization');
  const link = escapeHtml(token.url);
  const svg = token.qrCode ? await qrSvg(token.qrCode) : undefined;
  const companyOwned = svg
    ? `<p>On a new or factory-reset device, tap the welcome screen six times, connect to Wi-Fi when asked,
and scan this code:</p>
<div class="qr" id="qr-code">${svg}</div>`
    : `<p>On a new or factory-reset device, open this link from the device's setup when it asks for
an enrollment code or link:</p>
<p><a class="button" href="${link}">Enroll as a company device</a></p>`;
  const expires = token.expiresAt ? `<p>This link works once, until ${escapeHtml(token.expiresAt)}.</p>` : '';
  return htmlPage(
    200,
    `Enroll your Android device with ${orgName || 'your organization'}`,
    `<h1>Enroll your Android device with ${org}</h1>
<h2>Personal phone or tablet</h2>
<p>Open this page on the device and tap the button. Android adds a work profile: ${org} manages the work
apps and data in it, never your personal ones.</p>
<p><a class="button" id="enroll-link" href="${link}">Enroll this device</a></p>
<h2>Company-owned device</h2>
${companyOwned}
${expires}
<p>Enrollment code: <code>${escapeHtml(token.value)}</code></p>`,
  );
}

/** `/enroll` when it cannot offer an enrollment (unknown secret, Android MDM off, Google down). */
export function enrollErrorPage(status: number, reason: string): HtmlPage {
  return htmlPage(
    status,
    'Android enrollment unavailable',
    `<h1>This device cannot be enrolled from here</h1>
<p class="error">${escapeHtml(reason)}</p>
<p>Ask your IT administrator for a new enrollment link.</p>`,
  );
}
