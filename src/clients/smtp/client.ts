import nodemailer from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport/index.js';

/** One e-mail: a plain-text body and an HTML body of the same text. */
export interface MailMessage {
  to: string;
  subject: string;
  text: string;
  html: string;
}

/** What the services send mail through. */
export interface MailSender {
  /** Whether mail can be sent now (SMTP is turned on and has a server). */
  enabled(): Promise<boolean>;
  /** Sends one message; throws `MailNotConfiguredError` when mail is off, else the transport's error. */
  send(message: MailMessage): Promise<void>;
}

export class MailNotConfiguredError extends Error {
  constructor() {
    super('email not configured');
  }
}

/**
 * The SMTP settings, with Fleet's meaning (the app config's `smtp_settings`, see `smtpSettingsFrom`).
 */
export interface SmtpSettings {
  enableSmtp: boolean;
  senderAddress: string;
  server: string;
  port: number;
  /** `authtype_username_password` or `authtype_none`. */
  authenticationType: string;
  userName: string;
  password: string;
  /** `authmethod_plain`, `authmethod_login` or `authmethod_cram_md5`. */
  authenticationMethod: string;
  /** Implicit TLS from the first byte (SMTPS). */
  enableSslTls: boolean;
  verifySslCerts: boolean;
  /** Upgrade with STARTTLS when the server offers it. */
  enableStartTls: boolean;
  /** Name sent in EHLO; empty = the machine's host name. */
  domain: string;
}

/** Fleet's defaults for `smtp_settings` (SMTP off). */
export const defaultSmtpSettings: SmtpSettings = {
  enableSmtp: false,
  senderAddress: '',
  server: '',
  port: 587,
  authenticationType: 'authtype_username_password',
  userName: '',
  password: '',
  authenticationMethod: 'authmethod_plain',
  enableSslTls: true,
  verifySslCerts: true,
  enableStartTls: true,
  domain: '',
};

/**
 * Reads Fleet's `smtp_settings` object (from the app config document), tolerating its absence and
 * any missing or mistyped key by falling back to Fleet's default for that key.
 */
export function smtpSettingsFrom(appConfig: unknown): SmtpSettings {
  const raw = (appConfig as { smtp_settings?: unknown } | null | undefined)?.smtp_settings;
  const s = typeof raw === 'object' && raw !== null ? (raw as Record<string, unknown>) : {};
  const str = (k: string, d: string) => (typeof s[k] === 'string' ? (s[k] as string) : d);
  const bool = (k: string, d: boolean) => (typeof s[k] === 'boolean' ? (s[k] as boolean) : d);
  const port = typeof s.port === 'number' && s.port > 0 && s.port < 65536 ? s.port : 0;
  const d = defaultSmtpSettings;
  return {
    enableSmtp: bool('enable_smtp', d.enableSmtp),
    senderAddress: str('sender_address', d.senderAddress),
    server: str('server', d.server).trim(),
    port: port || d.port,
    authenticationType: str('authentication_type', d.authenticationType),
    userName: str('user_name', d.userName),
    password: str('password', d.password),
    authenticationMethod: str('authentication_method', d.authenticationMethod),
    enableSslTls: bool('enable_ssl_tls', d.enableSslTls),
    verifySslCerts: bool('verify_ssl_certs', d.verifySslCerts),
    enableStartTls: bool('enable_start_tls', d.enableStartTls),
    domain: str('domain', d.domain),
  };
}

const authMethods: Record<string, string> = {
  authmethod_plain: 'PLAIN',
  authmethod_login: 'LOGIN',
  authmethod_cram_md5: 'CRAM-MD5',
};

/** nodemailer's SMTP transport options for the settings. */
export function transportOptions(s: SmtpSettings): SMTPTransport.Options {
  const withAuth = s.authenticationType === 'authtype_username_password' && s.userName !== '';
  return {
    host: s.server,
    port: s.port,
    secure: s.enableSslTls,
    // Without STARTTLS the session stays in clear text even when the server offers the upgrade.
    ignoreTLS: !s.enableSslTls && !s.enableStartTls,
    tls: { rejectUnauthorized: s.verifySslCerts, servername: s.server },
    ...(s.domain ? { name: s.domain } : {}),
    ...(withAuth
      ? {
          auth: { user: s.userName, pass: s.password },
          authMethod: authMethods[s.authenticationMethod] ?? 'PLAIN',
        }
      : {}),
    connectionTimeout: 15_000,
    greetingTimeout: 15_000,
    socketTimeout: 30_000,
  };
}

/**
 * Sends mail over SMTP with nodemailer. The settings are read for every message (they live in the
 * app config and change at run time), and each message gets its own short connection: this server
 * sends a few invites and reset links, not bulk mail.
 */
export class SmtpMailSender implements MailSender {
  constructor(private readonly settings: () => Promise<SmtpSettings>) {}

  async enabled(): Promise<boolean> {
    const s = await this.settings();
    return s.enableSmtp && s.server !== '';
  }

  async send(message: MailMessage): Promise<void> {
    const s = await this.settings();
    if (!s.enableSmtp || s.server === '') throw new MailNotConfiguredError();
    const transport = nodemailer.createTransport(transportOptions(s));
    try {
      await transport.sendMail({
        from: s.senderAddress || undefined,
        to: message.to,
        subject: message.subject,
        text: message.text,
        html: message.html,
      });
    } finally {
      transport.close();
    }
  }
}
