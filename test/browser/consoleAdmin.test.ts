import { afterAll, beforeAll, expect, it } from 'vitest';
import type { Browser, Page } from 'playwright-core';
import { api, setupAdmin } from '../helpers/api.js';
import { launchChromium, logIn, openConsole, screenshot } from '../helpers/browser.js';
import { describeEachDialect } from '../helpers/testServer.js';

let browser: Browser;
beforeAll(async () => {
  browser = await launchChromium();
});
afterAll(async () => {
  await browser?.close();
});

const userPassword = 'user-password-1!';

/** The visible names of the buttons on the page's main content (not the header's Log out). */
async function buttonsOf(page: Page): Promise<string[]> {
  return (await page.locator('main button').allTextContents()).map((t) => t.trim());
}

describeEachDialect('console: teams, labels, users and activities in Chromium', (server) => {
  let admin: string;
  let teamId: number;

  it('creates a team with a secret, labels and a team user through the pages; refusals store nothing', async () => {
    const srv = server();
    const db = srv.app.services.database.db;
    admin = await setupAdmin(srv);
    const { page, context, problems } = await openConsole(browser, srv);
    await logIn(page);

    // Teams: create one, then a duplicate the server refuses in its own words.
    await page.getByRole('link', { name: 'Teams' }).click();
    await page.getByRole('heading', { name: 'Teams', level: 1 }).waitFor();
    const createTeam = page.getByRole('form', { name: 'Create team' });
    await createTeam.getByLabel('Team name').fill('Engineering');
    await createTeam.getByLabel('Description').fill('Developer laptops');
    await createTeam.getByRole('button', { name: 'Create team' }).click();
    await page.getByRole('heading', { name: 'Engineering', level: 2 }).waitFor();
    const teams = await api(srv, 'GET', '/api/latest/fleet/teams', { token: admin });
    expect(
      teams.body.teams.map((t: { name: string; description: string }) => [t.name, t.description]),
    ).toEqual([['Engineering', 'Developer laptops']]);
    teamId = teams.body.teams[0].id;
    expect(new URL(page.url()).searchParams.get('team')).toBe(String(teamId));

    await createTeam.getByLabel('Team name').fill('Engineering');
    await createTeam.getByRole('button', { name: 'Create team' }).click();
    await expect
      .poll(() => createTeam.getByRole('alert').textContent())
      .toBe('Resource Already Exists: a team named "Engineering" already exists');
    expect(await db.selectFrom('teams').select('name').execute()).toEqual([{ name: 'Engineering' }]);

    // Enroll secrets: the new team has one; it shows masked and reveals to what the API stores.
    const firstSecret = page.getByLabel('Enroll secret 1');
    await firstSecret.waitFor();
    const secretsNow = async (): Promise<string[]> =>
      (await api(srv, 'GET', `/api/latest/fleet/teams/${teamId}/secrets`, { token: admin })).body.secrets.map(
        (s: { secret: string }) => s.secret,
      );
    const [secret] = await secretsNow();
    expect(await firstSecret.textContent()).toBe(`••••••••••••${secret.slice(-4)}`);
    await page.getByRole('button', { name: 'Reveal' }).click();
    await expect.poll(() => firstSecret.textContent()).toBe(secret);

    // Add a second (generated in the browser), then rotate the first after confirming.
    await page.getByRole('button', { name: 'Add secret' }).click();
    await page.getByLabel('Enroll secret 2').waitFor();
    const [kept, added] = await secretsNow();
    expect([kept, added.length]).toEqual([secret, 32]);
    expect(added).toMatch(/^[A-Za-z0-9+/]{32}$/);
    await page.getByRole('button', { name: 'Rotate' }).first().click();
    await page
      .getByRole('dialog', { name: 'Rotate enroll secret' })
      .getByRole('button', { name: 'Rotate' })
      .click();
    await page.getByRole('dialog').waitFor({ state: 'detached' });
    // The API lists secrets in its own order: the rotated one is gone, the added one stays.
    await expect
      .poll(async () => {
        const now = await secretsNow();
        return [now.length, now.includes(secret), now.includes(added)];
      })
      .toEqual([2, false, true]);

    // Rename: the dialog saves, the list shows the new name.
    await page.getByRole('button', { name: 'Rename' }).click();
    const rename = page.getByRole('dialog', { name: 'Rename Engineering' });
    await rename.getByLabel('Team name').fill('Engineering Macs');
    await rename.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('button', { name: 'Engineering Macs' }).waitFor();
    await page.getByRole('heading', { name: 'Engineering Macs', level: 2 }).waitFor();
    expect(await db.selectFrom('teams').select('name').execute()).toEqual([{ name: 'Engineering Macs' }]);
    await screenshot(page, 'teams');

    // Delete: a second team goes after confirming; the first stays.
    await createTeam.getByLabel('Team name').fill('Short-lived');
    await createTeam.getByRole('button', { name: 'Create team' }).click();
    await page.getByRole('heading', { name: 'Short-lived', level: 2 }).waitFor();
    await page
      .getByRole('row')
      .filter({ hasText: 'Short-lived' })
      .getByRole('button', { name: 'Delete' })
      .click();
    await page
      .getByRole('dialog', { name: 'Delete Short-lived' })
      .getByRole('button', { name: 'Delete team' })
      .click();
    await page.getByRole('row').filter({ hasText: 'Short-lived' }).waitFor({ state: 'detached' });
    expect(await db.selectFrom('teams').select('name').execute()).toEqual([{ name: 'Engineering Macs' }]);

    // Labels: a dynamic one with a query and platform, a manual one with no hosts yet.
    await page.getByRole('link', { name: 'Labels' }).click();
    await page.getByRole('heading', { name: 'Labels', level: 1 }).waitFor();
    const createLabel = page.getByRole('form', { name: 'Create label' });
    await createLabel.getByLabel('Label name').fill('Encrypted Macs');
    await createLabel.getByLabel('Description').fill('FileVault on');
    await createLabel.getByLabel('Platform').selectOption('darwin');
    await createLabel.getByLabel(/^Query/).fill('SELECT 1 FROM disk_encryption WHERE encrypted = 1;');
    await createLabel.getByRole('button', { name: 'Create label' }).click();
    await createLabel.getByText('Label Encrypted Macs created.').waitFor();
    await createLabel.getByLabel('Manual (a list of hosts)').check();
    await createLabel.getByLabel('Label name').fill('Loaners');
    await createLabel.getByRole('button', { name: 'Create label' }).click();
    await createLabel.getByText('Label Loaners created.').waitFor();
    const custom = await db
      .selectFrom('labels')
      .select(['name', 'description', 'query', 'platform', 'label_membership_type'])
      .where('label_type', '=', 0)
      .orderBy('name')
      .execute();
    expect(custom).toEqual([
      {
        name: 'Encrypted Macs',
        description: 'FileVault on',
        query: 'SELECT 1 FROM disk_encryption WHERE encrypted = 1;',
        platform: 'darwin',
        label_membership_type: 0,
      },
      { name: 'Loaners', description: '', query: '', platform: '', label_membership_type: 1 },
    ]);
    const row = page.getByRole('row').filter({ hasText: 'Encrypted Macs' });
    await row.getByText('Dynamic (query)').waitFor();
    const labelId = (
      await db
        .selectFrom('labels')
        .select('id')
        .where('name', '=', 'Encrypted Macs')
        .executeTakeFirstOrThrow()
    ).id;
    expect(await row.getByRole('link', { name: '0 hosts in Encrypted Macs' }).getAttribute('href')).toBe(
      `/hosts/manage?label_id=${labelId}`,
    );
    // Built-in labels are listed without edit or delete buttons.
    const builtin = page.getByRole('row').filter({ hasText: 'Built-in' }).first();
    await builtin.waitFor();
    expect(await builtin.getByRole('button').count()).toBe(0);

    // Edit the manual label's description; delete the dynamic one after confirming.
    await page.getByRole('button', { name: 'Edit Loaners' }).click();
    const edit = page.getByRole('dialog', { name: 'Edit Loaners' });
    await edit.getByLabel('Description').fill('Spare laptops');
    await edit.getByRole('button', { name: 'Save' }).click();
    await page.getByRole('row').filter({ hasText: 'Spare laptops' }).waitFor();
    await screenshot(page, 'labels');
    await page.getByRole('button', { name: 'Delete Encrypted Macs' }).click();
    await page
      .getByRole('dialog', { name: 'Delete Encrypted Macs' })
      .getByRole('button', { name: 'Delete label' })
      .click();
    await page.getByRole('row').filter({ hasText: 'Encrypted Macs' }).waitFor({ state: 'detached' });
    expect(
      (await db.selectFrom('labels').select('name').where('label_type', '=', 0).execute()).map((l) => l.name),
    ).toEqual(['Loaners']);

    // Users: a weak password is refused and stores nobody; then a team maintainer is created.
    await page.getByRole('link', { name: 'Users' }).click();
    await page.getByRole('heading', { name: 'Users', level: 1 }).waitFor();
    const createUser = page.getByRole('form', { name: 'Create user' });
    await createUser.getByLabel('Full name').fill('Tess Team');
    await createUser.getByLabel('Email').fill('tess@example.com');
    await createUser.getByLabel('Password').fill('weakpassword');
    await createUser.getByLabel('Roles per team').check();
    await createUser.getByLabel('Role in Engineering Macs').selectOption('maintainer');
    await createUser.getByRole('button', { name: 'Create user' }).click();
    await expect
      .poll(() => createUser.getByRole('alert').textContent())
      .toBe('Validation Failed: Password must include a number');
    expect(await db.selectFrom('users').select('email').execute()).toEqual([{ email: 'admin@example.com' }]);
    await createUser.getByLabel('Password').fill(userPassword);
    await createUser.getByRole('button', { name: 'Create user' }).click();
    await createUser.getByText('User Tess Team created.').waitFor();
    const tessRow = page.getByRole('row').filter({ hasText: 'tess@example.com' });
    await tessRow.getByText('Maintainer on Engineering Macs').waitFor();
    const users = await api(srv, 'GET', '/api/latest/fleet/users', { token: admin });
    const tess = users.body.users.find((u: { email: string }) => u.email === 'tess@example.com');
    expect([
      tess.name,
      tess.global_role,
      tess.teams.map((t: { id: number; role: string }) => [t.id, t.role]),
    ]).toEqual(['Tess Team', null, [[teamId, 'maintainer']]]);

    // Require a password reset for Tess, confirmed in a dialog.
    await page.getByRole('button', { name: 'Require password reset for Tess Team' }).click();
    await page
      .getByRole('dialog', { name: 'Require password reset' })
      .getByRole('button', { name: 'Require reset' })
      .click();
    await tessRow.getByText('Password reset required').waitFor();
    expect(
      (
        await db
          .selectFrom('users')
          .select('admin_forced_password_reset')
          .where('email', '=', 'tess@example.com')
          .executeTakeFirstOrThrow()
      ).admin_forced_password_reset,
    ).toBeTruthy();
    // The admin's own row offers no delete or reset (the API refuses both on oneself).
    const adminRow = page.getByRole('row').filter({ hasText: 'admin@example.com' });
    expect(await adminRow.getByRole('button').allTextContents()).toEqual(['Edit roles']);
    // Demoting the last global admin is refused in the dialog, in the server's words; nothing changes.
    await page.getByRole('button', { name: 'Edit roles of Admin' }).click();
    const editRoles = page.getByRole('dialog', { name: 'Edit roles of Admin' });
    await editRoles.getByRole('combobox', { name: /^Global role/ }).selectOption('observer');
    await editRoles.getByRole('button', { name: 'Save roles' }).click();
    await expect
      .poll(() => editRoles.getByRole('alert').textContent())
      .toBe('Conflict: cannot demote the last global admin');
    await editRoles.getByRole('button', { name: 'Cancel' }).click();
    expect(
      await db.selectFrom('users').select('global_role').where('email', '=', 'admin@example.com').execute(),
    ).toEqual([{ global_role: 'admin' }]);
    await page.getByText('What each role may do').click();
    await page.getByRole('row', { name: /^Users/ }).waitFor();
    expect(
      await page
        .getByRole('row', { name: /^Users/ })
        .getByRole('cell')
        .allTextContents(),
    ).toEqual(['Read and change', '—', '—', '—', '—']);
    await screenshot(page, 'users');

    // Activities: the actions just made, newest first, as sentences.
    await page.getByRole('link', { name: 'Activities' }).click();
    await page.getByRole('heading', { name: 'Activities', level: 1 }).waitFor();
    const feed = page.getByRole('list', { name: 'Activities' });
    await feed.getByText('Admin created user Tess Team.').waitFor();
    const sentences = await feed.locator('.activity-sentence').allTextContents();
    expect(sentences.slice(0, 12)).toEqual([
      'Admin made Tess Team Maintainer on Engineering Macs.',
      'Admin created user Tess Team.',
      'Admin deleted label Encrypted Macs.',
      'Admin edited label Loaners.',
      'Admin created label Loaners.',
      'Admin created label Encrypted Macs.',
      'Admin deleted team Short-lived.',
      'Admin created team Short-lived.',
      'Admin edited team Engineering Macs.',
      'Admin edited the enroll secrets of Engineering.',
      'Admin edited the enroll secrets of Engineering.',
      'Admin created team Engineering.',
    ]);
    await feed.getByText('Details').first().click();
    await expect
      .poll(() => feed.locator('pre').first().textContent())
      .toContain('"user_email": "tess@example.com"');
    await screenshot(page, 'activities');

    // Members: Tess shows in the team; her role changes there, and the API agrees.
    await page.goto(`/settings/teams?team=${teamId}`);
    const tessRole = page.getByLabel('Role of Tess Team');
    await expect.poll(() => tessRole.inputValue()).toBe('maintainer');
    await tessRole.selectOption('observer');
    await expect
      .poll(async () => {
        const res = await api(srv, 'GET', `/api/latest/fleet/teams/${teamId}`, { token: admin });
        return res.body.team.users.map((u: { email: string; role: string }) => [u.email, u.role]);
      })
      .toEqual([['tess@example.com', 'observer']]);

    expect(problems).toEqual([]);
    await context.close();
  });

  it('shows an observer no buttons and a team maintainer only their team secrets', async () => {
    const srv = server();
    const create = (body: object) =>
      api(srv, 'POST', '/api/latest/fleet/users/admin', { token: admin, body });
    expect(
      (
        await create({
          name: 'Olive Observer',
          email: 'olive@example.com',
          password: userPassword,
          global_role: 'observer',
        })
      ).status,
    ).toBe(200);
    expect(
      (
        await create({
          name: 'Mia Maintainer',
          email: 'mia@example.com',
          password: userPassword,
          teams: [{ id: teamId, role: 'maintainer' }],
        })
      ).status,
    ).toBe(200);

    // The observer reads every page and sees no button that changes anything.
    {
      const { page, context, problems } = await openConsole(browser, srv);
      await logIn(page, 'olive@example.com', userPassword);
      await page.goto('/settings/teams');
      await page.getByRole('button', { name: 'Engineering Macs' }).click();
      await page.getByRole('heading', { name: 'Members' }).waitFor();
      await page.getByRole('cell', { name: 'tess@example.com' }).waitFor();
      expect(await page.getByRole('form', { name: 'Create team' }).count()).toBe(0);
      // Only the team-name toggle: no rename, delete, member or secret buttons (observers cannot
      // read enroll secrets, so the section is not there either).
      expect(await buttonsOf(page)).toEqual(['Engineering Macs']);
      await page.goto('/labels/manage');
      await page.getByRole('row').filter({ hasText: 'Loaners' }).waitFor();
      expect(await page.getByRole('form', { name: 'Create label' }).count()).toBe(0);
      expect(await buttonsOf(page)).toEqual(['← Previous', 'Next →']);
      await page.goto('/settings/users');
      await page.getByRole('row').filter({ hasText: 'mia@example.com' }).waitFor();
      expect(await page.getByRole('form', { name: 'Create user' }).count()).toBe(0);
      expect(await buttonsOf(page)).toEqual(['← Previous', 'Next →']);
      // A type the console has no sentence for falls back to its words, with the raw details.
      await srv.app.services.activities.record(null, 'renewed_widget_license', { seats: 5 });
      await page.goto('/activities');
      await page.getByText('Admin created user Mia Maintainer.').waitFor();
      const unknown = page.getByRole('listitem').filter({ hasText: 'Flotilla renewed widget license.' });
      expect(await unknown.locator('code').textContent()).toBe('renewed_widget_license');
      await unknown.getByText('Details', { exact: true }).click();
      await expect.poll(() => unknown.locator('pre').textContent()).toContain('"seats": 5');
      expect(problems).toEqual([]);
      await context.close();
    }

    // The team maintainer sees their team and may add and rotate its enroll secrets, nothing more.
    {
      const { page, context, problems } = await openConsole(browser, srv);
      await logIn(page, 'mia@example.com', userPassword);
      await page.goto('/settings/teams');
      await page.getByRole('button', { name: 'Engineering Macs' }).click();
      await page.getByLabel('Enroll secret 2').waitFor();
      const perSecret = ['Reveal', 'Copy', 'Rotate', 'Remove'];
      expect(await buttonsOf(page)).toEqual(['Engineering Macs', ...perSecret, ...perSecret, 'Add secret']);
      await page.getByRole('button', { name: 'Add secret' }).click();
      await page.getByLabel('Enroll secret 3').waitFor();
      const secrets = await api(srv, 'GET', `/api/latest/fleet/teams/${teamId}/secrets`, { token: admin });
      expect(secrets.body.secrets).toHaveLength(3);
      await page.goto('/labels/manage');
      await page.getByRole('row').filter({ hasText: 'Loaners' }).waitFor();
      expect(await buttonsOf(page)).toEqual(['← Previous', 'Next →']);
      await page.goto('/settings/users');
      await page.getByRole('row').filter({ hasText: 'mia@example.com' }).waitFor();
      expect(await page.getByRole('form', { name: 'Create user' }).count()).toBe(0);
      expect(await buttonsOf(page)).toEqual(['← Previous', 'Next →']);
      // The audit log is for global roles: the page shows the API's refusal in words.
      await page.goto('/activities');
      await expect.poll(() => page.getByRole('alert').textContent()).toMatch(/^forbidden/i);
      expect(problems).toEqual([]);
      await context.close();
    }
  });

  it('fits the users page on a phone', async () => {
    const srv = server();
    const { page, context, problems } = await openConsole(browser, srv);
    // The login helper waits for the desktop navigation; the phone size comes after.
    await logIn(page);
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto('/settings/users');
    await page.getByRole('row').filter({ hasText: 'tess@example.com' }).waitFor();
    await screenshot(page, 'users-phone');
    // Nothing is wider than the screen: the tables stack as cards.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    expect(problems).toEqual([]);
    await context.close();
  });
});
