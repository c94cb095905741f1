/**
 * What the contract fixtures need in the server before their request: users, teams, labels,
 * enrolled hosts, profiles, commands. Everything goes through Flotilla's own API (or the simulated
 * device), with names made unique per fixture, so fixtures do not depend on each other or on order.
 * Server-wide setup (the admin, the APNs certificate, SMTP) is made once per server; every fixture
 * asks for all of it first (`baseline`), so a fixture run alone finds the server as it would after
 * any other fixtures.
 */
import { randomBytes } from 'node:crypto';
import type { FakeSmtpServer } from '../../src/clients/smtp/fakeServer.js';
import type { SimulatedAppleDevice } from '../../src/apple/sim/device.js';
import { AbmTokenStore } from '../../src/apple/dep/tokenStore.js';
import { FakeIdp } from '../../src/clients/saml/fakeIdp.js';
import { api, setupAdmin } from '../helpers/api.js';
import { installPushCertificate, makePushCertificate } from '../helpers/apns.js';
import { enrolledDevice, testTopic } from '../helpers/appleDevice.js';
import { converge, mobileconfig, uploadProfile } from '../helpers/profiles.js';
import type { TestServer } from '../helpers/testServer.js';

export type Vars = Record<string, string | number>;

const v1 = '/api/v1/fleet';

/** A ProfileList command as `POST /commands/run` takes it (the server adds the CommandUUID). */
const profileListCommand = `<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0"><dict><key>Command</key><dict><key>RequestType</key><string>ProfileList</string></dict></dict></plist>`;

function must<T>(res: { status: number; text: string; body: T }, what: string, status = 200): T {
  if (res.status !== status) throw new Error(`seed ${what}: ${res.status} ${res.text.slice(0, 400)}`);
  return res.body;
}

/** Server-wide state, made once per server on first need. */
export class ServerSeeds {
  private admin?: Promise<string>;
  private apns?: Promise<void>;
  private smtpOn?: Promise<void>;
  readonly devices = new Map<number, SimulatedAppleDevice>();

  constructor(
    readonly srv: TestServer,
    private readonly smtp: FakeSmtpServer,
  ) {}

  /**
   * What every fixture finds, whatever ran before it on the same server: the admin, Apple MDM on
   * (the APNs certificate) and mail configured, as on the Fleet the doc examples come from. Each
   * part is made once per server: asking again waits for the same promise.
   */
  async baseline(): Promise<void> {
    await this.adminToken();
    await this.ensureApns();
    await this.ensureSmtp();
  }

  adminToken(): Promise<string> {
    this.admin ??= setupAdmin(this.srv);
    return this.admin;
  }

  /** The APNs certificate for the simulated devices' topic: Apple MDM on. */
  ensureApns(): Promise<void> {
    this.apns ??= installPushCertificate(this.srv.app.services, { topic: testTopic }).then(() => undefined);
    return this.apns;
  }

  /** App config's SMTP settings pointed at the local SMTP stand-in. */
  ensureSmtp(): Promise<void> {
    this.smtpOn ??= this.srv.app.services.appConfig
      .patch({
        smtp_settings: {
          enable_smtp: true,
          sender_address: 'fleet@example.com',
          server: this.smtp.host,
          port: this.smtp.port,
          authentication_type: 'authtype_none',
          enable_ssl_tls: false,
          enable_start_tls: false,
          verify_ssl_certs: false,
        },
      })
      .then(() => undefined);
    return this.smtpOn;
  }

  /** The token in the first link `<marker><token>` of the mail sent to `to`. */
  async mailedToken(to: string, marker: string): Promise<string> {
    const mail = await this.smtp.waitFor((m) => m.envelopeTo.includes(to.toLowerCase()), 10_000);
    const i = mail.text.indexOf(marker);
    if (i < 0) throw new Error(`no ${marker} link in the mail to ${to}`);
    const m = /^[A-Za-z0-9_%-]+/.exec(mail.text.slice(i + marker.length));
    if (!m) throw new Error(`no token after ${marker}`);
    return decodeURIComponent(m[0]);
  }

  /** Runs the named seed steps in order, filling `vars`. */
  async run(steps: string[], vars: Vars): Promise<void> {
    for (const step of steps) {
      const fn = this.steps[step];
      if (!fn) throw new Error(`unknown seed step ${step}`);
      await fn(vars);
    }
  }

  private async call(method: string, path: string, body?: unknown, token?: string) {
    return api(this.srv, method, path, { token: token ?? (await this.adminToken()), body });
  }

  private async createUser(vars: Vars, prefix: string, extra: Record<string, unknown> = {}) {
    const email = `${prefix.replace(/_/g, '-')}-${vars.uniq}@example.com`;
    const password = `User-pass-${vars.uniq}-1!`;
    const body = must(
      await this.call('POST', `${v1}/users/admin`, {
        name: `User ${prefix} ${vars.uniq}`,
        email,
        password,
        global_role: 'observer',
        ...extra,
      }),
      'user',
    ) as { user: { id: number } };
    vars[`${prefix}_id`] = body.user.id;
    vars[`${prefix}_email`] = email;
    vars[`${prefix}_password`] = password;
  }

  /**
   * A session for a user, as a login would open it, written through the user store: `POST /login`
   * is rate limited per client address, and only the login fixtures need to go through it.
   */
  private async session(userId: string | number): Promise<string> {
    const token = randomBytes(24).toString('base64');
    await this.srv.app.services.userStore.createSession(Number(userId), token);
    return token;
  }

  private async createTeam(vars: Vars, prefix: string) {
    const name = `${prefix.replace(/_/g, '-')}-${vars.uniq}`;
    const body = must(await this.call('POST', `${v1}/teams`, { name }), 'team') as { team: { id: number } };
    vars[`${prefix}_id`] = body.team.id;
    vars[`${prefix}_name`] = name;
  }

  private async createLabel(vars: Vars, prefix: string, body: Record<string, unknown>) {
    const name = `${prefix.replace(/_/g, '-')}-${vars.uniq}`;
    const res = must(await this.call('POST', `${v1}/labels`, { name, ...body }), 'label') as {
      label: { id: number };
    };
    vars[`${prefix}_id`] = res.label.id;
    vars[`${prefix}_name`] = name;
  }

  private async createProfile(vars: Vars, labels: Record<string, string | string[]> = {}) {
    const token = await this.adminToken();
    await this.ensureApns();
    const fields: Record<string, string | string[]> = { ...labels };
    if (vars.team_id !== undefined) fields.team_id = String(vars.team_id);
    const res = await uploadProfile(
      this.srv,
      token,
      {
        name: `profile-${vars.uniq}.mobileconfig`,
        bytes: mobileconfig(`com.example.contract.${vars.uniq}`, `Contract profile ${vars.uniq}`),
      },
      fields,
    );
    if (res.status !== 200) throw new Error(`seed profile: ${res.status} ${JSON.stringify(res.body)}`);
    vars.profile_uuid = res.body.profile_uuid;
  }

  private device(vars: Vars): SimulatedAppleDevice {
    const d = this.devices.get(Number(vars.host_id));
    if (!d) throw new Error('seed: no host seeded before this step');
    return d;
  }

  readonly steps: Record<string, (vars: Vars) => Promise<void>> = {
    smtp: () => this.ensureSmtp(),
    apns: () => this.ensureApns(),

    user: (vars) => this.createUser(vars, 'user'),
    user_b: (vars) => this.createUser(vars, 'user_b'),
    /** Users with no global role (a role in `team_b_id` only), so they can be given team roles. */
    team_b_user: (vars) =>
      this.createUser(vars, 'user', { global_role: null, teams: [{ id: vars.team_b_id, role: 'observer' }] }),
    team_b_user_b: (vars) =>
      this.createUser(vars, 'user_b', {
        global_role: null,
        teams: [{ id: vars.team_b_id, role: 'observer' }],
      }),
    /** A user with a role in `team_id` only. */
    team_user: async (vars) =>
      this.createUser(vars, 'team_user', {
        global_role: null,
        teams: [{ id: vars.team_id, role: 'maintainer' }],
      }),
    user_session: async (vars) => {
      vars.user_token = await this.session(vars.user_id);
    },
    /** The id of the session `user_session` opened (the newest of the user's sessions). */
    session_id: async (vars) => {
      const body = must(await this.call('GET', `${v1}/users/${vars.user_id}/sessions`), 'sessions') as {
        sessions: { session_id: number }[];
      };
      const ids = body.sessions.map((s) => s.session_id);
      if (!ids.length) throw new Error('seed session_id: the user has no session');
      vars.session_id = Math.max(...ids);
    },
    /** A user that must change their password, logged in. */
    user_forced_reset: async (vars) => {
      await this.createUser(vars, 'user', { admin_forced_password_reset: true });
      vars.user_token = await this.session(vars.user_id);
    },
    /** A password reset link mailed to `user`: its token. */
    reset_token: async (vars) => {
      const res = await api(this.srv, 'POST', `${v1}/forgot_password`, { body: { email: vars.user_email } });
      if (res.status >= 300) throw new Error(`seed reset_token: ${res.status} ${res.text}`);
      vars.reset_token = await this.mailedToken(String(vars.user_email), '/login/reset?token=');
    },
    invite: async (vars) => {
      const email = `invitee-${vars.uniq}@example.com`;
      const body = must(
        await this.call('POST', `${v1}/invites`, {
          email,
          name: `Invitee ${vars.uniq}`,
          global_role: 'observer',
        }),
        'invite',
      ) as { invite: { id: number } };
      vars.invite_id = body.invite.id;
      vars.invite_email = email;
      vars.invite_token = await this.mailedToken(email, '/login/invites/');
    },

    team: (vars) => this.createTeam(vars, 'team'),
    team_b: (vars) => this.createTeam(vars, 'team_b'),
    team_secret: async (vars) => {
      vars.team_secret = `team-secret-${vars.uniq}`;
      must(
        await this.call('PATCH', `${v1}/teams/${vars.team_id}/secrets`, {
          secrets: [{ secret: vars.team_secret }],
        }),
        'team secret',
      );
    },
    /** The team's MDM settings as the Get team example shows them (OS updates, custom settings). */
    team_mdm_settings: async (vars) => {
      must(
        await this.call('PATCH', `${v1}/teams/${vars.team_id}`, {
          mdm: {
            macos_updates: { minimum_version: '12.3.1', deadline: '2022-01-01' },
            windows_updates: { deadline_days: 5, grace_period_days: 1 },
            macos_settings: {
              custom_settings: [{ path: 'path/to/profile1.mobileconfig', labels: ['Label 1', 'Label 2'] }],
            },
            windows_settings: {
              custom_settings: [{ path: 'path/to/profile2.xml', labels: ['Label 3', 'Label 4'] }],
            },
          },
        }),
        'team mdm settings',
      );
    },
    global_secret: async (vars) => {
      must(
        await this.call('POST', `${v1}/spec/enroll_secret`, {
          spec: { secrets: [{ secret: `global-secret-${vars.uniq}` }] },
        }),
        'global secret',
      );
    },

    label: (vars) => this.createLabel(vars, 'label', { query: 'SELECT 1;' }),
    label_b: (vars) => this.createLabel(vars, 'label_b', { query: 'SELECT 1;' }),
    /** A manual label holding the seeded host. */
    manual_label: (vars) => this.createLabel(vars, 'manual_label', { hosts: [String(vars.host_uuid)] }),
    manual_label_b: (vars) => this.createLabel(vars, 'manual_label_b', { hosts: [String(vars.host_uuid)] }),
    manual_label_empty: (vars) => this.createLabel(vars, 'manual_label', { hosts: [] }),
    manual_label_empty_b: (vars) => this.createLabel(vars, 'manual_label_b', { hosts: [] }),

    /** A Mac enrolled in MDM by the simulated device (Authenticate + TokenUpdate). */
    host: async (vars) => {
      await this.ensureApns();
      await this.adminToken();
      const device = await enrolledDevice(this.srv, { serial: `C02${String(vars.uniq).toUpperCase()}` });
      const row = await this.srv.app.services.database.db
        .selectFrom('hosts')
        .select(['id', 'hostname'])
        .where('uuid', '=', device.udid)
        .executeTakeFirstOrThrow();
      vars.host_id = Number(row.id);
      vars.host_uuid = device.udid;
      vars.host_serial = device.serial;
      vars.hostname = row.hostname || device.serial;
      this.devices.set(vars.host_id, device);
    },
    host_in_team: async (vars) => {
      must(
        await this.call('POST', `${v1}/hosts/transfer`, { team_id: vars.team_id, hosts: [vars.host_id] }),
        'transfer',
      );
    },
    /** An activity about the host (locking it records one). */
    host_activity: async (vars) => {
      const res = await this.call('POST', `${v1}/hosts/${vars.host_id}/lock`);
      if (res.status >= 300) throw new Error(`seed host_activity: ${res.status} ${res.text}`);
    },
    /** The host locked, the lock acknowledged by the device. */
    host_locked: async (vars) => {
      const res = await this.call('POST', `${v1}/hosts/${vars.host_id}/lock`);
      if (res.status >= 300) throw new Error(`seed host_locked: ${res.status} ${res.text}`);
      await this.device(vars).connect();
    },

    /** A profile in `team_id` (or No team). */
    profile: (vars) => this.createProfile(vars),
    profile_exclude_label: (vars) =>
      this.createProfile(vars, { labels_exclude_any: String(vars.label_name) }),
    profile_include_labels: (vars) =>
      this.createProfile(vars, { labels_include_all: [String(vars.label_name), String(vars.label_b_name)] }),
    /** A profile in the seeded host's team. */
    profile_for_host: (vars) => this.createProfile(vars),
    /** The profile manager has sent the host its profiles and the device has installed them. */
    host_profile_installed: async (vars) => {
      await converge(this.srv, [this.device(vars)], 3);
    },

    profile_list_command_b64: async (vars) => {
      vars.command_b64 = Buffer.from(profileListCommand).toString('base64');
    },
    command: async (vars) => {
      const body = must(
        await this.call('POST', `${v1}/commands/run`, {
          command: Buffer.from(profileListCommand).toString('base64'),
          host_uuids: [vars.host_uuid],
        }),
        'command',
      ) as { command_uuid: string };
      vars.command_uuid = body.command_uuid;
    },
    /** The device takes its queued commands and acknowledges them. */
    command_acked: async (vars) => {
      await this.device(vars).connect();
    },

    /** A renewal of the installed APNs certificate (same key, same topic). */
    apns_renewal: async (vars) => {
      await this.ensureApns();
      const key = await this.srv.app.services.assets.getOne('apns_key', { fresh: true });
      vars.apns_cert_pem = makePushCertificate({ topic: testTopic, keyPem: key!.toString('utf8') }).certPem;
    },

    /**
     * An ABM token stored as an upload stores it (sealed credentials; Apple is not asked), with
     * `team_id` as its default macOS team when that was seeded.
     */
    abm_token: async (vars) => {
      const { database, box } = this.srv.app.services;
      const store = new AbmTokenStore(database.db);
      const id = await store.insert({
        organization_name: `ABM ${vars.uniq}`,
        apple_id: `abm-${vars.uniq}@example.com`,
        renew_at: '2030-01-01 00:00:00.000',
        token: box.seal(JSON.stringify({ consumer_key: `CK_${vars.uniq}`, consumer_secret: 'x' })),
      });
      if (vars.team_id !== undefined) {
        await store.setDefaultTeams(id, { macos: Number(vars.team_id), ios: null, ipados: null });
      }
      vars.abm_token_id = id;
    },

    /** No EULA stored (the EULA is one per server). */
    no_eula: async () => {
      await this.srv.app.services.database.db.deleteFrom('eulas').execute();
    },
    /** A EULA uploaded through the API (replacing any stored one); its token in `eula_token`. */
    eula: async (vars) => {
      await this.srv.app.services.database.db.deleteFrom('eulas').execute();
      const form = new FormData();
      form.append('eula', new Blob([new TextEncoder().encode('%PDF-1.4\n%%EOF\n')]), 'eula.pdf');
      const res = await fetch(`${this.srv.url}${v1}/setup_experience/eula`, {
        method: 'POST',
        headers: { authorization: `Bearer ${await this.adminToken()}` },
        body: form,
      });
      must({ status: res.status, text: await res.text(), body: undefined }, 'eula');
      const meta = must(await this.call('GET', `${v1}/setup_experience/eula/metadata`), 'eula metadata');
      vars.eula_token = (meta as { token: string }).token;
    },
    /** End-user authentication's IdP configured (metadata of an IdP that is never reached). */
    mdm_sso_idp: async () => {
      const idp = new FakeIdp({ baseUrl: 'https://idp.example.com', entityId: 'https://idp.example.com' });
      const eua = {
        entity_id: 'https://flotilla.example.com/mdm-sso',
        idp_name: 'Example IdP',
        metadata: idp.metadataXml(),
        metadata_url: '',
      };
      must(
        await this.call('PATCH', `${v1}/config`, { mdm: { end_user_authentication: eua } }),
        'mdm_sso_idp',
      );
    },
  };
}

export function newVars(): Vars {
  return {
    uniq: randomBytes(4).toString('hex'),
    uniq12: randomBytes(6).toString('hex').toUpperCase(),
  };
}
