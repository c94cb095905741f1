import type { MailMessage } from '../clients/smtp/client.js';

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function base(serverUrl: string): string {
  return serverUrl.replace(/\/+$/, '');
}

/** The link in an invite e-mail: the console's page that takes the token (as Fleet's). */
export function inviteLink(serverUrl: string, token: string): string {
  return `${base(serverUrl)}/login/invites/${encodeURIComponent(token)}`;
}

/** The link in a password reset e-mail (as Fleet's). */
export function passwordResetLink(serverUrl: string, token: string): string {
  return `${base(serverUrl)}/login/reset?token=${encodeURIComponent(token)}`;
}

/** "5 days", "24 hours", "90 minutes". */
export function durationText(minutes: number): string {
  const [n, unit] =
    minutes % 1440 === 0 && minutes >= 2880
      ? [minutes / 1440, 'day']
      : minutes % 60 === 0
        ? [minutes / 60, 'hour']
        : [minutes, 'minute'];
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

function page(paragraphs: string[], link: { href: string; label: string }): string {
  const body = paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('\n');
  const href = escapeHtml(link.href);
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8"></head>
<body>
${body}
<p><a href="${href}">${escapeHtml(link.label)}</a></p>
<p>${href}</p>
</body></html>
`;
}

export function inviteEmail(opts: {
  to: string;
  serverUrl: string;
  token: string;
  orgName: string;
  invitedBy: string;
  validMinutes: number;
}): MailMessage {
  const link = inviteLink(opts.serverUrl, opts.token);
  const where = opts.orgName ? `${opts.orgName}'s Fleet server` : 'a Fleet server';
  const lines = [
    `${opts.invitedBy} invited you to ${where}.`,
    `Open the link below to choose your name and password. It works once and expires in ${durationText(opts.validMinutes)}.`,
  ];
  return {
    to: opts.to,
    subject: 'You have been invited to Fleet!',
    text: `${lines.join('\n\n')}\n\n${link}\n`,
    html: page(lines, { href: link, label: 'Accept the invitation' }),
  };
}

export function passwordResetEmail(opts: {
  to: string;
  serverUrl: string;
  token: string;
  validMinutes: number;
}): MailMessage {
  const link = passwordResetLink(opts.serverUrl, opts.token);
  const lines = [
    'Someone asked to reset the password of your Fleet account.',
    `Open the link below to choose a new one. It works once and expires in ${durationText(opts.validMinutes)}. If you did not ask for this, ignore this e-mail: nothing has changed.`,
  ];
  return {
    to: opts.to,
    subject: 'Reset Your Fleet Password',
    text: `${lines.join('\n\n')}\n\n${link}\n`,
    html: page(lines, { href: link, label: 'Reset password' }),
  };
}
